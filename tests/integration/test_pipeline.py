"""The whole pipeline in-process: template.yaml resources on moto, the real handlers, real SQS payloads."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from PIL import Image

from imagepipe.adapters.provenance_store import ProvenanceStore
from imagepipe.ids import derived_asset_id
from imagepipe_tools.procedural import render
from imagepipe_tools.local import uploads
from imagepipe_tools.local.demo import function_url_event
from imagepipe_tools.local.runtime import sqs_record
from imagepipe.models import GenerationRequest
from imagepipe.signed_urls import verify


def env(stack, name: str) -> str:
    for fn in stack.functions.values():
        if name in fn.environment:
            return fn.environment[name]
    raise KeyError(name)


def request(**overrides) -> GenerationRequest:
    fields = dict(prompt="a calm mountain lake at sunrise", seed=7, width=512, height=384, requester="alice",
                  visibility="public", client_request_id="req-1", model_id="local")
    return GenerationRequest(**(fields | overrides))


def submit(stack, *requests: GenerationRequest) -> list[str]:
    sqs = stack.client("sqs")
    url = stack.function("generate").triggers[0].queue_url
    for r in requests:
        sqs.send_message(QueueUrl=url, MessageBody=r.model_dump_json())
    return [derived_asset_id("generate", r.requester, r.client_request_id) for r in requests]


def provenance(stack) -> ProvenanceStore:
    return ProvenanceStore(stack.client("dynamodb"), env(stack, "PROVENANCE_TABLE"))


def variant_objects(stack, prefix: str) -> dict[str, dict]:
    s3 = stack.client("s3")
    bucket = env(stack, "VARIANTS_BUCKET")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"]) for o in listing}


def sign(runtime, asset_id: str, requester: str) -> tuple[int, dict]:
    response = runtime.invoke(
        runtime.stack.function("sign_url"),
        function_url_event("GET", f"/assets/{asset_id}/urls", {"x-imagepipe-requester": requester}),
    )
    return response["statusCode"], json.loads(response["body"])


def test_public_generation_is_published_with_exact_headers_and_full_provenance(stack, runtime):
    """GIVEN a public generation request WHEN the pipeline drains THEN every variant is stored under
    its content hash with exact Content-Type and immutable Cache-Control, the manifest lists them,
    and the provenance table holds the chain created -> moderated -> published, indexed by hash."""
    (asset_id,) = submit(stack, request())
    assert runtime.drain(timeout=120)

    record = provenance(stack).asset(asset_id)
    assert record["status"] == "published"
    assert record["creation"]["model_id"] == "local" and record["creation"]["seed"] == 7
    assert record["moderation"]["verdict"] == "approve"
    objects = variant_objects(stack, f"public/{asset_id}/")
    manifest = json.loads(objects.pop(f"public/{asset_id}/manifest.json")["Body"].read())
    assert objects.pop(f"public/{asset_id}/provenance.json")  # the signed public provenance token
    sidecars = {k for k in objects if k.endswith(".c2pa")}  # remote C2PA manifests of small variants
    assert sidecars == {v["content_credentials"]["manifest_key"] for v in manifest["variants"]} - {None}
    objects = {k: o for k, o in objects.items() if k not in sidecars}
    assert {v["key"] for v in manifest["variants"]} == set(objects)
    assert {(v["width"], v["format"]) for v in manifest["variants"]} == {
        (w, f) for w in (320, 512) for f in ("avif", "webp", "jpeg")
    }
    for variant in manifest["variants"]:
        obj = objects[variant["key"]]
        body = obj["Body"].read()
        assert obj["ContentType"] == {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg"}[variant["format"]]
        assert obj["CacheControl"] == "public, max-age=31536000, immutable"
        assert obj["ContentLength"] == len(body) == variant["bytes"]
        digest = hashlib.sha256(body).hexdigest()
        assert digest == variant["sha256"] and digest[:16] in variant["key"]
        assert Image.open(io.BytesIO(body)).size == (variant["width"], variant["height"])
    kinds = [e["kind"] for e in provenance(stack).history(asset_id)]
    assert kinds == ["created", "moderated", "published"]
    hits = provenance(stack).find_by_content_hash(manifest["variants"][0]["sha256"])
    assert [h["asset_id"] for h in hits] == [asset_id]
    original = provenance(stack).find_by_content_hash(record["content_sha256"])
    assert [h["sk"] for h in original] == ["META"]


def test_private_asset_gets_signed_urls_only_for_its_requester(stack, runtime):
    """GIVEN a published private asset THEN sign-url returns CloudFront URLs whose RSA signature
    verifies against the key group's public key, tampering breaks them, and another caller
    is told the asset does not exist."""
    (asset_id,) = submit(stack, request(visibility="private", requester="bob", client_request_id="p-1"))
    assert runtime.drain(timeout=120)
    objects = variant_objects(stack, f"private/{asset_id}/")
    assert objects and all(o["CacheControl"].startswith("private,") for o in objects.values())
    assert not variant_objects(stack, f"public/{asset_id}/")

    status, body = sign(runtime, asset_id, "bob")
    assert status == 200 and body["signed"] is True
    url = body["variants"][0]["url"]
    assert url.startswith(f"https://{env(stack, 'CDN_DOMAIN')}/private/{asset_id}/")
    assert verify(url, stack.public_keys).ok
    assert verify(url.replace("320w", "640w"), stack.public_keys).reason == "bad signature"
    assert sign(runtime, asset_id, "mallory")[0] == 404
    assert sign(runtime, "not-an-id", "bob")[0] == 400


def test_prompt_policy_rejects_before_any_model_call(stack, runtime, monkeypatch):
    """GIVEN a prompt with a blocked term THEN the asset is recorded rejected with its reason,
    no model is called, no original is stored and nothing is derived."""
    from imagepipe_tools.local_model import LocalImageModel

    monkeypatch.setattr(LocalImageModel, "generate", lambda *a, **k: pytest.fail("model called"))
    (asset_id,) = submit(stack, request(prompt="a n.u.d.e figure", client_request_id="bad-1"))
    assert runtime.drain(timeout=60)
    record = provenance(stack).asset(asset_id)
    assert (record["status"], record["reason"]) == ("rejected", "prompt_policy")
    s3 = stack.client("s3")
    assert s3.list_objects_v2(Bucket=env(stack, "ORIGINALS_BUCKET"), Prefix="originals/").get("KeyCount") == 0
    assert not variant_objects(stack, "")


def test_review_prompt_waits_for_a_human_and_cannot_be_signed(stack, runtime):
    """GIVEN a prompt with a review term THEN moderation sends the asset to the review queue,
    nothing is derived, and sign-url refuses it with 409."""
    (asset_id,) = submit(stack, request(prompt="an antique weapon in a museum", client_request_id="rev-1"))
    assert runtime.drain(timeout=120)
    record = provenance(stack).asset(asset_id)
    assert record["status"] == "review" and "prompt_review:weapon" in record["moderation"]["reasons"]
    review = stack.client("sqs").receive_message(QueueUrl=env(stack, "REVIEW_QUEUE_URL"))["Messages"]
    assert json.loads(review[0]["Body"])["asset_id"] == asset_id
    assert not variant_objects(stack, "")
    assert sign(runtime, asset_id, "alice")[0] == 409


def test_bad_records_fail_alone_and_the_rest_of_the_batch_succeeds(stack, runtime):
    """GIVEN one SQS batch with a good request, a body that is not JSON and one with invalid
    fields WHEN the generate handler runs THEN exactly the two bad records are reported as
    failures (so SQS retries them and then dead-letters them) and the good one is done."""
    good = request(client_request_id="ok-1")
    bodies = [good.model_dump_json(), '{"prompt": "x", ', json.dumps({"prompt": "x", "requester": "a b"})]
    messages = [
        {"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": b, "Attributes": {"ApproximateReceiveCount": "1"}}
        for i, b in enumerate(bodies)
    ]
    fn = stack.function("generate")
    result = runtime.invoke(fn, {"Records": [sqs_record(m, fn.triggers[0].queue_arn, "us-east-1") for m in messages]})
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["m1", "m2"]
    key = f"originals/{derived_asset_id('generate', 'alice', 'ok-1')}.png"
    assert stack.client("s3").head_object(Bucket=env(stack, "ORIGINALS_BUCKET"), Key=key)["ContentType"] == "image/png"


def test_malformed_messages_end_in_the_dead_letter_queue(stack, runtime):
    """GIVEN a message no handler can parse WHEN the pipeline drains THEN it is retried up to
    maxReceiveCount and lands in the queue's DLQ, not lost and not blocking others."""
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=stack.function("generate").triggers[0].queue_url, MessageBody="not json")
    submit(stack, request(client_request_id="fine"))
    assert runtime.drain(timeout=120)
    dlq = env(stack, "PROVENANCE_QUEUE_URL").replace("provenance.fifo", "generate-requests-dlq")
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])]
    assert bodies == ["not json"]


def jpeg_with_gps(width: int = 700, height: int = 500) -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    buffer = io.BytesIO()
    render("valley", 3, width, height).save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A small, valid PNG stream that declares a huge canvas: its pixels are one zlib'd run of zeros."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (1 << 20), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_uploads_are_validated_each_bad_file_rejected_with_its_reason(stack, runtime):
    """GIVEN ticketed uploads (upload-url, then the POST) of a real JPEG, a truncated PNG, a text
    file and a PNG declaring 50,000² pixels THEN the JPEG is published as the ticket's requester's
    without its GPS EXIF, each bad file is recorded as rejected with its own reason, nothing of
    theirs reaches the variants bucket, and every upload is gone from uploads/ afterwards."""
    s3 = stack.client("s3")
    bucket = env(stack, "ORIGINALS_BUCKET")
    good = jpeg_with_gps()
    buffer = io.BytesIO()
    render("x", 1, 320, 256).save(buffer, "PNG")
    files = {
        "good.jpg": (good, "image/jpeg", None),
        "cut.png": (buffer.getvalue()[:2000], "image/png", "truncated"),
        "notes.png": (b"hello, not an image" * 10, "image/png", "not_an_image"),
        "bomb.png": (png_bomb(50_000, 50_000), "image/png", "too_many_pixels"),
    }
    ids = {name: uploads.upload(runtime, body, requester="dave", content_type=content_type, visibility="public",
                                filename=name).asset_id
           for name, (body, content_type, _) in files.items()}
    assert runtime.drain(timeout=120)

    store = provenance(stack)
    for name, (_, _, reason) in files.items():
        record = store.asset(ids[name])
        if reason is None:
            assert (record["status"], record["requester"], record["visibility"]) == ("published", "dave", "public")
        else:
            assert (record["status"], record["reason"]) == ("rejected", reason), name
            assert not variant_objects(stack, f"public/{ids[name]}/")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="uploads/").get("KeyCount") == 0
    published = variant_objects(stack, f"public/{ids['good.jpg']}/")
    jpeg = next(o for k, o in published.items() if k.endswith(".jpg"))
    assert not Image.open(io.BytesIO(jpeg["Body"].read())).getexif().get_ifd(0x8825)


def test_a_redelivered_request_makes_one_asset_and_one_model_call(stack, runtime, monkeypatch):
    """GIVEN the same request delivered twice (SQS is at-least-once) THEN the model runs once,
    one original exists and provenance records a single creation."""
    from imagepipe_tools.local_model import LocalImageModel

    calls = []
    real = LocalImageModel.generate
    monkeypatch.setattr(LocalImageModel, "generate", lambda self, spec: calls.append(spec) or real(self, spec))
    asset_id, again = submit(stack, request(client_request_id="twice"), request(client_request_id="twice"))
    assert asset_id == again
    assert runtime.drain(timeout=120)
    assert len(calls) == 1
    assert [e["kind"] for e in provenance(stack).history(asset_id)] == ["created", "moderated", "published"]


def test_moderation_fails_closed(stack, runtime, monkeypatch):
    """GIVEN a moderation backend that errors THEN the record fails and is retried, and on the
    last attempt the asset goes to human review; it is never approved or derived."""
    from imagepipe.errors import ModerationError
    from imagepipe.moderation.local_classifier import OpenNsfwModeration

    def broken(self, image):
        raise ModerationError("classifier unavailable")

    monkeypatch.setattr(OpenNsfwModeration, "classify", broken)
    (asset_id,) = submit(stack, request(client_request_id="mod-down"))
    assert runtime.drain(timeout=120)
    record = provenance(stack).asset(asset_id)
    assert record["status"] == "review"
    assert any(r.startswith("moderation_unavailable") for r in record["moderation"]["reasons"])
    assert not variant_objects(stack, "")


def test_s3_test_events_and_foreign_keys_publish_nothing(stack, runtime):
    """GIVEN the s3:TestEvent S3 sends on setup and an event for a key outside originals/
    THEN the test event is skipped and the foreign key fails alone (to the DLQ), nothing moves."""
    fn = stack.function("moderate")
    foreign = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "etc%2Fpasswd", "eTag": "x"}}}]}
    messages = [
        {"MessageId": "test", "ReceiptHandle": "r0", "Body": json.dumps({"Event": "s3:TestEvent", "Bucket": "b"}), "Attributes": {"ApproximateReceiveCount": "1"}},
        {"MessageId": "foreign", "ReceiptHandle": "r1", "Body": json.dumps(foreign), "Attributes": {"ApproximateReceiveCount": "1"}},
    ]
    result = runtime.invoke(fn, {"Records": [sqs_record(m, fn.triggers[0].queue_arn, "us-east-1") for m in messages]})
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["foreign"]
    assert not variant_objects(stack, "")


def test_a_requester_over_quota_is_refused_without_a_model_call(stack, monkeypatch):
    """GIVEN a quota of 2 generations per hour WHEN a requester sends 3 THEN two are generated
    and the third is recorded as rejected (quota_exceeded) without calling the model."""
    from imagepipe_tools.local_model import LocalImageModel
    from imagepipe_tools.local.runtime import LocalRuntime

    from tests.conftest import FUNCTION_LOG

    stack.function("generate").environment["GENERATION_QUOTA_PER_HOUR"] = "2"
    runtime = LocalRuntime(stack, log=FUNCTION_LOG)
    calls = []
    real = LocalImageModel.generate
    monkeypatch.setattr(LocalImageModel, "generate", lambda self, spec: calls.append(spec) or real(self, spec))
    ids = submit(stack, *(request(client_request_id=f"q{i}", requester="greedy") for i in range(3)))
    assert runtime.drain(timeout=120)
    reasons = sorted((provenance(stack).asset(a) or {}).get("reason") or "ok" for a in ids)
    assert reasons == ["ok", "ok", "quota_exceeded"]
    assert len(calls) == 2


def test_a_retry_after_the_original_was_stored_calls_no_model(stack, runtime, monkeypatch):
    """GIVEN an original already stored WHEN the same request comes back after its idempotency
    record is gone (expired, or lost in a crash) THEN the model is not called again and the
    recorded hash still matches the stored bytes."""
    from imagepipe_tools.local_model import LocalImageModel

    (asset_id,) = submit(stack, request(client_request_id="again"))
    assert runtime.drain(timeout=120)
    ddb = stack.client("dynamodb")
    table = env(stack, "IDEMPOTENCY_TABLE")
    for item in ddb.scan(TableName=table)["Items"]:
        ddb.delete_item(TableName=table, Key={"id": item["id"]})
    monkeypatch.setattr(LocalImageModel, "generate", lambda *a, **k: pytest.fail("model called twice"))
    submit(stack, request(client_request_id="again"))
    assert runtime.drain(timeout=60)
    record = provenance(stack).asset(asset_id)
    stored = stack.client("s3").get_object(Bucket=env(stack, "ORIGINALS_BUCKET"), Key=record["original_key"])["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == record["content_sha256"]
