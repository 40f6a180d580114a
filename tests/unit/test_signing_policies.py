"""Custom policies, wildcards, conditions, signed cookies and the key ring, verified as CloudFront does."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from imagepipe.signed_urls import KeyRing, SigningKey, UrlSigner, cf_b64encode, generate_key_pair, strip_signature, verify

CDN = "https://d111111abcdef8.cloudfront.net"
ASSET = "0190a4b2-0000-8000-8000-000000000000"


@pytest.fixture(scope="module")
def keys():
    return {name: generate_key_pair() for name in ("K1", "K2")}


@pytest.fixture(scope="module")
def signer(keys):
    return UrlSigner("K1", keys["K1"][0])


def public(keys, *names):
    return {name: keys[name][1] for name in names or ("K1",)}


def soon(minutes: int = 5) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def test_wildcard_policy_covers_every_url_under_the_asset_and_only_those(signer, keys):
    """GIVEN one custom policy for private/{id}/* THEN it verifies for any variant or query under
    that prefix and fails for another asset or a prefix lookalike."""
    signed = signer.sign_policy(f"{CDN}/private/{ASSET}/*", soon())
    for path in ("320w.0123456789abcdef.avif", "manifest.json", "t/640w.avif?w=1", "a/b/c"):
        assert verify(signed.apply(f"{CDN}/private/{ASSET}/{path}"), public(keys)).ok, path
    other = ASSET.replace("0000-8000-8000", "0000-8000-9000")
    assert verify(signed.apply(f"{CDN}/private/{other}/x.avif"), public(keys)).reason == "resource not covered by policy"
    assert verify(signed.apply(f"{CDN}/private/{ASSET}x/x.avif"), public(keys)).reason == "resource not covered by policy"


def test_question_mark_matches_exactly_one_character(signer, keys):
    """GIVEN a resource with ``?`` THEN it stands for one character, as in CloudFront policies."""
    signed = signer.sign_policy(f"{CDN}/private/{ASSET}/32?w.*", soon())
    assert verify(signed.apply(f"{CDN}/private/{ASSET}/320w.avif"), public(keys)).ok
    assert not verify(signed.apply(f"{CDN}/private/{ASSET}/3200w.avif"), public(keys)).ok


@pytest.mark.parametrize(
    ("ip_range", "client", "ok"),
    [("203.0.113.0/24", "203.0.113.77", True), ("203.0.113.0/24", "198.51.100.1", False),
     ("203.0.113.5", "203.0.113.5", True), ("2001:db8::/32", "2001:db8::1", True),
     ("2001:db8::/32", "2001:db9::1", False), ("203.0.113.0/24", None, False)],
)
def test_ip_condition(signer, keys, ip_range, client, ok):
    """GIVEN a policy limited to an IP range THEN only viewers inside it pass; an unknown viewer
    address fails closed."""
    url = signer.sign_policy(f"{CDN}/private/{ASSET}/*", soon(), ip_range=ip_range).apply(f"{CDN}/private/{ASSET}/a")
    verdict = verify(url, public(keys), client_ip=client)
    assert verdict.ok is ok and (ok or verdict.reason == "ip not allowed")


def test_start_and_end_times(signer, keys):
    """GIVEN a policy valid from +10 min to +20 min THEN it is refused before, accepted within and
    expired after that window."""
    start, end = datetime.now(UTC) + timedelta(minutes=10), datetime.now(UTC) + timedelta(minutes=20)
    url = signer.sign_policy(f"{CDN}/private/{ASSET}/*", end, not_before=start).apply(f"{CDN}/private/{ASSET}/a")
    assert verify(url, public(keys)).reason == "not yet valid"
    assert verify(url, public(keys), now=start.timestamp() + 1).ok
    assert verify(url, public(keys), now=end.timestamp()).reason == "expired"


def test_policy_json_matches_botocore_and_cloudfront_layout(signer):
    """GIVEN a custom policy THEN its JSON is the compact Statement/Resource/Condition document
    CloudFront expects, in CloudFront's base64 alphabet."""
    signed = signer.sign_policy(f"{CDN}/private/{ASSET}/*", datetime(2030, 1, 1, tzinfo=UTC), ip_range="203.0.113.9")
    raw = base64.b64decode(signed.policy.replace("-", "+").replace("_", "=").replace("~", "/"))
    assert json.loads(raw) == {"Statement": [{"Resource": f"{CDN}/private/{ASSET}/*", "Condition": {
        "DateLessThan": {"AWS:EpochTime": 1893456000}, "IpAddress": {"AWS:SourceIp": "203.0.113.9/32"}}}]}
    assert not set(signed.policy + signed.signature) & set("+=/")


def test_signed_cookies_verify_when_the_url_carries_none(signer, keys):
    """GIVEN custom-policy cookies or canned cookies THEN a plain URL verifies with them; the URL's own
    signature wins when both are present; a cookie for another key id is refused."""
    url = f"{CDN}/private/{ASSET}/640w.avif"
    cookies = signer.sign_policy(f"{CDN}/private/{ASSET}/*", soon()).cookies()
    assert verify(url, public(keys), cookies=cookies).ok
    assert verify(url, public(keys), cookies=signer.canned_cookies(url, soon())).ok
    assert verify(url + "?Expires=1&Signature=AA__&Key-Pair-Id=K1", public(keys), cookies=cookies).reason == "bad signature"
    assert verify(url, public(keys), cookies=cookies | {"CloudFront-Key-Pair-Id": "K9"}).reason == "unknown key id"
    assert verify(url, public(keys)).reason == "missing signature"


def test_the_query_string_is_verified_byte_for_byte(signer, keys):
    """GIVEN a canned URL with its own query parameters (percent-encoded) THEN it verifies as signed,
    and re-encoding or reordering them breaks the signature (CloudFront signs the raw URL)."""
    url = f"{CDN}/t/{ASSET}?w=500&note=a%2Fb+c"
    signed = signer.sign(url, soon())
    assert strip_signature(signed) == url
    assert verify(signed, public(keys)).ok
    assert verify(signed.replace("a%2Fb+c", "a/b%20c"), public(keys)).reason == "bad signature"
    assert verify(signed.replace("w=500&note=a%2Fb+c", "note=a%2Fb+c&w=500"), public(keys)).reason == "bad signature"


@pytest.mark.parametrize(
    ("policy", "reason"),
    [("not base64!", "malformed policy"), (cf_b64encode(b"{}"), "malformed policy"),
     (cf_b64encode(b'{"Statement": [{"Resource": "*"}, {"Resource": "*"}]}'), "malformed policy")],
)
def test_malformed_policies_are_refused(keys, policy, reason):
    assert verify(f"{CDN}/a?Policy={policy}&Signature=AAAA&Key-Pair-Id=K1", public(keys)).reason == reason


def test_key_ring_picks_the_newest_active_key():
    """GIVEN a ring with an old key, a current one and one not active yet THEN the signer uses the
    current one until the next becomes active; the single-key secret form still works; a ring
    with nothing active, or an empty secret, is an error."""
    now = datetime.now(UTC)
    ring = KeyRing.from_secret({"keys": [
        {"key_id": "OLD", "private_key_pem": "a", "active_from": (now - timedelta(days=60)).isoformat()},
        {"key_id": "CUR", "private_key_pem": "b", "active_from": int((now - timedelta(days=1)).timestamp())},
        {"key_id": "NEXT", "private_key_pem": "c", "active_from": (now + timedelta(hours=1)).isoformat()},
    ]})
    assert ring.current(now).key_id == "CUR"
    assert ring.current(now + timedelta(hours=2)).key_id == "NEXT"
    assert KeyRing.from_secret({"key_id": "ONLY", "private_key_pem": "x"}).current().key_id == "ONLY"
    assert KeyRing.from_secret({"private_key_pem": "x"}, default_key_id="ENV").current().key_id == "ENV"
    assert KeyRing.from_secret(ring.as_secret()).current(now).key_id == "CUR"
    with pytest.raises(ValueError):
        KeyRing([SigningKey("LATER", "x", now + timedelta(days=1))]).current(now)
    with pytest.raises(ValueError):
        KeyRing.from_secret({"key_id": "pending", "private_key_pem": "placeholder"})


def test_any_key_of_the_group_verifies(keys):
    """GIVEN URLs signed by K1 and by K2 THEN a key group holding both accepts both, and one holding
    only K2 refuses K1's as an unknown key (a retired key)."""
    url = f"{CDN}/private/{ASSET}/a"
    by_k1, by_k2 = UrlSigner("K1", keys["K1"][0]).sign(url, soon()), UrlSigner("K2", keys["K2"][0]).sign(url, soon())
    both = public(keys, "K1", "K2")
    assert verify(by_k1, both).key_id == "K1" and verify(by_k1, both).ok
    assert verify(by_k2, both).ok
    assert verify(by_k1, public(keys, "K2")).reason == "unknown key id"
    assert verify(by_k1, both, now=time.time() + 301).reason == "expired"
