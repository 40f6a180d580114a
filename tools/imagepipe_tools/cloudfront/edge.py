"""A local CloudFront: an HTTP server on loopback that plays the template's distribution.

For each request it does what CloudFront does, in CloudFront's order: pick the behaviour by
path pattern; if the behaviour has trusted key groups, verify the signed URL or signed
cookies with the key group's public keys (canned and custom policies, expiry, start time,
IP range, key id); run the behaviour's viewer-request function (the Python twin of the
CloudFront Function); look the request up in an in-memory cache keyed as the cache policy
says (``X-Cache: Hit/Miss from cloudfront``, ``Age``); on a miss fetch from the origin, or
from an origin group's members in turn on a failover status; keep the response as long as
the cache policy and the origin's ``Cache-Control`` allow; drop entries that an invalidation
created through the CloudFront API covers; add the response headers policy's headers.

Origins are injected: `S3Origin` reads the variants bucket with a given S3 client (a
missing key is a 403, as S3 answers CloudFront's OAC without ``s3:ListBucket``), and
`FunctionUrlOrigin` calls a handler through a given ``invoke`` with a Function URL request
(and enforces Lambda's 6 MB response limit). `imagepipe_tools.local.edge` wires them to a
`LocalStack`.

The edge answers for the distribution's domain: signatures are checked against
``https://{domain}{path}`` exactly as CloudFront checks a request that arrived on that
domain, so URLs from sign-url work unchanged once their scheme and host are swapped for the
edge's (`LocalEdge.localize`).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from imagepipe.delivery.negotiation import Normalized, cf_request
from imagepipe.signed_urls import verify
from imagepipe_tools.cloudfront.distribution import Behaviour, DistributionSpec

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
POP = "LOCAL1-P1"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


@dataclass(frozen=True)
class OriginResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes = field(default=b"", repr=False)


class Origin(Protocol):
    def fetch(self, path: str, headers: Mapping[str, str]) -> OriginResponse: ...


def _xml_error(status: int, code: str, message: str) -> OriginResponse:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return OriginResponse(status, {"Content-Type": "application/xml"}, body.encode())


class S3Origin:
    """The variants bucket behind OAC (``s3:GetObject`` only): a missing key is a 403.

    ``denied_tags`` are the bucket policy's denials of CloudFront's reads by object tag (tag ->
    values): an object carrying one is a 403, as S3 answers.
    """

    HEADERS = ("ContentType", "CacheControl", "ETag", "LastModified", "ContentEncoding", "ContentDisposition")
    NAMES = {"ContentType": "Content-Type", "CacheControl": "Cache-Control", "ETag": "ETag",
             "LastModified": "Last-Modified", "ContentEncoding": "Content-Encoding",
             "ContentDisposition": "Content-Disposition"}

    def __init__(self, s3_client: Any, bucket: str, *, denied_tags: Mapping[str, frozenset[str]] | None = None) -> None:
        self._s3 = s3_client
        self.bucket = bucket
        self._denied_tags = dict(denied_tags or {})

    def fetch(self, path: str, headers: Mapping[str, str]) -> OriginResponse:
        key = unquote(path.lstrip("/"))
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
            if self._denied_tags:  # S3 evaluates the policy on the object it reads: after the read
                tags = self._s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
                if any(t["Value"] in self._denied_tags.get(t["Key"], ()) for t in tags):
                    response["Body"].close()
                    return _xml_error(403, "AccessDenied", "Access Denied")
        except self._s3.exceptions.NoSuchKey:
            return _xml_error(403, "AccessDenied", "Access Denied")
        except Exception as error:  # noqa: BLE001 - any other S3 error reaches the viewer as S3 sent it
            meta = getattr(error, "response", {}).get("ResponseMetadata", {})
            return _xml_error(int(meta.get("HTTPStatusCode", 502)), "OriginError", str(error)[:200])
        out: dict[str, str] = {"Accept-Ranges": "bytes"}
        for field_name in self.HEADERS:
            value = response.get(field_name)
            if value is not None:
                out[self.NAMES[field_name]] = value.strftime("%a, %d %b %Y %H:%M:%S GMT") if hasattr(value, "strftime") else str(value)
        return OriginResponse(int(response["ResponseMetadata"]["HTTPStatusCode"]), out, response["Body"].read())


class FunctionUrlOrigin:
    """A Lambda Function URL: ``invoke(method, path, headers)`` returns the handler's response dict."""

    def __init__(self, invoke: Callable[[str, str, dict[str, str]], Mapping[str, Any]]) -> None:
        self._invoke = invoke

    def fetch(self, path: str, headers: Mapping[str, str]) -> OriginResponse:
        try:
            response = self._invoke("GET", path, dict(headers))
        except Exception as error:  # noqa: BLE001 - an unhandled error is Lambda's 502
            return _xml_error(502, "LambdaFunctionError", type(error).__name__)
        if len(json.dumps(response, default=str)) > LAMBDA_RESPONSE_LIMIT:
            return _xml_error(502, "LambdaResponseTooLarge", "the response exceeds Lambda's 6 MB payload limit")
        body = response.get("body") or ""
        data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        out = {str(k): ", ".join(v) if isinstance(v, list) else str(v) for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            out[name] = ", ".join(map(str, values))
        return OriginResponse(int(response.get("statusCode", 200)), out, data)


@dataclass
class Cached:
    response: OriginResponse
    stored_at: float
    ttl: float
    paths: tuple[str, ...]  # the cache key's path and the viewer's path (both invalidate it)


@dataclass(frozen=True)
class EdgeResponse:
    status: int
    headers: dict[str, str]
    body: bytes = field(default=b"", repr=False)


@dataclass
class EdgeStats:
    hits: int = 0
    misses: int = 0
    refused: int = 0
    origin_fetches: dict[str, int] = field(default_factory=dict)


def _invalidates(pattern: str, path: str) -> bool:
    pattern = "/" + pattern.lstrip("/")
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


def _cookies(header: str | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            found.setdefault(name, value)
    return found


class LocalEdge:
    """The distribution on ``http://127.0.0.1:{port}``; port 0 picks a free one."""

    def __init__(
        self,
        spec: DistributionSpec,
        *,
        domain: str,
        origins: Mapping[str, Origin],
        trusted_keys: Callable[[tuple[str, ...]], Mapping[str, str]],
        functions: Mapping[str, Callable[[dict[str, Any]], Normalized]] | None = None,
        invalidations: Callable[[frozenset[str]], Iterable[Mapping[str, Any]]] | None = None,
        local_files: Mapping[str, Path] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spec = spec
        self.domain = domain
        self._origins = origins
        self._trusted_keys = trusted_keys
        self._functions = dict(functions or {})
        self._invalidations = invalidations
        self.local_files = dict(local_files or {})
        self._clock = clock
        self._cache: dict[tuple[Any, ...], Cached] = {}
        self._lock = threading.Lock()
        self._seen_invalidations: set[str] = set()
        self._invalidated: list[tuple[str, ...]] = []  # the paths of each invalidation, in the order seen
        self.stats = EdgeStats()
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        missing = {b.viewer_request_function for b in spec.behaviours} - {None} - set(self._functions)
        if missing:
            raise ValueError(f"no local version of the CloudFront Function(s) {sorted(missing)}")  # type: ignore[type-var]

    # -- the server ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the edge is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        edge = self

        class Handler(_EdgeRequestHandler):
            pass

        Handler.edge = edge
        self._server = ThreadingHTTPServer(self._address, Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-edge", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalEdge:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def localize(self, url: str) -> str:
        """A URL on the distribution's domain, pointed at this edge (path, query and signature kept)."""
        parts = urlsplit(url)
        if parts.netloc != self.domain:
            raise ValueError(f"{url} is not on {self.domain}")
        return self.url + parts.path + (f"?{parts.query}" if parts.query else "")

    def clear_cache(self) -> None:
        """Forget every cached response (as if the request reached another edge location)."""
        with self._lock:
            self._cache.clear()

    # -- one request -------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], client_ip: str) -> EdgeResponse:
        headers = {k.lower(): v for k, v in headers.items()}
        parts = urlsplit(target)
        path = parts.path or "/"
        if path in self.local_files and method in ("GET", "HEAD"):
            return self._local_file(self.local_files[path])
        behaviour = self.spec.behaviour_for(path)
        if method not in behaviour.allowed_methods:
            return self._error(behaviour, 403, "MethodNotAllowed", "This distribution is not configured to allow the HTTP request method")
        if behaviour.trusted_key_groups:
            verdict = verify(
                f"https://{self.domain}{target}",
                self._trusted_keys(behaviour.trusted_key_groups),
                now=self._clock(),
                client_ip=client_ip,
                cookies=_cookies(headers.get("cookie")),
            )
            if not verdict.ok:
                message = "Missing Key-Pair-Id query parameter or cookie value" if verdict.error_code == "MissingKey" else "Access denied"
                return self._error(behaviour, 403, verdict.error_code, message, reason=verdict.reason)
        query = parse_qs(parts.query, keep_blank_values=True)
        viewer_path = path
        if behaviour.viewer_request_function:
            result = self._functions[behaviour.viewer_request_function](cf_request(path, query, headers))
            if result.status is not None:
                with self._lock:
                    self.stats.refused += 1
                return EdgeResponse(result.status, self._stamp({}, "FunctionGeneratedResponse"), b"")
            path, query = result.uri or path, {}
        policy = behaviour.cache_policy
        key = (
            path,
            policy.query.select({k: v[0] for k, v in query.items()}),
            policy.headers.select(headers),
            policy.cookies.select(_cookies(headers.get("cookie"))),
        )
        cached = self._lookup(key)
        if cached is not None:
            with self._lock:
                self.stats.hits += 1
            age = int(self._clock() - cached.stored_at)
            return self._respond(behaviour, cached.response, "Hit", age=age)
        with self._lock:  # invalidations not yet seen count as made during the fetch: safe, never stale
            seen_before = len(self._invalidated)
        response, origin_id = self._fetch(behaviour, path, headers)
        self._apply_invalidations()
        with self._lock:
            self.stats.misses += 1
            self.stats.origin_fetches[origin_id] = self.stats.origin_fetches.get(origin_id, 0) + 1
            ttl = policy.ttl(response.headers.get("Cache-Control") or _header(response.headers, "cache-control"), response.status)
            # An invalidation made while the origin answered covers that answer too: it is
            # served to this viewer but not kept (CloudFront: objects requested before it).
            covered = any(_invalidates(p, cached_path) for paths in self._invalidated[seen_before:]
                          for p in paths for cached_path in (path, viewer_path))
            if ttl > 0 and not covered:
                self._cache[key] = Cached(response, self._clock(), ttl, (path, viewer_path))
        return self._respond(behaviour, response, "Miss" if response.status < 400 else "Error")

    def _lookup(self, key: tuple[Any, ...]) -> Cached | None:
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            return None
        self._apply_invalidations()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and self._clock() - cached.stored_at >= cached.ttl:
                del self._cache[key]
                return None
            return cached

    def _apply_invalidations(self) -> None:
        if self._invalidations is None:
            return
        with self._lock:
            known = frozenset(self._seen_invalidations)
        for invalidation in self._invalidations(known):
            if invalidation["id"] in self._seen_invalidations:
                continue
            with self._lock:
                if invalidation["id"] in self._seen_invalidations:
                    continue
                self._seen_invalidations.add(invalidation["id"])
                self._invalidated.append(tuple(invalidation["paths"]))
                for key, cached in list(self._cache.items()):
                    if any(_invalidates(p, path) for p in invalidation["paths"] for path in cached.paths):
                        del self._cache[key]

    def _fetch(self, behaviour: Behaviour, path: str, headers: Mapping[str, str]) -> tuple[OriginResponse, str]:
        members = self.spec.members(behaviour.target)
        group = self.spec.origin_groups.get(behaviour.target)
        forwarded = {"user-agent": "Amazon CloudFront", "via": f"2.0 {POP}.cloudfront.net (CloudFront)"}
        response, origin_id = OriginResponse(502, {}), members[0]
        for index, origin_id in enumerate(members):
            response = self._origins[origin_id].fetch(path, forwarded)
            last = index == len(members) - 1
            if last or group is None or response.status not in group.failover_statuses:
                break
        return response, origin_id

    def _stamp(self, headers: dict[str, str], cache: str, age: int | None = None) -> dict[str, str]:
        headers["X-Cache"] = f"{cache} from cloudfront"
        headers["Via"] = f"1.1 {uuid.uuid4().hex[:32]}.cloudfront.net (CloudFront)"
        headers["X-Amz-Cf-Pop"] = POP
        headers["X-Amz-Cf-Id"] = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")
        if age is not None:
            headers["Age"] = str(age)
        return headers

    def _respond(self, behaviour: Behaviour, response: OriginResponse, cache: str, age: int | None = None) -> EdgeResponse:
        headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
        for name, value, override in behaviour.response_headers:
            present = next((k for k in headers if k.lower() == name.lower()), None)
            if present is not None and override:
                del headers[present]
                present = None
            if present is None:
                headers[name] = value
        return EdgeResponse(response.status, self._stamp(headers, cache, age), response.body)

    def _error(self, behaviour: Behaviour, status: int, code: str, message: str, *, reason: str = "") -> EdgeResponse:
        with self._lock:
            self.stats.refused += 1
        error = _xml_error(status, code, message)
        response = self._respond(behaviour, error, "Error")
        if reason:
            response.headers["X-Imagepipe-Edge-Reason"] = reason  # local only: why CloudFront would refuse
        return response

    def _local_file(self, path: Path) -> EdgeResponse:
        content_type = "text/html; charset=utf-8" if path.suffix == ".html" else "application/json"
        try:
            body = path.read_bytes()
        except OSError:
            return EdgeResponse(404, {"Content-Type": "text/plain"}, b"not generated yet")
        return EdgeResponse(200, {"Content-Type": content_type, "Cache-Control": "no-store",
                                  "X-Imagepipe-Local": "served by the local edge only, not part of the distribution"}, body)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


class _EdgeRequestHandler(BaseHTTPRequestHandler):
    edge: LocalEdge
    protocol_version = "HTTP/1.1"
    server_version = "CloudFront"
    sys_version = ""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            lower = name.lower()
            headers[lower] = f"{headers[lower]}; {value}" if lower == "cookie" and lower in headers else value
        response = self.edge.handle(self.command, self.path, headers, self.client_address[0])
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass
