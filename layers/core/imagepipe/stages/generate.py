"""generate: a queued GenerationRequest becomes a canonical original (or a recorded refusal)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from ..adapters.queues import Publisher
from ..adapters.quota import HourlyQuota
from ..adapters.storage import ObjectStore
from ..errors import PromptRejectedError, RejectedInputError
from ..generation.base import GenerationSpec, ImageModel
from ..ids import derived_asset_id
from ..imaging.probe import inspect_image
from ..keys import original_key
from ..models import DIGITAL_SOURCE_TYPE, GenerationRequest, ProvenanceEvent, utc_now
from ..moderation.prompt_backends import PromptModeration
from ..provenance.c2pa_signing import ContentCredentials, GenerationClaim
from ..provenance.models_registry import ModelRegistry, default_registry
from . import StageResult
from .common import original_metadata, rejected_result, rejection, sha256_hex

ACTOR = "generate"
MAX_PROMPT_REVIEW_REASONS = 8  # S3 user metadata holds 2 KB: the rest is counted, not listed
MODEL_OUTPUT_EXTENSION = "png"  # every image model adapter returns PNG


def generate(
    request: GenerationRequest,
    *,
    text_policy: PromptModeration,
    image_model: Callable[[str], ImageModel],
    allowed_models: Collection[str],
    store: ObjectStore,
    publisher: Publisher,
    originals_bucket: str,
    max_pixels: int,
    quota: HourlyQuota | None = None,
    content_credentials: ContentCredentials,
    registry: ModelRegistry | None = None,
) -> StageResult:
    """Check the prompt, call the model once, store the original, record its provenance.

    The provenance "created" fact is sent before the original is written: the write is
    what triggers moderation, so moderation's facts always follow it in the asset's
    FIFO group. Hence an existing original means its fact was sent, and a retry stops
    there. A retry after a crash between the two re-signs (new bytes, new hash): its
    fact carries the new hash, and the store lets "created" follow "created".

    The stored original carries a C2PA manifest (``c2pa.created``, the model as software
    agent, the prompt's hash), so ``content_sha256`` is the hash of the signed bytes. The
    model's licence and usage restrictions come from the model registry; a model it does
    not list is refused.

    The prompt is checked by ``text_policy`` (the lexicon, then a meaning-reading backend
    where the stack configures one); a failure of that check propagates, so the record is
    retried and never generated unchecked.
    """
    asset_id = derived_asset_id(ACTOR, request.requester, request.client_request_id)
    facts = {
        "source": "generated",
        "requester": request.requester,
        "visibility": request.visibility,
        "client_request_id": request.client_request_id,
        "model_id": request.model_id,
        "prompt": request.prompt,
        "prompt_sha256": sha256_hex(request.prompt.encode()),
        "negative_prompt": request.negative_prompt,
        "seed": request.seed,
        "requested_size": [request.width, request.height],
    }
    key = original_key(asset_id, MODEL_OUTPUT_EXTENSION)
    try:
        verdict = text_policy.check(request.prompt, request.negative_prompt)
        if verdict.verdict == "reject":
            raise PromptRejectedError("prompt_policy", "blocked terms: " + ", ".join(verdict.matched))
        if store.head_metadata(originals_bucket, key) is not None:
            return StageResult(asset_id, "created", "already_stored")
        if request.model_id not in allowed_models:
            raise RejectedInputError("unknown_model", f"{request.model_id!r} is not enabled for this stack")
        licence = (registry or default_registry()).entry(request.model_id).provenance_facts()
        if quota is not None and not quota.take(request.requester, utc_now()):
            raise RejectedInputError("quota_exceeded", f"{request.requester} used all {quota.per_hour} generations this hour")
        spec = GenerationSpec(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            width=request.width,
            height=request.height,
            seed=request.seed,
        )
        image = image_model(request.model_id).generate(spec)
        info = inspect_image(image.png, max_pixels=max_pixels)
        if info.extension != MODEL_OUTPUT_EXTENSION:
            raise RejectedInputError("model_error", f"the model returned {info.format}, not PNG")
    except RejectedInputError as error:
        publisher.record(rejection(asset_id, ACTOR, error, facts))
        return rejected_result(asset_id, error)

    created_at = utc_now()
    signed = content_credentials.sign_original(
        image.png,
        info.content_type,
        GenerationClaim(
            asset_id=asset_id,
            model_id=image.model_id,
            model_version=image.model_version,
            prompt_sha256=str(facts["prompt_sha256"]),
            created_at=created_at.isoformat(),
        ),
    )
    content_sha256 = sha256_hex(signed.data)
    review_reasons = _prompt_review_reasons(verdict.matched) if verdict.verdict == "review" else []
    publisher.record(
        ProvenanceEvent(
            event_id=f"{asset_id}:created:{content_sha256}",
            asset_id=asset_id,
            kind="created",
            actor=ACTOR,
            status="created",
            at=created_at,
            data={
                **facts,
                **licence,
                "digital_source_type": DIGITAL_SOURCE_TYPE,
                "content_credentials": {
                    "placement": signed.placement,
                    "manifest_id": signed.manifest_id,
                    "manifest_bytes": signed.added_bytes,
                    "sign_ms": signed.sign_ms,
                },
                "model_version": image.model_version,
                "parameters": dict(image.parameters),
                "original_key": key,
                "content_sha256": content_sha256,
                "content_type": info.content_type,
                "bytes": len(signed.data),
                "width": info.width,
                "height": info.height,
                "review_reasons": review_reasons,
            },
        )
    )
    store.put(
        originals_bucket,
        key,
        signed.data,
        content_type=info.content_type,
        metadata=original_metadata(
            asset_id=asset_id,
            requester=request.requester,
            visibility=request.visibility,
            source="generated",
            content_sha256=content_sha256,
            review_reasons=review_reasons,
        ),
        create_only=True,
    )
    return StageResult(asset_id, "created")


def _prompt_review_reasons(matched: tuple[str, ...]) -> list[str]:
    """The review reasons of a prompt verdict, the first few named and the rest counted."""
    reasons = [f"prompt_review:{term}" for term in matched[:MAX_PROMPT_REVIEW_REASONS]]
    if len(matched) > MAX_PROMPT_REVIEW_REASONS:
        reasons.append(f"prompt_review:+{len(matched) - MAX_PROMPT_REVIEW_REASONS} more")
    return reasons
