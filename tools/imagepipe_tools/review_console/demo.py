"""The demo's staff steps: a reviewer approves one image, staff take a published one down.

Both go through the review function's API as a local staff identity, exactly as the console
and `imagepipe review|takedown` do; the checks read the buckets, the table and CloudFront.
"""

from __future__ import annotations

from typing import Any

from imagepipe.adapters.cdn import Cdn
from imagepipe_tools.local.runtime import LocalRuntime
from imagepipe_tools.local.stack import LocalStack
from imagepipe_tools.review_console.server import call

APPROVE_LABEL = "needs review"
TAKEDOWN_LABEL = "wide public"
REVIEWER = "demo-reviewer"


def staff_actions(stack: LocalStack, runtime: LocalRuntime, submitted: list[Any], *, timeout: float = 120) -> dict[str, Any]:
    """Approve the ``needs review`` asset and take down ``wide public``; returns what happened."""
    ids = {item.label: item.asset_id for item in submitted}
    review_fn = stack.function("review")
    store = stack.provenance_store()
    pending_before = [i["asset_id"] for i in call(runtime, "GET", "/reviews", staff=REVIEWER)[1].get("items", [])]

    approved = ids[APPROVE_LABEL]
    approve_status, decision = call(runtime, "POST", f"/reviews/{approved}/approve", staff=REVIEWER,
                                    body={"note": "a museum exhibit, not a threat"})
    taken = ids[TAKEDOWN_LABEL]
    takedown_status, takedown = call(runtime, "POST", f"/assets/{taken}/takedown", staff="demo-legal",
                                     body={"reason": "demo: rights holder's request"})
    drained = runtime.drain(timeout=timeout)

    s3 = stack.client("s3")
    bucket = review_fn.environment["VARIANTS_BUCKET"]
    left = [o["Key"] for p in ("public", "private")
            for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{p}/{taken}/").get("Contents", [])]
    invalidations = [i for i in Cdn(stack.client("cloudfront"), review_fn.environment["DISTRIBUTION_ID"]).invalidations()
                     if any(taken in path for path in i["paths"])]
    approved_record = store.asset(approved) or {}
    taken_record = store.asset(taken) or {}
    result = {
        "pending_before": pending_before,
        "approved": {"asset_id": approved, "api_status": approve_status, "reviewer": decision.get("reviewer"),
                     "status_after": approved_record.get("status")},
        "taken_down": {"asset_id": taken, "api_status": takedown_status, "by": takedown.get("by"),
                       "reason": takedown.get("reason"), "withdrawn": len(takedown.get("deleted", [])),
                       "objects_left": len(left), "invalidations": invalidations,
                       "status_after": taken_record.get("status")},
        "pending_after": [i["asset_id"] for i in call(runtime, "GET", "/reviews", staff=REVIEWER)[1].get("items", [])],
    }
    result["ok"] = bool(
        drained
        and approved in pending_before
        and approve_status == 202
        and result["approved"]["status_after"] == "published"
        and takedown_status == 200
        and result["taken_down"]["withdrawn"] > 0
        and not left
        and invalidations
        and result["taken_down"]["status_after"] == "taken_down"
    )
    return result


def lines(staff: dict[str, Any] | None) -> list[str]:
    """Human-readable lines for the demo's summary table."""
    if not staff:
        return []
    approved, taken = staff["approved"], staff["taken_down"]
    invalidation = taken["invalidations"][0] if taken["invalidations"] else {}
    return [
        f"review: {approved['asset_id'][:8]} approved by {approved['reviewer']} -> {approved['status_after']}; "
        f"{len(staff['pending_after'])} still waiting for review",
        f"takedown: {taken['asset_id'][:8]} by {taken['by']} ({taken['reason']}): {taken['withdrawn']} objects "
        f"withdrawn, {taken['objects_left']} left; CloudFront invalidation {invalidation.get('id')} "
        f"for {', '.join(invalidation.get('paths', []))}",
    ]
