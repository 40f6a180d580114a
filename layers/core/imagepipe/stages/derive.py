"""derivatives: an approved original becomes its published variant set and manifest."""

from __future__ import annotations

from ..adapters.queues import Publisher
from ..adapters.storage import ObjectStore
from ..errors import RejectedInputError
from ..imaging.engine import EngineSettings, derive
from ..keys import (
    IMMUTABLE_CACHE_CONTROL,
    MANIFEST_CACHE_CONTROL,
    c2pa_sidecar_key,
    manifest_key,
    provenance_token_key,
    variant_key,
)
from ..models import DIGITAL_SOURCE_TYPE, ContentCredentialsRef, DerivativesJob, Manifest, ProvenanceEvent, Variant, utc_now
from ..provenance.c2pa_signing import SIDECAR_CONTENT_TYPE, ContentCredentials, sign_variants
from ..provenance.token import TokenSigner, provenance_claims
from ..adapters.provenance_store import ProvenanceStore
from ..moderation.faces import public_source
from . import StageResult
from .takedown import is_withdrawn, withdraw
from .common import rejected_result, rejection, sha256_hex

ACTOR = "derivatives"
# What public variants derived from a face-blurred original say they underwent.
BLUR_ACTIONS = ({"action": "c2pa.filtered", "description": "faces blurred for public display"},)


def publish_variants(
    job: DerivativesJob,
    *,
    store: ObjectStore,
    publisher: Publisher,
    originals_bucket: str,
    variants_bucket: str,
    engine: EngineSettings,
    max_bytes: int,
    content_credentials: ContentCredentials,
    token_signer: TokenSigner | None = None,
    cdn_domain: str = "",
    provenance: ProvenanceStore | None = None,
) -> StageResult:
    """Write every variant under its content-hashed key, then the manifest, then record it.

    Variants are immutable and named by their hash (a retry writes new keys, see below);
    the manifest is written only after every variant exists, so a page never points at
    a missing file.

    Each variant is signed after encoding (C2PA, the original as ``parentOf``
    ingredient) and named by the hash of the signed bytes. A public variant whose
    manifest would weigh too much gets a remote manifest: a ``.c2pa`` sidecar written
    before the variant that points at it. Signatures are not deterministic, so a retry
    after a crash writes new keys; the manifest only ever lists one complete set. A
    public asset also gets its signed provenance token. An original whose own manifest
    no longer validates (altered after moderation) is refused.

    With ``provenance``, an asset taken down (or rejected) before or while this job runs
    is not published: a late job stops early, and one that raced the takedown removes
    what it wrote. Public variants of a job with ``blur_regions`` are derived from the
    original with those regions (faces) blurred.
    """
    if provenance is not None and is_withdrawn(provenance, job.asset_id):
        return StageResult(job.asset_id, "skipped", "taken_down")
    original = store.get(originals_bucket, job.original_key, max_bytes=max_bytes)
    parent_type = original.content_type
    origin = content_credentials.validate(original.data, parent_type)
    if origin.state == "Invalid":
        error = RejectedInputError("c2pa_invalid", "the original's C2PA manifest does not validate: "
                                   + "; ".join(origin.failures or (origin.detail or "",))[:500])
        publisher.record(rejection(job.asset_id, ACTOR, error, {"original_key": job.original_key}))
        return rejected_result(job.asset_id, error)
    derived = derive(public_source(original.data, job), engine)

    def sidecar_url(manifest_id: str) -> str:
        return f"https://{cdn_domain}/{c2pa_sidecar_key(job.visibility, job.asset_id, manifest_id)}"

    signed_variants = sign_variants(
        content_credentials,
        [(v.data, v.content_type, f"{job.asset_id}-{v.width}w.{v.extension}") for v in derived.variants],
        parent=original.data,
        parent_content_type=parent_type,
        visibility=job.visibility,
        remote_url_for=sidecar_url if cdn_domain else None,
        edits=BLUR_ACTIONS if job.visibility == "public" and job.blur_regions else (),
    )
    variants = []
    for encoded, signed in zip(derived.variants, signed_variants, strict=True):
        digest = sha256_hex(signed.data)
        key = variant_key(job.visibility, job.asset_id, encoded.width, digest, encoded.extension)
        credentials = ContentCredentialsRef(placement=signed.placement, manifest_bytes=signed.added_bytes)
        if signed.placement == "remote":
            sidecar = c2pa_sidecar_key(job.visibility, job.asset_id, signed.manifest_id)
            store.put(
                variants_bucket,
                sidecar,
                signed.manifest,
                content_type=SIDECAR_CONTENT_TYPE,
                cache_control=IMMUTABLE_CACHE_CONTROL[job.visibility],
                metadata={"asset-id": job.asset_id},
            )
            credentials = ContentCredentialsRef(
                placement="remote", manifest_bytes=len(signed.manifest), manifest_key=sidecar,
                manifest_url=signed.remote_url,
            )
        store.put(
            variants_bucket,
            key,
            signed.data,
            content_type=encoded.content_type,
            cache_control=IMMUTABLE_CACHE_CONTROL[job.visibility],
            metadata={"asset-id": job.asset_id, "sha256": digest},
        )
        variants.append(
            Variant(
                key=key,
                width=encoded.width,
                height=encoded.height,
                format=encoded.format,
                content_type=encoded.content_type,
                bytes=len(signed.data),
                sha256=digest,
                quality=encoded.quality,
                score=encoded.score,
                content_credentials=credentials,
            )
        )
    token_key = None
    if job.visibility == "public" and token_signer is not None:
        generation = origin.generation or {}
        token_key = provenance_token_key(job.asset_id)
        store.put(
            variants_bucket,
            token_key,
            token_signer.sign(
                provenance_claims(
                    asset_id=job.asset_id,
                    original_sha256=sha256_hex(original.data),
                    variants=[v.model_dump() for v in variants],
                    model_id=generation.get("model_id"),
                    model_version=generation.get("model_version"),
                    # generated here (our generation assertion) means trainedAlgorithmicMedia
                    digital_source_type=origin.digital_source_type or (DIGITAL_SOURCE_TYPE if generation else None),
                    created_at=generation.get("created_at"),
                    moderation_verdict="approve",  # only approved originals are derived
                )
            ),
            content_type="application/json",
            cache_control=MANIFEST_CACHE_CONTROL["public"],
        )
    manifest = Manifest(
        asset_id=job.asset_id,
        visibility=job.visibility,
        width=derived.width,
        height=derived.height,
        variants=tuple(variants),
        created_at=utc_now(),
        provenance_token_key=token_key,
    )
    key = manifest_key(job.visibility, job.asset_id)
    store.put(
        variants_bucket,
        key,
        manifest.model_dump_json(indent=2).encode(),
        content_type="application/json",
        cache_control=MANIFEST_CACHE_CONTROL[job.visibility],
    )
    if provenance is not None and is_withdrawn(provenance, job.asset_id):
        withdraw(store, variants_bucket, job.asset_id)
        return StageResult(job.asset_id, "skipped", "taken_down")
    publisher.record(
        ProvenanceEvent(
            event_id=f"{job.asset_id}:published",
            asset_id=job.asset_id,
            kind="published",
            actor=ACTOR,
            status="published",
            data={
                "manifest_key": key,
                "provenance_token_key": token_key,
                "original_c2pa_state": origin.state,
                "c2pa_sign_ms": round(sum(s.sign_ms for s in signed_variants), 1),
                "width": derived.width,
                "height": derived.height,
                "variants": [v.model_dump() for v in variants],
            },
        )
    )
    return StageResult(job.asset_id, "published")
