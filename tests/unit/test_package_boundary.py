"""The runtime (layers/core/imagepipe, what Lambda runs) and the developer's tools
(tools/imagepipe_tools) depend one way: tools import the runtime, never the reverse.

The check reads every runtime module's imports from its syntax tree, including imports
inside functions (a lazy import still ships a dependency), so a tool or a test-only
library cannot creep into a layer through any code path.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "layers" / "core" / "imagepipe"
TOOLS = ROOT / "tools" / "imagepipe_tools"
FORBIDDEN_IN_RUNTIME = {"imagepipe_tools", "moto", "yaml", "selenium", "pytest", "requests", "cfnlint", "samcli"}


def imported_top_levels(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def runtime_modules() -> list[Path]:
    return sorted(RUNTIME.rglob("*.py"))


def test_no_runtime_module_imports_the_tools_or_test_libraries() -> None:
    """GIVEN every module of the runtime package
    WHEN its imports (top-level and lazy) are read
    THEN none names the tools package, moto, PyYAML, selenium, pytest, requests or cfn-lint."""
    modules = runtime_modules()
    assert len(modules) > 40, "the runtime package was not found where the layer builds it from"
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & FORBIDDEN_IN_RUNTIME)
        for path in modules
        if imported_top_levels(path) & FORBIDDEN_IN_RUNTIME
    }
    assert offenders == {}


def test_the_tools_live_outside_the_layer_and_import_the_runtime() -> None:
    """GIVEN the two package roots
    WHEN their contents are listed
    THEN the developer's tools (CLI, embedded stack, local edge, console server, offline model)
    are under tools/ only, and they do import the runtime (the dependency runs one way)."""
    for tool in ("cli.py", "derive_cli.py", "local", "review_console", "trace.py", "local_model.py", "procedural.py"):
        assert (TOOLS / tool).exists(), tool
        assert not (RUNTIME / tool).exists(), f"{tool} is back inside the runtime package"
    for moved in ("delivery/edge.py", "delivery/distribution.py", "imaging/generator.py", "generation/local.py"):
        assert not (RUNTIME / moved).exists(), moved
    assert any("imagepipe" in imported_top_levels(path) for path in TOOLS.rglob("*.py"))


def test_no_package_init_re_exports_its_modules() -> None:
    """GIVEN every runtime package's __init__.py
    WHEN it is parsed
    THEN it holds no imports, so importing one submodule never loads its siblings."""
    for init in RUNTIME.rglob("__init__.py"):
        tree = ast.parse(init.read_text())
        imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and not (
            isinstance(n, ast.ImportFrom) and n.module == "__future__")]
        if init.parent.name == "stages":
            continue  # defines StageResult; re-exports nothing
        assert imports == [], f"{init.relative_to(ROOT)} imports at package level"


@pytest.mark.parametrize("model_id", ["local"])
def test_a_process_of_the_runtime_alone_knows_no_development_model(model_id: str) -> None:
    """GIVEN a fresh interpreter that imports only the runtime (as a Lambda does)
    WHEN it asks the model registries for the offline model
    THEN the generation registry refuses it as unknown and the licence registry has no entry:
    only a host that registers it (the embedded stack, the tests) can use it."""
    probe = (
        "import sys\n"
        "from imagepipe.errors import RejectedInputError\n"
        "from imagepipe.generation.registry import model_for\n"
        "from imagepipe.provenance.models_registry import default_registry\n"
        f"assert {model_id!r} not in default_registry()\n"
        "try:\n"
        f"    model_for({model_id!r}, bedrock_client=lambda: None)\n"
        "except RejectedInputError as exc:\n"
        "    print(exc.reason)\n"
        "assert not any(m.startswith('imagepipe_tools') for m in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "unknown_model"


def _top_level_graph(base: Path, package: str) -> dict[str, set[str]]:
    modules = {".".join(p.relative_to(base).with_suffix("").parts).removesuffix(".__init__"): p
               for p in (base / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.parse(path.read_text()).body:  # module level only: what loads at import
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


@pytest.mark.parametrize(("base", "package"), [(RUNTIME.parent, "imagepipe"), (TOOLS.parent, "imagepipe_tools")])
def test_no_module_level_import_cycles(base: Path, package: str) -> None:
    """GIVEN each package's module-level imports
    WHEN they are followed
    THEN no module reaches itself: nothing needs a function-local import to dodge a cycle."""
    graph = _top_level_graph(base, package)
    assert len(graph) > 20
    assert _cycles(graph) == []
