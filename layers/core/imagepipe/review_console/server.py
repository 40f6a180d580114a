"""Serves the review console on loopback and hands ``/api/*`` to the review function.

Each API call becomes the Function URL (payload 2.0) request AWS would deliver after
checking the caller's SigV4 signature: ``requestContext.authorizer.iam`` names the staff
member. Here that identity is the one the server was started for (``--by``), which is
what a local stack can honestly claim: only people on this machine reach 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..local.runtime import LocalRuntime

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/console.css": ("console.css", "text/css; charset=utf-8"),
}
ACCOUNT = "123456789012"
MAX_BODY = 16 * 1024


def staff_principal(name: str) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/imagepipe-reviewers/{name}"


def staff_event(
    method: str,
    path: str,
    *,
    staff: str,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Function URL request from ``staff`` (a name), as it reaches the review function."""
    from ..local.demo import function_url_event  # the demo imports this module too

    text = body if isinstance(body, str) or body is None else json.dumps(body)
    headers = {"content-type": "application/json"} if text is not None else {}
    event = function_url_event(method, path, headers, text)
    if query:
        event["queryStringParameters"] = dict(query)
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    event["requestContext"]["authorizer"] = {
        "iam": {
            "accessKey": "ASIALOCALREVIEWER",
            "accountId": ACCOUNT,
            "callerId": f"AROALOCALREVIEWER:{staff}",
            "userArn": staff_principal(staff),
            "userId": f"AROALOCALREVIEWER:{staff}",
        }
    }
    return event


def call(runtime: LocalRuntime, method: str, path: str, *, staff: str, body: Any = None,
         query: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """Invoke the review function in-process; returns (status, JSON body)."""
    response = runtime.invoke(runtime.stack.function("review"), staff_event(method, path, staff=staff, body=body, query=query))
    return response["statusCode"], json.loads(response.get("body") or "{}")


class ReviewConsoleServer:
    """The console and its API proxy on ``127.0.0.1:port`` (0: a free port), in a thread."""

    def __init__(self, runtime: LocalRuntime, *, staff: str, port: int = 0) -> None:
        self.runtime = runtime
        self.staff = staff
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="review-console", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> str:
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

            def _route(self, method: str) -> None:
                parts = urlsplit(self.path)
                if parts.path.startswith("/api/"):
                    self._proxy(method, parts.path.removeprefix("/api"), dict(parse_qsl(parts.query)))
                elif method == "GET" and parts.path == "/config.js":
                    config = {"apiBase": "/api", "reviewer": server.staff}
                    self._send(HTTPStatus.OK, f"window.IMAGEPIPE_REVIEW = {json.dumps(config)};\n".encode(),
                               "text/javascript; charset=utf-8")
                elif method == "GET" and parts.path in STATIC:
                    name, content_type = STATIC[parts.path]
                    self._send(HTTPStatus.OK, files(__package__).joinpath(name).read_bytes(), content_type)
                else:
                    self._send(HTTPStatus.NOT_FOUND, b'{"message": "not found"}', "application/json")

            def _proxy(self, method: str, path: str, query: dict[str, str]) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY:
                    self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b'{"message": "body too large"}', "application/json")
                    return
                body = self.rfile.read(length).decode() if length else None
                event = staff_event(method, path, staff=server.staff, body=body, query=query or None)
                response = server.runtime.invoke(server.runtime.stack.function("review"), event)
                content_type = (response.get("headers") or {}).get("Content-Type", "application/json")
                self._send(response["statusCode"], (response.get("body") or "").encode(), content_type)

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Content-Security-Policy",
                                 "default-src 'self'; img-src 'self' http://127.0.0.1:* https:; object-src 'none'")
                self.end_headers()
                self.wfile.write(body)

        return Handler
