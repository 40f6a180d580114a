"""review: what people decide about the images moderation could not.

The review function never writes the provenance table: it reads it (the sparse
``pending-review`` index to list, the asset's current state before acting) and emits a
``reviewed`` fact. A decision's event id is ``{asset_id}:reviewed``, whatever the decision:
if two reviewers race, SQS FIFO deduplication and the table's conditional write keep
exactly one. The handler also claims each decision in the idempotency table, so the
loser of a race is told 409 at once instead of learning it later.

Approved assets go to the derivatives queue (with the face regions to blur, if the
moderation decision named any). Rejected originals are tagged ``quarantine=rejected``:
the originals bucket policy then denies reading them, so nothing derives from them.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any, Literal

from ..adapters.provenance_store import ProvenanceStore
from ..adapters.queues import Publisher
from ..adapters.storage import ObjectStore
from ..ids import is_asset_id
from ..lifecycle import AssetRecord, Creation, Moderation
from ..models import DerivativesJob, ProvenanceEvent, utc_now
from .takedown import QUARANTINE_TAG, ActionRefused, clean_text

ACTOR = "review"
Decision = Literal["approved", "rejected"]
MAX_PAGE = 100


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as error:
        raise ActionRefused(400, "malformed cursor") from error
    if not isinstance(key, dict) or not all(isinstance(v, dict) for v in key.values()):
        raise ActionRefused(400, "malformed cursor")
    return key


def pending(
    *,
    store: ProvenanceStore,
    objects: ObjectStore,
    originals_bucket: str,
    preview_ttl_seconds: int,
    limit: int = 50,
    cursor: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One page of the assets waiting for a decision, oldest first, each with a preview URL.

    The preview is a presigned S3 GET of the original, valid ``preview_ttl_seconds``:
    originals are never behind CloudFront, and reviewers need to see exactly what was
    moderated, not a derivative.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ActionRefused(400, f"limit must be between 1 and {MAX_PAGE}")
    items, last = store.pending_reviews(limit=limit, after=decode_cursor(cursor))
    records = [AssetRecord.from_item(item) for item in items]
    expires = (now or utc_now()) + timedelta(seconds=preview_ttl_seconds)
    return {
        "items": [
            summary(record, objects.presigned_get(originals_bucket, record.original_key, expires_in=preview_ttl_seconds))
            | {"preview_expires_at": expires.isoformat()}
            for record in records
            if record.original_key
        ],
        "next": encode_cursor(last),
    }


def summary(asset: AssetRecord, preview_url: str | None = None) -> dict[str, Any]:
    """What a reviewer needs to decide: why it is here, the scores, who asked for what."""
    moderation = asset.moderation or Moderation()
    creation = asset.creation or Creation()
    return {
        "asset_id": asset.asset_id,
        "status": asset.status,
        "since": asset.review_since or asset.updated_at,
        "source": asset.source,
        "visibility": asset.visibility,
        "requester": asset.requester,
        "prompt": creation.prompt,
        "model_id": creation.model_id,
        "reasons": list(moderation.reasons),
        "labels": list(moderation.labels),
        "thresholds": moderation.thresholds,
        "backend": moderation.backend,
        "model_version": moderation.model_version,
        "faces": moderation.faces,
        "face_policy": moderation.face_policy,
        "preview_url": preview_url,
    }


def awaiting_decision(store: ProvenanceStore, asset_id: str) -> AssetRecord:
    """The asset's current record if a reviewer may decide on it now.

    Raises
    ------
    ActionRefused
        400 for a malformed id, 404 for an unknown asset, 409 (with the current status and,
        if there is one, the decision already taken) when it is not waiting for review.
    """
    if not is_asset_id(asset_id):
        raise ActionRefused(400, "not an asset id")
    asset = store.record(asset_id)
    if asset is None:
        raise ActionRefused(404, "no such asset")
    if asset.status != "review":
        previous = asset.review_decision
        message = f"the asset is not waiting for review (status: {asset.status})"
        if previous:
            message += f"; {previous.decision} by {previous.reviewer} at {previous.decided_at}"
        current = {"status": asset.status, "review_decision": previous.recorded() if previous else None}
        raise ActionRefused(409, message, current)
    return asset


def decide(
    asset_id: str,
    decision: Decision,
    *,
    reviewer: str,
    reason: Any = None,
    note: Any = None,
    store: ProvenanceStore,
    objects: ObjectStore,
    publisher: Publisher,
    derivatives_queue_url: str,
    originals_bucket: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record ``reviewer``'s decision on ``asset_id`` and act on it.

    Raises
    ------
    ActionRefused
        As ``awaiting_decision``; 400 when a rejection has no reason.
    """
    asset = awaiting_decision(store, asset_id)
    reason_text = clean_text(reason, "reason", required=decision == "rejected")
    note_text = clean_text(note, "note", required=False)
    at = now or utc_now()
    publisher.record(
        ProvenanceEvent(
            event_id=f"{asset_id}:reviewed",
            asset_id=asset_id,
            kind="reviewed",
            actor=ACTOR,
            at=at,
            status=decision,
            reason=reason_text if decision == "rejected" else None,
            data={
                "decision": decision,
                "reviewer": reviewer,
                "decided_at": at.isoformat(),
                "reason": reason_text,
                "note": note_text,
                "moderation_reasons": list(asset.moderation.reasons) if asset.moderation else [],
            },
        )
    )
    if decision == "approved":
        publisher.send(
            derivatives_queue_url,
            DerivativesJob(
                asset_id=asset_id,
                original_key=asset.original_key,
                visibility=asset.delivered_visibility,
                blur_regions=asset.blur_regions,
            ),
        )
    else:
        objects.tag(originals_bucket, asset.original_key, {QUARANTINE_TAG: "rejected"})
    return {
        "asset_id": asset_id,
        "decision": decision,
        "reviewer": reviewer,
        "decided_at": at.isoformat(),
        "reason": reason_text,
        "note": note_text,
        "next": "derivatives" if decision == "approved" else "quarantined",
    }
