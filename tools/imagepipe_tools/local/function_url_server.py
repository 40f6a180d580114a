"""The stack's Function URLs (``AuthType: AWS_IAM``) on 127.0.0.1, one port each, as Lambda's front end
serves them: a request must carry a valid SigV4 signature for service ``lambda`` (else 403, as AWS
answers), and reaches the real handler as a payload 2.0 event whose ``requestContext.authorizer.iam``
names the signing principal. That lets HTTP clients (the smoke suite) call sign-url and the review
API on the embedded stack exactly as an app backend or a staff member calls them in AWS.

Who signed is looked up in the embedded AWS itself (moto, in this process): IAM users' access
keys and STS sessions (``sts:AssumeRole``), with their secret keys, so the signature is checked.
"""

from __future__ import annotations

import base64
import hmac
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from imagepipe_tools.local.function_url import function_url_event
from imagepipe_tools.local.runtime import LocalRuntime

ACCOUNT = "123456789012"
MAX_SKEW = timedelta(minutes=5)
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Principal:
    arn: str
    credentials: Credentials


def moto_principal(access_key_id: str, session_token: str | None) -> Principal | None:
    """The IAM user or STS session of the embedded AWS that owns ``access_key_id``, or None."""
    from moto.iam.access_control import create_access_key

    headers = {"X-Amz-Security-Token": session_token} if session_token else {}
    try:
        key = create_access_key(ACCOUNT, "aws", access_key_id, headers)
    except Exception:  # noqa: BLE001 - moto's CreateAccessKeyFailure: unknown key or wrong token
        return None
    return Principal(key.arn, key.create_credentials())


def _iam_identity(principal: Principal) -> dict[str, str]:
    user_id = "AIDALOCAL" if ":user/" in principal.arn else f"AROALOCAL:{principal.arn.rsplit('/', 1)[-1]}"
    return {"accessKey": principal.credentials.access_key, "accountId": ACCOUNT, "callerId": user_id,
            "userArn": principal.arn, "userId": user_id}


class FunctionUrls:
    """Serves every function of ``runtime.stack`` that has a Function URL; `urls` maps the URL's
    logical id (``SignUrlFunctionUrl``) to ``http://127.0.0.1:PORT/``, as the stack outputs name them."""

    def __init__(self, runtime: LocalRuntime, *, principals: Callable[[str, str | None], Principal | None] = moto_principal,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.runtime = runtime
        self._principals = principals
        self._clock = clock
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self.urls: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        for fn in self.runtime.stack.functions.values():
            if not fn.has_url:
                continue
            server = ThreadingHTTPServer((LOOPBACK, 0), self._handler(fn))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=f"function-url-{fn.code_dir.name}", daemon=True).start()
            self._servers[fn.logical_id] = server
            self.urls[f"{fn.logical_id}Url"] = f"http://{LOOPBACK}:{server.server_address[1]}/"
        return self.urls

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> FunctionUrls:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request -----------------------------------------------------------------------------

    def authenticate(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Principal | str:
        """The principal that signed the request, or why it is refused."""
        lower = {k.lower(): v for k, v in headers.items()}
        authorization = lower.get("authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return "Missing Authentication Token"
        fields = dict(part.strip().split("=", 1) for part in authorization.removeprefix("AWS4-HMAC-SHA256 ").split(","))
        try:
            access_key, date, region, service, _ = fields["Credential"].split("/")
            signed_headers = fields["SignedHeaders"].split(";")
            signature = fields["Signature"]
            stamp = datetime.strptime(lower["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except (KeyError, ValueError):
            return "malformed Authorization header"
        if service != "lambda" or date != stamp.strftime("%Y%m%d") or "host" not in signed_headers:
            return "credential scope is not this service's"
        if abs(self._clock() - stamp) > MAX_SKEW:
            return "Signature expired"
        principal = self._principals(access_key, lower.get("x-amz-security-token"))
        if principal is None:
            return "The security token included in the request is invalid"
        request = AWSRequest(method=method, url=f"http://{lower['host']}{target}", data=body,
                             headers={k: v for k, v in lower.items() if k in signed_headers})
        request.context["timestamp"] = lower["x-amz-date"]
        auth = SigV4Auth(principal.credentials, "lambda", region)
        expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
        if not hmac.compare_digest(expected, signature):
            return "The request signature we calculated does not match the signature you provided"
        return principal

    def _handler(self, fn: Any) -> type[BaseHTTPRequestHandler]:
        urls = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                who = urls.authenticate(self.command, self.path, headers, body)
                if isinstance(who, str):
                    self._send(403, {"Content-Type": "application/json"}, json.dumps({"Message": "Forbidden", "detail": who}).encode())
                    return
                parts = urlsplit(self.path)
                text = body.decode("utf-8", "replace") if body else None
                event = function_url_event(self.command, parts.path, {k: v for k, v in headers.items() if k != "authorization"}, text)
                event["rawQueryString"] = parts.query
                if parts.query:
                    event["queryStringParameters"] = dict(parse_qsl(parts.query, keep_blank_values=True))
                event["requestContext"]["authorizer"] = {"iam": _iam_identity(who)}
                try:
                    response = urls.runtime.invoke(fn, event)
                except Exception as error:  # noqa: BLE001 - an unhandled error is Lambda's 502
                    self._send(502, {"Content-Type": "application/json"}, json.dumps({"Message": type(error).__name__}).encode())
                    return
                data = response.get("body") or ""
                payload = base64.b64decode(data) if response.get("isBase64Encoded") else data.encode()
                out = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
                for name, values in (response.get("multiValueHeaders") or {}).items():
                    out[name] = ", ".join(map(str, values))
                self._send(int(response.get("statusCode", 200)), out, payload, cookies=response.get("cookies") or [])

            def _send(self, status: int, headers: dict[str, str], body: bytes, cookies: list[str] = ()) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                for cookie in cookies:
                    self.send_header("Set-Cookie", cookie)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        return Handler
