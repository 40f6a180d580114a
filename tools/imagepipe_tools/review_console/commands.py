"""`imagepipe review list|approve|reject|serve` and `imagepipe takedown`, through the review API.

Every command goes through the review function (as a Function URL request from a local
staff identity), so the terminal, the console and AWS share one code path and one set of
checks. They act on the running local stack (`imagepipe local up`) if there is one;
otherwise on a one-shot stack, which starts empty.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import threading
from typing import Any

from imagepipe_tools.local import embedded
from imagepipe_tools.local.logs import function_log
from imagepipe_tools.local.runtime import LocalRuntime
from imagepipe_tools.review_console.server import ReviewConsoleServer, call


def _default_staff() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local-staff"


def _with_runtime(action: Any) -> Any:
    root = embedded.find_root()
    with embedded.stack(root) as (stack, owned), function_log(root) as log:
        runtime = LocalRuntime(stack, log=log)
        result = action(runtime)
        if owned:
            runtime.drain(timeout=60)
        return result


def _print(status: int, body: dict[str, Any], as_json: bool, text: str) -> int:
    if as_json:
        print(json.dumps({"status": status, **body}, indent=2))
    elif 200 <= status < 300:
        print(text)
    else:
        print(f"{status}: {body.get('message')}", file=sys.stderr)
    return 0 if 200 <= status < 300 else 1


def cmd_list(args: argparse.Namespace) -> int:
    status, body = _with_runtime(lambda rt: call(rt, "GET", "/reviews", staff=args.by, query={"limit": str(args.limit)}))
    lines = []
    for item in body.get("items", []):
        scores = ", ".join(f"{lbl['name']} {lbl['confidence']:.2f}" for lbl in item["labels"][:4])
        lines.append(f"{item['asset_id']}  {item['visibility'] or '?':7}  since {item['since']}\n"
                     f"    reasons: {'; '.join(item['reasons']) or '-'}\n    labels: {scores or '-'}")
    return _print(status, body, args.json, "\n".join(lines) or "nothing waiting for review")


def _decision(args: argparse.Namespace, action: str) -> int:
    body = {"reason": args.reason, "note": args.note}
    status, answer = _with_runtime(
        lambda rt: call(rt, "POST", f"/reviews/{args.asset_id}/{action}", staff=args.by, body=body)
    )
    return _print(status, answer, args.json, f"{args.asset_id}: {answer.get('decision')} by {answer.get('reviewer')}")


def cmd_takedown(args: argparse.Namespace) -> int:
    status, answer = _with_runtime(
        lambda rt: call(rt, "POST", f"/assets/{args.asset_id}/takedown", staff=args.by, body={"reason": args.reason})
    )
    text = (f"{args.asset_id}: taken down by {answer.get('by')} ({answer.get('reason')}); "
            f"{len(answer.get('deleted', []))} objects withdrawn; CloudFront invalidation "
            f"{answer.get('invalidation', {}).get('id')} for {', '.join(answer.get('invalidation', {}).get('paths', []))}")
    return _print(status, answer, args.json, text)


def cmd_serve(args: argparse.Namespace) -> int:
    root = embedded.find_root()
    with embedded.stack(root) as (stack, owned), function_log(root) as log:
        runtime = LocalRuntime(stack, log=log)
        server = ReviewConsoleServer(runtime, staff=args.by, port=args.port)
        stop = threading.Event()
        pollers = threading.Thread(target=runtime.run, args=(stop,), daemon=True) if owned else None
        if pollers:
            pollers.start()  # a one-shot stack applies the decisions itself
        print(f"review console at {server.start()} (reviewing as {args.by}); Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            server.stop()
    return 0


def register(commands: Any) -> None:
    """Add the review and takedown commands to the `imagepipe` parser's subcommands."""
    staff = argparse.ArgumentParser(add_help=False)
    staff.add_argument("--by", default=_default_staff(), help="the staff member acting (default: your user name)")
    staff.add_argument("--json", action="store_true")

    review = commands.add_parser("review", help="human review: list pending, approve, reject, serve the console")
    actions = review.add_subparsers(dest="review_command", required=True)
    listing = actions.add_parser("list", parents=[staff], help="assets waiting for a decision")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=cmd_list)
    approve = actions.add_parser("approve", parents=[staff], help="approve: the asset goes on to derivatives")
    approve.add_argument("asset_id")
    approve.add_argument("--note")
    approve.set_defaults(func=lambda a: _decision(a, "approve"), reason=None)
    reject = actions.add_parser("reject", parents=[staff], help="reject: the original is quarantined")
    reject.add_argument("asset_id")
    reject.add_argument("--reason", required=True)
    reject.add_argument("--note")
    reject.set_defaults(func=lambda a: _decision(a, "reject"))
    serve = actions.add_parser("serve", parents=[staff], help="the review console on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.set_defaults(func=cmd_serve)

    takedown = commands.add_parser("takedown", parents=[staff], help="withdraw an asset and invalidate its CDN paths")
    takedown.add_argument("asset_id")
    takedown.add_argument("--reason", required=True)
    takedown.set_defaults(func=cmd_takedown)
