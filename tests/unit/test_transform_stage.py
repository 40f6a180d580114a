"""The transform stage with in-memory fakes: what it refuses, renders, reuses and stores."""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from PIL import Image

from imagepipe.errors import RejectedInputError
from imagepipe.imaging.engine import EngineSettings, derive
from imagepipe_tools.procedural import render
from imagepipe.stages.transform import MAX_OUTPUT_PIXELS, output_width, serve_transform

ASSET = "0190a4b2-0000-8000-8000-000000000000"


@dataclass
class Stored:
    data: bytes
    content_type: str = ""
    cache_control: str | None = None
    metadata: dict = field(default_factory=dict)
    held: bool = False


class FakeObjects:
    """The two buckets in memory, with S3's create-only semantics."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Stored] = {}
        self.puts = 0

    def get(self, bucket, key, *, max_bytes):
        if (bucket, key) not in self.objects:
            raise RejectedInputError("missing_object", key)
        return self.objects[bucket, key]

    def put(self, bucket, key, data, *, content_type, cache_control=None, metadata=None, create_only=False,
            held=False):
        self.puts += 1
        if create_only and (bucket, key) in self.objects:
            return False
        self.objects[bucket, key] = Stored(data, content_type, cache_control, dict(metadata or {}), held)
        return True

    def release(self, bucket, keys):
        gone = [key for key in keys if (bucket, key) not in self.objects]
        for key in set(keys) - set(gone):
            self.objects[bucket, key].held = False
        return gone

    def delete(self, bucket, key):
        self.objects.pop((bucket, key), None)


class PassThroughCredentials:
    """Signing that changes nothing, so renders can be compared with the engine's own bytes
    (tests/integration/test_trust.py signs for real); it records what it was asked to sign."""

    def __init__(self) -> None:
        self.parents: list[bytes] = []

    def sign_variant(self, data, content_type, *, parent, parent_content_type, title, **_):
        self.parents.append(parent)
        return SimpleNamespace(data=data)


class FakeProvenance:
    """Records as the table holds them; ``then`` is what later reads return (a takedown meanwhile)."""

    def __init__(self, records, then=None):
        self.records = records
        self.then = then
        self.reads = 0

    def asset(self, asset_id):
        self.reads += 1
        current = self.records if self.then is None or self.reads == 1 else self.then
        return current.get(asset_id)


@pytest.fixture
def original() -> bytes:
    buffer = io.BytesIO()
    render("a quiet harbour", 4, 800, 600).save(buffer, "PNG")
    return buffer.getvalue()


def record(**changes) -> dict:
    base = {
        "status": "published", "visibility": "public", "original_key": f"originals/{ASSET}.png",
        "moderation": {"verdict": "approve"},
        "publication": {"width": 800, "height": 600, "public_source_key": f"public-sources/{ASSET}", "variants": [
            {"key": f"public/{ASSET}/320w.0123456789abcdef.webp", "width": 320, "height": 240, "format": "webp"},
        ]},
    }
    return base | changes


def serve(path, records, objects, engine=EngineSettings(max_pixels=10**8), then=None, **kwargs):
    kwargs.setdefault("content_credentials", PassThroughCredentials())
    return serve_transform(path, provenance=FakeProvenance(records, then), objects=objects, originals_bucket="o",
                           variants_bucket="v", max_source_bytes=10**8, engine=engine, **kwargs)


@pytest.fixture
def objects(original) -> FakeObjects:
    fake = FakeObjects()
    fake.objects["o", f"originals/{ASSET}.png"] = Stored(b"the raw original: never read by the transform")
    fake.objects["o", f"public-sources/{ASSET}"] = Stored(original, "image/png")  # no faces: the original itself
    fake.objects["v", f"public/{ASSET}/320w.0123456789abcdef.webp"] = Stored(b"ladder-bytes")
    return fake


@pytest.mark.parametrize(
    ("path", "records", "status"),
    [
        (f"/public/{ASSET}/t/700w.avif", {ASSET: record()}, 404),  # not a step: never rendered
        (f"/public/{ASSET}/320w.0123456789abcdef.avif", {ASSET: record()}, 404),  # not a t/ key
        (f"/private/{ASSET}/t/640w.avif", {ASSET: record()}, 404),
        (f"/public/{ASSET}/t/640w.avif", {}, 404),  # unknown asset
        (f"/public/{ASSET}/t/640w.avif", {ASSET: record(visibility="private")}, 404),
        (f"/public/{ASSET}/t/640w.avif", {ASSET: record(status="review")}, 404),
        (f"/public/{ASSET}/t/640w.avif", {ASSET: record(status="approved")}, 404),
        (f"/public/{ASSET}/t/640w.avif", {ASSET: record(status="taken_down",
                                                         takedown={"previous_status": "published"})}, 410),
        # taken down before it was ever published: as unknown as an id that never existed
        (f"/public/{ASSET}/t/640w.avif", {ASSET: record(status="taken_down", takedown={"previous_status": "review"})}, 404),
        (f"/public/{ASSET}/t/640w.png", {ASSET: record()}, 404),  # PNG is not among the deployment's formats
        (f"/public/{ASSET}/t/640w.avif", {ASSET: record(moderation={"verdict": "review"})}, 404),  # no approval
        (f"/public/{ASSET}/t/640w.avif", {ASSET: record(publication={**record()["publication"],
                                                                      "public_source_key": None})}, 404),
    ],
)
def test_refusals_render_and_store_nothing(objects, path, records, status):
    """GIVEN a request the transform must not serve THEN it answers the status with a short cache
    lifetime, and writes nothing to the bucket."""
    answer = serve(path, records, objects)
    assert answer.status == status and answer.outcome == "refused"
    assert answer.headers["Cache-Control"] == "public, max-age=60"
    assert objects.puts == 0


def test_renders_a_missing_width_stores_it_create_only_and_returns_s3s_headers(objects):
    """GIVEN a public published asset and a width the ladder lacks THEN the variant is rendered at that
    width, stored under the request's key with the immutable Cache-Control and exact type, and the
    answer carries the ETag S3 will give the stored copy."""
    answer = serve(f"/public/{ASSET}/t/480w.webp", {ASSET: record()}, objects)
    assert answer.status == 200 and answer.outcome == "rendered"
    assert Image.open(io.BytesIO(answer.body)).size == (480, 360)
    stored = objects.objects["v", f"public/{ASSET}/t/480w.webp"]
    assert stored.data == answer.body and stored.content_type == answer.headers["Content-Type"] == "image/webp"
    assert stored.cache_control == answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert stored.metadata["sha256"] == hashlib.sha256(answer.body).hexdigest()
    assert answer.headers["ETag"] == f'"{hashlib.md5(answer.body).hexdigest()}"'


def test_a_rendered_width_uses_the_quality_the_ladder_chose(objects, original):
    """GIVEN a publication whose WebP ladder was encoded at quality 40 (a Decimal, as DynamoDB
    returns it) THEN a rendered 480w WebP is exactly the engine's quality-40 encode, with no
    search of its own."""
    published = record()
    published["publication"]["variants"][0]["quality"] = Decimal(40)
    answer = serve(f"/public/{ASSET}/t/480w.webp", {ASSET: published}, objects)
    expected = derive(original, EngineSettings(widths=(480,), formats=("webp",), threads=1,
                                               webp_quality=40, webp_target=None)).variants[0].data
    assert answer.outcome == "rendered" and answer.body == expected


def test_png_is_rendered_losslessly_where_the_deployment_derives_it(objects, original):
    """GIVEN a deployment whose formats include PNG and a ladder that recorded PNG at quality 100
    THEN an on-demand PNG is rendered and stored as image/png, pixel for pixel the engine's own PNG
    at that width (no quality to reuse from the ladder)."""
    published = record()
    published["publication"]["variants"].append(
        {"key": f"public/{ASSET}/320w.0123456789abcdef.png", "width": 320, "height": 240, "format": "png",
         "quality": Decimal(100)})
    engine = EngineSettings(formats=("avif", "webp", "jpeg", "png"))
    answer = serve(f"/public/{ASSET}/t/480w.png", {ASSET: published}, objects, engine=engine)
    assert answer.status == 200 and answer.outcome == "rendered"
    assert answer.headers["Content-Type"] == objects.objects["v", f"public/{ASSET}/t/480w.png"].content_type == "image/png"
    expected = derive(original, EngineSettings(widths=(480,), formats=("png",))).variants[0].data
    assert answer.body == expected


def test_without_recorded_qualities_the_deployments_target_is_searched(objects, original):
    """GIVEN a publication that recorded no quality and a deployment targeting SSIMULACRA2 60
    THEN the on-demand render is the engine's search for that target, not the default 70."""
    engine = EngineSettings(avif_target=60.0, webp_target=60.0, jpeg_target=60.0)
    answer = serve(f"/public/{ASSET}/t/480w.webp", {ASSET: record()}, objects, engine=engine)
    expected = derive(original, EngineSettings(widths=(480,), formats=("webp",), threads=1, webp_target=60.0))
    assert answer.body == expected.variants[0].data
    assert answer.body != derive(original, EngineSettings(widths=(480,), formats=("webp",))).variants[0].data


def test_a_ladder_variant_is_copied_and_never_upscaled(objects):
    """GIVEN a request wider than the source THEN nothing is upscaled; GIVEN a width and format the
    ladder holds THEN its bytes are reused instead of encoding again."""
    wide = serve(f"/public/{ASSET}/t/2560w.jpg", {ASSET: record()}, objects)
    assert Image.open(io.BytesIO(wide.body)).size == (800, 600)
    ladder = serve(f"/public/{ASSET}/t/320w.webp", {ASSET: record()}, objects)
    assert (ladder.outcome, ladder.body) == ("ladder", b"ladder-bytes")


def test_a_concurrent_render_is_not_overwritten(objects):
    """GIVEN another miss stored the key first THEN the stored bytes are returned (one URL, one content)."""
    objects.objects["v", f"public/{ASSET}/t/480w.avif"] = Stored(b"first-writer")
    answer = serve(f"/public/{ASSET}/t/480w.avif", {ASSET: record()}, objects)
    assert (answer.outcome, answer.body) == ("stored", b"first-writer")


def test_an_oversize_variant_is_stored_and_redirected_not_returned(objects):
    """GIVEN a variant larger than the inline limit THEN it is stored and the answer is an uncached
    redirect to its explicit t/ URL (which the S3 member then serves), never a body over the limit."""
    answer = serve(f"/public/{ASSET}/t/800w.jpg", {ASSET: record()}, objects, inline_limit=100)
    assert answer.status == 307 and answer.body == b""
    assert answer.headers == {"Location": f"/t/{ASSET}/800w.jpg", "Cache-Control": "no-store"}
    assert ("v", f"public/{ASSET}/t/800w.jpg") in objects.objects


def test_a_withdrawn_public_source_is_not_found(objects):
    """GIVEN a public source that is gone (withdrawn meanwhile) THEN 404, nothing stored."""
    del objects.objects["o", f"public-sources/{ASSET}"]
    assert serve(f"/public/{ASSET}/t/480w.avif", {ASSET: record()}, objects).status == 404


@pytest.mark.parametrize(("width", "source", "expected"), [(640, (800, 600), 640), (2560, (800, 600), 800),
                                                           (2560, (2560, 20000), 1011), (2560, (4000, 4000), 2560)])
def test_output_pixels_are_capped(width, source, expected):
    """GIVEN very tall sources THEN the rendered width shrinks so width x height stays within
    MAX_OUTPUT_PIXELS: the encoded size is bounded far below Lambda's 6 MB response."""
    got = output_width(width, *source)
    assert got == expected
    assert got * round(source[1] * got / source[0]) <= MAX_OUTPUT_PIXELS


def test_renders_come_from_the_public_source_never_the_raw_original(objects):
    """GIVEN a public source that differs from the original (faces blurred) THEN the render is the
    public source's pixels, signed with the public source as its parent; the raw original is never read."""
    blurred = io.BytesIO()
    Image.new("RGB", (800, 600), (90, 140, 200)).save(blurred, "PNG")
    objects.objects["o", f"public-sources/{ASSET}"] = Stored(blurred.getvalue(), "image/png")
    credentials = PassThroughCredentials()
    answer = serve(f"/public/{ASSET}/t/480w.jpg", {ASSET: record()}, objects, content_credentials=credentials)
    pixels = Image.open(io.BytesIO(answer.body)).convert("RGB").getpixel((240, 180))
    assert max(abs(a - b) for a, b in zip(pixels, (90, 140, 200))) <= 3
    assert credentials.parents == [blurred.getvalue()]


def test_a_render_is_stored_held_and_released_after_the_record_still_allows_it(objects):
    """GIVEN a render THEN it is written held (CloudFront may not read it) and released only after
    the record was read a second time."""
    provenance_reads = []
    original_release = objects.release

    def release(bucket, keys):
        provenance_reads.append(objects.objects["v", keys[0]].held)
        return original_release(bucket, keys)

    objects.release = release
    answer = serve(f"/public/{ASSET}/t/480w.webp", {ASSET: record()}, objects)
    assert answer.status == 200 and provenance_reads == [True]
    assert objects.objects["v", f"public/{ASSET}/t/480w.webp"].held is False


@pytest.mark.parametrize("width", [480, 320])  # rendered, and copied from the ladder
def test_a_takedown_between_render_and_release_wins(objects, width):
    """GIVEN the asset is taken down while the render is being written (the second read of the
    record says taken_down) THEN the answer is 410 and what was written is deleted, held until then."""
    answer = serve(f"/public/{ASSET}/t/{width}w.webp", {ASSET: record()}, objects,
                   then={ASSET: record(status="taken_down")})
    assert (answer.status, answer.outcome, answer.body) == (410, "refused", b"taken down")
    assert ("v", f"public/{ASSET}/t/{width}w.webp") not in objects.objects
