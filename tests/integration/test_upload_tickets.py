"""Upload ownership comes from upload-url's ticket, never from the uploaded object.

Through the real handlers on template.yaml's resources (moto): upload-url issues tickets and
presigned POSTs, the POST goes to moto as a browser would send it, the uploads function
ingests. moto does not enforce a POST policy, so each attack below reaches the uploads
function, which is what must refuse it (in AWS, S3 already refuses most of them).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import uuid

import pytest

from imagepipe.ids import derived_asset_id
from imagepipe_tools.procedural import render
from imagepipe_tools.local import uploads
from imagepipe_tools.local.demo import function_url_event


def env(stack, name: str) -> str:
    return next(fn.environment[name] for fn in stack.functions.values() if name in fn.environment)


def image(fmt: str = "JPEG", seed: int = 1, size: tuple[int, int] = (480, 320)) -> bytes:
    buffer = io.BytesIO()
    render("a quiet harbour", seed, *size).save(buffer, fmt)
    return buffer.getvalue()


def ticket(runtime, requester: str = "alice", **request) -> dict:
    status, body = uploads.request_ticket(runtime, requester, **({"content_type": "image/jpeg"} | request))
    assert status == 201, body
    return body


def post(stack, grant: dict, data: bytes, **form) -> str:
    """POST ``data`` with the grant's form, ``form`` overriding or adding fields; returns the asset id."""
    etag = uploads.post_file({**grant, "fields": {**grant["fields"], **form}}, data)
    key = form.get("key", grant["key"])
    return derived_asset_id("uploads", env(stack, "ORIGINALS_BUCKET"), key, etag)


def record(stack, asset_id: str) -> dict:
    return stack.provenance_store().asset(asset_id) or {}


def sign_status(runtime, asset_id: str, requester: str) -> int:
    event = function_url_event("GET", f"/assets/{asset_id}/urls", {"x-imagepipe-requester": requester})
    return runtime.invoke(runtime.stack.function("sign_url"), event)["statusCode"]


def keys(stack, prefix: str) -> list[str]:
    listing = stack.client("s3").list_objects_v2(Bucket=env(stack, "ORIGINALS_BUCKET"), Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


def assert_rejected(stack, asset_id: str, reason: str) -> dict:
    """Recorded as rejected for ``reason``, no original made of it and nothing left under uploads/."""
    found = record(stack, asset_id)
    assert (found.get("status"), found.get("reason")) == ("rejected", reason), found
    assert keys(stack, "originals/") == [] and keys(stack, "uploads/") == []
    return found


@pytest.mark.parametrize(
    ("key", "metadata"),
    [
        ("uploads/alice/holiday.jpg", {"requester": "alice", "visibility": "public"}),  # forged owner
        ("uploads/holiday.jpg", {}),  # no metadata at all: once the requester "anonymous"
        (f"uploads/{uuid.uuid4()}", {"requester": "anonymous", "visibility": "private"}),  # a ticket-shaped key, no ticket
    ],
    ids=["forged-metadata", "no-metadata", "ticket-shaped-key"],
)
def test_an_object_put_under_uploads_without_a_ticket_is_a_recorded_rejection(stack, runtime, key, metadata):
    """GIVEN a direct PutObject under uploads/ (what any holder of s3:PutObject could do), with
    forged x-amz-meta-requester/visibility or none at all WHEN the pipeline runs THEN it is
    recorded as rejected (no_upload_ticket), no original is made, the object is deleted and
    nobody, "anonymous" included, gets URLs for it."""
    s3 = stack.client("s3")
    bucket = env(stack, "ORIGINALS_BUCKET")
    etag = s3.put_object(Bucket=bucket, Key=key, Body=image(), ContentType="image/jpeg", Metadata=metadata)["ETag"]
    asset_id = derived_asset_id("uploads", bucket, key, etag.strip('"'))
    assert runtime.drain(timeout=120)

    rejected = assert_rejected(stack, asset_id, "no_upload_ticket")
    assert "requester" not in rejected["rejection"] and "visibility" not in rejected["rejection"]
    assert {sign_status(runtime, asset_id, who) for who in ("anonymous", "alice")} == {404}


def test_the_ticket_decides_whose_an_upload_is_whatever_the_object_claims(stack, runtime):
    """GIVEN a ticket for alice's private upload WHEN the POST also carries x-amz-meta-requester
    "mallory" and visibility "public" (S3 would refuse the extra fields; moto stores them) THEN the
    asset is alice's and private: published under private/, signed for alice only."""
    grant = ticket(runtime, "alice", visibility="private")
    asset_id = post(stack, grant, image(), **{"x-amz-meta-requester": "mallory", "x-amz-meta-visibility": "public"})
    assert runtime.drain(timeout=120)

    published = record(stack, asset_id)
    assert (published["status"], published["requester"], published["visibility"]) == ("published", "alice", "private")
    assert published["creation"]["upload_id"] == grant["upload_id"]
    assert published["creation"]["ticket_issued_by"] == uploads.APP_BACKEND
    assert all(v["key"].startswith("private/") for v in published["publication"]["variants"])
    assert [sign_status(runtime, asset_id, who) for who in ("alice", "mallory", "anonymous")] == [200, 404, 404]


def test_a_ticket_admits_one_object(stack, runtime):
    """GIVEN a ticket whose upload was published WHEN the same ticket is used for a second object
    (another POST to its key) THEN that object is a recorded rejection (upload_ticket_used) and
    is deleted; the first asset stays published and alice's."""
    grant = ticket(runtime, "alice", visibility="public")
    first = post(stack, grant, image(seed=1))
    assert runtime.drain(timeout=120)
    second = post(stack, grant, image(seed=2))
    assert runtime.drain(timeout=120)

    assert record(stack, first)["status"] == "published"
    found = record(stack, second)
    assert (found["status"], found["reason"], found["rejection"]["requester"]) == ("rejected", "upload_ticket_used", "alice")
    assert keys(stack, "uploads/") == []


def test_two_objects_racing_for_one_ticket_make_one_asset_of_the_bytes_that_stayed(stack, runtime):
    """GIVEN two POSTs with one ticket before the uploads function ran (the second overwrites the
    first) THEN one asset is made, of the second object's bytes; the first object's event is a
    recorded rejection (upload_replaced) whichever event comes first (or, if it comes after the
    second was ingested, finds nothing to read and is skipped)."""
    grant = ticket(runtime, "alice", visibility="public")
    second_bytes = image(seed=2)
    first, second = post(stack, grant, image(seed=1)), post(stack, grant, second_bytes)
    assert runtime.drain(timeout=120)

    made = record(stack, second)
    assert made["status"] == "published" and made["content_sha256"] == hashlib.sha256(second_bytes).hexdigest()
    assert record(stack, first).get("reason", "skipped") in {"upload_replaced", "skipped"}
    assert len(keys(stack, "originals/")) == 1 and keys(stack, "uploads/") == []


@pytest.mark.parametrize(
    ("request_fields", "upload", "reason"),
    [
        ({"content_type": "image/png"}, lambda g: (image("JPEG"), {"Content-Type": "image/jpeg"}), "content_type_mismatch"),
        ({"content_type": "image/png"}, lambda g: (image("JPEG"), {}), "content_type_mismatch"),
        ({"max_bytes": 2000}, lambda g: (image("JPEG"), {}), "too_large"),
        ({}, lambda g: (image("JPEG"), {"key": f"{g['key']}/extra.jpg"}), "no_upload_ticket"),
        ({}, lambda g: (image("JPEG"), {"key": f"uploads/{uuid.uuid4()}"}), "no_upload_ticket"),
    ],
    ids=["stored-as-another-type", "bytes-of-another-type", "beyond-its-size-range", "below-its-key",
         "another-upload-id"],
)
def test_an_object_unlike_its_ticket_is_a_recorded_rejection(stack, runtime, request_fields, upload, reason):
    """GIVEN a ticket WHEN the POST sends another Content-Type than pinned, bytes of another type,
    more bytes than its range, or writes a key other than the pinned uploads/{upload_id} THEN the
    object is a recorded rejection with that reason, no original, and it is deleted."""
    grant = ticket(runtime, "alice", visibility="public", **request_fields)
    data, form = upload(grant)
    asset_id = post(stack, grant, data, **form)
    assert runtime.drain(timeout=120)
    assert_rejected(stack, asset_id, reason)


def test_an_object_written_after_its_ticket_expired_is_a_recorded_rejection(stack, runtime):
    """GIVEN a ticket that expires after one second WHEN its object is written two seconds later
    (S3 would refuse the POST; moto accepts it) THEN it is rejected (upload_ticket_expired)."""
    grant = ticket(runtime, "alice", expires_in=1)
    time.sleep(2.1)
    asset_id = post(stack, grant, image())
    assert runtime.drain(timeout=120)
    found = assert_rejected(stack, asset_id, "upload_ticket_expired")
    assert found["rejection"]["requester"] == "alice"


def test_a_retried_ingest_of_the_same_object_is_not_a_second_use(stack, runtime, monkeypatch):
    """GIVEN the first attempt fails after claiming the ticket (S3 errors writing the original)
    WHEN SQS delivers the record again THEN the same object claims the same ticket again and is
    published: single use counts objects, not attempts."""
    from imagepipe.adapters.storage import ObjectStore
    from imagepipe.errors import TransientError

    real, failed = ObjectStore.put, []

    def flaky(self, bucket, key, *args, **kwargs):
        if key.startswith("originals/") and not failed:
            failed.append(key)
            raise TransientError("S3 is having a moment")
        return real(self, bucket, key, *args, **kwargs)

    monkeypatch.setattr(ObjectStore, "put", flaky)
    asset_id = post(stack, ticket(runtime, "alice"), image())
    assert runtime.drain(timeout=120)
    assert failed and record(stack, asset_id)["status"] == "published"


def test_the_presigned_post_pins_what_s3_must_enforce(stack, runtime):
    """GIVEN a ticket for a PNG of at most 5,000 bytes THEN its POST policy names the bucket, exactly
    uploads/{upload_id}, the content type and a 1-5,000 byte range, expiring with the ticket, and
    lets the uploader set nothing else (no x-amz-meta-* field is allowed)."""
    grant = ticket(runtime, "alice", content_type="image/png", max_bytes=5000, expires_in=120)
    policy = json.loads(base64.b64decode(grant["fields"]["policy"]))
    conditions = policy["conditions"]
    assert grant["key"] == f"uploads/{grant['upload_id']}" and str(uuid.UUID(grant["upload_id"])) == grant["upload_id"]
    assert {"key": grant["key"]} in conditions and {"bucket": env(stack, "ORIGINALS_BUCKET")} in conditions
    assert {"Content-Type": "image/png"} in conditions and ["content-length-range", 1, 5000] in conditions
    assert not [c for c in conditions if "x-amz-meta" in json.dumps(c).lower()]
    assert abs(_epoch(policy["expiration"]) - _epoch(grant["expires_at"])) <= 2
    assert grant["expires_at"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 100))


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize(
    ("requester", "body", "status"),
    [
        (None, {"content_type": "image/jpeg"}, 400),
        ("not a name!", {"content_type": "image/jpeg"}, 400),
        ("alice", {}, 400),
        ("alice", {"content_type": "text/plain"}, 415),
        ("alice", {"content_type": "image/jpeg", "visibility": "friends"}, 400),
        ("alice", {"content_type": "image/jpeg", "max_bytes": 50 * 1024 * 1024 + 1}, 400),
        ("alice", {"content_type": "image/jpeg", "expires_in": 3601}, 400),
        ("alice", {"content_type": "image/jpeg", "requester": "mallory"}, 400),
        ("alice", "not json", 400),
    ],
    ids=["no-requester", "bad-requester", "no-type", "not-an-image-type", "bad-visibility", "over-the-limit",
         "too-long-lived", "requester-in-body", "not-json"],
)
def test_upload_url_refuses_what_it_cannot_vouch_for(stack, runtime, requester, body, status):
    """GIVEN a request without the uploader named by the caller, or for a type, size, lifetime or
    visibility the deployment does not allow THEN upload-url answers the 4xx and issues no ticket."""
    response = runtime.invoke(stack.function("upload_url"), uploads.ticket_event(requester, body))
    assert response["statusCode"] == status, response["body"]
    assert json.loads(response["body"])["message"]
    table = env(stack, "UPLOAD_TICKETS_TABLE")
    assert stack.client("dynamodb").scan(TableName=table)["Count"] == 0


def test_the_sample_event_gets_a_ticket(stack, runtime, root):
    """GIVEN events/upload_url.json (what `imagepipe invoke upload_url` and sam local invoke use)
    THEN upload-url answers 201 with a POST for dave's public JPEG, recorded with the caller's IAM identity."""
    event = json.loads((root / "events" / "upload_url.json").read_text())
    response = runtime.invoke(stack.function("upload_url"), event)
    assert response["statusCode"] == 201, response["body"]
    grant = json.loads(response["body"])
    assert (grant["content_type"], grant["visibility"], grant["max_bytes"]) == ("image/jpeg", "public", 10485760)
    item = stack.client("dynamodb").get_item(TableName=env(stack, "UPLOAD_TICKETS_TABLE"),
                                             Key={"upload_id": {"S": grant["upload_id"]}})["Item"]
    assert item["requester"]["S"] == "dave" and item["issued_by"]["S"].endswith("assumed-role/app-backend/app-backend")
    assert int(item["expiration"]["N"]) > time.time() + 6 * 24 * 3600  # outlives the POST: a late reuse meets it
