"""A handler run the way Lambda runs it with ``Tracing: Active``, keeping what would leave the function.

The function module is loaded fresh with tracing enabled (``LAMBDA_TASK_ROOT`` set,
``POWERTOOLS_TRACE_DISABLED=false``, a sampled ``_X_AMZN_TRACE_ID``), so its own ``Tracer()``
decorators record into a real X-Ray recorder, and with ``POWERTOOLS_LOGGER_LOG_EVENT=true``
(what an operator might turn on to debug). The recorder's emitter keeps every entity
as the JSON document it would send to the X-Ray daemon; everything the function writes
(Powertools logs, EMF metrics) and what Lambda's runtime logs for an unhandled exception
are kept too. The tracer's global state (Powertools keeps its config on the class, the
X-Ray SDK an enabled flag) is restored afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import traceback
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Tracer
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.lambda_launcher import LambdaContext as XRayLambdaContext
from aws_xray_sdk.core.recorder import AWSXRayRecorder

from imagepipe import wiring
from imagepipe_tools.local.runtime import LocalContext
from imagepipe_tools.local.stack import LocalStack

TRACE_HEADER = "Root=1-65f0a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"


class MemoryEmitter:
    """The X-Ray SDK's emitter interface; keeps each entity as the daemon would receive it."""

    ip = "127.0.0.1"
    port = 2000

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_entity(self, entity: Any) -> None:
        self.sent.append(entity.serialize())

    def set_daemon_address(self, address: str | None) -> None:
        pass


@dataclass
class TracedFunction:
    module: Any
    context: LocalContext
    emitter: MemoryEmitter
    output: io.StringIO
    lambda_reports: list[str] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> Any:
        """Call the handler; an exception is reported as Lambda's runtime would log it, and None returned."""
        with contextlib.redirect_stdout(self.output), contextlib.redirect_stderr(self.output), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            try:
                return self.module.lambda_handler(event, self.context)
            except Exception as error:  # Lambda logs errorMessage, errorType and stackTrace
                self.lambda_reports.append(json.dumps({
                    "errorMessage": str(error), "errorType": type(error).__name__,
                    "stackTrace": traceback.format_exception(error),
                }))
                return None

    @property
    def segments(self) -> list[dict[str, Any]]:
        return [json.loads(document) for document in self.emitter.sent]

    @property
    def subsegment_names(self) -> set[str]:
        """``## name`` of every subsegment sent (a method's name without its module)."""
        names, stack = set(), list(self.segments)
        while stack:
            entity = stack.pop()
            names.add(entity["name"].rpartition(".")[2].removeprefix("## "))
            stack += entity.get("subsegments", [])
        return names

    @property
    def sent(self) -> str:
        """Everything that left the function: trace documents, then logs and Lambda's error reports."""
        return "\n".join([*self.emitter.sent, self.output.getvalue(), *self.lambda_reports])


@contextlib.contextmanager
def traced(stack: LocalStack, short_name: str, **environment: str) -> Iterator[TracedFunction]:
    """``stack``'s function ``short_name`` loaded with tracing on (``environment`` overrides its variables)."""
    fn = stack.function(short_name)
    emitter = MemoryEmitter()
    recorder = AWSXRayRecorder()
    recorder.configure(emitter=emitter, context=XRayLambdaContext(), sampling=False, streaming_threshold=0,
                       context_missing="IGNORE_ERROR")
    # A service name of its own: Powertools attaches a logger's handler (and stream) once per name.
    service = f"{fn.environment.get('POWERTOOLS_SERVICE_NAME', fn.name)}-traced-{uuid.uuid4().hex[:8]}"
    saved_environ, saved_sdk, saved_threshold = dict(os.environ), global_sdk_config.sdk_enabled(), xray_recorder.streaming_threshold
    os.environ.update({
        **fn.environment, **environment,
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_TRACE_DISABLED": "false",
        "POWERTOOLS_DEV": "false",
        "POWERTOOLS_LOGGER_LOG_EVENT": "true",
        "LAMBDA_TASK_ROOT": str(fn.code_dir),
        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
    })
    wiring.reset()
    Tracer._reset_config()
    global_sdk_config.set_sdk_enabled(True)
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            # The handler's own Tracer() takes this provider: Powertools shares config between instances.
            # No auto-patching: it would wrap botocore and http.client for the rest of the test session.
            Tracer(provider=recorder, auto_patch=False)
            spec = importlib.util.spec_from_file_location(f"imagepipe_traced.{fn.code_dir.name}", fn.code_dir / "app.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        yield TracedFunction(module, LocalContext(fn.name, fn.memory_mb, fn.timeout), emitter, output)
    finally:
        Tracer._reset_config()
        global_sdk_config.set_sdk_enabled(saved_sdk)
        xray_recorder.streaming_threshold = saved_threshold
        wiring.reset()
        os.environ.clear()
        os.environ.update(saved_environ)
