"""Serves the review console on loopback and hands ``/api/*`` to the review function.

Each API call becomes the Function URL (payload 2.0) request AWS would deliver after
checking the caller's SigV4 signature: ``requestContext.authorizer.iam`` names the staff
member. Here that identity is the one the server was started for (``--by``), so the server
must make sure a request comes from its own page, not merely from this machine: any web
page the staff member has open can send requests to 127.0.0.1. It listens on loopback only and

* answers only requests whose ``Host`` is its own (``127.0.0.1:PORT`` or ``localhost:PORT``),
  which defeats DNS rebinding (an attacker's name resolving to 127.0.0.1);
* proxies an API call only with the per-session token, which only its page carries (in a
  ``<meta>`` tag of the HTML, which another site cannot read) and sends in ``X-Imagepipe-Console-Token``;
* refuses API calls and scripts fetched from another origin (``Origin``, ``Sec-Fetch-Site``),
  and API POSTs that are not JSON, so no form or ``text/plain`` post can act.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from imagepipe_tools.local.function_url import function_url_event
from imagepipe_tools.local.runtime import LocalRuntime

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/console.css": ("console.css", "text/css; charset=utf-8"),
}
PAGES = frozenset({"/", "/index.html"})  # what a link from anywhere may open
ACCOUNT = "123456789012"
STAFF_ROLE = "imagepipe-reviewers"  # samconfig.toml's [local] ReviewerRoleArns lists it
MAX_BODY = 16 * 1024
LOOPBACK = "127.0.0.1"
TOKEN_HEADER = "X-Imagepipe-Console-Token"
TOKEN_META = '<meta name="imagepipe-console-token" content="">'


def staff_role_arn() -> str:
    """The IAM role the local staff identities are sessions of (a reviewer role of the local stack)."""
    return f"arn:aws:iam::{ACCOUNT}:role/{STAFF_ROLE}"


def staff_principal(name: str) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{STAFF_ROLE}/{name}"


def request_refusal(method: str, path: str, headers: Mapping[str, str], *, port: int, token: str) -> tuple[int, str] | None:
    """Why the console server must not answer this request, or None when it may.

    Parameters
    ----------
    method, path
        The request's method and path (without the query string).
    headers
        The headers as received (case-insensitive lookups, as ``http.server`` gives them).
    port
        The port the server listens on, part of its own ``Host`` and origin.
    token
        This session's token, required in `TOKEN_HEADER` on every ``/api/`` call.

    Returns
    -------
    tuple[int, str] | None
        The HTTP status and message to refuse with.
    """
    hosts = {f"{LOOPBACK}:{port}", f"localhost:{port}"}
    host = (headers.get("Host") or "").strip().lower()
    if host not in hosts:
        return HTTPStatus.FORBIDDEN, "this console answers only to its own address (Host)"
    fetch_site = headers.get("Sec-Fetch-Site")
    if path not in PAGES and fetch_site not in (None, "same-origin"):
        return HTTPStatus.FORBIDDEN, "not requested by the console's own page (Sec-Fetch-Site)"
    if not path.startswith("/api/"):
        return None
    origin = headers.get("Origin")
    if origin is not None and origin.lower() not in {f"http://{h}" for h in hosts}:
        return HTTPStatus.FORBIDDEN, "not requested by the console's own page (Origin)"
    if not hmac.compare_digest((headers.get(TOKEN_HEADER) or "").encode(), token.encode()):
        return HTTPStatus.FORBIDDEN, f"missing or wrong {TOKEN_HEADER} (open the console page again)"
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if method == "POST" and content_type != "application/json":
        return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "API calls send JSON"
    return None


def staff_event(
    method: str,
    path: str,
    *,
    staff: str,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Function URL request from ``staff`` (a name), as it reaches the review function."""

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
    """The console and its API proxy on ``127.0.0.1:port`` (0: a free port), in a thread.

    ``token`` is this session's: a new server, a new token (the page is served with it).
    """

    def __init__(self, runtime: LocalRuntime, *, staff: str, port: int = 0) -> None:
        self.runtime = runtime
        self.staff = staff
        self.token = secrets.token_urlsafe(32)
        self._httpd = ThreadingHTTPServer((LOOPBACK, port), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="review-console", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/"

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
                refused = request_refusal(method, parts.path, self.headers, port=server.port, token=server.token)
                if refused is not None:
                    status, message = refused
                    self._send(status, json.dumps({"message": message}).encode(), "application/json")
                elif parts.path.startswith("/api/"):
                    self._proxy(method, parts.path.removeprefix("/api"), dict(parse_qsl(parts.query)))
                elif method == "GET" and parts.path == "/config.js":
                    config = {"apiBase": "/api", "reviewer": server.staff}
                    self._send(HTTPStatus.OK, f"window.IMAGEPIPE_REVIEW = {json.dumps(config)};\n".encode(),
                               "text/javascript; charset=utf-8")
                elif method == "GET" and parts.path in STATIC:
                    name, content_type = STATIC[parts.path]
                    content = files(__package__).joinpath(name).read_bytes()
                    if parts.path in PAGES:  # the page, and only the page, carries the session's token
                        content = content.replace(TOKEN_META.encode(), TOKEN_META.replace('""', f'"{server.token}"').encode())
                    self._send(HTTPStatus.OK, content, content_type)
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
                self.send_header("Cross-Origin-Resource-Policy", "same-origin")  # no other site may load config.js
                self.send_header("X-Frame-Options", "DENY")  # nor frame the page to steer clicks
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("Content-Security-Policy",
                                 "default-src 'self'; img-src 'self' http://127.0.0.1:* https:; object-src 'none'; "
                                 "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
                self.end_headers()
                self.wfile.write(body)

        return Handler
