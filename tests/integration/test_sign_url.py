"""sign-url through its real handler: who may get URLs, the 4xx for everything else, batches and
options, each URL checked at the local edge. Key rotation: test_key_rotation.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from imagepipe_tools.local.demo import function_url_event
from imagepipe.models import ProvenanceEvent
from tests.conftest import FUNCTION_LOG, ROOT
from tests.integration.delivery_world import build_world


@pytest.fixture(scope="module")
def world():
    yield from build_world(ROOT, labels=("public", "private"), log=FUNCTION_LOG)


def post_batch(world, body, headers):
    event = function_url_event("POST", "/assets/urls", headers, body=body if isinstance(body, str) else json.dumps(body))
    response = world.runtime.invoke(world.stack.function("sign_url"), event)
    return response["statusCode"], json.loads(response["body"])


def signature(url: str) -> str:
    return parse_qs(urlsplit(url).query)["Signature"][0]


def synthetic_asset(world, suffix: str, *statuses: str) -> str:
    """An asset that went through ``statuses`` (recorded straight into provenance)."""
    asset_id = f"0190a4b2-0000-8000-8000-{suffix:0>12}"
    kinds = {"created": "created", "taken_down": "taken_down", "rejected": "rejected"}
    for status in statuses:
        world.store.apply(ProvenanceEvent(
            event_id=f"{asset_id}:{status}", asset_id=asset_id, kind=kinds[status], actor="test", status=status,
            data={"requester": "bob", "visibility": "private"} if status == "created" else {},
        ))
    return asset_id


def test_public_asset_urls_are_plain_and_served_to_anyone(world):
    """GIVEN a published public asset THEN any caller (no viewer named) gets unsigned URLs for the
    manifest and every variant, and the edge serves them."""
    status, body = world.sign("public")
    assert status == 200 and body["signed"] is False and "key_id" not in body
    assert all("?" not in v["url"] for v in body["variants"])
    assert world.get(body["variants"][0]["url"]).status == 200
    assert world.get(body["manifest_url"]).status == 200


@pytest.mark.parametrize(
    ("requester", "roles", "expected"),
    [
        ("bob", (), 200),  # the requester
        (None, ("moderator",), 200),  # a reader role
        ("carol", ("Admin",), 200),  # roles are case-insensitive
        ("mallory", (), 404),  # anyone else: "no such asset", not "forbidden"
        (None, (), 404),
        ("mallory", ("viewer",), 404),  # a role that reads nothing extra
    ],
)
def test_private_urls_only_for_the_requester_or_a_reader_role(world, requester, roles, expected):
    """GIVEN a published private asset THEN its requester and reader roles get signed URLs that the
    edge accepts; anyone else is told it does not exist."""
    status, body = world.sign("private", requester=requester, roles=roles)
    assert status == expected
    if expected == 200:
        assert body["signed"] is True and world.get(body["variants"][0]["url"]).status == 200
    else:
        assert body == {"message": "no such asset"}


def test_everything_else_is_a_clear_4xx(world):
    """GIVEN ids that are malformed, unknown, not yet published or taken down THEN sign-url answers
    400, 404, 409 and 410 with a message, and never a URL."""
    from imagepipe_tools.local.delivery import sign_asset

    pending = synthetic_asset(world, "1", "created")
    gone = synthetic_asset(world, "2", "created", "taken_down")
    cases = {"not-an-id": 400, "0190a4b2-0000-8000-8000-000000000999": 404, pending: 409, gone: 410}
    for asset_id, expected in cases.items():
        status, body = sign_asset(world.runtime, asset_id, requester="bob")
        assert (status, set(body)) == (expected, {"message"}), asset_id


@pytest.mark.parametrize(
    "options",
    [dict(ttl=5), dict(ttl=100_000), dict(ttl="soon"), dict(policy="hmac"), dict(ip="10.0.0.0/99"),
     dict(cookies=True), dict(not_before=int((datetime.now(UTC) + timedelta(days=8)).timestamp()))],
    ids=["ttl too short", "ttl too long", "ttl not a number", "unknown policy", "bad ip", "canned cookies",
         "start too far"],
)
def test_bad_options_are_400(world, options):
    """GIVEN an option out of range or malformed THEN the answer is 400 with a message."""
    status, body = world.sign("private", requester="bob", **options)
    assert status == 400 and body["message"]


def test_ttl_and_policy_shape_the_signature(world):
    """GIVEN ttl=120 THEN URLs expire 120 s from now; canned URLs carry one signature each, the
    wildcard policy one for all (manifest included)."""
    status, canned = world.sign("private", requester="bob", ttl=120)
    expires = datetime.fromisoformat(canned["expires_at"])
    assert abs((expires - datetime.now(UTC)).total_seconds() - 120) < 5
    signatures = {signature(u) for u in [canned["manifest_url"], *(v["url"] for v in canned["variants"])]}
    assert len(signatures) == len(canned["variants"]) + 1
    wildcard = world.sign("private", requester="bob", policy="wildcard")[1]
    assert {signature(v["url"]) for v in wildcard["variants"]} == {signature("?" + wildcard["query"])}


def test_batch_signs_many_assets_in_one_call(world):
    """GIVEN one POST naming a public, a private, an unknown and a malformed id THEN each asset gets its
    own answer (URLs or its 4xx); a batch that is empty, too long or not JSON is a 400."""
    ids = [world.assets["public"], world.assets["private"], "0190a4b2-0000-8000-8000-000000000998", "nope"]
    status, body = post_batch(world, {"asset_ids": ids, "policy": "wildcard"}, {"x-imagepipe-requester": "bob"})
    assert status == 200
    answers = {a["asset_id"]: a for a in body["assets"]}
    assert answers[world.assets["public"]]["signed"] is False
    assert answers[world.assets["private"]]["policy"] == "wildcard"
    assert world.get(answers[world.assets["private"]]["variants"][0]["url"]).status == 200
    assert [answers[i].get("status") for i in ids[2:]] == [404, 400]
    assert post_batch(world, {"asset_ids": []}, {})[0] == 400
    assert post_batch(world, {"asset_ids": [world.assets["public"]] * 2 + [f"x{i}" for i in range(60)]}, {})[0] == 400
    assert post_batch(world, "{not json", {})[0] == 400


def test_picture_option_returns_the_responsive_json(world):
    """GIVEN picture=true THEN the answer includes the <picture> data for apps: AVIF, WebP, JPEG
    sources whose candidates are the signed URLs, and the intrinsic size."""
    status, body = world.sign("private", requester="bob", policy="wildcard", picture=True)
    picture = body["picture"]
    assert [s["type"] for s in picture["sources"]] == ["image/avif", "image/webp", "image/jpeg"]
    assert (picture["width"], picture["height"]) == (640, 416)
    assert {c["url"] for s in picture["sources"] for c in s["candidates"]} == {v["url"] for v in body["variants"]}
