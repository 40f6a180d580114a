"""sign-url answers a clear 4xx, never a 5xx, to whatever a caller sends (issue 10, point 8a).

The real handler on the template's resources (in-process moto, one stack for the module);
the asset is recorded straight into provenance, so nothing here runs the pipeline.
"""

from __future__ import annotations

import base64
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

ASSET = "0190a4b2-0000-8000-8000-00000000b001"


@pytest.fixture(scope="module")
def runtime(c2pa_chain):
    saved = dict(os.environ)
    wiring.reset()
    with mock_aws():
        stack = LocalStack(ROOT, endpoint_url=None, c2pa_chain=c2pa_chain).deploy()
        variants = [{"key": f"public/{ASSET}/w320.webp", "width": 320, "height": 160, "format": "webp",
                     "content_type": "image/webp", "bytes": 999, "sha256": "0" * 64}]
        for kind, status, data in [
            ("created", "created", {"requester": "bob", "visibility": "private", "original_key": f"originals/{ASSET}.png"}),
            ("moderated", "approved", {}),
            ("published", "published", {"manifest_key": f"private/{ASSET}/manifest.json", "variants": variants}),
        ]:
            stack.provenance_store().apply(ProvenanceEvent(event_id=f"{ASSET}:{kind}", asset_id=ASSET, kind=kind,
                                                           actor="test", status=status, data=data))
        yield LocalRuntime(stack, log=FUNCTION_LOG)
    wiring.reset()
    os.environ.clear()
    os.environ.update(saved)


def post(runtime, body: str, *, base64_encoded: bool = False) -> tuple[int, dict]:
    event = function_url_event("POST", "/assets/urls", {"x-imagepipe-requester": "bob"}, body)
    event["isBase64Encoded"] = base64_encoded
    response = runtime.invoke(runtime.stack.function("sign_url"), event)
    return response["statusCode"], json.loads(response.get("body") or "{}")


def with_ids(ids) -> str:
    return json.dumps({"asset_ids": ids})


def with_option(**option) -> str:
    return json.dumps({"asset_ids": [ASSET], "policy": "wildcard", **option})


MALFORMED = {
    # asset_ids that are not a list of id-like strings
    "a number id": with_ids([ASSET, 7]),
    "a null id": with_ids([None]),
    "a boolean id": with_ids([True]),
    "a float id": with_ids([1.5]),
    "an object id": with_ids([{"id": ASSET}]),
    "a list id": with_ids([[ASSET]]),
    "a very long id": with_ids(["0" * 100_000]),
    "asset_ids a string": with_ids(ASSET),
    "asset_ids an object": with_ids({"0": ASSET}),
    "asset_ids null": with_ids(None),
    "asset_ids a number": with_ids(5),
    "asset_ids deeply nested": '{"asset_ids": ' + "[" * 100_000 + "]" * 100_000 + "}",
    # bodies that are not an object
    "body null": "null",
    "body a number": "5",
    "body a string": '"asset_ids"',
    "body true": "true",
    "body a list": json.dumps([ASSET]),
    "body not JSON": "{not json",
    "body not UTF-8": "__base64__",
    # options of the wrong type or out of any range
    "ttl an object": with_option(ttl={"s": 60}),
    "ttl a list": with_option(ttl=[60]),
    "ttl a boolean": with_option(ttl=True),
    "ttl infinite": '{"asset_ids": ["%s"], "ttl": Infinity}' % ASSET,
    "ttl past float range": '{"asset_ids": ["%s"], "ttl": 1e400}' % ASSET,
    "ttl not a number": '{"asset_ids": ["%s"], "ttl": NaN}' % ASSET,
    "policy an object": with_option(policy={"name": "canned"}),
    "ip an object": with_option(ip={"cidr": "10.0.0.0/8"}),
    "ip a number": with_option(ip=167772160),
    "ip a boolean": with_option(ip=True),
    "not_before an object": with_option(not_before={"at": 1}),
    "not_before a boolean": with_option(not_before=True),
    "not_before far future": with_option(not_before=10**29),
    "not_before far past": with_option(not_before=-(10**29)),
    "not_before digits past any year": with_option(not_before="9" * 30),
    "not_before year 33658": with_option(not_before=10**12),
    "cookies an object": with_option(cookies={"on": True}),
    "cookies a number": with_option(cookies=7),
    "picture a list": with_option(picture=["yes"]),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_batch_request_is_a_400_not_a_5xx(runtime, body):
    """GIVEN a batch body of the wrong shape or type anywhere (ids, options, the body itself) THEN
    sign-url answers 400 with a message, signs nothing and does not crash."""
    if body == "__base64__":
        status, answer = post(runtime, base64.b64encode(b'{"asset_ids": ["\xff\xfe"]}').decode(), base64_encoded=True)
    else:
        status, answer = post(runtime, body)
    assert status == 400 and answer["message"] and "assets" not in answer


def test_the_same_batch_well_formed_is_signed(runtime):
    """GIVEN the well-formed counterpart of those bodies THEN the asset is signed (the 400s above
    are about the shape, not about the asset or the viewer)."""
    status, answer = post(runtime, with_option(ttl=60, cookies=True, picture="false", not_before=None))
    assert status == 200 and answer["assets"][0]["cookies"]
