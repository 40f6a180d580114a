"""The smoke suite: a stack used as its users use it, through HTTP and the AWS APIs only.

Given a stack's outputs (`Endpoints.from_stack`), `run`:

1. checks that sign-url's Function URL refuses an unsigned request (AWS_IAM is on);
2. submits two generations to the requests queue, one public and one private (as the app does);
3. waits for both to be published (the provenance table), with a deadline;
4. fetches a public variant through the CDN: 200, its Content-Type, ``Cache-Control: public,
   max-age=31536000, immutable``, an ETag, the bytes the record lists;
5. calls sign-url (SigV4, service ``lambda``, as the app backend) for the private asset, fetches
   the signed URL (200, ``Cache-Control: private``) and checks the unsigned URL is refused (403);
6. takes both down through the review API, signed as staff (a session of a reviewer role), and
   checks the CDN stops serving them (403/404/410, once the invalidation lands) and sign-url
   answers 410 for the public one.

Deployed: ``imagepipe smoke --stage prod`` (or ``imagepipe deploy verify``, which runs it after the
key checks). Embedded: the same `run` against the embedded stack, its local edge and its Function
URLs on loopback (`imagepipe_tools.local.smoke`), in ``make test`` (tests/e2e/test_smoke_embedded.py).
Every run uses fresh request ids and seeds: a taken-down picture is blocklisted by its hash.
"""

from __future__ import annotations

import json
import random
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from imagepipe.adapters.provenance_store import ProvenanceStore
from imagepipe.ids import derived_asset_id
from imagepipe.models import GenerationRequest
from imagepipe.stages import generate as generate_stage
from imagepipe_tools.deploy import Check, DeployError

REQUESTER = "imagepipe-smoke"
PROMPT = "imagepipe smoke test: a calm lake under a clear sky, soft morning light"
TERMINAL = frozenset({"published", "review", "rejected", "taken_down"})
GONE = frozenset({403, 404, 410})
IMMUTABLE = ("public", "max-age=31536000", "immutable")
MAGIC = {"image/webp": (8, b"WEBP"), "image/jpeg": (0, b"\xff\xd8\xff"), "image/png": (0, b"\x89PNG"),
         "image/avif": (4, b"ftypavi")}
REQUIRED_OUTPUTS = ("GenerateRequestsQueueUrl", "ProvenanceTableName", "DistributionDomainName", "SignUrlFunctionUrl",
                    "ReviewFunctionUrl")


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http(method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes | None = None) -> Response:
    """One HTTP request, redirects not followed; an error status is returned, not raised."""
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    try:
        with _OPENER.open(request, timeout=60) as answer:  # noqa: S310 - the stack's own URLs
            return Response(answer.status, dict(answer.headers), answer.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, dict(error.headers), error.read())


@dataclass(frozen=True)
class Endpoints:
    """Where a stack is and who calls it: from its outputs (`from_stack`).

    ``cdn_base`` is where viewers' requests go (``https://{cdn_domain}``, or the local edge); the
    URLs sign-url issues keep ``cdn_domain`` and are sent there. ``operator``, ``app`` and ``staff``
    are boto3 sessions: whoever runs the suite (reads the provenance table), the app backend (submits
    to the queue, calls sign-url) and a reviewer role's session (the review API).
    """

    stack: str
    region: str
    cdn_domain: str
    cdn_base: str
    requests_queue_url: str
    provenance_table: str
    sign_url: str
    review_url: str
    model_id: str
    operator: Any
    app: Any
    staff: Any | None
    staff_role: str = ""
    staff_problem: str = ""
    endpoint_url: str | None = None  # the AWS endpoint (the embedded AWS), None for AWS itself

    @classmethod
    def from_stack(cls, session: Any, stack: str, outputs: Mapping[str, str], parameters: Mapping[str, str], *,
                   staff_role_arn: str | None = None, app_role_arn: str | None = None, cdn_base: str | None = None,
                   endpoint_url: str | None = None) -> Endpoints:
        """``session`` is the operator's; ``staff_role_arn`` defaults to the stack's first reviewer role."""
        missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
        if missing:
            raise DeployError(f"stack {stack} lacks the outputs {', '.join(missing)}: deploy the current template")
        region = session.region_name
        app = assume(session, app_role_arn, endpoint_url) if app_role_arn else session
        staff_role = staff_role_arn or next((r for r in parameters.get("ReviewerRoleArns", "").split(",") if r), "")
        staff, problem = None, ""
        if not staff_role:
            problem = "the stack admits no reviewers (ReviewerRoleArns is empty): nobody can take an asset down"
        else:
            try:
                staff = assume(session, staff_role, endpoint_url)
            except Exception as error:  # noqa: BLE001 - reported by the takedown step
                problem = f"cannot assume the reviewer role {staff_role} ({error}); pass --staff-role-arn"
        domain = outputs["DistributionDomainName"]
        return cls(stack=stack, region=region, cdn_domain=domain, cdn_base=cdn_base or f"https://{domain}",
                   requests_queue_url=outputs["GenerateRequestsQueueUrl"], provenance_table=outputs["ProvenanceTableName"],
                   sign_url=outputs["SignUrlFunctionUrl"], review_url=outputs["ReviewFunctionUrl"],
                   model_id=(parameters.get("ImageModelIds") or "amazon.nova-canvas-v1:0").split(",")[0],
                   operator=session, app=app, staff=staff, staff_role=staff_role, staff_problem=problem, endpoint_url=endpoint_url)

    def client(self, session: Any, service: str) -> Any:
        return session.client(service, region_name=self.region, endpoint_url=self.endpoint_url)

    def viewer_url(self, url: str) -> str:
        """A URL on the CDN's domain, sent where this stack's viewers' requests go."""
        parts = urlsplit(url)
        if parts.netloc != self.cdn_domain:
            raise ValueError(f"{url} is not on {self.cdn_domain}")
        return self.cdn_base + parts.path + (f"?{parts.query}" if parts.query else "")

    def call(self, session: Any, function_url: str, method: str, path: str, *, headers: Mapping[str, str] | None = None,
             body: Any = None) -> Response:
        """A SigV4-signed (service ``lambda``) request to an IAM-authenticated Function URL."""
        data = json.dumps(body).encode() if body is not None else b""
        url = function_url.rstrip("/") + path
        request = AWSRequest(method=method, url=url, data=data,
                             headers={**(headers or {}), **({"Content-Type": "application/json"} if body is not None else {})})
        SigV4Auth(session.get_credentials().get_frozen_credentials(), "lambda", self.region).add_auth(request)
        return http(method, url, dict(request.headers.items()), data or None)


def assume(session: Any, role_arn: str, endpoint_url: str | None = None) -> Any:
    """A session of ``role_arn`` (``sts:AssumeRole`` with the given session's credentials)."""
    import boto3

    sts = session.client("sts", region_name=session.region_name, endpoint_url=endpoint_url)
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=REQUESTER, DurationSeconds=3600)["Credentials"]
    return boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                                 aws_session_token=credentials["SessionToken"], region_name=session.region_name)


@dataclass
class SmokeReport:
    checks: list[Check] = field(default_factory=list)
    assets: dict[str, str] = field(default_factory=dict)  # visibility -> asset id
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def lines(self) -> list[str]:
        return [f"{'ok  ' if c.ok else 'FAIL'}  {c.name}: {c.detail}" for c in self.checks]


class _Failed(Exception):
    """A check failed that later steps depend on."""


def _until(deadline: float, probe: Callable[[], Any], done: Callable[[Any], bool], interval: float) -> Any:
    value = probe()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(interval)
        value = probe()
    return value


def _looks_like(body: bytes, content_type: str) -> bool:
    offset, magic = MAGIC.get(content_type, (0, b""))
    return bool(body) and body[offset:offset + len(magic)] == magic


def run(endpoints: Endpoints, *, timeout: float = 900, log: Callable[[str], Any] | None = None,
        interval: float = 2.0) -> SmokeReport:
    """Run the suite against ``endpoints``; each step's result is logged as it happens."""
    report = SmokeReport()
    started = time.monotonic()
    deadline = started + timeout

    def check(name: str, ok: bool, detail: str, *, fatal: bool = False) -> bool:
        report.checks.append(Check(name, ok, detail))
        if log:
            log(report.lines()[-1])
        if fatal and not ok:
            raise _Failed(name)
        return ok

    try:
        _steps(endpoints, report, check, deadline, interval)
    except _Failed:
        pass
    report.seconds = round(time.monotonic() - started, 1)
    if log:
        log(f"smoke {endpoints.stack}: {'passed' if report.ok else 'FAILED'} in {report.seconds}s "
            f"(assets {', '.join(f'{v} {a}' for v, a in report.assets.items())})")
    return report


def _steps(e: Endpoints, report: SmokeReport, check: Callable[..., bool], deadline: float, interval: float) -> None:
    probe_id = derived_asset_id("imagepipe-smoke", "probe")
    unsigned = http("GET", f"{e.sign_url.rstrip('/')}/assets/{probe_id}/urls", {"X-Imagepipe-Requester": REQUESTER})
    check("sign-url needs SigV4", unsigned.status == 403, f"an unsigned request got {unsigned.status}")
    # Before anything is made: the suite takes down what it publishes, so it needs a reviewer session.
    check("reviewer session", e.staff is not None, e.staff_problem or f"a session of {e.staff_role}", fatal=True)

    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    size = 256 if e.model_id == "local" else 512
    sqs = e.client(e.app, "sqs")
    rng = random.SystemRandom()
    for visibility in ("public", "private"):
        request = GenerationRequest(prompt=PROMPT, model_id=e.model_id, width=size, height=size, seed=rng.randrange(2**31 - 1),
                                    requester=REQUESTER, visibility=visibility, client_request_id=f"smoke-{run_id}-{visibility}")
        sqs.send_message(QueueUrl=e.requests_queue_url, MessageBody=request.model_dump_json())
        report.assets[visibility] = derived_asset_id(generate_stage.ACTOR, REQUESTER, request.client_request_id)
    check("generations submitted", True, f"{e.model_id}, {size}x{size}, public {report.assets['public']}, "
          f"private {report.assets['private']}")

    store = ProvenanceStore(e.client(e.operator, "dynamodb"), e.provenance_table)
    records: dict[str, dict[str, Any]] = {}
    for visibility, asset_id in report.assets.items():
        begun = time.monotonic()
        record = _until(deadline, lambda a=asset_id: store.asset(a) or {}, lambda r: r.get("status") in TERMINAL, interval)
        records[visibility] = record
        status = record.get("status", "not recorded")
        check(f"{visibility} asset published", status == "published",
              f"{status} after {time.monotonic() - begun:.0f}s" + (f" ({record.get('reason')})" if record.get("reason") else ""),
              fatal=True)

    variants = records["public"]["publication"]["variants"]
    variant = min(variants, key=lambda v: v["bytes"])
    public_url = f"{e.cdn_base}/{variant['key']}"
    got = http("GET", public_url)
    cache_control = got.header("Cache-Control")
    problems = [text for bad, text in (
        (got.status != 200, f"status {got.status}"),
        (got.header("Content-Type") != variant["content_type"], f"Content-Type {got.header('Content-Type')!r}, "
                                                                f"not {variant['content_type']}"),
        (not all(part in cache_control for part in IMMUTABLE), f"Cache-Control {cache_control!r}"),
        (not got.header("ETag"), "no ETag"),
        (len(got.body) != variant["bytes"] or not _looks_like(got.body, variant["content_type"]),
         f"{len(got.body)} bytes, not the recorded {variant['bytes']} {variant['content_type']}"),
    ) if bad]
    check("public variant through the CDN", not problems, "; ".join(problems) or
          f"/{variant['key']}: {got.status} {variant['content_type']}, {cache_control}, ETag {got.header('ETag')}", fatal=True)

    private_id = report.assets["private"]
    signed = e.call(e.app, e.sign_url, "GET", f"/assets/{private_id}/urls", headers={"X-Imagepipe-Requester": REQUESTER})
    answer = signed.json()
    check("sign-url signs the private asset", signed.status == 200 and answer.get("signed") is True and answer.get("variants"),
          f"{signed.status} {answer.get('message') or ''}".strip() if signed.status != 200
          else f"{len(answer['variants'])} URLs, key {answer.get('key_id')}, until {answer.get('expires_at')}", fatal=True)
    private_url = e.viewer_url(answer["variants"][0]["url"])
    fetched, bare = http("GET", private_url), http("GET", private_url.split("?")[0])
    check("signed URL fetched", fetched.status == 200 and "private" in fetched.header("Cache-Control"),
          f"{fetched.status}, Cache-Control {fetched.header('Cache-Control')!r}")
    check("unsigned private URL refused", bare.status == 403, f"{bare.status}")

    for visibility, url in (("public", public_url), ("private", private_url)):
        asset_id = report.assets[visibility]
        taken = e.call(e.staff, e.review_url, "POST", f"/assets/{asset_id}/takedown",
                       body={"reason": f"imagepipe smoke test {run_id}"})
        body = taken.json()
        if not check(f"{visibility} asset taken down", taken.status == 200,
                     f"{taken.status} {body.get('message') or ''}".strip() if taken.status != 200 else
                     f"by {body.get('by')}; {len(body.get('deleted', []))} objects withdrawn; invalidation "
                     f"{(body.get('invalidation') or {}).get('id')}"):
            continue
        begun = time.monotonic()
        gone = _until(deadline, lambda u=url: http("GET", u), lambda r: r.status in GONE, interval)
        check(f"{visibility} URL gone from the CDN", gone.status in GONE,
              f"{gone.status} after {time.monotonic() - begun:.0f}s")
    after = e.call(e.app, e.sign_url, "GET", f"/assets/{report.assets['public']}/urls", headers={"X-Imagepipe-Requester": REQUESTER})
    check("sign-url answers 410 after the takedown", after.status == 410, f"{after.status}")


# -- the command ------------------------------------------------------------------------------------


def cmd_smoke(args: Any) -> int:
    import sys

    from imagepipe_tools import deploy

    terminal = sys.stdout  # the embedded runtime redirects sys.stdout to the function log while a handler runs
    log = lambda line: print(line, file=terminal, flush=True)  # noqa: E731
    try:
        if args.embedded:
            from imagepipe_tools.local.embedded import find_root
            from imagepipe_tools.local.smoke import embedded_endpoints

            with embedded_endpoints(find_root()) as endpoints:
                report = run(endpoints, timeout=args.timeout, log=log)
        else:
            session, stack_name = deploy._target(args)
            outputs, parameters = deploy.stack_description(session.client("cloudformation"), stack_name)
            report = run(Endpoints.from_stack(session, stack_name, outputs, parameters, staff_role_arn=args.staff_role_arn,
                                              app_role_arn=args.app_role_arn), timeout=args.timeout, log=log)
    except DeployError as error:
        print(f"imagepipe smoke: {error}", file=sys.stderr)
        return 1
    return 0 if report.ok else 1


def register(commands: Any) -> None:
    """Add `imagepipe smoke` to the `imagepipe` parser's subcommands."""
    from imagepipe_tools import deploy

    smoke = commands.add_parser("smoke", help="the smoke suite against a deployed stack (or --embedded)")
    target = smoke.add_mutually_exclusive_group(required=True)
    target.add_argument("--stage", choices=deploy.STAGES, help="the stage's stack (samconfig.toml)")
    target.add_argument("--stack", help="a stack name")
    target.add_argument("--embedded", action="store_true", help="a one-shot embedded stack (what make test runs)")
    smoke.add_argument("--region")
    smoke.add_argument("--profile")
    smoke.add_argument("--config-env", help="samconfig.toml environment (default: the stage's name)")
    deploy.add_smoke_arguments(smoke)
    smoke.set_defaults(func=cmd_smoke)
