"""`imagepipe`: the local runtime and developer commands.

    imagepipe demo                      embedded AWS + the demo workload, prints a table per asset
    imagepipe local up [--demo]         embedded AWS with pollers, kept running until Ctrl-C
    imagepipe invoke FUNCTION --event events/x.json
    imagepipe upload PATH... --wait --json
    imagepipe sign ASSET_ID --requester NAME [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .local import embedded
from .local.runtime import LocalRuntime

TERMINAL_STATUSES = {"published", "review", "rejected", "taken_down"}


def _log_file(root: Path, mode: str = "a") -> Any:
    path = root / "out" / "local" / "functions.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open(mode)


def cmd_demo(args: argparse.Namespace) -> int:
    from .local import demo

    root = embedded.find_root()
    out = Path(args.out).resolve() if args.out else root / "out" / "demo"
    started = time.monotonic()
    with embedded.stack(root, reuse_running=False) as (stack, _), _log_file(root, "w") as log:
        print(f"embedded AWS at {stack.endpoint_url}; resources created from template.yaml "
              f"({len(stack.physical)} resources, {len(stack.functions)} functions)")
        runtime = LocalRuntime(stack, log=log)
        summary = demo.run(stack, runtime, out)
    print(demo.table(summary))
    print(f"\nwrote {out / 'summary.json'} and {out / 'index.html'} in {time.monotonic() - started:.1f}s "
          f"(function logs: out/local/functions.log)")
    statuses = {a["status"] for a in summary["assets"]}
    ok = summary["drained"] and {"published", "review", "rejected"} <= statuses and all(
        a.get("signed_url_check", {}).get("signature", "valid") == "valid" for a in summary["assets"]
    )
    if not ok:
        print("demo did not reach the expected outcomes", file=sys.stderr)
    return 0 if ok else 1


def cmd_local_up(args: argparse.Namespace) -> int:
    root = embedded.find_root()
    if embedded.running_stack(root):
        print("a local stack is already running (see .imagepipe/local.json)", file=sys.stderr)
        return 1
    aws = embedded.EmbeddedAws(port=args.port)
    endpoint = aws.start()
    embedded.use_endpoint(endpoint)
    from .local.stack import LocalStack

    stack = LocalStack(root, endpoint_url=endpoint).deploy()
    stop = threading.Event()
    with _log_file(root) as log, embedded.recorded(root, endpoint):
        runtime = LocalRuntime(stack, log=log)
        if args.demo:
            from .local import demo

            print(demo.table(demo.run(stack, runtime, root / "out" / "demo")))
        print(f"embedded AWS at {endpoint}; polling {sum(len(f.triggers) for f in stack.functions.values())} "
              "queues. Ctrl-C to stop.", flush=True)
        try:
            runtime.run(stop)
        except KeyboardInterrupt:
            stop.set()
        finally:
            aws.stop()
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    root = embedded.find_root()
    event = json.loads(Path(args.event).read_text())
    with embedded.stack(root) as (stack, owned), _log_file(root) as log:
        runtime = LocalRuntime(stack, log=log)
        result = runtime.invoke(stack.function(args.function), event)
        if owned and args.drain:
            runtime.drain(timeout=120)
    print(json.dumps(result, indent=2, default=str))
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    from .adapters.provenance_store import ProvenanceStore
    from .ids import derived_asset_id
    from .stages.ingest import ACTOR

    root = embedded.find_root()
    results = []
    with embedded.stack(root) as (stack, owned), _log_file(root) as log:
        runtime = LocalRuntime(stack, log=log) if owned else None
        s3 = stack.client("s3")
        bucket = stack.function("uploads").environment["ORIGINALS_BUCKET"]
        store = ProvenanceStore(stack.client("dynamodb"), stack.function("provenance").environment["PROVENANCE_TABLE"])
        pending = {}
        for path in map(Path, args.paths):
            key = f"uploads/{args.requester}/{int(time.time() * 1000)}-{path.name}"
            etag = s3.put_object(
                Bucket=bucket, Key=key, Body=path.read_bytes(),
                Metadata={"requester": args.requester, "visibility": args.visibility},
            )["ETag"].strip('"')
            pending[str(path)] = derived_asset_id(ACTOR, bucket, key, etag)

        def finished() -> bool:
            return all((store.asset(a) or {}).get("status") in TERMINAL_STATUSES for a in pending.values())

        if args.wait:
            deadline = time.monotonic() + args.timeout
            if runtime is not None:
                runtime.drain(timeout=args.timeout, done=finished)
            while not finished() and time.monotonic() < deadline:
                time.sleep(0.5)
        for path, asset_id in pending.items():
            record = store.asset(asset_id) or {}
            results.append({
                "path": path,
                "asset_id": asset_id,
                "status": record.get("status", "pending"),
                "reason": record.get("reason"),
                "detail": record.get("rejection", {}).get("detail"),
                "variants": len(record.get("publication", {}).get("variants", [])),
            })
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{r['path']}: {r['status']}" + (f" ({r['reason']})" if r["reason"] else ""))
    return 0 if all(r["status"] != "pending" for r in results) or not args.wait else 1


def cmd_sign(args: argparse.Namespace) -> int:
    from .local.demo import function_url_event

    root = embedded.find_root()
    with embedded.stack(root) as (stack, _), _log_file(root) as log:
        runtime = LocalRuntime(stack, log=log)
        event = function_url_event("GET", f"/assets/{args.asset_id}/urls", {"x-imagepipe-requester": args.requester})
        response = runtime.invoke(stack.function("sign_url"), event)
    body = json.loads(response.get("body") or "{}")
    if args.json:
        print(json.dumps({"status": response["statusCode"], **body}, indent=2))
    elif response["statusCode"] == 200:
        for variant in body["variants"]:
            print(variant["url"])
    else:
        print(f"{response['statusCode']}: {body.get('message')}", file=sys.stderr)
    return 0 if response["statusCode"] == 200 else 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="imagepipe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the demo workload on the embedded AWS")
    demo.add_argument("--out", help="output folder (default out/demo)")
    demo.set_defaults(func=cmd_demo)

    local = commands.add_parser("local", help="the embedded stack")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser("up", help="start the embedded AWS and pollers until interrupted")
    up.add_argument("--port", type=int, default=0, help="moto server port (default: a free one)")
    up.add_argument("--demo", action="store_true", help="run the demo workload first")
    up.set_defaults(func=cmd_local_up)

    invoke = commands.add_parser("invoke", help="run one handler with an event (what `sam local invoke` does)")
    invoke.add_argument("function", help="function directory or logical id: generate, uploads, moderate, "
                        "provenance, derivatives, sign_url")
    invoke.add_argument("--event", required=True, help="event JSON file, e.g. events/generate.json")
    invoke.add_argument("--drain", action="store_true", help="one-shot stack: run the rest of the pipeline too")
    invoke.set_defaults(func=cmd_invoke)

    upload = commands.add_parser("upload", help="drop files into the uploads path")
    upload.add_argument("paths", nargs="+")
    upload.add_argument("--requester", default="local-user")
    upload.add_argument("--visibility", choices=["public", "private"], default="private")
    upload.add_argument("--wait", action="store_true", help="wait for each file's final status")
    upload.add_argument("--timeout", type=float, default=300)
    upload.add_argument("--json", action="store_true")
    upload.set_defaults(func=cmd_upload)

    sign = commands.add_parser("sign", help="signed URLs for an asset's variants (through sign-url)")
    sign.add_argument("asset_id")
    sign.add_argument("--requester", required=True)
    sign.add_argument("--json", action="store_true")
    sign.set_defaults(func=cmd_sign)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
