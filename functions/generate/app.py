"""generate: GenerationRequest messages -> canonical originals.

Throttled at the event source (MaximumConcurrency in template.yaml): a spike of requests
waits in the queue instead of becoming a spike of model calls.
"""

from __future__ import annotations

from imagepipe import init_phase  # first of all: no garbage collection until init_phase.done() below

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from imagepipe.composition import credentials, generation, stores
from imagepipe.config import settings
from imagepipe.lambda_support import IdempotentStep, sqs_batch_handler
from imagepipe.models import GenerationRequest
from imagepipe.observability import powertools
from imagepipe.stages.generate import generate

logger, tracer, metrics = powertools()
processor = BatchProcessor(event_type=EventType.SQS)


def _generate(payload: dict[str, Any]) -> dict[str, Any]:
    config = settings()
    return generate(
        GenerationRequest.model_validate(payload),
        text_policy=generation.prompt_moderation(),
        image_model=generation.image_model,
        allowed_models=config.image_model_ids,
        store=stores.object_store(),
        publisher=stores.publisher(),
        originals_bucket=config.originals_bucket,
        max_pixels=config.max_pixels,
        quota=generation.generation_quota(),
        content_credentials=credentials.content_credentials(),
    ).as_dict()


generate_once = IdempotentStep(_generate, key="[requester, client_request_id]")


@tracer.capture_method(capture_response=False, capture_error=False)
def record_handler(record: SQSRecord) -> dict[str, Any]:
    request = GenerationRequest.model_validate_json(record.body)
    result = generate_once(request.model_dump())
    metrics.add_metric(name=f"Generation_{result['status']}", unit=MetricUnit.Count, value=1)
    # Not the detail: it may name the requester (quota) or the prompt's blocked terms.
    logger.info("generation request handled", extra={k: result[k] for k in ("asset_id", "status", "reason")})
    return result


lambda_handler = sqs_batch_handler(
    record_handler, processor=processor, logger=logger, tracer=tracer, metrics=metrics, idempotent_steps=(generate_once,)
)


init_phase.done()  # the handler is built: the end of the init phase
