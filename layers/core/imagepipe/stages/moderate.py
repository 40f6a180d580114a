"""moderate: every new original is checked before anything can be published.

Fail closed: an image that cannot be decoded is rejected; a backend error (or a policy
or blocklist that cannot be loaded) fails the record so SQS retries it, and on the last
attempt the asset goes to human review instead of being silently approved (or silently
lost in a DLQ). An image a backend cannot look at at all (too small for Rekognition)
goes to review at once: retrying would not change it.

An approved image whose decision names faces to blur carries their regions to the
derivatives stage, which blurs them in public variants.

Backends see the image reduced to ``tiles.working_size``: 1024 px on the long side, as
before, unless it is more than 2:1 elongated; then enough pixels are kept across for each
backend to classify it tile by tile (``moderation.tiles``). The recorded decision carries
the perceptual hash of that same image (``phash``, 16 hex digits), so a takedown can put
the picture on the blocklist without decoding the original again.
"""

from __future__ import annotations

from collections.abc import Callable

from ..adapters.queues import Publisher
from ..adapters.storage import ObjectStore
from ..errors import ModerationError, RejectedInputError
from ..imaging.probe import decode
from ..keys import asset_id_from_original_key
from ..models import BlurRegion, DerivativesJob, ProvenanceEvent, ReviewTask
from ..moderation.phash import phash, to_hex
from ..moderation.policy import DEFAULT_POLICY, ModerationBackend, ModerationPolicy, UnsupportedImageError
from ..moderation.tiles import working_size
from . import StageResult
from .common import rejected_result, rejection

ACTOR = "moderate"

STATUS_BY_VERDICT = {"approve": "approved", "review": "review", "reject": "rejected"}


def moderate(
    bucket: str,
    key: str,
    *,
    store: ObjectStore,
    backend: ModerationBackend,
    policy: ModerationPolicy | Callable[[], ModerationPolicy],
    publisher: Publisher,
    derivatives_queue_url: str,
    review_queue_url: str,
    max_bytes: int,
    max_pixels: int,
    last_attempt: bool = False,
) -> StageResult:
    asset_id = asset_id_from_original_key(key)
    try:
        original = store.get(bucket, key, max_bytes=max_bytes)
        image = decode(original.data, max_pixels=max_pixels)
    except RejectedInputError as error:
        publisher.record(rejection(asset_id, ACTOR, error, {"original_key": key}))
        return rejected_result(asset_id, error)
    visibility = "public" if original.metadata.get("visibility") == "public" else "private"
    extra_reasons = tuple(r for r in original.metadata.get("review-reasons", "").split(",") if r)

    # Classifiers look at far fewer pixels than an original has; decoding stays bounded by max_pixels.
    image.thumbnail(working_size(image.width, image.height))
    fingerprint = to_hex(phash(image))
    current = DEFAULT_POLICY  # only decides if loading the configured one fails: then it is review anyway
    try:
        current = policy() if callable(policy) else policy
        labels = backend.classify(image)
    except ModerationError as error:
        if not (last_attempt or isinstance(error, UnsupportedImageError)):
            raise
        extra_reasons += (f"moderation_unavailable:{error}",)
        labels = []
    decision = current.decide(
        labels, backend=backend.name, model_version=backend.model_version, extra_reasons=extra_reasons
    )
    status = STATUS_BY_VERDICT[decision.verdict]
    publisher.record(
        ProvenanceEvent(
            event_id=f"{asset_id}:moderated",
            asset_id=asset_id,
            kind="moderated",
            actor=ACTOR,
            status=status,
            reason=(decision.reasons[0] if decision.reasons else None),
            data={**decision.to_record(), "phash": fingerprint},
        )
    )
    if decision.verdict == "approve":
        blur = tuple(BlurRegion(**region.to_record()) for region in decision.blur_regions)
        publisher.send(
            derivatives_queue_url,
            DerivativesJob(asset_id=asset_id, original_key=key, visibility=visibility, blur_regions=blur),
        )
    elif decision.verdict == "review":
        publisher.send(
            review_queue_url,
            ReviewTask(asset_id=asset_id, original_key=key, visibility=visibility, reasons=decision.reasons),
        )
    return StageResult(asset_id, status, decision.reasons[0] if decision.reasons else None)
