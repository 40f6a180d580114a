"""Delivery over real HTTP on loopback: the local edge plays the template's CloudFront distribution.

One world per module (see delivery_world.py): a public, a private and a "doomed" public asset
published through the real pipeline, and an edge whose clock a test can move forward.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from imagepipe.models import ProvenanceEvent
from imagepipe.signed_urls import UrlSigner, generate_key_pair
from tests.conftest import FUNCTION_LOG, ROOT
from tests.integration.delivery_world import CHROME_ACCEPT, build_world


@pytest.fixture(scope="module")
def world():
    yield from build_world(ROOT, log=FUNCTION_LOG)


@pytest.fixture
def clock(world):
    yield world.clock
    world.clock.offset = 0.0


def variants(world, label: str) -> list[dict]:
    return world.store.asset(world.assets[label])["publication"]["variants"]


def image_size(body: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(body)).size


# -- public variants --------------------------------------------------------------------------


def test_public_variant_is_served_with_its_headers_and_cached(world):
    """GIVEN a published public variant WHEN it is fetched twice through the edge THEN both answers
    are 200 with the exact Content-Type, the immutable one-year Cache-Control, its Content-Length
    and no Vary (a content-hashed URL names its bytes); the first is a cache miss, the second a hit
    with an Age, and only the first reached the bucket."""
    variant = next(v for v in variants(world, "public") if v["format"] == "webp")
    fetches = world.edge.stats.origin_fetches.get("VariantsOrigin", 0)
    first, second = world.get(f"/{variant['key']}"), world.get(f"/{variant['key']}")
    for answer in (first, second):
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "image/webp"
        assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert int(answer.headers["Content-Length"]) == len(answer.body) == variant["bytes"]
        assert "Vary" not in answer.headers
    assert (first.cache, second.cache) == ("Miss from cloudfront", "Hit from cloudfront")
    assert "Age" in second.headers and first.body == second.body
    assert world.edge.stats.origin_fetches["VariantsOrigin"] == fetches + 1


def test_head_and_other_methods(world):
    """GIVEN a public variant THEN HEAD answers its headers without a body, and a POST is refused
    with 403 as CloudFront refuses methods a behaviour does not allow."""
    key = variants(world, "public")[0]["key"]
    head = world.get(f"/{key}", method="HEAD")
    assert head.status == 200 and head.body == b"" and int(head.headers["Content-Length"]) > 0
    assert world.get(f"/{key}", method="POST").status == 403


def test_missing_object_is_a_403_as_behind_oac(world):
    """GIVEN a key the bucket lacks THEN the edge answers 403 (S3 behind OAC without ListBucket)."""
    assert world.get(f"/public/{world.assets['public']}/9999w.0123456789abcdef.avif").status == 403


# -- private variants: CloudFront signed URLs -----------------------------------------------------


def test_private_variant_needs_a_valid_signature(world):
    """GIVEN a private variant WHEN fetched without a signature, with a tampered one, with one from a
    key outside the key group, or under an id the key group lacks THEN each is a 403 naming why;
    WHEN fetched with sign-url's canned URL THEN it is served."""
    status, signed = world.sign("private", requester="bob")
    assert status == 200 and signed["policy"] == "canned"
    url = signed["variants"][0]["url"]
    plain = url.split("?")[0]
    forged_key, _ = generate_key_pair()
    expires = datetime.now(UTC) + timedelta(minutes=5)
    cases = {
        "unsigned": (plain, "missing signature"),
        "tampered expiry": (url.replace("Expires=", "Expires=1"), "bad signature"),
        "other variant": (url.replace(plain, signed["variants"][1]["url"].split("?")[0]), "bad signature"),
        "key not in the group": (UrlSigner(signed["key_id"], forged_key).sign(plain, expires), "bad signature"),
        "unknown key id": (UrlSigner("K2NOTINGROUP", forged_key).sign(plain, expires), "unknown key id"),
    }
    for name, (bad, reason) in cases.items():
        answer = world.get(bad)
        assert answer.status == 403, name
        assert answer.headers["X-Imagepipe-Edge-Reason"] == reason, name
        assert b"<Error><Code>" in answer.body
    good = world.get(url)
    assert good.status == 200 and image_size(good.body)[0] == signed["variants"][0]["width"]
    assert good.headers["Cache-Control"].startswith("private,")


def test_a_signed_url_stops_working_when_it_expires(world, clock):
    """GIVEN a URL signed for 30 seconds WHEN the edge's clock passes its expiry THEN it is refused,
    even though the variant is cached at the edge (signatures are checked on every request)."""
    status, signed = world.sign("private", requester="bob", ttl=30)
    url = signed["variants"][0]["url"]
    assert world.get(url).status == 200 and world.get(url).cache == "Hit from cloudfront"
    clock.offset = 31
    expired = world.get(url)
    assert expired.status == 403 and expired.headers["X-Imagepipe-Edge-Reason"] == "expired"


def test_one_wildcard_signature_covers_every_variant_of_the_asset_and_nothing_else(world):
    """GIVEN sign-url's wildcard policy for a private asset THEN every variant URL carries the same
    single signature and is served, while the same query on another asset's path is refused."""
    status, signed = world.sign("private", requester="bob", policy="wildcard")
    assert status == 200 and signed["resource"].endswith(f"/private/{world.assets['private']}/*")
    queries = {v["url"].split("?", 1)[1] for v in signed["variants"]} | {signed["manifest_url"].split("?", 1)[1]}
    assert len(queries) == 1
    assert all(world.get(v["url"]).status == 200 for v in signed["variants"])
    elsewhere = f"https://{world.edge.domain}/private/{world.assets['public']}/320w.0123456789abcdef.avif?{queries.pop()}"
    answer = world.get(elsewhere)
    assert answer.status == 403 and answer.headers["X-Imagepipe-Edge-Reason"] == "resource not covered by policy"


def test_signed_cookies_authorise_plain_urls_under_the_assets_path(world):
    """GIVEN wildcard signed cookies for a private asset THEN its plain URLs are served when the
    cookies are sent, refused without them, and the cookies are scoped to the asset's path."""
    status, signed = world.sign("private", requester="bob", policy="wildcard", cookies=True)
    assert status == 200
    cookies = {c["name"]: c["value"] for c in signed["cookies"]}
    assert set(cookies) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    assert {c["path"] for c in signed["cookies"]} == {f"/private/{world.assets['private']}/"}
    plain = signed["variants"][-1]["url"]
    assert "?" not in plain
    header = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    assert world.get(plain, header).status == 200
    assert world.get(plain).status == 403


def test_ip_range_and_start_time_conditions_are_enforced(world, clock):
    """GIVEN custom policies limited to an IP range or starting later THEN a viewer outside the
    range is refused and one inside is served; a not-yet-valid URL is refused until its start."""
    outside = world.sign("private", requester="bob", policy="wildcard", ip="203.0.113.0/24")[1]
    inside = world.sign("private", requester="bob", ip="127.0.0.0/8")[1]
    assert inside["policy"] == "custom"
    refused = world.get(outside["variants"][0]["url"])
    assert refused.status == 403 and refused.headers["X-Imagepipe-Edge-Reason"] == "ip not allowed"
    assert world.get(inside["variants"][0]["url"]).status == 200
    start = int((datetime.now(UTC) + timedelta(minutes=10)).timestamp())
    later = world.sign("private", requester="bob", policy="wildcard", not_before=start)[1]
    early = world.get(later["variants"][0]["url"])
    assert early.status == 403 and early.headers["X-Imagepipe-Edge-Reason"] == "not yet valid"
    clock.offset = 601
    assert world.get(later["variants"][0]["url"]).status == 200


# -- on-demand variants: negotiation, snapping, transform ----------------------------------------


@pytest.mark.parametrize(
    ("accept", "query", "content_type"),
    [
        (CHROME_ACCEPT, "", "image/avif"),
        ("image/webp,image/png,*/*;q=0.5", "", "image/webp"),
        ("*/*", "", "image/jpeg"),
        (CHROME_ACCEPT, "&f=jpeg", "image/jpeg"),
    ],
)
def test_accept_negotiation_prefers_avif(world, accept, query, content_type):
    """GIVEN an on-demand URL WHEN browsers with different Accept headers ask for it THEN AVIF goes
    to those that take it, then WebP, then JPEG (or the explicit f=), always with Vary: Accept."""
    answer = world.get(f"/t/{world.assets['public']}?w=320{query}", {"Accept": accept})
    assert answer.status == 200 and answer.headers["Content-Type"] == content_type
    assert Image.open(io.BytesIO(answer.body)).get_format_mimetype() == content_type
    assert answer.headers["Vary"].startswith("Accept")


def test_widths_snap_to_one_cache_entry(world):
    """GIVEN requests for 501 px, 600 px and a Sec-CH-Width of 630 THEN all three snap to the 640
    step: one cache entry (the later two are hits) holding a 640-px image."""
    base = f"/t/{world.assets['public']}"
    first = world.get(f"{base}?w=501", {"Accept": "image/webp"})
    again = world.get(f"{base}?w=600&utm_source=mail", {"Accept": "image/webp"})
    hinted = world.get(base, {"Accept": "image/webp", "Sec-CH-Width": "630"})
    assert [a.status for a in (first, again, hinted)] == [200, 200, 200]
    assert [a.cache for a in (again, hinted)] == ["Hit from cloudfront", "Hit from cloudfront"]
    assert first.body == again.body == hinted.body
    assert image_size(first.body)[0] == 640


def test_transform_renders_a_missing_width_once_then_s3_serves_it(world):
    """GIVEN a width the ladder lacks (480) WHEN requested THEN the transform renders it (Miss), the
    edge caches it (Hit), and after the edge forgets it the next miss is a plain S3 hit: stored under
    public/{id}/t/480w.avif, byte-identical, and the transform is not invoked again."""
    asset_id = world.assets["public"]
    assert 480 not in {v["width"] for v in variants(world, "public")}
    before = world.transform_invocations()
    first = world.get(f"/t/{asset_id}?w=450", {"Accept": CHROME_ACCEPT})
    assert first.status == 200 and first.cache == "Miss from cloudfront"
    assert first.headers["X-Imagepipe-Transform"] == "rendered"
    assert first.headers["Content-Type"] == "image/avif" and image_size(first.body) == (480, 360)
    assert first.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert world.transform_invocations() == before + 1
    assert world.get(f"/t/{asset_id}?w=480", {"Accept": CHROME_ACCEPT}).cache == "Hit from cloudfront"
    stored = world.stack.client("s3").get_object(Bucket=world.env("VARIANTS_BUCKET"), Key=f"public/{asset_id}/t/480w.avif")
    assert stored["Body"].read() == first.body and stored["ContentType"] == "image/avif"
    world.edge.clear_cache()  # another edge location, or an eviction
    again = world.get(f"/t/{asset_id}?w=480", {"Accept": CHROME_ACCEPT})
    assert again.status == 200 and again.cache == "Miss from cloudfront" and again.body == first.body
    assert "X-Imagepipe-Transform" not in again.headers  # S3 answered, not the function
    assert world.transform_invocations() == before + 1


def test_a_ladder_width_is_copied_not_rendered(world):
    """GIVEN a snapped width and format the ladder has (640 AVIF) THEN the transform stores and
    serves the ladder's own bytes instead of encoding them again."""
    ladder = next(v for v in variants(world, "public") if v["width"] == 640 and v["format"] == "avif")
    answer = world.get(f"/t/{world.assets['public']}?w=600&f=avif")
    assert answer.status == 200
    s3, bucket = world.stack.client("s3"), world.env("VARIANTS_BUCKET")
    stored = s3.get_object(Bucket=bucket, Key=f"public/{world.assets['public']}/t/640w.avif")
    assert stored["Metadata"]["source"] == "ladder"
    assert answer.body == stored["Body"].read() == s3.get_object(Bucket=bucket, Key=ladder["key"])["Body"].read()


def test_never_for_private_or_malformed_requests(world):
    """GIVEN a private asset's id on the unsigned t/* path THEN the transform refuses it (404, nothing
    rendered or stored); a malformed t/ path is refused by the edge function without an origin trip."""
    before = world.transform_invocations()
    answer = world.get(f"/t/{world.assets['private']}?w=640", {"Accept": CHROME_ACCEPT})
    assert answer.status == 404
    listing = world.stack.client("s3").list_objects_v2(Bucket=world.env("VARIANTS_BUCKET"), Prefix=f"public/{world.assets['private']}/")
    assert listing.get("KeyCount", 0) == 0
    malformed = world.get("/t/not-an-asset?w=640")
    assert malformed.status == 404 and malformed.cache == "FunctionGeneratedResponse from cloudfront"
    assert world.transform_invocations() == before + 1


def test_png_is_not_rendered_where_the_deployment_does_not_derive_it(world):
    """GIVEN the default formats (no PNG) WHEN a viewer asks for PNG by name THEN the edge passes
    the request on as .png, and the transform refuses it (404, cached a minute) without storing it."""
    asset_id = world.assets["public"]
    for path in (f"/t/{asset_id}/480w.png", f"/t/{asset_id}?w=480&f=png"):
        answer = world.get(path, {"Accept": CHROME_ACCEPT})
        assert answer.status == 404 and answer.headers["Cache-Control"] == "public, max-age=60", path
    listing = world.stack.client("s3").list_objects_v2(Bucket=world.env("VARIANTS_BUCKET"), Prefix=f"public/{asset_id}/t/")
    assert not [o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith(".png")]


# -- takedown --------------------------------------------------------------------------------------


def test_a_taken_down_asset_is_not_served(world):
    """GIVEN a public asset served and cached through the edge, ladder and on-demand WHEN it is taken
    down (provenance event applied, its objects deleted, its paths invalidated through the CloudFront
    API, as the takedown does) THEN no URL of it is served: ladder variants 403, on-demand sizes 410
    from the transform (even new ones), and sign-url answers 410."""
    asset_id = world.assets["doomed"]
    key = variants(world, "doomed")[0]["key"]
    on_demand = f"/t/{asset_id}?w=480"
    assert world.get(f"/{key}").status == 200
    assert world.get(on_demand, {"Accept": CHROME_ACCEPT}).status == 200
    assert world.get(f"/{key}").cache == "Hit from cloudfront"

    world.store.apply(ProvenanceEvent(event_id=f"{asset_id}:taken_down", asset_id=asset_id, kind="taken_down",
                                      actor="test", status="taken_down", reason="test takedown",
                                      data={"previous_status": "published"}))
    new_size = world.get(f"/t/{asset_id}?w=1000", {"Accept": CHROME_ACCEPT})
    assert new_size.status == 410  # nothing new is rendered once the record says taken down
    s3, bucket = world.stack.client("s3"), world.env("VARIANTS_BUCKET")
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=f"public/{asset_id}/")["Contents"]:
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    assert world.get(f"/{key}").cache == "Hit from cloudfront"  # deleting alone leaves edge copies, as in CloudFront
    world.stack.client("cloudfront").create_invalidation(
        DistributionId=world.stack.physical["Distribution"],
        InvalidationBatch={"Paths": {"Quantity": 2, "Items": [f"/public/{asset_id}/*", f"/t/{asset_id}*"]},
                           "CallerReference": f"test-{asset_id}"},
    )
    assert world.get(f"/{key}").status == 403
    assert world.get(on_demand, {"Accept": CHROME_ACCEPT}).status == 410
    assert world.sign("doomed", requester="alice")[0] == 410


def test_an_oversize_on_demand_variant_is_redirected_to_its_stored_copy(world, monkeypatch):
    """GIVEN a rendered variant larger than what a Lambda response may carry (the limit lowered here)
    THEN the transform stores it and answers a no-store 307 to its explicit t/ URL; following it,
    the edge serves the stored copy from S3 without invoking the transform again."""
    from imagepipe.stages import transform

    monkeypatch.setattr(transform, "INLINE_LIMIT", 100)
    before = world.transform_invocations()
    first = world.get(f"/t/{world.assets['public']}?w=160&f=jpeg", follow=False)
    assert first.status == 307 and first.headers["Location"] == f"/t/{world.assets['public']}/160w.jpg"
    assert first.headers["Cache-Control"] == "no-store"
    followed = world.get(first.headers["Location"])
    assert followed.status == 200 and followed.headers["Content-Type"] == "image/jpeg"
    assert image_size(followed.body)[0] == 160 and "X-Imagepipe-Transform" not in followed.headers
    assert world.transform_invocations() == before + 1
