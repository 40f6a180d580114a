"""Small helpers the stages share."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ..errors import RejectedInputError
from ..models import ProvenanceEvent
from . import StageResult


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rejection(asset_id: str, actor: str, error: RejectedInputError, data: Mapping[str, Any]) -> ProvenanceEvent:
    """The provenance fact that ``actor`` refused ``asset_id`` for ``error.reason``."""
    return ProvenanceEvent(
        event_id=f"{asset_id}:{actor}:rejected",
        asset_id=asset_id,
        kind="rejected",
        actor=actor,
        status="rejected",
        reason=error.reason,
        data={**data, "stage": actor, "detail": error.detail},
    )


def rejected_result(asset_id: str, error: RejectedInputError) -> StageResult:
    return StageResult(asset_id, "rejected", error.reason, error.detail)


def original_metadata(
    *, asset_id: str, requester: str, visibility: str, source: str, content_sha256: str, review_reasons: list[str]
) -> dict[str, str]:
    """S3 user metadata on an original: what moderation needs without a table read."""
    return {
        "asset-id": asset_id,
        "requester": requester,
        "visibility": visibility,
        "source": source,
        "content-sha256": content_sha256,
        "review-reasons": ",".join(review_reasons),
    }
