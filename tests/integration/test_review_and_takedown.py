"""Human review and takedown through the review function's API, on the template's resources in moto."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from imagepipe.adapters.provenance_store import ProvenanceStore
from imagepipe.ids import derived_asset_id
from imagepipe_tools.local.demo import function_url_event
from imagepipe.models import DerivativesJob, GenerationRequest
from imagepipe_tools.review_console.server import call, staff_principal


def env(stack, name: str) -> str:
    return next(fn.environment[name] for fn in stack.functions.values() if name in fn.environment)


def submit(stack, **fields) -> str:
    request = GenerationRequest(**({"prompt": "a calm mountain lake", "seed": 7, "width": 512, "height": 384,
                                    "requester": "alice", "visibility": "public", "client_request_id": "r-1",
                                    "model_id": "local"} | fields))
    stack.client("sqs").send_message(QueueUrl=stack.function("generate").triggers[0].queue_url,
                                     MessageBody=request.model_dump_json())
    return derived_asset_id("generate", request.requester, request.client_request_id)


def in_review(stack, runtime, client_request_id: str = "rev-1", visibility: str = "public") -> str:
    asset_id = submit(stack, prompt="an antique weapon in a museum", client_request_id=client_request_id,
                      visibility=visibility)
    assert runtime.drain(timeout=120)
    return asset_id


def store(stack) -> ProvenanceStore:
    return ProvenanceStore(stack.client("dynamodb"), env(stack, "PROVENANCE_TABLE"))


def variant_keys(stack, asset_id: str) -> list[str]:
    s3 = stack.client("s3")
    bucket = env(stack, "VARIANTS_BUCKET")
    return [o["Key"] for p in ("public", "private")
            for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{p}/{asset_id}/").get("Contents", [])]


def original_tags(stack, asset_id: str) -> dict[str, str]:
    key = store(stack).asset(asset_id)["original_key"]
    tags = stack.client("s3").get_object_tagging(Bucket=env(stack, "ORIGINALS_BUCKET"), Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tags}


def sign_status(runtime, asset_id: str, requester: str = "alice") -> int:
    event = function_url_event("GET", f"/assets/{asset_id}/urls", {"x-imagepipe-requester": requester})
    return runtime.invoke(runtime.stack.function("sign_url"), event)["statusCode"]


def test_pending_list_shows_reasons_scores_thresholds_and_a_five_minute_preview(stack, runtime):
    """GIVEN an image moderation sent to review WHEN a reviewer lists pending reviews THEN the
    sparse pending-review index returns it with its reasons, every label with its score, the
    thresholds that applied, backend and model version, and a presigned S3 GET of the original
    that expires in 300 s; approved images are not listed."""
    asset_id = in_review(stack, runtime)
    published = submit(stack, client_request_id="fine-1")
    assert runtime.drain(timeout=120)

    status, page = call(runtime, "GET", "/reviews", staff="dana")
    assert status == 200 and page["next"] is None
    (item,) = page["items"]
    assert item["asset_id"] == asset_id != published
    assert "prompt_review:weapon" in item["reasons"]
    assert {label["name"] for label in item["labels"]} >= {"nsfw"}
    assert item["thresholds"]["nsfw"] == {"review": 0.4, "reject": 0.85}
    assert item["backend"] == "opennsfw+haar-faces+phash"
    assert "open_nsfw" in item["model_version"] and "blocklist-initial" in item["model_version"]
    url = urlsplit(item["preview_url"])
    assert url.path.endswith(store(stack).asset(asset_id)["original_key"])
    assert parse_qs(url.query)["X-Amz-Expires"] == ["300"]


def test_approve_through_the_api_publishes_and_records_the_reviewer(stack, runtime):
    """GIVEN an image in review WHEN a reviewer approves it THEN the API answers 202, the
    provenance function records a "reviewed" fact naming the IAM principal and the time,
    the derivatives stage publishes it, it leaves the pending list and can be signed."""
    asset_id = in_review(stack, runtime)
    assert sign_status(runtime, asset_id) == 409

    status, answer = call(runtime, "POST", f"/reviews/{asset_id}/approve", staff="dana", body={"note": "museum piece"})
    assert status == 202 and answer["decision"] == "approved" and answer["reviewer"] == staff_principal("dana")
    assert runtime.drain(timeout=120)

    record = store(stack).asset(asset_id)
    assert record["status"] == "published"
    decision = record["review_decision"]
    assert (decision["decision"], decision["reviewer"], decision["note"]) == ("approved", staff_principal("dana"), "museum piece")
    assert decision["decided_at"] and decision["moderation_reasons"] == record["moderation"]["reasons"]
    assert [e["kind"] for e in store(stack).history(asset_id)] == ["created", "moderated", "reviewed", "published"]
    assert "review_queue" not in record
    assert call(runtime, "GET", "/reviews", staff="dana")[1]["items"] == []
    assert variant_keys(stack, asset_id) and sign_status(runtime, asset_id) == 200


def test_reject_needs_a_reason_and_quarantines_the_original(stack, runtime):
    """GIVEN an image in review WHEN a reviewer rejects it without a reason THEN 400 and nothing
    changes; WITH a reason THEN it is recorded rejected with reason and reviewer, the original
    is tagged quarantine=rejected (the bucket policy denies reading it) and nothing is derived."""
    asset_id = in_review(stack, runtime)
    assert call(runtime, "POST", f"/reviews/{asset_id}/reject", staff="erin", body={"reason": "  "})[0] == 400
    assert call(runtime, "POST", f"/reviews/{asset_id}/reject", staff="erin", body="not json")[0] == 400

    status, answer = call(runtime, "POST", f"/reviews/{asset_id}/reject", staff="erin",
                          body={"reason": "glorifies   violence"})
    assert status == 202 and answer["next"] == "quarantined"
    assert runtime.drain(timeout=60)
    record = store(stack).asset(asset_id)
    assert (record["status"], record["reason"]) == ("rejected", "glorifies violence")
    assert record["review_decision"]["reviewer"] == staff_principal("erin")
    assert original_tags(stack, asset_id) == {"quarantine": "rejected"}
    assert variant_keys(stack, asset_id) == []


def test_a_second_decision_is_refused_with_409(stack, runtime):
    """GIVEN an approval just sent (not yet applied) WHEN another reviewer rejects the same
    asset THEN 409 at once (the decision is claimed in the idempotency table), while the
    first reviewer repeating the approval gets the same answer again; once applied, any new
    decision gets 409 naming the decision already taken. Exactly one "reviewed" fact exists."""
    asset_id = in_review(stack, runtime)
    first = call(runtime, "POST", f"/reviews/{asset_id}/approve", staff="dana")
    assert first[0] == 202
    assert call(runtime, "POST", f"/reviews/{asset_id}/reject", staff="erin", body={"reason": "no"})[0] == 409
    assert call(runtime, "POST", f"/reviews/{asset_id}/approve", staff="dana") == first
    assert runtime.drain(timeout=120)

    status, answer = call(runtime, "POST", f"/reviews/{asset_id}/reject", staff="erin", body={"reason": "late"})
    assert status == 409 and answer["current"]["status"] == "published"
    assert f"approved by {staff_principal('dana')}" in answer["message"]
    assert [e["kind"] for e in store(stack).history(asset_id)].count("reviewed") == 1
    assert call(runtime, "POST", "/reviews/not-an-id/approve", staff="dana")[0] == 400
    assert call(runtime, "POST", f"/reviews/{asset_id[:-1]}0/approve", staff="dana")[0] in {404, 409}


def test_requests_without_an_iam_identity_are_refused(stack, runtime):
    """GIVEN a request that reached the function without an IAM principal (the Function URL is
    AWS_IAM, so only a misconfiguration could do this) THEN no decision is taken: 403."""
    asset_id = in_review(stack, runtime)
    event = function_url_event("POST", f"/reviews/{asset_id}/approve", {}, "{}")
    assert runtime.invoke(stack.function("review"), event)["statusCode"] == 403
    assert store(stack).asset(asset_id)["status"] == "review"


def test_takedown_withdraws_variants_invalidates_the_cdn_and_refuses_signing(stack, runtime):
    """GIVEN a published public asset WHEN staff take it down THEN who/why/when are recorded,
    every object under its prefixes (variants, manifest, C2PA sidecars, token) is deleted, a
    CloudFront invalidation covers /public/{id}/*, /private/{id}/* and /t/{id}*, sign-url answers 410,
    the original is quarantined, and a second takedown re-checks without a second fact."""
    asset_id = submit(stack, client_request_id="pub-1")
    assert runtime.drain(timeout=120)
    before = variant_keys(stack, asset_id)
    assert before and sign_status(runtime, asset_id) == 200
    assert call(runtime, "POST", f"/assets/{asset_id}/takedown", staff="legal", body={})[0] == 400

    status, answer = call(runtime, "POST", f"/assets/{asset_id}/takedown", staff="legal",
                          body={"reason": "DMCA notice 2026-114"})
    assert status == 200 and sorted(answer["deleted"]) == sorted(before)
    assert answer["invalidation"]["paths"] == [f"/public/{asset_id}/*", f"/private/{asset_id}/*", f"/t/{asset_id}*"]
    assert runtime.drain(timeout=60)

    record = store(stack).asset(asset_id)
    assert (record["status"], record["reason"]) == ("taken_down", "DMCA notice 2026-114")
    assert record["takedown"]["by"] == staff_principal("legal") and record["takedown"]["at"]
    assert record["takedown"]["previous_status"] == "published"
    assert variant_keys(stack, asset_id) == []
    cloudfront = stack.client("cloudfront")
    distribution = env(stack, "DISTRIBUTION_ID")
    (summary,) = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]["Items"]
    batch = cloudfront.get_invalidation(DistributionId=distribution, Id=summary["Id"])["Invalidation"]["InvalidationBatch"]
    assert batch["Paths"]["Items"] == [f"/public/{asset_id}/*", f"/private/{asset_id}/*", f"/t/{asset_id}*"]
    assert sign_status(runtime, asset_id) == 410
    assert original_tags(stack, asset_id) == {"quarantine": "taken_down"}

    again = call(runtime, "POST", f"/assets/{asset_id}/takedown", staff="other", body={"reason": "again"})
    assert again[0] == 200 and again[1]["already_taken_down"] and again[1]["by"] == staff_principal("legal")
    assert [e["kind"] for e in store(stack).history(asset_id)].count("taken_down") == 1


def test_a_late_derivatives_job_does_not_republish_a_taken_down_asset(stack, runtime):
    """GIVEN an asset taken down WHEN a derivatives job for it arrives late (redelivered, or
    sent before the takedown) THEN the stage checks the provenance state and writes nothing."""
    asset_id = submit(stack, client_request_id="late-1")
    assert runtime.drain(timeout=120)
    original_key = store(stack).asset(asset_id)["original_key"]
    assert call(runtime, "POST", f"/assets/{asset_id}/takedown", staff="legal", body={"reason": "court order"})[0] == 200
    assert runtime.drain(timeout=60)

    job = DerivativesJob(asset_id=asset_id, original_key=original_key, visibility="public")
    stack.client("sqs").send_message(QueueUrl=env(stack, "DERIVATIVES_QUEUE_URL"), MessageBody=job.model_dump_json())
    assert runtime.drain(timeout=60)
    assert variant_keys(stack, asset_id) == []
    assert store(stack).asset(asset_id)["status"] == "taken_down"


@pytest.mark.parametrize(("path", "status"), [("/assets/not-an-id/takedown", 400),
                                               ("/assets/00000000-0000-8000-8000-000000000000/takedown", 404)])
def test_takedown_of_unknown_assets_is_refused(stack, runtime, path, status):
    """GIVEN a malformed or unknown asset id THEN the takedown is refused with 400 or 404."""
    assert call(runtime, "POST", path, staff="legal", body={"reason": "x"})[0] == status
