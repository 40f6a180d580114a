"""`imagepipe`: the local runtime and developer commands.

    imagepipe demo                      embedded AWS + the demo workload, prints a table per asset
    imagepipe local up [--demo]         embedded AWS with pollers and a local edge, until Ctrl-C
    imagepipe invoke FUNCTION --event events/x.json
    imagepipe upload PATH... --wait --json
    imagepipe sign ASSET_ID [--requester NAME] [--ttl S] [--policy wildcard] [--json]
    imagepipe provenance FILE [--json]  where a file came from, and its C2PA validation state
    imagepipe review list|approve ASSET|reject ASSET --reason R|serve [--port N] [--by NAME]
    imagepipe takedown ASSET --reason R [--by NAME]
    imagepipe deploy bootstrap --stage S --c2pa pem|kms|dev ...   a stage's keys and secrets, before sam deploy
    imagepipe deploy verify --stage S   the deployed stack's keys checked, then the smoke suite
    imagepipe deploy rotate --stage S [--switch|--retire]         CloudFront signing key rotation
    imagepipe smoke --stage S | --stack NAME | --embedded         the smoke suite alone
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from imagepipe_tools.local import embedded
from imagepipe_tools.local.logs import function_log
from imagepipe_tools.local.runtime import LocalRuntime

TERMINAL_STATUSES = {"published", "review", "rejected", "taken_down"}


def cmd_demo(args: argparse.Namespace) -> int:
    from imagepipe_tools.local import demo
    from imagepipe_tools.local.provenance import check_passed

    root = embedded.find_root()
    out = Path(args.out).resolve() if args.out else root / "out" / "demo"
    started = time.monotonic()
    with embedded.stack(root, reuse_running=False) as (stack, _), function_log(root, "w") as log:
        print(f"embedded AWS at {stack.endpoint_url}; resources created from template.yaml "
              f"({len(stack.physical)} resources, {len(stack.functions)} functions)")
        runtime = LocalRuntime(stack, log=log)
        summary = demo.run(stack, runtime, out)
    print(demo.table(summary))
    print(f"\nwrote {out / 'summary.json'} and {out / 'index.html'} in {time.monotonic() - started:.1f}s "
          f"(function logs: out/local/functions.log)")
    statuses = {a["status"] for a in summary["assets"]}
    ok = summary["drained"] and {"published", "review", "rejected", "taken_down"} <= statuses and all(
        a.get("signed_url_check", {}).get("signature", "valid") == "valid" for a in summary["assets"]
    ) and all(check_passed(a.get("content_credentials")) for a in summary["assets"] if a["status"] == "published") and summary["staff"]["ok"]
    ok = ok and summary["edge"]["ok"]  # served through the local edge: signatures, negotiation, transforms
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
    from imagepipe_tools.local.stack import LocalStack

    stack = LocalStack(root, endpoint_url=endpoint).deploy()
    stop = threading.Event()
    from imagepipe_tools.local.edge import edge_for

    with function_log(root) as log:
        runtime = LocalRuntime(stack, log=log)
        edge = edge_for(stack, runtime, port=args.edge_port, gallery=root / "out" / "demo")
        edge_url = edge.start()
        with embedded.recorded(root, endpoint, edge_url):
            if args.demo:
                from imagepipe_tools.local import demo

                print(demo.table(demo.run(stack, runtime, root / "out" / "demo", edge=edge)))
            print(f"embedded AWS at {endpoint}; polling {sum(len(f.triggers) for f in stack.functions.values())} "
                  "queues. Ctrl-C to stop.", flush=True)
            print(f"local edge (CloudFront for {edge.domain}) at {edge_url}"
                  + (f"; gallery at {edge_url}/" if args.demo else ""), flush=True)
            # SIGTERM (a service manager, `kill`) stops as Ctrl-C does: pollers, edge, then moto.
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                runtime.run(stop)
            except KeyboardInterrupt:
                stop.set()
            finally:
                edge.stop()
                aws.stop()
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    root = embedded.find_root()
    event = json.loads(Path(args.event).read_text())
    with embedded.stack(root) as (stack, owned), function_log(root) as log:
        runtime = LocalRuntime(stack, log=log)
        result = runtime.invoke(stack.function(args.function), event)
        if owned and args.drain:
            runtime.drain(timeout=120)
    print(json.dumps(result, indent=2, default=str))
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    import mimetypes

    from imagepipe_tools.local.uploads import UploadNotAccepted, upload

    root = embedded.find_root()
    results = []
    with embedded.stack(root) as (stack, owned), function_log(root) as log:
        runtime = LocalRuntime(stack, log=log)  # upload-url runs here; the pipeline's pollers only when owned
        store = stack.provenance_store()
        pending, refused = {}, {}
        for path in map(Path, args.paths):
            content_type = args.content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            try:  # as an app does it: a ticket for the requester, then the browser's POST
                pending[str(path)] = upload(runtime, path.read_bytes(), requester=args.requester, content_type=content_type,
                                            visibility=args.visibility, filename=path.name).asset_id
            except UploadNotAccepted as error:
                refused[str(path)] = error

        def finished() -> bool:
            return all((store.asset(a) or {}).get("status") in TERMINAL_STATUSES for a in pending.values())

        if args.wait and pending:
            deadline = time.monotonic() + args.timeout
            if owned:
                runtime.drain(timeout=args.timeout, done=finished)
            while not finished() and time.monotonic() < deadline:
                time.sleep(0.5)
        for path, error in refused.items():
            results.append({"path": path, "asset_id": None, "status": "refused", "reason": f"upload-url {error.status}",
                            "detail": error.message, "variants": 0})
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
            print(f"{r['path']}: {r['status']}" + (f" ({r['reason']}: {r['detail']})" if r["status"] == "refused"
                                                   else f" ({r['reason']})" if r["reason"] else ""))
    if refused:
        return 1
    return 0 if all(r["status"] != "pending" for r in results) or not args.wait else 1


def cmd_sign(args: argparse.Namespace) -> int:
    from imagepipe_tools.local.delivery import sign_asset

    root = embedded.find_root()
    running = embedded.running_stack(root)
    roles = args.role or ([] if args.requester else ["admin"])  # the local operator, unless acting for someone
    with embedded.stack(root) as (stack, _), function_log(root) as log:
        runtime = LocalRuntime(stack, log=log)
        status, body = sign_asset(runtime, args.asset_id, requester=args.requester, roles=roles,
                                  policy=args.policy, ttl=args.ttl, ip=args.ip)
        cdn = f"https://{stack.function('sign_url').environment['CDN_DOMAIN']}"
    edge = running.edge_url if running else None
    if status == 200 and edge:  # the same URLs, fetched from the running local edge
        body["edge_urls"] = [edge + v["url"].removeprefix(cdn) for v in body["variants"]]
    if args.json:
        print(json.dumps({"status": status, **body}, indent=2))
    elif status == 200:
        for index, variant in enumerate(body["variants"]):
            print(body["edge_urls"][index] if edge else variant["url"])
        if not edge:
            print("(no local edge running: `imagepipe local up` serves these URLs)", file=sys.stderr)
    else:
        print(f"{status}: {body.get('message')}", file=sys.stderr)
    return 0 if status == 200 else 1


def cmd_provenance(args: argparse.Namespace) -> int:
    from imagepipe_tools.local.provenance import trace_local_file
    from imagepipe_tools.trace import render_text

    root = embedded.find_root()
    path = Path(args.file)
    data = path.read_bytes()
    with embedded.stack(root) as (stack, owned):
        traced = trace_local_file(stack, data, near=path)
    if args.json:
        print(json.dumps({"file": str(path), **traced}, indent=2, default=str))
    else:
        print(render_text(str(path), traced))
        if owned and not traced["chains"]:
            print("(no local stack was running: start one with `imagepipe local up --demo` to trace demo files)",
                  file=sys.stderr)
    return 0 if traced["chains"] else 1


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
    up.add_argument("--edge-port", type=int, default=0, help="local edge (CloudFront) port (default: a free one)")
    up.set_defaults(func=cmd_local_up)

    invoke = commands.add_parser("invoke", help="run one handler with an event (what `sam local invoke` does)")
    invoke.add_argument("function", help="function directory or logical id: generate, uploads, moderate, "
                        "provenance, derivatives, sign_url")
    invoke.add_argument("--event", required=True, help="event JSON file, e.g. events/generate.json")
    invoke.add_argument("--drain", action="store_true", help="one-shot stack: run the rest of the pipeline too")
    invoke.set_defaults(func=cmd_invoke)

    upload = commands.add_parser("upload", help="upload files as an app does: a ticket from upload-url, then a POST")
    upload.add_argument("paths", nargs="+")
    upload.add_argument("--requester", default="local-user", help="the user the app backend uploads for")
    upload.add_argument("--visibility", choices=["public", "private"], default="private")
    upload.add_argument("--content-type", help="declared type of every file (default: from each file name)")
    upload.add_argument("--wait", action="store_true", help="wait for each file's final status")
    upload.add_argument("--timeout", type=float, default=300)
    upload.add_argument("--json", action="store_true")
    upload.set_defaults(func=cmd_upload)

    sign = commands.add_parser("sign", help="signed URLs for an asset's variants (through sign-url)")
    sign.add_argument("asset_id")
    sign.add_argument("--requester", help="the viewer the URLs are for (default: act as the local admin)")
    sign.add_argument("--role", action="append", help="a role of the viewer (repeatable), e.g. moderator")
    sign.add_argument("--ttl", type=int, help="seconds the URLs stay valid (default: the function's, 300)")
    sign.add_argument("--policy", choices=["canned", "wildcard"], default="canned",
                      help="canned: one signature per URL; wildcard: one for all variants")
    sign.add_argument("--ip", help="only viewers from this address or CIDR range")
    sign.add_argument("--json", action="store_true")
    sign.set_defaults(func=cmd_sign)

    from imagepipe_tools import derive_cli

    derive_cli.add_arguments(commands.add_parser(
        "derive", help="the variant set and manifest the pipeline would publish, for local files"))

    provenance = commands.add_parser("provenance", help="where a file came from: its provenance chain and C2PA state")
    provenance.add_argument("file", help="an original or any variant (e.g. a file under out/demo/)")
    provenance.add_argument("--json", action="store_true", help="the same as JSON")
    provenance.set_defaults(func=cmd_provenance)

    from imagepipe_tools.review_console import commands as review_commands

    review_commands.register(commands)

    from imagepipe_tools import deploy, smoke

    deploy.register(commands)
    smoke.register(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
