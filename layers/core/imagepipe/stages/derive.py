"""derivatives: an approved original becomes its published variant set and manifest."""

from __future__ import annotations

from ..adapters.provenance_store import ProvenanceStore
from ..adapters.queues import Publisher
from ..adapters.storage import ObjectStore, StoredObject
from ..errors import RejectedInputError
from ..imaging.engine import EngineSettings, derive
from ..keys import (
    IMMUTABLE_CACHE_CONTROL,
    MANIFEST_CACHE_CONTROL,
    c2pa_sidecar_key,
    manifest_key,
    provenance_token_key,
    public_source_key,
    variant_key,
)
from ..models import DIGITAL_SOURCE_TYPE, BlurRegion, ContentCredentialsRef, DerivativesJob, Manifest, ProvenanceEvent, Variant, utc_now
from ..moderation.faces import blurred_original
from ..moderation.policy import Region
from ..provenance.c2pa_signing import SIDECAR_CONTENT_TYPE, ContentCredentials, sign_variants
from ..provenance.token import TokenSigner, provenance_claims
from . import StageResult
from .common import rejected_result, rejection, sha256_hex
from .gate import NotPublishable, approval, still_publishable
from .takedown import withdraw

ACTOR = "derivatives"
DERIVABLE = frozenset({"approved"})
# What public variants derived from a face-blurred original say they underwent.
BLUR_ACTIONS = ({"action": "c2pa.filtered", "description": "faces blurred for public display"},)


def public_source(
    asset_id: str, original: StoredObject, blur: tuple[BlurRegion, ...], credentials: ContentCredentials
) -> tuple[bytes, str]:
    """The one source of every public pixel: the original with ``blur`` applied, or the original.

    A blurred source is a lossless PNG signed with the original as its ``parentOf``
    ingredient and the blur as an action, so an on-demand render derived from it chains
    back to the original through the blur.
    """
    if not blur:
        return original.data, original.content_type
    png = blurred_original(original.data, [Region(**region.model_dump()) for region in blur])
    signed = credentials.sign_variant(
        png, "image/png", parent=original.data, parent_content_type=original.content_type,
        title=f"{asset_id}-public-source.png", edits=BLUR_ACTIONS, resized=False,
    )
    return signed.data, "image/png"


def publish_variants(
    job: DerivativesJob,
    *,
    store: ObjectStore,
    publisher: Publisher,
    provenance: ProvenanceStore,
    originals_bucket: str,
    variants_bucket: str,
    engine: EngineSettings,
    max_bytes: int,
    content_credentials: ContentCredentials,
    token_signer: TokenSigner | None = None,
    cdn_domain: str = "",
) -> StageResult:
    """Write every variant under its content-hashed key, then the manifest, then record it.

    The job only names the asset: what may be published, with which visibility and which
    faces blurred, is what the provenance record holds (`gate.approval`); an asset the record
    shows in review or not yet decided raises `gate.NotYetApproved` (retried), a withdrawn or
    already published one is skipped. Public variants derive from the asset's public source
    (`public_source`), stored for the on-demand renders too.

    Everything is written *held* and released only after the record is read again and still
    allows publication; if a takedown came meanwhile, everything is withdrawn instead. The
    manifest is written only after every variant exists, so a page never points at a missing
    file.

    Each variant is signed after encoding (C2PA, the original as ``parentOf`` ingredient)
    and named by the hash of the signed bytes. A public variant whose manifest would weigh
    too much gets a remote manifest: a ``.c2pa`` sidecar written before the variant that
    points at it. Signatures are not deterministic, so a retry after a crash writes new
    keys; the manifest only ever lists one complete set. A public asset also gets its
    signed provenance token, stating the verdict the record holds. An original whose own
    manifest no longer validates (altered after moderation) is refused.
    """
    try:
        approved = approval(provenance.record(job.asset_id), job.asset_id, statuses=DERIVABLE)
    except NotPublishable as refused:
        return StageResult(job.asset_id, "skipped", refused.reason)
    visibility = approved.visibility
    original = store.get(originals_bucket, approved.original_key, max_bytes=max_bytes)
    parent_type = original.content_type
    origin = content_credentials.validate(original.data, parent_type)
    if origin.state == "Invalid":
        error = RejectedInputError("c2pa_invalid", "the original's C2PA manifest does not validate: "
                                   + "; ".join(origin.failures or (origin.detail or "",))[:500])
        publisher.record(rejection(job.asset_id, ACTOR, error, {"original_key": approved.original_key}))
        return rejected_result(job.asset_id, error)
    source, source_key, blurred = original.data, None, False
    if visibility == "public":
        source, source_type = public_source(job.asset_id, original, approved.blur_regions, content_credentials)
        source_key, blurred = public_source_key(job.asset_id), bool(approved.blur_regions)
        store.put(originals_bucket, source_key, source, content_type=source_type,
                  metadata={"asset-id": job.asset_id, "sha256": sha256_hex(source)})
    derived = derive(source, engine)

    def sidecar_url(manifest_id: str) -> str:
        return f"https://{cdn_domain}/{c2pa_sidecar_key(visibility, job.asset_id, manifest_id)}"

    signed_variants = sign_variants(
        content_credentials,
        [(v.data, v.content_type, f"{job.asset_id}-{v.width}w.{v.extension}") for v in derived.variants],
        parent=original.data,
        parent_content_type=parent_type,
        visibility=visibility,
        remote_url_for=sidecar_url if cdn_domain else None,
        edits=BLUR_ACTIONS if blurred else (),
    )
    variants, written = [], []
    for encoded, signed in zip(derived.variants, signed_variants, strict=True):
        digest = sha256_hex(signed.data)
        key = variant_key(visibility, job.asset_id, encoded.width, digest, encoded.extension)
        credentials = ContentCredentialsRef(placement=signed.placement, manifest_bytes=signed.added_bytes)
        if signed.placement == "remote":
            sidecar = c2pa_sidecar_key(visibility, job.asset_id, signed.manifest_id)
            store.put(
                variants_bucket,
                sidecar,
                signed.manifest,
                content_type=SIDECAR_CONTENT_TYPE,
                cache_control=IMMUTABLE_CACHE_CONTROL[visibility],
                metadata={"asset-id": job.asset_id},
                held=True,
            )
            written.append(sidecar)
            credentials = ContentCredentialsRef(
                placement="remote", manifest_bytes=len(signed.manifest), manifest_key=sidecar,
                manifest_url=signed.remote_url,
            )
        store.put(
            variants_bucket,
            key,
            signed.data,
            content_type=encoded.content_type,
            cache_control=IMMUTABLE_CACHE_CONTROL[visibility],
            metadata={"asset-id": job.asset_id, "sha256": digest},
            held=True,
        )
        written.append(key)
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
    if visibility == "public" and token_signer is not None:
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
                    moderation_verdict=approved.verdict,
                )
            ),
            content_type="application/json",
            cache_control=MANIFEST_CACHE_CONTROL["public"],
            held=True,
        )
        written.append(token_key)
    manifest = Manifest(
        asset_id=job.asset_id,
        visibility=visibility,
        width=derived.width,
        height=derived.height,
        variants=tuple(variants),
        created_at=utc_now(),
        provenance_token_key=token_key,
    )
    key = manifest_key(visibility, job.asset_id)
    store.put(
        variants_bucket,
        key,
        manifest.model_dump_json(indent=2).encode(),
        content_type="application/json",
        cache_control=MANIFEST_CACHE_CONTROL[visibility],
        held=True,
    )
    written.append(key)
    if not still_publishable(provenance, job.asset_id, statuses=DERIVABLE) or store.release(variants_bucket, written):
        withdraw(store, variants_bucket, job.asset_id)  # a takedown came meanwhile: it must win
        if source_key:
            store.delete(originals_bucket, source_key)
        return StageResult(job.asset_id, "skipped", "withdrawn_while_publishing")
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
                "public_source_key": source_key,
                "original_c2pa_state": origin.state,
                "c2pa_sign_ms": round(sum(s.sign_ms for s in signed_variants), 1),
                "width": derived.width,
                "height": derived.height,
                "variants": [v.model_dump() for v in variants],
            },
        )
    )
    return StageResult(job.asset_id, "published")
