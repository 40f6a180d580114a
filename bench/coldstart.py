"""Cold starts: what each function's init (a fresh interpreter importing its handler) costs.

    .venv/bin/python bench/coldstart.py [--runs 7] [--only sign_url,review] [--tracing both|active|disabled]
                                        [--source] [--bytecode] [--parameter Name=Value ...] [--top 5]
                                        [--check] [--json]

Lambda's init phase is the import of the handler module: every module it pulls in and its
module-level code. For each function of template.yaml this spawns ``--runs`` fresh
interpreters (``python -I -S -B``: no site-packages, no bytecode written) that see only
what Lambda would put on ``sys.path`` for it, import the handler and report:

* code: the built function (``.aws-sam/build/<Function>/``) and its layers'
  ``.aws-sam/build/<Layer>/python`` (``make build``), in the template's order. A built copy
  that differs from the sources (a stale build) is replaced by the sources, staged as the
  build ships them (compiled if the built package holds bytecode, else not: Lambda's code
  directories are read-only, so it compiles whatever comes without), and the table says so;
  ``--bytecode`` precompiles imagepipe and the handlers whatever the build does. Without any build
  (``--source``, or no ``.aws-sam/build``) the layers' third-party packages come from the dev
  venv instead, which is not what Lambda ships. boto3 and what it pulls in come from the dev
  venv at the pins of ``layers/runtime.in``, as the Lambda runtime provides them.
* environment: the function's variables (Globals, then its own) with the template's
  parameter defaults and placeholders for ``!Ref``/``!GetAtt``, Lambda's own variables
  (``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_NAME``, the X-Ray daemon address, ...), a
  region and fake credentials, nothing inherited.
* tracing: ``active`` is what the template deploys (``Tracing: Active``: Powertools' Tracer
  loads the X-Ray SDK and patches botocore at import); ``disabled`` adds
  ``POWERTOOLS_TRACE_DISABLED=true`` for comparison. Targets apply to ``active``.
* times: ``init`` is ``time.perf_counter()`` around the import, inside the child (median
  and min of the runs: what targets are judged on); ``cpu`` the CPU time the child spent in
  that import (``time.process_time()``, median), which other load on the machine inflates
  far less than wall time; ``proc`` is the child's whole life seen from outside (interpreter
  start and exit included; the bare interpreter's own median is printed in the header).
* network: an audit hook in the child records any DNS lookup or connect during the import
  (there must be none: an AWS call at import is a finding).
* heaviest imports: one more run with ``-X importtime`` per function (not timed): the
  third-party imports with the largest cumulative time, each with the imagepipe module
  (or handler) that pulls it in, and imagepipe's own self time (module bodies, pydantic
  models built at import, and compiling whatever ships without bytecode).

The table goes to stdout and to out/bench/coldstart.txt (``--json``: out/bench/coldstart.json
too). The machine is shared: numbers are noisy while tests run; the header shows the load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from imagepipe_tools.local.template import NO_VALUE, Resolver, load, parameter_defaults  # noqa: E402

BUILD = ROOT / ".aws-sam" / "build"
OUT = ROOT / "out" / "bench"
STAGING = OUT / "coldstart-staging"
REGION = "us-east-1"
ACCOUNT = "123456789012"
# Init targets on this machine (ms, tracing active); functions without one are informational.
TARGETS_MS = {"sign_url": 300, "review": 300, "provenance": 400, "uploads": 400, "derivatives": 700}
# What the Lambda python3.12 runtime provides (layers/runtime.in): taken from the dev venv.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six.py")
# Where the layers' sources are, per layer logical id (only the imagepipe package is ours).
LAYER_SOURCES = {"CoreLayer": ROOT / "layers" / "core"}
WATCHED = {
    "aws_xray_sdk": "xray", "pydantic": "pydantic", "cryptography": "crypto", "numpy": "numpy",
    "PIL": "PIL", "c2pa": "c2pa", "boto3": "boto3", "sqlite3": "sqlite3",
    "aws_lambda_powertools.utilities.parser.models": "pt-parser-models",
}
NETWORK_EVENTS = ("socket.getaddrinfo", "socket.gethostbyname", "socket.connect", "socket.sendto", "urllib.Request")

CHILD = r"""
import sys, time, json
hits = []
def _audit(event, args, _watch=frozenset(%(events)r)):
    if event in _watch:
        hits.append(f"{event} {args!r}"[:160])
sys.addaudithook(_audit)
sys.path[:0] = %(path)r
started, cpu_started = time.perf_counter(), time.process_time()
__import__(%(module)r)  # the import statement's path: -X importtime reports it (importlib.import_module's it does not)
getattr(sys.modules[%(module)r], %(attribute)r)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
print("\n@@coldstart@@" + json.dumps({
    "init_ms": elapsed * 1000, "cpu_ms": cpu * 1000, "modules": len(sys.modules), "network": hits,
    "loaded": sorted(m for m in %(watched)r if m in sys.modules),
}))
"""


@dataclass
class Function:
    logical_id: str
    short: str  # the code directory's name, as in functions/<short>/
    handler: str
    memory_mb: int
    environment: dict[str, str]
    layers: list[str]
    code_dir: Path = field(default=Path())
    path: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- the template --------------------------------------------------------------------------

def _placeholder_ref(resources: dict[str, Any], logical_id: str) -> str:
    kind = resources.get(logical_id, {}).get("Type", "")
    return {
        "AWS::SQS::Queue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/imagepipe-dev-{logical_id}",
        "AWS::DynamoDB::Table": f"imagepipe-dev-{logical_id}",
        "AWS::SecretsManager::Secret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{logical_id}-AbCdEf",
        "AWS::CloudFront::Distribution": "E2EXAMPLE0DIST",
        "AWS::CloudFront::PublicKey": "K2EXAMPLE0KEY",
        "AWS::SSM::Parameter": f"/imagepipe/dev/{logical_id}",
        "AWS::Serverless::LayerVersion": f"layer:{logical_id}",
    }.get(kind, f"{logical_id}-placeholder")


def _placeholder_attr(logical_id: str, name: str) -> str:
    return {
        "DomainName": "d111111abcdef8.cloudfront.net",
        "QueueName": f"imagepipe-dev-{logical_id}",
        "GuardrailId": "gr0example",
        "Version": "1",
        "FunctionUrl": f"https://{logical_id.lower()}.lambda-url.{REGION}.on.aws/",
    }.get(name, f"arn:aws:placeholder:{REGION}:{ACCOUNT}:{logical_id}/{name}")


def functions_of(template_path: Path, overrides: dict[str, str]) -> list[Function]:
    template = load(template_path)
    resources = template["Resources"]
    resolve = Resolver(
        template, {**parameter_defaults(template), **overrides}, region=REGION, stack_name="imagepipe-dev",
        ref=lambda logical_id: _placeholder_ref(resources, logical_id), attr=_placeholder_attr,
    )
    defaults = template.get("Globals", {}).get("Function", {})
    found = []
    for logical_id, spec in resources.items():
        if spec.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**defaults, **spec.get("Properties", {})}
        variables = {**defaults.get("Environment", {}).get("Variables", {}),
                     **spec.get("Properties", {}).get("Environment", {}).get("Variables", {})}
        environment = {k: str(v) for k, v in resolve(variables).items() if v is not NO_VALUE}
        layers = [str(layer).removeprefix("layer:") for layer in resolve(props.get("Layers", []))]
        found.append(Function(
            logical_id=logical_id,
            short=Path(str(props["CodeUri"])).name,
            handler=str(props.get("Handler", "app.lambda_handler")),
            memory_mb=int(props.get("MemorySize", 128)),
            environment=environment,
            layers=layers,
            code_dir=ROOT / str(props["CodeUri"]),
        ))
    return found


# -- what goes on sys.path -----------------------------------------------------------------

def _tree_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"):
        digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _staged(source: Path, name: str, *, bytecode: bool) -> Path:
    """``source`` copied without its bytecode (as a build ships it), so the child compiles it as
    Lambda does; with ``bytecode``, compiled ahead (unchecked-hash .pyc, valid whatever the mtimes)."""
    target = STAGING / ("compiled" if bytecode else "plain") / name
    if target.is_dir() and _tree_digest(target) == _tree_digest(source):
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if bytecode:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(target)],
                       check=True, stdout=subprocess.DEVNULL)
    return target


def _runtime_dir() -> Path:
    """boto3 and its dependencies from the dev venv: what the Lambda runtime puts on the path."""
    import boto3  # the dev venv's

    site = Path(boto3.__file__).resolve().parents[1]
    target = OUT / "coldstart-runtime"
    shutil.rmtree(target, ignore_errors=True)
    (target / "__pycache__").mkdir(parents=True)
    for name in RUNTIME_PACKAGES:
        (target / name).symlink_to(site / name)
        if name.endswith(".py"):
            for cached in (site / "__pycache__").glob(f"{name[:-3]}.cpython-312*.pyc"):
                (target / "__pycache__" / cached.name).symlink_to(cached)
    return target


def place(functions: list[Function], *, source: bool, bytecode: bool) -> list[str]:
    """Fill each function's ``path``; returns notes for the header."""
    notes = []
    runtime = str(_runtime_dir())
    built = BUILD.is_dir() and not source
    if not built:
        notes.append("code: SOURCE TREE (no .aws-sam/build, or --source): third-party packages from the dev venv, "
                     "not what the layers ship; run `make build` for the built artifacts")
        import pydantic  # the dev venv's site-packages

        venv_site = str(Path(pydantic.__file__).resolve().parents[1])
    if bytecode:
        notes.append("--bytecode: imagepipe and the handlers precompiled (what shipping .pyc in the build would give)")
    stale: set[str] = set()
    for fn in functions:
        code = BUILD / fn.logical_id
        if not built or not code.is_dir():
            code = fn.code_dir
        elif _tree_digest(code) != _tree_digest(fn.code_dir):
            code = fn.code_dir
            fn.notes.append("stale build: function code from the sources")
            stale.add(fn.logical_id)
        fn.path = [str(_staged(code, f"functions/{fn.short}", bytecode=bytecode) if bytecode or code == fn.code_dir else code)]
        for layer in fn.layers:
            ours = LAYER_SOURCES.get(layer)
            if not built:
                if ours is not None:
                    fn.path.append(str(_staged(ours / "imagepipe", f"{layer}/imagepipe", bytecode=bytecode).parent))
                continue
            layer_dir = BUILD / layer / "python"
            if not layer_dir.is_dir():
                raise SystemExit(f"{layer_dir} is missing (a `sam build` in progress?): run `make build`, or pass --source")
            if ours is not None:
                package = layer_dir / "imagepipe"
                shipped_bytecode = any(package.rglob("*.pyc"))  # staged sources get what the build gives them
                if _tree_digest(package) != _tree_digest(ours / "imagepipe"):
                    package = ours / "imagepipe"
                    fn.notes.append(f"stale build: imagepipe from the sources over {layer}'s packages"
                                    + (" (compiled, as the build ships it)" if shipped_bytecode else ""))
                    stale.add(layer)
                if bytecode or package != layer_dir / "imagepipe":
                    fn.path.append(str(_staged(package, f"{layer}/imagepipe", bytecode=bytecode or shipped_bytecode).parent))
            fn.path.append(str(layer_dir))
        if not built:
            fn.path.append(venv_site)
        fn.path.append(runtime)
    if built:
        mtime = min((BUILD / name).stat().st_mtime for name in os.listdir(BUILD) if (BUILD / name).is_dir())
        notes.append(f"code: .aws-sam/build (built {time.strftime('%Y-%m-%d %H:%M', time.localtime(mtime))})"
                     + (f"; stale, replaced by the sources: {', '.join(sorted(stale))}" if stale else "; matches the sources"))
        for layer, directory in LAYER_SOURCES.items():
            requirements = directory / "requirements.txt"
            if (BUILD / layer).is_dir() and requirements.stat().st_mtime > (BUILD / layer).stat().st_mtime:
                notes.append(f"warning: {requirements.relative_to(ROOT)} is newer than the {layer} build: rebuild")
    return notes


# -- running -------------------------------------------------------------------------------

def lambda_environment(fn: Function, tracing: str) -> dict[str, str]:
    env = {
        **fn.environment,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": fn.path[0],
        "LAMBDA_RUNTIME_DIR": fn.path[-1],
        "_HANDLER": fn.handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": f"imagepipe-dev-{fn.logical_id}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/imagepipe-dev-{fn.logical_id}",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "coldstart-bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
        "_AWS_XRAY_DAEMON_PORT": "2000",
    }
    if tracing == "disabled":
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def run_once(fn: Function, tracing: str, *, importtime: bool = False) -> dict[str, Any]:
    module, _, attribute = fn.handler.rpartition(".")
    code = CHILD % {"events": NETWORK_EVENTS, "path": fn.path, "module": module, "attribute": attribute,
                    "watched": tuple(WATCHED)}
    command = [sys.executable, "-I", "-S", "-B", *(["-X", "importtime"] if importtime else []), "-c", code]
    started = time.perf_counter()
    done = subprocess.run(command, env=lambda_environment(fn, tracing), capture_output=True, text=True, cwd=fn.path[0],
                          timeout=120, check=False)
    proc_ms = (time.perf_counter() - started) * 1000
    marker = done.stdout.rpartition("@@coldstart@@")[2]
    if done.returncode or not marker.strip():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"{fn.short} ({tracing}): the import failed (exit {done.returncode}):\n{tail}")
    result = json.loads(marker)
    result["proc_ms"] = proc_ms
    if importtime:
        result["importtime"] = done.stderr
    return result


def baseline_ms(runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-B", "-c", "pass"], check=True, env={"PATH": "/usr/bin:/bin"})
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# -- -X importtime -------------------------------------------------------------------------

@dataclass
class Node:
    name: str
    self_us: int
    cumulative_us: int
    depth: int
    children: list[Node] = field(default_factory=list)


def import_tree(stderr: str) -> list[Node]:
    """The import tree ``-X importtime`` prints (post-order, nesting by indentation)."""
    pending: list[Node] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip(" "))) // 2
        node = Node(name.strip(), int(self_us), int(cumulative_us), depth)
        while pending and pending[-1].depth > depth:
            node.children.insert(0, pending.pop())
        pending.append(node)
    return pending


def _ours(name: str, handler_module: str) -> bool:
    return name == handler_module or name.split(".")[0] == "imagepipe"


def heaviest(roots: list[Node], handler_module: str, top: int) -> tuple[list[tuple[str, float, str]], float]:
    """Third-party imports entered from our code (largest cumulative first), and our own self time (ms)."""
    entries: list[tuple[str, float, str]] = []
    own_us = 0

    def walk(node: Node, importer: str) -> None:
        nonlocal own_us
        if _ours(node.name, handler_module):
            own_us += node.self_us
            for child in node.children:
                walk(child, node.name)
        else:
            entries.append((node.name, node.cumulative_us / 1000, importer))

    for root in roots:
        if _ours(root.name, handler_module):
            walk(root, "")
        elif root.cumulative_us > 1000:  # the interpreter's own start-up imports are tiny
            entries.append((root.name, root.cumulative_us / 1000, "(start-up)"))
    entries.sort(key=lambda e: -e[1])
    return entries[:top], own_us / 1000


# -- the report ----------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--runs", type=int, default=int(os.environ.get("COLDSTART_RUNS", "7")))
    options.add_argument("--only", default=os.environ.get("COLDSTART_ONLY", ""), help="comma-separated function directories")
    options.add_argument("--tracing", choices=("both", "active", "disabled"), default="both")
    options.add_argument("--source", action="store_true", help="ignore .aws-sam/build; use the source tree and dev venv")
    options.add_argument("--bytecode", action="store_true", help="precompile imagepipe and the handlers (what shipping .pyc saves)")
    options.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE", help="a template parameter")
    options.add_argument("--top", type=int, default=5)
    options.add_argument("--check", action="store_true", help="exit 1 when a function misses its target")
    options.add_argument("--json", action="store_true")
    args = options.parse_args(argv)

    overrides = dict(item.split("=", 1) for item in args.parameter)
    functions = functions_of(ROOT / "template.yaml", overrides)
    if args.only:
        wanted = {name.strip().replace("-", "_") for name in args.only.split(",")}
        functions = [fn for fn in functions if fn.short in wanted or fn.logical_id in wanted]
    STAGING.mkdir(parents=True, exist_ok=True)
    notes = place(functions, source=args.source, bytecode=args.bytecode)
    modes = ("active", "disabled") if args.tracing == "both" else (args.tracing,)

    load = os.getloadavg()
    header = [
        f"cold starts: init = import of the handler in a fresh `python -I -S -B` ({sys.version.split()[0]}), "
        f"median of {args.runs} runs; {time.strftime('%Y-%m-%d %H:%M')}",
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores (noisy while other work runs)",
        *notes,
        f"bare interpreter start+exit: {baseline_ms(args.runs):.0f} ms (included in `proc`, not in `init`)",
        "",
    ]
    print("\n".join(header), flush=True)

    results: dict[str, Any] = {}
    for fn in functions:
        entry: dict[str, Any] = {"logical_id": fn.logical_id, "memory_mb": fn.memory_mb, "layers": fn.layers,
                                 "notes": fn.notes, "target_ms": TARGETS_MS.get(fn.short)}
        for mode in modes:
            runs = [run_once(fn, mode) for _ in range(args.runs)]
            init = [r["init_ms"] for r in runs]
            entry[mode] = {
                "median_ms": statistics.median(init), "min_ms": min(init), "max_ms": max(init),
                "proc_median_ms": statistics.median(r["proc_ms"] for r in runs),
                "cpu_median_ms": statistics.median(r["cpu_ms"] for r in runs),
                "modules": runs[-1]["modules"], "loaded": runs[-1]["loaded"],
                "network": sorted({hit for r in runs for hit in r["network"]}),
            }
        profile = run_once(fn, modes[0], importtime=True)
        top, own_ms = heaviest(import_tree(profile["importtime"]), fn.handler.rpartition(".")[0], args.top)
        entry["heaviest"] = [{"module": m, "cumulative_ms": ms, "imported_by": by} for m, ms, by in top]
        entry["imagepipe_self_ms"] = own_ms
        results[fn.short] = entry
        print(f"  {fn.short}: {entry[modes[0]]['median_ms']:.0f} ms", file=sys.stderr, flush=True)

    table = render(results, modes, args.runs)
    print(table)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "coldstart.txt").write_text("\n".join(header) + "\n" + table + "\n")
    if args.json:
        (OUT / "coldstart.json").write_text(json.dumps({"header": header, "functions": results}, indent=2))
    failed = [name for name, entry in results.items()
              if entry["target_ms"] is not None and "active" in entry and entry["active"]["median_ms"] > entry["target_ms"]]
    network = [name for name, entry in results.items() if any(entry[m]["network"] for m in modes)]
    if network:
        print(f"NETWORK AT IMPORT (a finding): {', '.join(network)}")
    return 1 if args.check and (failed or network) else 0


def render(results: dict[str, Any], modes: tuple[str, ...], runs: int) -> str:
    columns = ["function", "MB"]
    for mode in modes:
        columns += [f"{mode} median", "min", "cpu", "proc"]
    columns += ["target", "", "modules", "loaded"]
    rows = []
    for name, entry in results.items():
        row = [name, str(entry["memory_mb"])]
        for mode in modes:
            m = entry[mode]
            row += [f"{m['median_ms']:.0f} ms", f"{m['min_ms']:.0f}", f"{m['cpu_median_ms']:.0f}", f"{m['proc_median_ms']:.0f}"]
        target = entry["target_ms"]
        judged = entry.get("active", entry[modes[0]])["median_ms"]
        row += [f"{target} ms" if target else "-", ("pass" if judged <= target else "FAIL") if target else "",
                str(entry[modes[0]]["modules"]), ",".join(WATCHED[m] for m in entry[modes[0]]["loaded"])]
        rows.append(row)
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(columns, widths, strict=True)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    lines.append("")
    lines.append(f"heaviest imports ({modes[0]}; one -X importtime run each: cumulative ms, <- the module importing it)")
    for name, entry in sorted(results.items(), key=lambda item: -item[1][modes[0]]["median_ms"]):
        listed = "; ".join(f"{h['module']} {h['cumulative_ms']:.0f} <- {h['imported_by'] or '?'}" for h in entry["heaviest"])
        lines.append(f"  {name}: imagepipe self {entry['imagepipe_self_ms']:.0f} ms; {listed}")
        for note in entry["notes"]:
            lines.append(f"    note: {note}")
        for mode in modes:
            for hit in entry[mode]["network"]:
                lines.append(f"    NETWORK AT IMPORT ({mode}): {hit}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
