"""What a function's init loads: each handler composes only the adapters it uses.

bench/coldstart.py times each function's init; these tests keep what it depends on from
coming back unnoticed: a handler that imports a module it never runs (numpy for sign-url, c2pa
for provenance), the shared catalogue of adapters (``imagepipe.wiring``), Powertools' patching
of every library X-Ray knows, or its batch utility's pydantic models.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
NEVER = {
    "imagepipe.wiring",  # the catalogue of every adapter, for tests and tools
    "sqlite3",  # Powertools' default patch_all patches it; the functions trace botocore only
    "aws_lambda_powertools.utilities.parser.models",  # built by the batch utility if pydantic came first
}
# What each function never runs, so never loads at init.
NOT_USED = {
    "sign_url": {"numpy", "PIL", "c2pa", "imagepipe.imaging", "imagepipe.moderation", "imagepipe.generation",
                 "aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.idempotency"},
    "review": {"numpy", "PIL", "c2pa", "cryptography", "imagepipe.imaging", "imagepipe.generation",
               "imagepipe.signed_urls", "aws_lambda_powertools.utilities.batch"},
    "upload_url": {"numpy", "PIL", "c2pa", "cryptography", "imagepipe.imaging", "imagepipe.moderation",
                   "aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.idempotency"},
    "provenance": {"numpy", "PIL", "c2pa", "cryptography", "imagepipe.imaging", "imagepipe.moderation",
                   "imagepipe.generation", "aws_lambda_powertools.event_handler"},
    "uploads": {"numpy", "c2pa", "cryptography", "imagepipe.moderation", "imagepipe.generation",
                "imagepipe.adapters.provenance_store", "aws_lambda_powertools.event_handler"},
    "moderate": {"c2pa", "imagepipe.generation", "imagepipe.provenance", "aws_lambda_powertools.event_handler"},
    "generate": {"imagepipe.moderation.rekognition", "imagepipe.adapters.provenance_store",
                 "aws_lambda_powertools.event_handler"},
    "derivatives": {"imagepipe.generation", "aws_lambda_powertools.event_handler"},
    "transform": {"imagepipe.generation", "imagepipe.moderation", "aws_lambda_powertools.utilities.batch"},
}
PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
__import__("app")
print(json.dumps(sorted(sys.modules)))
"""


def loaded_at_init(function: str) -> set[str]:
    """The modules a fresh interpreter holds after importing ``function``'s handler (tracing on, as deployed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN"))}
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": function, "LAMBDA_TASK_ROOT": str(ROOT / "functions" / function),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12", "POWERTOOLS_SERVICE_NAME": function}
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "functions" / function)],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def covered(loaded: set[str], names: set[str]) -> set[str]:
    return {name for name in names if any(m == name or m.startswith(f"{name}.") for m in loaded)}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_handler_loads_only_what_its_function_runs(function: str) -> None:
    """GIVEN a function's handler imported in a fresh interpreter, as Lambda's init does
    WHEN the loaded modules are listed
    THEN none is one the function never runs, nor the adapter catalogue, sqlite3 or the batch
    utility's pydantic models."""
    loaded = loaded_at_init(function)
    assert covered(loaded, NEVER | NOT_USED[function]) == set()


def test_every_function_has_its_expectations() -> None:
    assert set(NOT_USED) == set(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_handler_pauses_the_collector_for_its_whole_init(function: str) -> None:
    """GIVEN a function's app.py
    WHEN its statements are read
    THEN its first import is imagepipe.init_phase and its last statement init_phase.done()."""
    body = ast.parse((ROOT / "functions" / function / "app.py").read_text()).body
    imports = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))
               and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    assert ast.unparse(imports[0]) == "from imagepipe import init_phase"
    assert ast.unparse(body[-1]) == "init_phase.done()"


@pytest.mark.parametrize(("execution_env", "paused"), [("AWS_Lambda_python3.12", True), ("", False)])
def test_the_collector_pauses_only_in_lambda(execution_env: str, paused: bool) -> None:
    """GIVEN a fresh interpreter in Lambda's runtime (AWS_EXECUTION_ENV) or anywhere else
    WHEN it imports init_phase, then calls done()
    THEN in Lambda collection is off until done(), which freezes what init allocated and turns
    it back on; elsewhere nothing changes."""
    probe = (
        "import gc\n"
        "from imagepipe import init_phase\n"
        "during, frozen = gc.isenabled(), gc.get_freeze_count()\n"
        "init_phase.done()\n"
        "print(during, gc.isenabled(), gc.get_freeze_count() > frozen)\n"
    )
    env = {**os.environ, "AWS_EXECUTION_ENV": execution_env}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == (["False", "True", "True"] if paused else ["True", "True", "False"])
