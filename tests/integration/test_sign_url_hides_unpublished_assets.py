"""sign-url tells no one but an asset's requester and reader roles that an unpublished asset exists
(issue 10, point 8b): through the real handler, the answers compared byte for byte with an unknown id's.

In-process moto, one stack for the module; assets are recorded straight into provenance.
"""

from __future__ import annotations

import json
import os

import pytest
from moto import mock_aws

from imagepipe import wiring
from imagepipe_tools.local.demo import function_url_event
from imagepipe_tools.local.runtime import LocalRuntime
from imagepipe_tools.local.stack import LocalStack
from imagepipe.models import ProvenanceEvent
from tests.conftest import FUNCTION_LOG, ROOT

UNKNOWN = "0190a4b2-0000-8000-8000-00000000f999"
# label -> (visibility, statuses it went through)
ASSETS = {
    "public in review": ("public", ["created", "review"]),
    "public approved, not yet derived": ("public", ["created", "approved"]),
    "public rejected": ("public", ["created", "rejected"]),
    "public taken down while in review": ("public", ["created", "review", "taken_down"]),
    "private in review": ("private", ["created", "review"]),
}
KIND = {"created": "created", "review": "moderated", "approved": "moderated", "rejected": "rejected",
        "taken_down": "taken_down"}


@pytest.fixture(scope="module")
def world(c2pa_chain):
    saved = dict(os.environ)
    wiring.reset()
    with mock_aws():
        stack = LocalStack(ROOT, endpoint_url=None, c2pa_chain=c2pa_chain).deploy()
        ids = {}
        for index, (label, (visibility, statuses)) in enumerate(ASSETS.items()):
            asset_id = ids[label] = f"0190a4b2-0000-8000-8000-{index:012d}"
            previous = None
            for status in statuses:
                data = {"requester": "bob", "visibility": visibility} if status == "created" else {}
                if status == "taken_down":
                    data = {"previous_status": previous, "reason": "x", "by": "arn:x"}
                stack.provenance_store().apply(ProvenanceEvent(event_id=f"{asset_id}:{status}", asset_id=asset_id,
                                                               kind=KIND[status], actor="test", status=status, data=data))
                previous = status
        yield LocalRuntime(stack, log=FUNCTION_LOG), ids
    wiring.reset()
    os.environ.clear()
    os.environ.update(saved)


def sign(runtime, asset_id: str, headers: dict[str, str]) -> tuple[int, str]:
    response = runtime.invoke(runtime.stack.function("sign_url"), function_url_event("GET", f"/assets/{asset_id}/urls", headers))
    return response["statusCode"], response["body"]


def batch(runtime, asset_ids: list[str], headers: dict[str, str]) -> list[dict]:
    event = function_url_event("POST", "/assets/urls", headers, json.dumps({"asset_ids": asset_ids}))
    return json.loads(runtime.invoke(runtime.stack.function("sign_url"), event)["body"])["assets"]


@pytest.mark.parametrize("headers", [{}, {"x-imagepipe-requester": "mallory"}, {"x-imagepipe-roles": "viewer"}],
                         ids=["anonymous", "another viewer", "a role that reads nothing"])
@pytest.mark.parametrize("label", ASSETS)
def test_a_stranger_gets_exactly_the_unknown_ids_answer(world, label, headers):
    """GIVEN an asset never published (public or private, in review, approved, rejected, taken down
    before publication) WHEN someone other than its requester or a reader role asks for its URLs,
    alone or in a batch THEN the status and body are those of an id that does not exist."""
    runtime, ids = world
    assert sign(runtime, ids[label], headers) == sign(runtime, UNKNOWN, headers) == (404, '{"message":"no such asset"}')
    answers = batch(runtime, [ids[label], UNKNOWN], headers)
    assert [{k: v for k, v in a.items() if k != "asset_id"} for a in answers] == [{"status": 404, "message": "no such asset"}] * 2


@pytest.mark.parametrize("headers", [{"x-imagepipe-requester": "bob"}, {"x-imagepipe-roles": "moderator"}],
                         ids=["requester", "reader role"])
def test_the_requester_and_reader_roles_still_learn_the_state(world, headers):
    """GIVEN the same assets WHEN their requester or a reader role asks THEN 409 with the status, or 410."""
    runtime, ids = world
    statuses = {label: sign(runtime, asset_id, headers)[0] for label, asset_id in ids.items()}
    assert statuses == {label: 410 if "taken down" in label else 409 for label in ASSETS}
    assert "(status: review)" in sign(runtime, ids["public in review"], headers)[1]
