"""CloudFront signed URLs: botocore signs, our verifier checks them exactly as CloudFront does."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from imagepipe.signed_urls import UrlSigner, generate_key_pair, strip_signature, verify

URL = "https://d111111abcdef8.cloudfront.net/private/0190a4b2-0000-8000-8000-000000000000/640w.0123456789abcdef.avif"


@pytest.fixture(scope="module")
def keys():
    private, public = generate_key_pair()
    other_private, other_public = generate_key_pair()
    return {"K1": (private, public), "K2": (other_private, other_public)}


def test_canned_policy_url_verifies_until_it_expires(keys):
    """GIVEN a URL signed for 5 minutes THEN it verifies now and is expired after 5 minutes."""
    signed = UrlSigner("K1", keys["K1"][0]).sign(URL, datetime.now(UTC) + timedelta(minutes=5))
    public = {"K1": keys["K1"][1]}
    assert verify(signed, public).ok
    assert verify(signed, public, now=time.time() + 301).reason == "expired"
    assert strip_signature(signed) == URL


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda u: u.replace("640w", "1280w"), "bad signature"),  # another resource
        (lambda u: u.replace("Expires=", "Expires=1"), "bad signature"),  # a longer life
        (lambda u: u.replace("Key-Pair-Id=K1", "Key-Pair-Id=K9"), "unknown key id"),
        (lambda u: u.split("&Signature=")[0], "missing signature"),
        (lambda u: u.split("?")[0], "missing signature"),
    ],
)
def test_any_tampering_is_refused(keys, mutate, reason):
    """GIVEN a valid signed URL WHEN any part is changed THEN verification fails with a reason."""
    signed = UrlSigner("K1", keys["K1"][0]).sign(URL, datetime.now(UTC) + timedelta(minutes=5))
    assert verify(mutate(signed), {"K1": keys["K1"][1]}).reason == reason


def test_a_signature_from_another_key_is_refused(keys):
    """GIVEN a URL signed with a key not in the key group under an id that is THEN refused."""
    forged = UrlSigner("K1", keys["K2"][0]).sign(URL, datetime.now(UTC) + timedelta(minutes=5))
    assert verify(forged, {"K1": keys["K1"][1]}).reason == "bad signature"
