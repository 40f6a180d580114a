"""derivatives: an approved original becomes its published variant set and manifest."""

from __future__ import annotations

from ..adapters.queues import Publisher
from ..adapters.storage import ObjectStore
from ..imaging.engine import EngineSettings, derive
from ..keys import IMMUTABLE_CACHE_CONTROL, MANIFEST_CACHE_CONTROL, manifest_key, variant_key
from ..models import DerivativesJob, Manifest, ProvenanceEvent, Variant, utc_now
from . import StageResult

ACTOR = "derivatives"


def publish_variants(
    job: DerivativesJob,
    *,
    store: ObjectStore,
    publisher: Publisher,
    originals_bucket: str,
    variants_bucket: str,
    engine: EngineSettings,
    max_bytes: int,
) -> StageResult:
    """Write every variant under its content-hashed key, then the manifest, then record it.

    Variants are immutable and named by their hash, so a retry rewrites identical bytes
    under identical keys; the manifest is written only after every variant exists, so a
    page never points at a missing file.
    """
    original = store.get(originals_bucket, job.original_key, max_bytes=max_bytes)
    derived = derive(original.data, engine)
    variants = []
    for encoded in derived.variants:
        key = variant_key(job.visibility, job.asset_id, encoded.width, encoded.sha256, encoded.extension)
        store.put(
            variants_bucket,
            key,
            encoded.data,
            content_type=encoded.content_type,
            cache_control=IMMUTABLE_CACHE_CONTROL[job.visibility],
            metadata={"asset-id": job.asset_id, "sha256": encoded.sha256},
        )
        variants.append(
            Variant(
                key=key,
                width=encoded.width,
                height=encoded.height,
                format=encoded.format,
                content_type=encoded.content_type,
                bytes=len(encoded.data),
                sha256=encoded.sha256,
                quality=encoded.quality,
            )
        )
    manifest = Manifest(
        asset_id=job.asset_id,
        visibility=job.visibility,
        width=derived.width,
        height=derived.height,
        variants=tuple(variants),
        created_at=utc_now(),
    )
    key = manifest_key(job.visibility, job.asset_id)
    store.put(
        variants_bucket,
        key,
        manifest.model_dump_json(indent=2).encode(),
        content_type="application/json",
        cache_control=MANIFEST_CACHE_CONTROL[job.visibility],
    )
    publisher.record(
        ProvenanceEvent(
            event_id=f"{job.asset_id}:published",
            asset_id=job.asset_id,
            kind="published",
            actor=ACTOR,
            status="published",
            data={
                "manifest_key": key,
                "width": derived.width,
                "height": derived.height,
                "variants": [v.model_dump() for v in variants],
            },
        )
    )
    return StageResult(job.asset_id, "published")
