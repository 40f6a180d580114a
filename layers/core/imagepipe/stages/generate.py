"""generate: a queued GenerationRequest becomes a canonical original (or a recorded refusal)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from ..adapters.queues import Publisher
from ..adapters.storage import ObjectStore
from ..errors import PromptRejectedError, RejectedInputError
from ..generation.base import GenerationSpec, ImageModel
from ..ids import derived_asset_id
from ..imaging.probe import inspect_image
from ..keys import original_key
from ..models import GenerationRequest, ProvenanceEvent
from ..moderation.text import TextPolicy
from . import StageResult
from .common import original_metadata, rejected_result, rejection, sha256_hex

ACTOR = "generate"


def generate(
    request: GenerationRequest,
    *,
    text_policy: TextPolicy,
    image_model: Callable[[str], ImageModel],
    allowed_models: Collection[str],
    store: ObjectStore,
    publisher: Publisher,
    originals_bucket: str,
    max_pixels: int,
) -> StageResult:
    """Check the prompt, call the model once, store the original, record its provenance.

    The provenance "created" fact is sent before the original is written: the write is
    what triggers moderation, so moderation's facts always follow it in the asset's
    FIFO group.
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
    try:
        verdict = text_policy.check(request.prompt, request.negative_prompt)
        if verdict.verdict == "reject":
            raise PromptRejectedError("prompt_policy", "blocked terms: " + ", ".join(verdict.matched))
        if request.model_id not in allowed_models:
            raise RejectedInputError("unknown_model", f"{request.model_id!r} is not enabled for this stack")
        spec = GenerationSpec(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            width=request.width,
            height=request.height,
            seed=request.seed,
        )
        image = image_model(request.model_id).generate(spec)
        info = inspect_image(image.png, max_pixels=max_pixels)
    except RejectedInputError as error:
        publisher.record(rejection(asset_id, ACTOR, error, facts))
        return rejected_result(asset_id, error)

    key = original_key(asset_id, info.extension)
    content_sha256 = sha256_hex(image.png)
    review_reasons = [f"prompt_review:{term}" for term in verdict.matched] if verdict.verdict == "review" else []
    publisher.record(
        ProvenanceEvent(
            event_id=f"{asset_id}:created",
            asset_id=asset_id,
            kind="created",
            actor=ACTOR,
            status="created",
            data={
                **facts,
                "model_version": image.model_version,
                "parameters": dict(image.parameters),
                "original_key": key,
                "content_sha256": content_sha256,
                "content_type": info.content_type,
                "bytes": len(image.png),
                "width": info.width,
                "height": info.height,
                "review_reasons": review_reasons,
            },
        )
    )
    store.put(
        originals_bucket,
        key,
        image.png,
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

