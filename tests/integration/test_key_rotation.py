"""Key rotation: two trusted keys in the key group, the signer on the key ring's current one,
URLs in flight kept valid. Its own module: it needs a stack deployed with both key slots."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from imagepipe import wiring
from imagepipe.signed_urls import KeyRing, SigningKey, verify
from tests.conftest import FUNCTION_LOG, ROOT
from tests.integration.delivery_world import build_world


@pytest.fixture(scope="module")
def rotating():
    """A stack deployed with both key slots in use: the key group trusts two keys."""
    yield from build_world(ROOT, labels=("private",), parameters={"CloudFrontSecondPublicKeyPem": "/imagepipe/test/next-key"},
                           log=FUNCTION_LOG)


def test_key_rotation_without_breaking_urls_in_flight(rotating):
    """GIVEN a key group with key A (signing) and key B (staged) WHEN the signing secret's key ring
    makes B current THEN sign-url keeps signing with A until its cached secret expires, then signs
    with B; URLs signed with A and with B are both served by the edge, and a ring whose next key
    is not active yet keeps signing with the current one."""
    world = rotating
    key_a, key_b = world.stack.physical["CloudFrontPublicKey"], world.stack.physical["CloudFrontSecondPublicKey"]
    group = world.stack.client("cloudfront").get_key_group(Id=world.stack.physical["CloudFrontKeyGroup"])
    assert sorted(group["KeyGroup"]["KeyGroupConfig"]["Items"]) == sorted([key_a, key_b])
    old = world.sign("private", requester="bob")[1]
    assert old["key_id"] == key_a

    now = datetime.now(UTC)
    ring = KeyRing([
        SigningKey(key_a, world.stack.signing_keys[key_a], now - timedelta(days=30)),
        SigningKey(key_b, world.stack.signing_keys[key_b], now - timedelta(seconds=1)),
        SigningKey("K3NOTTRUSTEDYET", world.stack.signing_keys[key_a], now + timedelta(days=30)),
    ])
    secrets = world.stack.client("secretsmanager")
    secrets.put_secret_value(SecretId=world.stack.physical["SigningKeySecret"], SecretString=json.dumps(ring.as_secret()))
    assert world.sign("private", requester="bob")[1]["key_id"] == key_a  # the secret is cached (up to 5 minutes)
    wiring.reset()  # the cache expired (or a new execution environment started)
    new = world.sign("private", requester="bob")[1]
    assert new["key_id"] == key_b
    assert world.get(new["variants"][0]["url"]).status == 200
    assert world.get(old["variants"][0]["url"]).status == 200  # still in flight, still trusted
    retired = verify(old["variants"][0]["url"], {key_b: world.stack.public_keys[key_b]})
    assert retired.reason == "unknown key id"  # once slot A is emptied, A's URLs are refused
