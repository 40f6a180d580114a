"""Lambda's init phase: no garbage collection while a handler module imports.

A handler's import allocates a few hundred thousand objects that live as long as the process
(modules, classes, pydantic's schemas, botocore's tables), and CPython's cyclic collector,
triggered by allocation counts, traverses them again and again while they pile up: 4 to 9 %
of a function's init here (bench/coldstart.py), for nothing it could free. Every handler
imports this module first (the import pauses the collector) and calls `done()` last, which
moves what init allocated into the permanent generation (``gc.freeze()``: never traversed
again, so the collections of later invocations stay short too) and resumes collection.

Only in Lambda's own runtime (``AWS_EXECUTION_ENV``): a test process, the local runtime or a
tool that imports handlers keeps its collector untouched. There a failed init ends the
function's execution environment, so a collector paused by an import that raised never
outlives it.
"""

from __future__ import annotations

import gc
import os

_paused = os.environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_") and gc.isenabled()
if _paused:
    gc.disable()


def done() -> None:
    """The handler module has finished importing: freeze what it built and collect again."""
    global _paused
    if _paused:
        gc.freeze()
        gc.enable()
        _paused = False
