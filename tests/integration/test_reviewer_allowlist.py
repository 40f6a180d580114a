"""Only sessions of the template's reviewer roles are staff on the review API (issue 10, point 8d).

The review function on the template's resources (in-process moto) with samconfig.toml's [local]
ReviewerRoleArns; the asset waiting for review is recorded straight into provenance.
"""

from __future__ import annotations

import json

import pytest

from imagepipe_tools.local.stack import LocalStack
from imagepipe.models import ProvenanceEvent
from imagepipe_tools.review_console.server import call, staff_event, staff_principal
from tests.conftest import ROOT

ASSET = "0190a4b2-0000-8000-8000-00000000c001"
OUTSIDERS = {
    "another role": "arn:aws:sts::123456789012:assumed-role/imagepipe-interns/eve",
    "a role whose name starts alike": "arn:aws:sts::123456789012:assumed-role/imagepipe-reviewers-old/eve",
    "the reviewer role's name in another account": "arn:aws:sts::210987654321:assumed-role/imagepipe-reviewers/eve",
    "an IAM user": "arn:aws:iam::123456789012:user/eve",
    "the account root": "arn:aws:iam::123456789012:root",
}
REQUESTS = [("GET", "/reviews", None), ("POST", f"/reviews/{ASSET}/approve", {}),
            ("POST", f"/reviews/{ASSET}/reject", {"reason": "no"}), ("POST", f"/assets/{ASSET}/takedown", {"reason": "x"})]


def waiting_for_review(stack) -> None:
    for kind, status, data in [("created", "created", {"requester": "alice", "visibility": "public",
                                                       "original_key": f"originals/{ASSET}.png", "prompt": "a lake"}),
                               ("moderated", "review", {"reasons": ["nsfw:0.5"]})]:
        stack.provenance_store().apply(ProvenanceEvent(event_id=f"{ASSET}:{kind}", asset_id=ASSET, kind=kind,
                                                       actor="test", status=status, data=data))


def as_principal(runtime, method: str, path: str, principal: str, body) -> tuple[int, dict]:
    event = staff_event(method, path, staff="eve", body=body)
    event["requestContext"]["authorizer"]["iam"]["userArn"] = principal
    response = runtime.invoke(runtime.stack.function("review"), event)
    return response["statusCode"], json.loads(response.get("body") or "{}")


def nothing_decided(stack, runtime) -> bool:
    idempotency = next(fn.environment["IDEMPOTENCY_TABLE"] for fn in stack.functions.values())
    sent = {q: n for q, n in runtime.queue_depths().items() if q.endswith(("provenance.fifo", "derivatives"))}
    return (stack.provenance_store().asset(ASSET)["status"] == "review"
            and len(sent) == 2 and not any(sent.values())  # no provenance fact, no derivatives job
            and stack.client("dynamodb").scan(TableName=idempotency)["Count"] == 0)  # no decision claimed


@pytest.mark.parametrize("principal", OUTSIDERS.values(), ids=OUTSIDERS.keys())
def test_a_principal_outside_the_reviewer_roles_gets_403_and_nothing_is_decided(stack, runtime, principal):
    """GIVEN an asset waiting for review WHEN a principal that AWS_IAM let through, but that is no
    session of a listed reviewer role, lists the queue, approves, rejects or takes it down THEN
    every call is 403 (not even the asset's state is told), nothing is claimed, recorded or sent;
    a reviewer can still decide on it afterwards."""
    waiting_for_review(stack)
    for method, path, body in REQUESTS:
        status, answer = as_principal(runtime, method, path, principal, body)
        assert (status, set(answer)) == (403, {"message"}), path
    assert nothing_decided(stack, runtime)
    assert call(runtime, "POST", f"/reviews/{ASSET}/approve", staff="dana")[0] == 202


def test_the_local_staff_identity_is_a_reviewer(stack, runtime):
    """GIVEN the local stack (samconfig.toml's [local] ReviewerRoleArns) THEN the identity the review
    console, `imagepipe review` and the demo sign as is staff: it lists the queue."""
    waiting_for_review(stack)
    status, page = call(runtime, "GET", "/reviews", staff="dana")
    assert status == 200 and [i["asset_id"] for i in page["items"]] == [ASSET]
    assert staff_principal("dana").startswith("arn:aws:sts::123456789012:assumed-role/imagepipe-reviewers/")


def test_an_empty_allowlist_admits_nobody(aws, c2pa_chain):
    """GIVEN a stack deployed with ReviewerRoleArns empty (the template's default) THEN even the
    local staff identity gets 403: the review API fails closed."""
    from imagepipe_tools.local.runtime import LocalRuntime
    from tests.conftest import FUNCTION_LOG

    stack = LocalStack(ROOT, endpoint_url=None, parameters={"ReviewerRoleArns": ""}, c2pa_chain=c2pa_chain).deploy()
    runtime = LocalRuntime(stack, log=FUNCTION_LOG)
    waiting_for_review(stack)
    assert call(runtime, "GET", "/reviews", staff="dana")[0] == 403
    assert call(runtime, "POST", f"/reviews/{ASSET}/approve", staff="dana")[0] == 403
    assert nothing_decided(stack, runtime)
