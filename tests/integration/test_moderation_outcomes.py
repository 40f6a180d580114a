"""Each moderation outcome through the real pipeline, with the record it leaves; face detectors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.stub import Stubber
from PIL import Image

from imagepipe.adapters.provenance_store import ProvenanceStore
from imagepipe.errors import ModerationError
from imagepipe_tools.procedural import render
from imagepipe_tools.local import uploads
from imagepipe.moderation.policy import DEFAULT_POLICY, FacePolicy, ModerationPolicy, Region
from imagepipe.moderation.config import build_backend, policy_from_document
from imagepipe.moderation.faces import HaarFaces, RekognitionFaces, blur_regions
from imagepipe.moderation.phash import phash, to_hex

ASTRONAUT = Path(__file__).resolve().parents[1] / "fixtures" / "astronaut.jpg"  # NASA, public domain


def env(stack, name: str) -> str:
    return next(fn.environment[name] for fn in stack.functions.values() if name in fn.environment)


def upload(runtime, name: str, data: bytes, visibility: str = "public") -> str:
    """A JPEG uploaded by zoe the way apps upload: a ticket from upload-url, then the POST."""
    return uploads.upload(runtime, data, requester="zoe", content_type="image/jpeg", visibility=visibility,
                          filename=name).asset_id


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def record(stack, asset_id: str) -> dict:
    return ProvenanceStore(stack.client("dynamodb"), env(stack, "PROVENANCE_TABLE")).asset(asset_id)


def set_parameter(stack, variable: str, document: dict) -> None:
    stack.client("ssm").put_parameter(Name=env(stack, variable), Value=json.dumps(document), Overwrite=True)


def test_approved_image_with_a_face_is_published_with_the_face_blurred_in_public_variants(stack, runtime):
    """GIVEN the local stack's face policy "blur" and a real photo with a face (NASA astronaut)
    WHEN it is uploaded public THEN it is approved, the decision records the face with its region,
    the policy and the detector's version, and the published variant is blurred there (and only
    there): the face region loses most of its detail while the rest is untouched."""
    photo = ASTRONAUT.read_bytes()
    asset_id = upload(runtime, "astronaut.jpg", photo)
    assert runtime.drain(timeout=120)

    moderation = record(stack, asset_id)["moderation"]
    assert moderation["verdict"] == "approve" and moderation["faces"] == 1
    assert moderation["face_policy"] == {"action": "blur", "min_confidence": 0.9}
    (face,) = [label for label in moderation["labels"] if label["category"] == "Face"]
    assert 0.25 < face["region"]["left"] < 0.45 and 0.05 < face["region"]["top"] < 0.2
    assert moderation["blur_regions"] == [face["region"]]
    assert "haar-faces=haarcascade_frontalface_default/opencv-4" in moderation["model_version"]

    variants = record(stack, asset_id)["publication"]["variants"]
    widest = max((v for v in variants if v["format"] == "jpeg"), key=lambda v: v["width"])
    body = stack.client("s3").get_object(Bucket=env(stack, "VARIANTS_BUCKET"), Key=widest["key"])["Body"].read()
    published = np.asarray(Image.open(io.BytesIO(body)).convert("L").resize((320, 320)), dtype=float)
    source = np.asarray(Image.open(ASTRONAUT).convert("L"), dtype=float)
    r = face["region"]
    box = (slice(int(r["top"] * 320) + 8, int((r["top"] + r["height"]) * 320) - 8),
           slice(int(r["left"] * 320) + 8, int((r["left"] + r["width"]) * 320) - 8))
    detail = lambda a: np.abs(np.diff(a, axis=1)).mean()  # noqa: E731
    assert detail(published[box]) < 0.4 * detail(source[box])
    assert np.abs(published[250:, :80] - source[250:, :80]).mean() < 6


def test_face_policy_review_from_ssm_sends_faces_to_a_person(stack, runtime):
    """GIVEN the policy parameter in SSM set to {"faces": {"action": "review"}} WHEN a photo
    with a face arrives THEN it waits for review with the reason "faces:1"; the thresholds
    stay the built-in ones."""
    set_parameter(stack, "MODERATION_POLICY_PARAMETER", {"faces": {"action": "review", "min_confidence": 0.5}})
    asset_id = upload(runtime, "astronaut.jpg", ASTRONAUT.read_bytes())
    assert runtime.drain(timeout=120)
    moderation = record(stack, asset_id)["moderation"]
    assert record(stack, asset_id)["status"] == "review"
    assert moderation["reasons"] == ["faces:1 (face policy: review)"]
    assert moderation["thresholds"]["default"] == DEFAULT_POLICY.default.to_record()


def test_per_category_thresholds_come_from_ssm(stack, runtime):
    """GIVEN thresholds in SSM that send any open_nsfw score from 0.0 to review THEN an ordinary
    image goes to review, and its record shows the configured thresholds and its score."""
    set_parameter(stack, "MODERATION_POLICY_PARAMETER",
                  {"default": {"review": 0.5, "reject": 0.9}, "per_category": {"nsfw": {"review": 0.0, "reject": 1.0}}})
    asset_id = upload(runtime, "hills.jpg", jpeg(render("rolling hills", 3, 640, 480)))
    assert runtime.drain(timeout=120)
    moderation = record(stack, asset_id)["moderation"]
    assert moderation["verdict"] == "review"
    assert moderation["thresholds"]["nsfw"] == {"review": 0.0, "reject": 1.0}
    assert moderation["reasons"][0].startswith("nsfw>=0.00")


def test_blocklisted_image_is_rejected_after_resize_and_reencode(stack, runtime):
    """GIVEN a known-bad picture's pHash in the blocklist parameter WHEN a smaller, recompressed
    copy is uploaded THEN it is rejected, the record naming the entry and the list version, and
    nothing is derived; an unrelated upload is still published."""
    bad = render("a forbidden picture", 13, 1024, 768)
    set_parameter(stack, "PHASH_BLOCKLIST_PARAMETER", {"version": "v7", "hashes": {to_hex(phash(bad)): "case-77"}})
    bad_id = upload(runtime, "copy.jpg", jpeg(bad.resize((600, 450)), quality=55))
    good_id = upload(runtime, "fine.jpg", jpeg(render("a quiet harbour", 21, 640, 480)))
    assert runtime.drain(timeout=120)

    rejected = record(stack, bad_id)
    assert rejected["status"] == "rejected" and rejected["reason"].startswith("blocklist:case-77>=0.87")
    assert "blocklist-v7" in rejected["moderation"]["model_version"]
    assert record(stack, good_id)["status"] == "published"
    s3 = stack.client("s3")
    assert s3.list_objects_v2(Bucket=env(stack, "VARIANTS_BUCKET"), Prefix=f"public/{bad_id}/")["KeyCount"] == 0


def test_an_invalid_policy_document_fails_closed_to_review(stack, runtime):
    """GIVEN a policy parameter that is not a valid policy WHEN an image is moderated THEN the
    record is retried and on the last attempt the image goes to review, never approved."""
    set_parameter(stack, "MODERATION_POLICY_PARAMETER", {"default": {"review": 0.9, "reject": 0.1}})
    asset_id = upload(runtime, "hills.jpg", jpeg(render("rolling hills", 3, 640, 480)))
    assert runtime.drain(timeout=120)
    moderation = record(stack, asset_id)["moderation"]
    assert moderation["verdict"] == "review"
    assert moderation["reasons"][0].startswith("moderation_unavailable:the moderation policy could not be loaded")


def test_unsupported_input_goes_to_review_without_retrying(stack):
    """GIVEN a backend that cannot look at an image at all (Rekognition under 80 px) THEN the
    stage sends it to review on the first attempt, with the reason recorded."""
    from imagepipe import wiring
    from imagepipe.stages.moderate import moderate

    wiring.reset()
    client = boto3.client("rekognition", region_name="us-east-1")
    small = io.BytesIO()
    Image.new("RGB", (64, 300), (40, 90, 160)).save(small, "PNG")
    bucket = env(stack, "ORIGINALS_BUCKET")
    key = "originals/0b0a2a3e-7a40-8c1e-9d1e-4d5c6b7a8f90.png"
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=small.getvalue(), Metadata={"visibility": "public"})
    import os

    os.environ.update({k: v for k, v in stack.function("moderate").environment.items()})
    with Stubber(client):  # no response queued: any call would fail the test
        result = moderate(bucket, key, store=wiring.object_store(), backend=build_backend("rekognition", client=lambda _: client),
                          policy=DEFAULT_POLICY, publisher=wiring.publisher(), derivatives_queue_url=env(stack, "DERIVATIVES_QUEUE_URL"),
                          review_queue_url=env(stack, "REVIEW_QUEUE_URL"), max_bytes=10**7, max_pixels=10**7, last_attempt=False)
    assert result.status == "review" and result.reason.startswith("moderation_unavailable:unsupported")


DETECT_FACES = {
    "FaceDetails": [
        {"BoundingBox": {"Width": 0.21, "Height": 0.3, "Left": 0.35, "Top": 0.12}, "Confidence": 99.98,
         "Landmarks": [{"Type": "eyeLeft", "X": 0.42, "Y": 0.22}], "Pose": {"Roll": 1.0, "Yaw": -3.1, "Pitch": 4.2},
         "Quality": {"Brightness": 80.1, "Sharpness": 92.3}},
        {"BoundingBox": {"Width": 0.1, "Height": 0.12, "Left": 0.95, "Top": -0.02}, "Confidence": 62.5},
    ]
}


def test_rekognition_detect_faces_feeds_the_face_policy():
    """GIVEN DetectFaces (stubbed with the service model) finding a clear face and a doubtful one
    at the edge THEN both are recorded with regions clipped to the image, only the clear one
    counts for the policy, and "blur" lists its region; errors fail closed."""
    client = boto3.client("rekognition", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    backend = RekognitionFaces(client)
    with Stubber(client) as stub:
        stub.add_response("detect_faces", DETECT_FACES, {"Image": {"Bytes": stub_any()}, "Attributes": ["DEFAULT"]})
        labels = backend.classify(Image.open(ASTRONAUT))
        stub.add_client_error("detect_faces", "ThrottlingException", "Rate exceeded")
        with pytest.raises(ModerationError, match="ThrottlingException"):
            backend.classify(Image.open(ASTRONAUT))
    assert [round(lbl.confidence, 4) for lbl in labels] == [0.9998, 0.625]
    assert labels[1].region == Region(0.95, 0.0, 0.05, 0.1)
    policy = ModerationPolicy(default=DEFAULT_POLICY.default, faces=FacePolicy("blur", 0.9))
    decision = policy.decide(labels, backend=backend.name, model_version=backend.model_version)
    assert decision.verdict == "approve" and decision.faces == 1
    assert decision.to_record()["blur_regions"] == [{"left": 0.35, "top": 0.12, "width": 0.21, "height": 0.3}]


def test_rekognition_faces_in_a_banner_are_found_by_tile_and_mapped_back():
    """GIVEN a 2000x400 banner with one face at x 1000-1100 px, y 100-300 px, which DetectFaces
    (stubbed) reports in the whole banner and, in their own coordinates, in the two tiles that
    overlap it (one of them cut at its edge)
    WHEN faces are detected under the "blur" face policy
    THEN the whole banner and 4 tiles are sent (5 calls, the cap), and the decision holds one face
    whose blur region is where the face is in the whole banner, covering what every view saw."""
    client = boto3.client("rekognition", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")

    def faces(*boxes):
        return {"FaceDetails": [{"BoundingBox": dict(zip(("Left", "Top", "Width", "Height"), box)),
                                 "Confidence": 99.5} for box in boxes]}

    # Tiles of 616 px start at 0, 461, 923 and 1384 px.
    answers = [faces((0.5, 0.25, 0.05, 0.5)), faces(), faces((539 / 616, 0.25, 77 / 616, 0.5)),
               faces((77 / 616, 0.25, 100 / 616, 0.5)), faces()]
    with Stubber(client) as stub:
        for answer in answers:
            stub.add_response("detect_faces", answer, {"Image": {"Bytes": stub_any()}, "Attributes": ["DEFAULT"]})
        labels = RekognitionFaces(client).classify(Image.new("RGB", (2000, 400), (90, 140, 200)))
        stub.assert_no_pending_responses()
    policy = ModerationPolicy(default=DEFAULT_POLICY.default, faces=FacePolicy("blur", 0.9))
    decision = policy.decide(labels, backend="rekognition-faces", model_version="DetectFaces")
    assert decision.faces == 1
    (region,) = decision.blur_regions
    assert region.left == pytest.approx(0.5, abs=1e-5) and region.width == pytest.approx(0.05, abs=1e-5)
    assert region.top == pytest.approx(0.25, abs=1e-5) and region.height == pytest.approx(0.5, abs=1e-5)


def test_the_moderation_record_carries_the_phash_of_the_moderated_image(stack, runtime):
    """GIVEN an upload through the real pipeline WHEN it has been moderated THEN its record's
    moderation section holds "phash": the 16-hex pHash of the image the backends looked at
    (here the decoded upload itself, 640x480), which a takedown can put on the blocklist."""
    from imagepipe.imaging.probe import decode

    data = jpeg(render("a quiet harbour", 21, 640, 480))
    asset_id = upload(runtime, "harbour.jpg", data)
    assert runtime.drain(timeout=120)
    moderation = record(stack, asset_id)["moderation"]
    assert moderation["phash"] == to_hex(phash(decode(data)))
    assert len(moderation["phash"]) == 16


def stub_any():
    from botocore.stub import ANY

    return ANY


def test_haar_detector_finds_the_face_and_blur_changes_only_that_region():
    """GIVEN the offline Haar detector THEN it finds the astronaut's face and nothing in
    procedural landscapes, and blur_regions leaves pixels outside the region unchanged."""
    detector = HaarFaces()
    photo = Image.open(ASTRONAUT).convert("RGB")
    (face,) = detector.classify(photo)
    assert face.category == "Face" and face.region is not None
    assert detector.classify(render("rolling green hills under an evening sky", 3, 1024, 768)) == []
    blurred = np.asarray(blur_regions(photo, [face.region]), dtype=int)
    original = np.asarray(photo, dtype=int)
    changed = np.argwhere(np.abs(blurred - original).sum(axis=2) > 0)
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    r = face.region
    assert left >= (r.left - 0.2 * r.width) * 320 - 1 and right <= (r.left + 1.2 * r.width) * 320 + 1
    assert top >= (r.top - 0.2 * r.height) * 320 - 1 and bottom <= (r.top + 1.2 * r.height) * 320 + 1


@pytest.mark.parametrize("document", [{"per_category": {"nsfw": {"review": 0.1, "reject": 0.2}}},
                                      {"faces": {"action": "hide"}}, {"faces": {"min_confidence": 2}}, []])
def test_invalid_policy_documents_are_refused(document):
    """GIVEN thresholds without a default, an unknown face action or confidence, or no object
    THEN the document is refused rather than half-applied."""
    from imagepipe.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        policy_from_document(document)


def test_backends_are_chosen_by_configuration():
    """GIVEN MODERATION_BACKEND lists THEN known names build one combined backend, unknown or
    repeated names are refused."""
    from imagepipe.errors import ConfigurationError

    combined = build_backend("phash,local-faces", client=lambda _: None)
    assert combined.name == "phash+haar-faces"
    for bad in ("", "rekognition,nope", "phash,phash"):
        with pytest.raises(ConfigurationError):
            build_backend(bad, client=lambda _: None)
