"""What `sam build` ships: each function under Lambda's size limit, no developer tools, the locked versions.

One clean `sam build` of template.yaml into a temporary directory per session (about 30 s
on two cores; every layer is pip-installed from the pip cache, nothing reused from
.aws-sam/). The tests then read that build: sizes (written to out/build-sizes.txt and shown
in pytest's summary), the distributions each layer holds against requirements.lock, what
must never be in a layer, and, in a bare Python 3.12 with nothing but a function's code, its
layers and a stand-in for the Lambda runtime's boto3 on sys.path, that every handler and
every installed distribution imports and that the classifier and the encoders run.

Without the SAM CLI (.venv-sam, which `make install` creates) the build tests skip; the
lock tests need neither SAM nor the network.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
SIZES_REPORT = ROOT / "out" / "build-sizes.txt"
MiB = 1 << 20
LIMIT = 262_144_000  # Lambda: a function and all its layers, unzipped (250 MiB)
MODERATE_MARGIN = 30 * MiB  # what the moderate function with the classifier keeps in hand
LAYERS = {"CoreLayer": "core", "ClassifierLayer": "classifier", "C2paLayer": "c2pa"}
# Environment markers (PEP 508) as on Lambda's python3.12, x86_64.
LAMBDA_ENVIRONMENT = {
    **default_environment(),
    "implementation_name": "cpython", "platform_python_implementation": "CPython",
    "python_version": "3.12", "python_full_version": "3.12.0", "implementation_version": "3.12.0",
    "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64",
}  # fmt: skip

# Developer tools that the lead moved to tools/imagepipe_tools: none may come back into the layer.
TOOL_PATHS = (
    "imagepipe/cli.py", "imagepipe/derive_cli.py", "imagepipe/local",
    "imagepipe/review_console/server.py", "imagepipe/delivery/edge.py",
    "imagepipe/delivery/distribution.py", "imagepipe/provenance/trace.py",
    "imagepipe/generation/local.py", "imagepipe/imaging/generator.py",
)  # fmt: skip
# Top-level names of dev-only packages (and of what the runtime provides): never in a layer.
DEV_ONLY_TOP_LEVEL = {
    "imagepipe_tools", "moto", "yaml", "_yaml", "selenium", "pytest", "_pytest", "cv2",
    "cfnlint", "flask", "werkzeug", "docker", "responses", "setuptools", "pip", "uv",
    "boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six",
}  # fmt: skip
# Never imported by code in a layer, even lazily (cv2 is: only the embedded stack's face detector).
FORBIDDEN_IMPORTS = {"imagepipe_tools", "moto", "yaml", "pytest", "selenium"}
# Imported on top of each distribution's top-level modules: what the code reaches lazily.
EXTRA_IMPORTS = (
    "aws_xray_sdk.core", "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.idempotency", "cryptography.hazmat.primitives.asymmetric.rsa",
    "PIL.WebPImagePlugin", "PIL.AvifImagePlugin",
)  # fmt: skip


def load_lock_script() -> ModuleType:
    """scripts/lock as a module (it has no .py suffix)."""
    loader = importlib.machinery.SourceFileLoader("imagepipe_scripts_lock", str(ROOT / "scripts" / "lock"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


lock_script = load_lock_script()


# -- the lock (no SAM, no network) ---------------------------------------------------------------


def test_lock_matches_its_inputs_and_each_layer_installs_its_share() -> None:
    """GIVEN the inputs (layers/*/requirements.in, layers/runtime.in, requirements-dev.in)
    WHEN scripts/lock --check compares them with requirements.lock, offline
    THEN every pin is locked at its version with hashes, and each layer's requirements.txt is
    exactly its share of the lock."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "lock"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout


def test_no_layer_ships_what_the_lambda_runtime_provides() -> None:
    """GIVEN requirements.lock
    WHEN each layer's share is derived
    THEN boto3 and everything it pulls in (botocore, s3transfer, jmespath, urllib3,
    python-dateutil, six) is in none of them, and the dev venv still gets them, pinned."""
    locked, inputs = lock_script.load()
    provided = lock_script.needed_by(set(inputs[lock_script.RUNTIME_INPUT].pins), locked)
    assert {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"} <= provided
    for layer, names in lock_script.layer_sets(locked, inputs).items():
        assert not provided & set(names), f"the {layer} layer would ship {sorted(provided & set(names))}"


def test_layer_makefiles_install_for_one_platform() -> None:
    """GIVEN the three layer Makefiles (sam build runs each in a copy of its own directory)
    WHEN their platform and pip lines are compared
    THEN they are the same, up to the glibc requirements.lock was resolved for."""
    blocks = {}
    for name in LAYERS.values():
        logical = (ROOT / "layers" / name / "Makefile").read_text().replace("\\\n", " ").splitlines()
        block = [" ".join(line.split()) for line in logical if line.startswith(("PLATFORMS :=", "PIP_INSTALL :="))]
        assert len(block) == 2, f"layers/{name}/Makefile has no PLATFORMS and PIP_INSTALL lines"
        blocks[name] = "\n".join(block)
    assert len(set(blocks.values())) == 1, blocks
    glibc = lock_script.PLATFORM.removeprefix("x86_64-manylinux_")
    assert f"$(foreach v,{glibc.split('_')[1]} " in blocks["core"], (lock_script.PLATFORM, blocks["core"])


# -- the build -----------------------------------------------------------------------------------


@dataclass
class Stack:
    """A function as Lambda sees it: its code and the layers attached (under one condition)."""

    function: str
    layers: tuple[str, ...]
    condition: str  # "" or the template condition (or its negation) choosing these layers


@dataclass
class Build:
    path: Path
    template: dict[str, Any]
    seconds: float

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def code_dir(self, logical_id: str) -> Path:
        properties = self.template["Resources"][logical_id]["Properties"]
        return self.path / (properties.get("CodeUri") or properties["ContentUri"])

    def layer_dir(self, logical_id: str) -> Path:
        return self.code_dir(logical_id) / "python"

    def stacks(self) -> list[Stack]:
        stacks = []
        for name, resource in self.resources("AWS::Serverless::Function").items():
            layers = resource["Properties"].get("Layers", [])
            if isinstance(layers, dict) and "Fn::If" in layers:
                condition, when, otherwise = layers["Fn::If"]
                choices = [(condition, when), (f"not {condition}", otherwise)]
            else:
                choices = [("", layers)]
            for label, refs in choices:
                stacks.append(Stack(name, tuple(ref["Ref"] for ref in refs), label))
        return stacks


def _sam() -> Path:
    sam = ROOT / ".venv-sam" / "bin" / "sam"
    if not sam.exists():
        pytest.skip("no SAM CLI: .venv-sam/bin/sam is missing (make install creates it)")
    return sam


def _python312() -> str:
    found = subprocess.run([str(ROOT / "scripts" / "find-python")], capture_output=True, text=True)
    if found.returncode != 0:
        pytest.skip(f"no Python 3.12 for the layer builds: {found.stderr.strip()}")
    return found.stdout.strip()


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """One clean `sam build` (the Makefile's way: the Python 3.12 found first on PATH)."""
    sam, python = _sam(), _python312()
    path = tmp_path_factory.mktemp("sam") / "build"  # build.toml lands beside it, not in .aws-sam/
    env = {**os.environ, "PATH": f"{Path(python).parent}{os.pathsep}{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0"}
    started = time.monotonic()
    result = subprocess.run(
        [str(sam), "build", "--build-dir", str(path), "--template", "template.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    seconds = time.monotonic() - started
    if result.returncode != 0:
        noise = re.compile(r"^WARNING: Location '.*' is ignored")
        output = [line for line in (result.stdout + result.stderr).splitlines() if not noise.match(line)]
        pytest.fail("sam build failed:\n" + "\n".join(output[-60:]), pytrace=False)
    template = yaml.safe_load((path / "template.yaml").read_text())  # sam writes the long form
    return Build(path, template, seconds)


def tree_size(path: Path) -> int:
    """Bytes Lambda counts for a directory: the files' own sizes, as unzipped."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def test_each_function_with_its_layers_fits_lambda(build: Build) -> None:
    """GIVEN the sam build
    WHEN each function's code and the layers it attaches (under either branch of a
    condition) are added up, unzipped
    THEN each is under Lambda's 250 MiB, and the moderate function with the classifier layer
    keeps at least 30 MiB: a table of sizes and margins goes to out/build-sizes.txt."""
    layer_sizes = {name: tree_size(build.code_dir(name)) for name in build.resources("AWS::Serverless::LayerVersion")}
    assert set(layer_sizes) == set(LAYERS), "a layer was added or renamed: update LAYERS here"
    rows, totals = [], {}
    for stack in build.stacks():
        code = tree_size(build.code_dir(stack.function))
        total = code + sum(layer_sizes[layer] for layer in stack.layers)
        totals[(stack.function, stack.layers)] = total
        rows.append((stack, code, total))
    lines = [f"sam build: {build.seconds:.0f} s. Lambda's limit: {LIMIT / MiB:.0f} MiB unzipped (function + layers).", ""]
    lines.append(f"{'layer':<18}{'MiB':>8}   largest entries (MiB)")
    for name, size in layer_sizes.items():
        top = sorted(((tree_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in build.layer_dir(name).iterdir()), reverse=True)
        lines.append(f"{name:<18}{size / MiB:>8.1f}   " + ", ".join(f"{n} {s / MiB:.1f}" for s, n in top[:6]))
    lines += ["", f"{'function':<22}{'layers':<30}{'when':<24}{'code':>7}{'total':>9}{'margin':>9}"]
    for stack, code, total in rows:
        lines.append(
            f"{stack.function:<22}{'+'.join(stack.layers):<30}{stack.condition or '-':<24}"
            f"{code / MiB:>7.2f}{total / MiB:>9.1f}{(LIMIT - total) / MiB:>9.1f}"
        )
    report = "\n".join(lines) + "\n"
    SIZES_REPORT.parent.mkdir(parents=True, exist_ok=True)
    SIZES_REPORT.write_text(report)
    print("\n" + report)

    over = [f"{s.function} ({'+'.join(s.layers)}): {t / MiB:.1f} MiB" for s, _, t in rows if t >= LIMIT]
    assert not over, "over Lambda's 250 MiB unzipped:\n" + "\n".join(over)
    moderate = totals[("ModerateFunction", ("CoreLayer", "ClassifierLayer"))]
    assert LIMIT - moderate >= MODERATE_MARGIN, (
        f"moderate with the classifier: {moderate / MiB:.1f} MiB, {(LIMIT - moderate) / MiB:.1f} MiB "
        f"from the limit (want at least {MODERATE_MARGIN / MiB:.0f})"
    )


def _installed(layer_dir: Path) -> dict[str, str]:
    found = {}
    for dist in importlib.metadata.distributions(path=[str(layer_dir)]):
        found[canonicalize_name(dist.metadata["Name"])] = dist.version
    return found


def test_each_layer_holds_exactly_its_share_of_the_lock(build: Build) -> None:
    """GIVEN the sam build and requirements.lock
    WHEN each layer's installed distributions are read from its dist-info directories
    THEN they are the layer's share of the lock: the same names at the same versions."""
    locked, inputs = lock_script.load()
    shares = lock_script.layer_sets(locked, inputs)
    for logical_id, name in LAYERS.items():
        want = {n: locked[n].version for n in shares[name]}
        have = _installed(build.layer_dir(logical_id))
        assert have == want, f"{logical_id}: extra {sorted(set(have) - set(want))}, missing {sorted(set(want) - set(have))}, " + str(
            {n: (have[n], want[n]) for n in set(have) & set(want) if have[n] != want[n]}
        )


def _all_files(build: Build) -> Iterator[tuple[str, Path, Path]]:
    """(resource, root, file) for every file of every function and layer."""
    for kind in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
        for name in build.resources(kind):
            root = build.code_dir(name)
            root = root / "python" if (root / "python").is_dir() else root
            for path in root.rglob("*"):
                yield name, root, path


def test_no_developer_tool_in_any_function_or_layer(build: Build) -> None:
    """GIVEN the sam build
    WHEN every function's and layer's files are listed and their Python parsed
    THEN none is a developer tool (imagepipe_tools, the CLI, the embedded stack, the local edge,
    the console server, ...), a dev-only package (moto, yaml, selenium, pytest, ...) or what the
    runtime provides (boto3, botocore), nor the project's own egg-info/dist-info or .pth files,
    and no code there imports imagepipe_tools, moto, yaml, pytest or selenium."""
    found = []
    for resource, root, path in _all_files(build):
        relative = path.relative_to(root)
        text = relative.as_posix()
        if any(text == tool or text.startswith(tool + "/") for tool in TOOL_PATHS):
            found.append(f"{resource}: {text} (a developer tool)")
        top = relative.parts[0]
        if len(relative.parts) == 1 and (
            re.split(r"[-.]", top)[0] in DEV_ONLY_TOP_LEVEL
            or top.endswith((".egg-info", ".pth", ".egg-link"))
            or (re.match(r"^(imagepipe|__editable__)", top) and top != "imagepipe")
        ):
            found.append(f"{resource}: {text} (not for a Lambda)")
        if "imagepipe_tools" in relative.parts or (top == "imagepipe" and "tests" in relative.parts):
            found.append(f"{resource}: {text}")
        if path.suffix == ".py" and (top == "imagepipe" or root == build.code_dir(resource)):
            for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for imported in names:
                    if imported.split(".")[0] in FORBIDDEN_IMPORTS:
                        found.append(f"{resource}: {text}:{node.lineno} imports {imported}")
    found = list(dict.fromkeys(found))
    assert not found, f"{len(found)} things that must not ship:\n" + "\n".join(found[:80])


def _roots(paths: list[str]) -> list[tuple[str, frozenset[str]]]:
    """The distributions some inputs ask for, with the extras they ask for."""
    roots = []
    for path in paths:
        for line in (ROOT / path).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                requirement = Requirement(line)
                roots.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return roots


def walk_requirements(
    roots: list[tuple[str, frozenset[str]]],
    available: dict[str, importlib.metadata.Distribution],
    leave_out: set[str] = frozenset(),
) -> tuple[set[str], list[str]]:
    """Follow Requires-Dist from ``roots`` as pip would for Lambda (CPython 3.12, Linux x86_64).

    Returns what is reached and what is missing or at a version its dependant refuses.
    """
    reached: dict[str, set[str]] = {}
    missing: list[str] = []
    queue = list(roots)
    while queue:
        name, extras = queue.pop()
        if name in leave_out or (name in reached and extras <= reached[name]):
            continue
        reached.setdefault(name, set()).update(extras)
        dist = available.get(name)
        if dist is None:
            continue  # reported by its dependant (or it is a root: the lock test covers those)
        for raw in dist.requires or []:
            requirement = Requirement(raw)
            wanted = {"", *reached[name]}
            if requirement.marker and not any(requirement.marker.evaluate({**LAMBDA_ENVIRONMENT, "extra": e}) for e in wanted):
                continue
            target = canonicalize_name(requirement.name)
            if target in leave_out:
                continue
            if target not in available:
                missing.append(f"{name} needs {raw}: not installed")
            elif not requirement.specifier.contains(Version(available[target].version), prereleases=True):
                missing.append(f"{name} needs {raw}: {available[target].version} is installed")
            queue.append((target, frozenset(requirement.extras)))
    return set(reached), missing


def test_each_combination_of_layers_holds_what_its_inputs_require(build: Build) -> None:
    """GIVEN each combination of layers a function attaches, plus what the runtime provides
    WHEN Requires-Dist is followed from the layers' requirements.in (with their extras) through
    the installed distributions' own metadata, for Lambda's Python and platform
    THEN every requirement met is installed at a version it accepts (bar what a requirements.in
    leaves out on purpose), and nothing installed is left unreached: no layer lacks or carries
    a distribution (scripts/lock derives the shares from the lock's `# via` graph, which does
    not tell an extra's edge from a plain one)."""
    _, inputs = lock_script.load()
    provided = {canonicalize_name(d.metadata["Name"]): d for d in _runtime_distributions()}
    problems = []
    for layers in sorted({s.layers for s in build.stacks()}):
        label = "+".join(layers)
        paths = [f"layers/{LAYERS[layer]}/requirements.in" for layer in layers]
        leave_out = set().union(*(inputs[path].leave_out for path in paths))
        installed = {
            canonicalize_name(d.metadata["Name"]): d
            for layer in layers
            for d in importlib.metadata.distributions(path=[str(build.layer_dir(layer))])
        }
        reached, missing = walk_requirements(_roots(paths), {**provided, **installed}, leave_out)
        problems += [f"{label}: {line}" for line in missing]
        problems += [f"{label}: {name} is installed but nothing requires it" for name in sorted(set(installed) - reached)]
    assert not problems, "\n".join(sorted(set(problems)))


# -- running from the build -----------------------------------------------------------------------


def _runtime_distributions() -> list[importlib.metadata.Distribution]:
    """The dev venv's copies (pinned by the lock) of what the Lambda runtime provides: boto3
    and what it requires, as its metadata says (no extras)."""
    venv = {canonicalize_name(d.metadata["Name"]): d for d in importlib.metadata.distributions()}
    reached, missing = walk_requirements(_roots([lock_script.RUNTIME_INPUT]), venv)
    assert not missing, missing
    return [venv[name] for name in sorted(reached)]


@pytest.fixture(scope="session")
def runtime_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the Lambda runtime's own site-packages: boto3 & co, linked from the dev venv."""
    root = tmp_path_factory.mktemp("lambda-runtime")
    for dist in _runtime_distributions():
        tops = {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "bin", "__pycache__"}
        for top in tops:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (root / top).exists():
                (root / top).symlink_to(source)
    return root


CHILD = r"""
import importlib, importlib.util, io, json, os, pkgutil, sys, traceback
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]
os.environ.update(spec["env"])
failed, ran = {}, {}
def attempt(label, action):
    try:
        ran[label] = action()
    except BaseException as exc:
        failed[label] = "".join(traceback.format_exception_only(exc)).strip()
for name in spec["imports"]:
    attempt(name, lambda: importlib.import_module(name).__name__)
for function, (path, env) in spec["apps"].items():
    def load(function=function, path=path, env=env):
        os.environ.update(env)
        module_spec = importlib.util.spec_from_file_location(f"app_{function}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return callable(getattr(module, "lambda_handler"))
    attempt(function, load)
if "classify" in spec["run"]:
    def classify():
        import numpy as np
        from PIL import Image
        from imagepipe.moderation.local_classifier import OpenNsfwModeration
        image = Image.fromarray(np.random.default_rng(7).integers(0, 256, (96, 128, 3), dtype=np.uint8))
        labels = OpenNsfwModeration().classify(image)
        assert labels and all(0.0 <= l.confidence <= 1.0 for l in labels), labels
        return [l.confidence for l in labels]
    attempt("classify", classify)
if "derive" in spec["run"]:
    def derive():
        import numpy as np
        from PIL import Image
        from imagepipe.imaging.engine import derive
        x = np.linspace(0, 255, 160, dtype=np.uint8)
        image = Image.fromarray(np.dstack([np.tile(x, (120, 1)), np.tile(x[:120, None], (1, 160)), np.full((120, 160), 90, np.uint8)]))
        variants = derive(image).variants
        formats = sorted({v.format for v in variants})
        assert {"avif", "webp", "jpeg"} <= set(formats), formats
        return formats
    attempt("derive", derive)
if spec["walk"]:
    import imagepipe
    for info in pkgutil.walk_packages(imagepipe.__path__, "imagepipe."):
        if info.name not in spec["skip"]:
            attempt(info.name, lambda name=info.name: importlib.import_module(name).__name__)
print(json.dumps({"failed": failed, "ran": ran}))
"""


def _top_level_modules(layer_dir: Path) -> list[str]:
    """What each distribution installed in a layer puts at the top of sys.path, as module names."""
    names = set()
    for dist in importlib.metadata.distributions(path=[str(layer_dir)]):
        for file in dist.files or []:
            parts = Path(str(file)).parts
            top = parts[0]
            if top.endswith((".dist-info", ".data", ".libs")) or top in {"..", "bin", "__pycache__"} or top.endswith("-stubs"):
                continue
            if len(parts) == 1:
                if top.endswith(".py"):
                    names.add(top.removesuffix(".py"))
                elif top.endswith(".so"):
                    names.add(top.split(".")[0])
            elif (layer_dir / top / "__init__.py").exists():
                names.add(top)
            elif len(parts) > 2 and (layer_dir / top / parts[1] / "__init__.py").exists():
                names.add(f"{top}.{parts[1]}")  # a namespace package (google.protobuf)
    return sorted(names)


def _resolve(value: Any, template: dict[str, Any]) -> str:
    """A function's environment value, the way CloudFormation would fill it in, near enough."""
    parameters = template.get("Parameters", {})
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and "Ref" in value:
        ref = value["Ref"]
        return str(parameters[ref].get("Default", "")) if ref in parameters else {"AWS::Region": "us-east-1"}.get(ref, ref)
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        return re.sub(r"\$\{([^}]+)\}", lambda m: _resolve({"Ref": m.group(1)}, template) if "." not in m.group(1) else "x", text)
    if isinstance(value, dict) and "Fn::If" in value:
        return _resolve(value["Fn::If"][1], template)
    return "x"


def _environment(build: Build, function: str) -> dict[str, str]:
    variables = {
        **build.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}),
        **build.template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    return {name: _resolve(value, build.template) for name, value in variables.items()}


def _run_child(build: Build, layers: tuple[str, ...], runtime: Path, **spec: Any) -> dict[str, Any]:
    """Run CHILD with sys.path as Lambda sets it up under a function: the layers (extracted
    into /opt, python/), then the runtime's own packages (boto3 & co); handlers load from
    their own directories."""
    path = [str(build.layer_dir(layer)) for layer in layers] + [str(runtime)]
    env = {
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
    }  # fmt: skip
    payload = json.dumps({"path": path, "env": env, "imports": [], "apps": {}, "run": [], "walk": False, "skip": [], **spec})
    # -I -S: no PYTHON* variables, no user or interpreter site-packages; -B: nothing written.
    result = subprocess.run([_python312(), "-I", "-S", "-B", "-c", CHILD, payload], capture_output=True, text=True, timeout=300, cwd=runtime)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_handler_and_distribution_imports_from_its_layers_alone(build: Build, runtime_packages: Path) -> None:
    """GIVEN a bare Python 3.12 whose sys.path is a function's layers and the runtime's boto3
    WHEN every handler attached to those layers, every top-level module of every distribution
    installed in them and what the code reaches lazily (X-Ray, the parser, RSA, AVIF) import
    THEN nothing fails: no layer relies on the dev venv."""
    by_layers: dict[tuple[str, ...], list[Stack]] = {}
    for stack in build.stacks():
        by_layers.setdefault(stack.layers, []).append(stack)
    failed = {}
    for layers, stacks in sorted(by_layers.items()):
        modules = sorted({m for layer in layers for m in _top_level_modules(build.layer_dir(layer))} | set(EXTRA_IMPORTS))
        apps = {s.function: (str(build.code_dir(s.function) / "app.py"), _environment(build, s.function)) for s in stacks}
        result = _run_child(build, layers, runtime_packages, imports=modules, apps=apps)
        assert set(apps) <= set(result["ran"]) | set(result["failed"])
        failed.update({f"{'+'.join(layers)}: {k}": v for k, v in result["failed"].items()})
    assert not failed, "\n".join(f"{k}: {v}" for k, v in failed.items())


def test_every_runtime_module_imports_with_all_layers(build: Build, runtime_packages: Path) -> None:
    """GIVEN a bare Python 3.12 with all three layers and the runtime's boto3
    WHEN every module of the imagepipe package in the core layer is imported (the developer
    tools the other test lists aside)
    THEN each imports: the runtime package needs nothing the layers do not ship."""
    skip = [tool.removesuffix(".py").replace("/", ".") for tool in TOOL_PATHS]
    result = _run_child(build, tuple(LAYERS), runtime_packages, walk=True, skip=skip)
    failed = {k: v for k, v in result["failed"].items() if not any(k == s or k.startswith(s + ".") for s in skip)}
    assert len(result["ran"]) > 30, result
    assert not failed, "\n".join(f"{k}: {v}" for k, v in failed.items())


def test_the_classifier_and_the_encoders_run_from_the_built_layers(build: Build, runtime_packages: Path) -> None:
    """GIVEN a bare Python 3.12 with the moderate function's layers (core + classifier), then
    with the core layer alone
    WHEN open_nsfw classifies a small image (onnxruntime without its tooling, numpy from the
    core layer) and the engine derives AVIF, WebP and JPEG (pyjpegli, mozjpeg) from another
    THEN both succeed."""
    moderate = _run_child(build, ("CoreLayer", "ClassifierLayer"), runtime_packages, run=["classify"])
    assert not moderate["failed"], moderate["failed"]
    assert len(moderate["ran"]["classify"]) == 1
    core = _run_child(build, ("CoreLayer",), runtime_packages, run=["derive"])
    assert not core["failed"], core["failed"]
