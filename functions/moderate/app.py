"""moderate: every new original (S3 -> SQS) is approved, sent to review or rejected. Fails closed."""

from __future__ import annotations

from imagepipe import init_phase  # first of all: no garbage collection until init_phase.done() below

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from imagepipe.composition import moderation, stores
from imagepipe.config import settings
from imagepipe.lambda_support import IdempotentStep, s3_objects, sqs_batch_handler
from imagepipe.observability import powertools
from imagepipe.stages.moderate import moderate

logger, tracer, metrics = powertools()
processor = BatchProcessor(event_type=EventType.SQS)


def _moderate(payload: dict[str, Any]) -> dict[str, Any]:
    config = settings()
    return moderate(
        payload["bucket"],
        payload["key"],
        store=stores.object_store(),
        backend=moderation.moderation_backend(),
        policy=moderation.moderation_policy(),
        publisher=stores.publisher(),
        derivatives_queue_url=config.derivatives_queue_url,
        review_queue_url=config.review_queue_url,
        max_bytes=config.max_upload_bytes,
        max_pixels=config.max_pixels,
        last_attempt=payload["last_attempt"],
    ).as_dict()


moderate_once = IdempotentStep(_moderate, key="key")


@tracer.capture_method(capture_response=False, capture_error=False)
def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    last_attempt = int(record.attributes.approximate_receive_count) >= settings().max_receive_count
    results = []
    for ref in s3_objects(record.body):
        result = moderate_once({"bucket": ref.bucket, "key": ref.key, "last_attempt": last_attempt})
        metrics.add_metric(name=f"Moderation_{result['status']}", unit=MetricUnit.Count, value=1)
        logger.info("original moderated", extra=result)
        results.append(result)
    return results


lambda_handler = sqs_batch_handler(
    record_handler, processor=processor, logger=logger, tracer=tracer, metrics=metrics, idempotent_steps=(moderate_once,)
)


init_phase.done()  # the handler is built: the end of the init phase
