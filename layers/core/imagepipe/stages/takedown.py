"""takedown: withdraw a published (or pending) asset from delivery, and record who, why and when.

Order matters, and withdrawal wins every race with a publishing stage (see `stages.gate`):

1. the ``taken_down`` fact is applied to the provenance table *synchronously* (the same
   conditional transaction the provenance function applies), before anything is deleted:
   from then on sign-url answers 410, the transform refuses, and a publishing stage that
   reads the record after its last write removes what it wrote;
2. every object under the asset's prefixes in the variants bucket is deleted (listed, not
   taken from the publication record, so a half-finished or late derivation is caught too),
   and its public source;
3. CloudFront invalidates ``/public/{id}/*``, ``/private/{id}/*`` and ``/t/{id}*``;
4. the original is tagged ``quarantine`` (the originals bucket policy denies reading it).

The same transaction puts the image's perceptual hash (recorded at moderation) on the
takedown blocklist, so the same picture uploaded again is refused by moderation. Every step
is safe to repeat, so running a takedown again finishes one that was interrupted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..adapters.cdn import Cdn
from ..adapters.provenance_store import ProvenanceStore
from ..adapters.storage import ObjectStore
from ..errors import RejectedInputError, RequestRefused
from ..ids import is_asset_id
from ..keys import VISIBILITY_PREFIXES, asset_prefix, public_source_key
from ..lifecycle import AssetRecord
from ..models import ProvenanceEvent, utc_now

ACTOR = "takedown"
QUARANTINE_TAG = "quarantine"
MAX_REASON = 500
MAX_FINGERPRINT_BYTES = 60 * 1024 * 1024  # an original too large to hash is still taken down


class ActionRefused(RequestRefused):
    """A staff action that cannot be done (400, 403, 404, 409)."""


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


def fingerprint(asset: AssetRecord, objects: ObjectStore, originals_bucket: str) -> str | None:
    """The asset's perceptual hash (16 hex digits): as moderation recorded it, else computed now."""
    recorded = asset.moderation.phash if asset.moderation is not None else None
    if isinstance(recorded, str) and len(recorded) == 16:
        return recorded
    if not asset.original_key:
        return None
    from ..imaging.probe import decode  # numpy and Pillow: only for assets moderated before hashes were recorded
    from ..moderation.phash import phash, to_hex

    try:
        original = objects.get(originals_bucket, asset.original_key, max_bytes=MAX_FINGERPRINT_BYTES)
        return to_hex(phash(decode(original.data, max_pixels=100_000_000)))
    except RejectedInputError:
        return None


def take_down(
    asset_id: str,
    *,
    reason: Any,
    by: str,
    store: ProvenanceStore,
    objects: ObjectStore,
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
    asset = store.record(asset_id)
    if asset is None:
        raise ActionRefused(404, "no such asset")
    status = asset.status
    if status == "rejected":
        raise ActionRefused(409, "the asset was rejected: nothing of it was published", {"status": status})
    at = now or utc_now()
    already = status == "taken_down"
    phash = None
    if already:
        record = asset.takedown
        by = record.by if record is not None and record.by is not None else by
        text = asset.reason or text
        at_text = record.at if record is not None and record.at is not None else at.isoformat()
    else:
        at_text = at.isoformat()
        phash = fingerprint(asset, objects, originals_bucket)
        outcome = store.apply(
            ProvenanceEvent(
                event_id=f"{asset_id}:taken_down",
                asset_id=asset_id,
                kind="taken_down",
                actor=ACTOR,
                at=at,
                status="taken_down",
                reason=text,
                data={"by": by, "previous_status": status, "paths": cdn_paths(asset_id), "phash": phash},
            )
        )
        if outcome in ("out_of_order", "early"):  # rejected (or taken down) between our read and the write
            current = store.record(asset_id)
            now_status = current.status if current is not None else None
            if now_status != "taken_down":
                raise ActionRefused(409, "the asset was rejected meanwhile", {"status": now_status})
    deleted = withdraw(objects, variants_bucket, asset_id)
    objects.delete(originals_bucket, public_source_key(asset_id))
    invalidation = cdn.invalidate(cdn_paths(asset_id), caller_reference=f"takedown-{asset_id}-{utc_now().isoformat()}")
    if asset.original_key:
        objects.tag(originals_bucket, asset.original_key, {QUARANTINE_TAG: "taken_down"})
    return {
        "asset_id": asset_id,
        "status": "taken_down",
        "already_taken_down": already,
        "previous_status": status if not already else (asset.takedown.previous_status if asset.takedown else None),
        "by": by,
        "reason": text,
        "at": at_text,
        "deleted": deleted,
        "invalidation": invalidation,
        "blocklisted_phash": phash,
    }
