"""The embedded AWS (moto server on loopback) and how other commands find a running one."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from imagepipe_tools.local.root import find_root  # noqa: F401 - re-exported: the commands find the project here
from imagepipe_tools.local.stack import LocalStack

STATE_FILE = Path(".imagepipe") / "local.json"


_DYNAMODB_LOCK = threading.RLock()


def serialise_dynamodb() -> None:
    """Make moto's DynamoDB apply one request at a time, as DynamoDB's own isolation would.

    moto server answers requests on many threads and applies a TransactWriteItems item by item
    without a lock: two concurrent transactions on one item can both pass their conditions and
    both write (seen: a takedown and a late 'published' fact, both applied, the later winning).
    DynamoDB serialises them. Safe to call more than once.
    """
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.call_action, "imagepipe_serialised", False):
        return
    unlocked = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _DYNAMODB_LOCK:
            return unlocked(self)

    call_action.imagepipe_serialised = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


class EmbeddedAws:
    """moto server in a thread on 127.0.0.1, on a free port unless one is given."""

    def __init__(self, port: int = 0) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.endpoint_url = ""

    def start(self) -> str:
        serialise_dynamodb()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        self._server.stop()


@dataclass(frozen=True)
class RunningStack:
    endpoint_url: str
    edge_url: str | None
    pid: int


def _reachable(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=0.5):
        return True
    return False


def running_stack(root: Path) -> RunningStack | None:
    path = root / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not _reachable(state["endpoint_url"]):
        return None
    return RunningStack(state["endpoint_url"], state.get("edge_url"), int(state["pid"]))


@contextlib.contextmanager
def recorded(root: Path, endpoint_url: str, edge_url: str | None = None) -> Iterator[None]:
    path = root / STATE_FILE
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"endpoint_url": endpoint_url, "edge_url": edge_url, "pid": os.getpid()}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def use_endpoint(endpoint_url: str) -> None:
    """Point this process's boto3 clients at the embedded AWS."""
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )


@contextlib.contextmanager
def stack(root: Path, *, reuse_running: bool = True) -> Iterator[tuple[LocalStack, bool]]:
    """A deployed local stack: the running one if any (owned=False), else a one-shot (owned=True)."""
    running = running_stack(root) if reuse_running else None
    if running is not None:
        use_endpoint(running.endpoint_url)
        yield LocalStack(root, endpoint_url=running.endpoint_url).deploy(), False
        return
    aws = EmbeddedAws()
    endpoint = aws.start()
    use_endpoint(endpoint)
    try:
        yield LocalStack(root, endpoint_url=endpoint).deploy(), True
    finally:
        aws.stop()


def serve(argv: list[str] | None = None) -> None:
    """``python -m imagepipe_tools.local.embedded [moto server options]``: moto server in a process of its
    own (no GIL shared with the functions), with DynamoDB serialised as in `EmbeddedAws`."""
    from moto.server import main

    serialise_dynamodb()
    main(argv)


if __name__ == "__main__":
    serve(sys.argv[1:])
