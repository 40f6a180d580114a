"""takedown: withdraw a published (or pending) asset from delivery, and record who, why and when.

Order matters. The ``taken_down`` fact goes first: once applied, sign-url answers 410 and
a late derivatives job publishes nothing. Then every object under the asset's prefixes
in the variants bucket is deleted (listed, not taken from the publication record, so a
half-finished or late derivation is caught too), CloudFront is told to invalidate
``/public/{id}/*`` and ``/private/{id}/*``, and the original is tagged ``quarantine``
(the originals bucket policy denies reading tagged originals). Every step is safe to
repeat, so running a takedown again finishes one that was interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..adapters.cdn import Cdn
from ..adapters.provenance_store import ProvenanceStore
from ..adapters.queues import Publisher
from ..adapters.storage import ObjectStore
from ..ids import is_asset_id
from ..keys import VISIBILITY_PREFIXES, asset_prefix
from ..models import ProvenanceEvent, utc_now

ACTOR = "takedown"
QUARANTINE_TAG = "quarantine"
WITHDRAWN_STATUSES = frozenset({"taken_down", "rejected"})
MAX_REASON = 500


@dataclass(frozen=True)
class ActionRefused(Exception):
    """A staff action that cannot be done: ``status`` is the HTTP status to answer with."""

    status: int
    message: str
    current: dict[str, Any] | None = None


def is_withdrawn(store: ProvenanceStore, asset_id: str) -> bool:
    """True when the asset must not be (re)published: taken down or rejected."""
    asset = store.asset(asset_id)
    return asset is not None and asset.get("status") in WITHDRAWN_STATUSES


def cdn_paths(asset_id: str) -> list[str]:
    """Every path the CDN may have cached for the asset: its prefixes, and the viewer-facing
    on-demand URLs (/t/{id}...) that the edge function rewrites into the public prefix."""
    return [f"/{asset_prefix(visibility, asset_id)}*" for visibility in VISIBILITY_PREFIXES] + [f"/t/{asset_id}*"]


def withdraw(objects: ObjectStore, variants_bucket: str, asset_id: str) -> list[str]:
    """Delete every object of the asset from the variants bucket; returns the deleted keys."""
    keys = [key for v in VISIBILITY_PREFIXES for key in objects.keys(variants_bucket, asset_prefix(v, asset_id))]
    if keys:
        objects.delete_keys(variants_bucket, keys)
    return sorted(keys)


def clean_text(value: Any, what: str, *, required: bool) -> str | None:
    """A reason or note as staff typed it: stripped, bounded, required if asked."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ActionRefused(400, f"a {what} is required")
        return None
    if not isinstance(value, str):
        raise ActionRefused(400, f"the {what} must be text")
    text = " ".join(value.split())
    if len(text) > MAX_REASON:
        raise ActionRefused(400, f"the {what} is longer than {MAX_REASON} characters")
    return text


def take_down(
    asset_id: str,
    *,
    reason: Any,
    by: str,
    store: ProvenanceStore,
    objects: ObjectStore,
    publisher: Publisher,
    cdn: Cdn,
    variants_bucket: str,
    originals_bucket: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Take ``asset_id`` down; returns what was done.

    Raises
    ------
    ActionRefused
        400 for a malformed id or a missing reason, 404 for an unknown asset, 409 for a
        rejected one (nothing of it was ever published).
    """
    if not is_asset_id(asset_id):
        raise ActionRefused(400, "not an asset id")
    text = clean_text(reason, "reason", required=True)
    asset = store.asset(asset_id)
    if asset is None:
        raise ActionRefused(404, "no such asset")
    status = asset.get("status")
    if status == "rejected":
        raise ActionRefused(409, "the asset was rejected: nothing of it was published", {"status": status})
    at = now or utc_now()
    already = status == "taken_down"
    if already:
        record = asset.get("takedown", {})
        by, text, at_text = record.get("by", by), asset.get("reason") or text, record.get("at", at.isoformat())
    else:
        at_text = at.isoformat()
        publisher.record(
            ProvenanceEvent(
                event_id=f"{asset_id}:taken_down",
                asset_id=asset_id,
                kind="taken_down",
                actor=ACTOR,
                at=at,
                status="taken_down",
                reason=text,
                data={"by": by, "previous_status": status, "paths": cdn_paths(asset_id)},
            )
        )
    deleted = withdraw(objects, variants_bucket, asset_id)
    invalidation = cdn.invalidate(cdn_paths(asset_id), caller_reference=f"takedown-{asset_id}-{utc_now().isoformat()}")
    if asset.get("original_key"):
        objects.tag(originals_bucket, asset["original_key"], {QUARANTINE_TAG: "taken_down"})
    return {
        "asset_id": asset_id,
        "status": "taken_down",
        "already_taken_down": already,
        "previous_status": status if not already else asset.get("takedown", {}).get("previous_status"),
        "by": by,
        "reason": text,
        "at": at_text,
        "deleted": deleted,
        "invalidation": invalidation,
    }
