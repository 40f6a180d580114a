"""Trust on every path: on-demand renders are as blurred as the ladder, publishing stages obey the
record and not the job, a takedown is recorded before anything is deleted and blocks the picture.

Everything runs through the real handlers on the template's resources in in-process moto.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from imagepipe.adapters.storage import HOLD_TAG
from imagepipe_tools.local import uploads
from imagepipe_tools.local.demo import function_url_event
from imagepipe.models import DerivativesJob
from imagepipe.provenance.c2pa_signing import validate
from imagepipe.provenance.token import verify_token
from imagepipe_tools.review_console.server import call
from tests.integration.test_pipeline import env, provenance, request, submit, variant_objects

ASTRONAUT = Path(__file__).resolve().parents[1] / "fixtures" / "astronaut.jpg"  # NASA, public domain


def upload(runtime, data: bytes, *, visibility: str = "public", requester: str = "zoe") -> str:
    return uploads.upload(runtime, data, requester=requester, content_type="image/jpeg", visibility=visibility).asset_id


def render(runtime, path: str) -> dict:
    return runtime.invoke(runtime.stack.function("transform"), function_url_event("GET", path, {}))


def body(response: dict) -> bytes:
    import base64

    raw = response.get("body") or ""
    return base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()


def face_detail(image_bytes: bytes, region: dict, source: np.ndarray) -> tuple[float, float]:
    """Mean horizontal gradient inside the face box, for ``image_bytes`` and the raw original."""
    size = source.shape[::-1]
    pixels = np.asarray(Image.open(io.BytesIO(image_bytes)).convert("L").resize(size), dtype=float)
    box = (slice(int(region["top"] * size[1]) + 8, int((region["top"] + region["height"]) * size[1]) - 8),
           slice(int(region["left"] * size[0]) + 8, int((region["left"] + region["width"]) * size[0]) - 8))
    detail = lambda a: float(np.abs(np.diff(a, axis=1)).mean())  # noqa: E731
    return detail(pixels[box]), detail(source[box])


def test_on_demand_renders_of_a_face_blurred_asset_are_blurred_and_signed(stack, runtime):
    """GIVEN the local face policy "blur" and a public photo with a face WHEN widths the ladder lacks
    are rendered on demand (160w JPEG, and the 160w WebP that ?w=100&f=webp normalises to) THEN the
    face is as blurred as in the ladder (detail under 0.4x the original's), the render carries valid
    Content Credentials whose ingredient is the blurred public source, which itself records the blur."""
    asset_id = upload(runtime, ASTRONAUT.read_bytes())
    assert runtime.drain(timeout=120)
    record = provenance(stack).asset(asset_id)
    assert record["status"] == "published"
    (region,) = record["moderation"]["blur_regions"]
    source = np.asarray(Image.open(ASTRONAUT).convert("L").resize((320, 320)), dtype=float)

    for path in (f"/public/{asset_id}/t/160w.jpg", f"/public/{asset_id}/t/160w.webp"):
        response = render(runtime, path)
        assert response["statusCode"] == 200, response
        assert response["headers"]["X-Imagepipe-Transform"] == "rendered"
        rendered, original = face_detail(body(response), region, source)
        assert rendered < 0.4 * original, (path, rendered, original)
        report = validate(body(response), response["headers"]["Content-Type"],
                          trust_anchor_pem=stack.c2pa_trust_anchor)
        assert report.state == "Trusted", report
        (ingredient,) = report.ingredients
        assert ingredient["title"].endswith(".png")  # the public source, not the raw JPEG original

    source_object = stack.client("s3").get_object(Bucket=env(stack, "ORIGINALS_BUCKET"),
                                                   Key=record["publication"]["public_source_key"])
    public_source = source_object["Body"].read()
    report = validate(public_source, "image/png", trust_anchor_pem=stack.c2pa_trust_anchor)
    assert report.state == "Trusted" and "c2pa.filtered" in report.actions
    ladder_detail, original = face_detail(public_source, region, source)
    assert ladder_detail < 0.4 * original


def test_a_forged_derivatives_job_for_an_asset_in_review_publishes_nothing(stack, runtime):
    """GIVEN an asset waiting for review WHEN a derivatives job for it is put on the queue (forged,
    or sent twice by a bug) THEN nothing is written under its prefixes, the record still says review,
    and the job ends in the derivatives DLQ after its retries (not silently dropped)."""
    (asset_id,) = submit(stack, request(prompt="a pistol on a wooden table", client_request_id="forged-1"))
    assert runtime.drain(timeout=120)
    record = provenance(stack).asset(asset_id)
    assert record["status"] == "review"
    job = DerivativesJob(asset_id=asset_id, original_key=record["original_key"], visibility="public")
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=env(stack, "DERIVATIVES_QUEUE_URL"), MessageBody=job.model_dump_json())
    assert runtime.drain(timeout=60)
    assert variant_objects(stack, f"public/{asset_id}/") == {} and variant_objects(stack, f"private/{asset_id}/") == {}
    assert provenance(stack).asset(asset_id)["status"] == "review"
    dlq = stack.physical["DerivativesDLQ"]  # the queue URL
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["asset_id"] for m in messages] == [asset_id]


def test_the_job_cannot_change_visibility_and_the_token_states_the_recorded_verdict(stack, runtime):
    """GIVEN a private asset approved by moderation and a public one approved by a reviewer WHEN
    derivatives jobs claim the opposite visibility THEN each is published as its record says (the
    private one only under private/), and the public token states the verdict the record holds."""
    private_id, reviewed_id = submit(
        stack,
        request(client_request_id="vis-1", visibility="private", requester="bob"),
        request(client_request_id="vis-2", prompt="a pistol in a museum case"),
    )
    assert runtime.drain(timeout=120)
    assert call(runtime, "POST", f"/reviews/{reviewed_id}/approve", staff="ana", body={})[0] == 202
    forged = DerivativesJob(asset_id=private_id, original_key=provenance(stack).asset(private_id)["original_key"],
                            visibility="public")
    stack.client("sqs").send_message(QueueUrl=env(stack, "DERIVATIVES_QUEUE_URL"), MessageBody=forged.model_dump_json())
    assert runtime.drain(timeout=120)

    assert provenance(stack).asset(private_id)["status"] == "published"
    assert variant_objects(stack, f"public/{private_id}/") == {}
    assert variant_objects(stack, f"private/{private_id}/")
    reviewed = provenance(stack).asset(reviewed_id)
    assert reviewed["status"] == "published"
    token = variant_objects(stack, f"public/{reviewed_id}/provenance.json")[f"public/{reviewed_id}/provenance.json"]
    claims = verify_token(token["Body"].read(), stack.c2pa_trust_anchor)
    assert claims["moderation_verdict"] == "approved_in_review"


def test_a_takedown_is_recorded_before_it_returns_and_refuses_the_same_picture_again(stack, runtime):
    """GIVEN a published public upload WHEN staff take it down THEN the record says taken_down as soon
    as the call returns (before any queue is drained), the variants and the public source are gone,
    and the same bytes uploaded again (a new id) or a smaller re-encode of them are rejected by
    moderation as a known-bad image, never published."""
    photo = ASTRONAUT.read_bytes()
    asset_id = upload(runtime, photo)
    assert runtime.drain(timeout=120)
    public_source_key = provenance(stack).asset(asset_id)["publication"]["public_source_key"]
    status, answer = call(runtime, "POST", f"/assets/{asset_id}/takedown", staff="legal", body={"reason": "rights"})
    assert status == 200 and answer["blocklisted_phash"]
    assert provenance(stack).asset(asset_id)["status"] == "taken_down"
    assert variant_objects(stack, f"public/{asset_id}/") == {}
    s3 = stack.client("s3")
    assert "Contents" not in s3.list_objects_v2(Bucket=env(stack, "ORIGINALS_BUCKET"), Prefix=public_source_key)

    smaller = io.BytesIO()
    Image.open(io.BytesIO(photo)).resize((400, 400)).save(smaller, "JPEG", quality=70)
    again = [upload(runtime, photo, requester="mallory"), upload(runtime, smaller.getvalue(), requester="mallory")]
    assert runtime.drain(timeout=120)
    for other in again:
        record = provenance(stack).asset(other)
        assert other != asset_id and record["status"] == "rejected", record
        labels = record["moderation"]["labels"]
        assert any(label["name"] == f"blocklist:takedown:{asset_id}" for label in labels), labels
        assert variant_objects(stack, f"public/{other}/") == {}


def test_published_objects_are_released_from_the_hold(stack, runtime):
    """GIVEN a published asset THEN none of its objects still carries the hold (CloudFront may read
    them): the derivatives stage released what it wrote after re-reading the record."""
    (asset_id,) = submit(stack, request(client_request_id="released-1"))
    assert runtime.drain(timeout=120)
    s3, bucket = stack.client("s3"), env(stack, "VARIANTS_BUCKET")
    keys = list(variant_objects(stack, f"public/{asset_id}/"))
    assert keys
    for key in keys:
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
        assert tags.get(HOLD_TAG) == "released", (key, tags)
