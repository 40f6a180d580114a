"""The smoke suite a deployed stack gets (`imagepipe deploy verify`, `imagepipe smoke`), run against the
embedded stack in `make test` so it cannot go stale: the same `imagepipe_tools.smoke.run`, over HTTP to
the local edge and to the Function URLs on loopback (SigV4 checked), and boto3 to moto server.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.request
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from imagepipe import wiring
from imagepipe_tools import deploy, smoke
from imagepipe_tools.local.embedded import EmbeddedAws, use_endpoint
from imagepipe_tools.local.runtime import LocalRuntime
from imagepipe_tools.local.smoke import serving
from imagepipe_tools.local.stack import LocalStack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SMALL = {"DerivativeFormats": "webp,jpeg"}  # one 256 px rung per format: the checks, not the encoders


@pytest.fixture(scope="module")
def served(c2pa_chain):
    """The embedded stack on moto server (loopback), bootstrapped as a deploy is, served as AWS serves it."""
    saved = dict(os.environ)
    wiring.reset()
    aws = EmbeddedAws()
    endpoint = aws.start()
    use_endpoint(endpoint)
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    try:
        stack = LocalStack(ROOT, endpoint_url=endpoint, parameters=SMALL, c2pa_chain=c2pa_chain).deploy()
        with open(os.devnull, "w") as log, serving(stack, LocalRuntime(stack, log=log)) as endpoints:
            yield stack, endpoints
    finally:
        aws.stop()
        wiring.reset()
        os.environ.clear()
        os.environ.update(saved)


def test_verify_and_the_smoke_suite_pass_on_the_embedded_stack(served):
    """GIVEN the embedded stack (keys from the same bootstrap a first deploy runs) THEN verify's checks pass
    on its outputs, and the smoke suite passes: a public variant through the edge with immutable caching,
    a private one through sign-url's signed URL (unsigned refused), both taken down by a reviewer session
    and gone from the edge, sign-url answering 410."""
    stack, endpoints = served
    checks = deploy.verify(stack.client, stack.outputs(), stack.parameters)
    assert [c.name for c in checks if not c.ok] == [], checks
    lines: list[str] = []
    report = smoke.run(endpoints, timeout=180, log=lines.append, interval=0.5)
    assert report.ok, "\n".join(lines)
    names = [c.name for c in report.checks]
    assert names == ["sign-url needs SigV4", "reviewer session", "generations submitted", "public asset published", "private asset published",
                     "public variant through the CDN", "sign-url signs the private asset", "signed URL fetched",
                     "unsigned private URL refused", "public asset taken down", "public URL gone from the CDN",
                     "private asset taken down", "private URL gone from the CDN", "sign-url answers 410 after the takedown"]
    taken = next(c for c in report.checks if c.name == "public asset taken down")
    assert "assumed-role/imagepipe-reviewers/imagepipe-smoke" in taken.detail  # the signer, not a typed name


def test_the_suite_can_run_again_on_the_same_stack(served):
    """GIVEN a stack the suite already ran on (its pictures taken down and blocklisted by hash) THEN a
    second run passes too: fresh request ids and seeds, as repeated runs against a deployed stack need."""
    _, endpoints = served
    lines: list[str] = []
    assert smoke.run(endpoints, timeout=180, log=lines.append, interval=0.5).ok, "\n".join(lines)


def test_the_function_urls_check_the_signature_and_the_review_api_the_role(served):
    """GIVEN the local Function URLs THEN a request signed with a wrong secret is refused (403) before any
    handler runs, and a correctly signed takedown from the app role (not a reviewer) is refused by the
    review function itself (403)."""
    _, endpoints = served
    url = endpoints.sign_url.rstrip("/") + "/assets/00000000-0000-8000-8000-000000000000/urls"
    frozen = endpoints.app.get_credentials().get_frozen_credentials()
    forged = AWSRequest(method="GET", url=url, data=b"")
    SigV4Auth(Credentials(frozen.access_key, "not-the-secret", frozen.token), "lambda", endpoints.region).add_auth(forged)
    answer = smoke.http("GET", url, dict(forged.headers.items()))
    assert answer.status == 403 and "signature" in answer.json()["detail"]

    refused = endpoints.call(endpoints.app, endpoints.review_url, "POST", "/assets/00000000-0000-8000-8000-000000000000/takedown",
                             body={"reason": "not staff"})
    assert refused.status == 403 and "reviewer role" in refused.json()["message"]


def test_without_a_reviewer_session_the_suite_stops_before_making_anything(served):
    """GIVEN no reviewer role to assume THEN the suite fails at once, before submitting anything it could
    not take down again."""
    _, endpoints = served
    report = smoke.run(dataclasses.replace(endpoints, staff=None, staff_problem="the stack admits no reviewers"), timeout=30)
    assert not report.ok and report.assets == {}
    assert [(c.name, c.ok) for c in report.checks] == [("sign-url needs SigV4", True), ("reviewer session", False)]
