"""The publication gate: what every stage that writes viewer-reachable bytes checks, and when.

A job message or a request only names an asset; whether it may be published, to whom and
from which pixels is what the provenance record says, read consistently:

* **before** writing, the record must hold an approval (`approval`): automated moderation
  approved it or a reviewer did. Visibility, the original and the regions to blur come from
  the record, never from the message, so a forged or replayed job cannot publish an asset
  in review, make a private asset public, or drop its face blur.
* **after** writing, the record is read again (`still_publishable`): a takedown applies its
  fact synchronously before it lists and deletes, so a writer that read "not withdrawn"
  after its last write wrote before the takedown listed (its objects are deleted), and a
  writer that reads "withdrawn" removes what it wrote. Objects are written *held* (tagged,
  and the variants bucket policy denies CloudFront reading them) until that second check
  passed, so no read can happen in between.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ImagepipeError
from ..lifecycle import PENDING_STATUSES, TERMINAL_STATUSES, AssetRecord, RecordSource, read_record
from ..models import BlurRegion, Visibility

WITHDRAWN_STATUSES = TERMINAL_STATUSES  # taken_down, rejected: nothing follows them


class NotYetApproved(ImagepipeError):
    """The record holds no approval yet: retry later (a decision's fact may be in flight)."""


class NotPublishable(ImagepipeError):
    """The record says this asset must not be published by this stage: ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Approval:
    """What the record says a publishing stage may do with an asset."""

    asset_id: str
    status: str
    visibility: Visibility
    original_key: str
    blur_regions: tuple[BlurRegion, ...]
    verdict: str  # as the record holds it: "approve" (moderation) or "approved_in_review"


def recorded_verdict(asset: AssetRecord) -> str | None:
    """The approval the record holds, or None: a reviewer's decision wins over moderation's."""
    if asset.review_decision is not None and asset.review_decision.decision is not None:
        return "approved_in_review" if asset.review_decision.decision == "approved" else None
    return "approve" if asset.moderation is not None and asset.moderation.verdict == "approve" else None


def approval(
    asset: AssetRecord | Mapping[str, Any] | None, asset_id: str, *, statuses: frozenset[str]
) -> Approval:
    """The approval to publish ``asset`` (its record), whose status must be one of ``statuses``.

    Raises
    ------
    NotYetApproved
        When the asset is unknown, created or in review: its decision may not be recorded yet.
    NotPublishable
        When it is withdrawn (``taken_down``, ``rejected``), in another status (``published``
        for the derivatives stage), or has no recorded approval or original.
    """
    record = AssetRecord.of(asset, asset_id)
    if record is None:
        raise NotYetApproved(f"asset {asset_id} has no record yet")
    status = record.status
    if status in WITHDRAWN_STATUSES:
        raise NotPublishable(status)
    if status in PENDING_STATUSES:
        raise NotYetApproved(f"asset {asset_id} is {status}: no approval recorded yet")
    if status not in statuses:
        raise NotPublishable(f"already_{status}")
    verdict = recorded_verdict(record)
    if verdict is None or not record.original_key:
        raise NotPublishable("no_recorded_approval")
    return Approval(
        asset_id=asset_id,
        status=status,
        visibility=record.delivered_visibility,
        original_key=record.original_key,
        blur_regions=record.blur_regions,
        verdict=verdict,
    )


def still_publishable(store: RecordSource, asset_id: str, *, statuses: frozenset[str]) -> bool:
    """Re-read after writing: True unless the asset left ``statuses`` (withdrawn) meanwhile."""
    record = read_record(store, asset_id)
    return record is not None and record.status in statuses
