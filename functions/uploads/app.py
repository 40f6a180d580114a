"""uploads: objects under uploads/ (S3 -> SQS) that their upload ticket admits become canonical originals;
anything else is a recorded rejection (stages/ingest.py lists the reasons)."""

from __future__ import annotations

from imagepipe import init_phase  # first of all: no garbage collection until init_phase.done() below

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from imagepipe.composition import stores
from imagepipe.config import settings
from imagepipe.lambda_support import IdempotentStep, s3_objects, sqs_batch_handler
from imagepipe.observability import powertools
from imagepipe.stages.ingest import ingest_upload

logger, tracer, metrics = powertools()
processor = BatchProcessor(event_type=EventType.SQS)


def _ingest(payload: dict[str, Any]) -> dict[str, Any]:
    config = settings()
    return ingest_upload(
        payload["bucket"],
        payload["key"],
        payload["etag"],
        store=stores.object_store(),
        tickets=stores.upload_tickets(),
        publisher=stores.publisher(),
        max_bytes=config.max_upload_bytes,
        max_pixels=config.max_pixels,
        now=datetime.now(UTC),
    ).as_dict()


ingest_once = IdempotentStep(_ingest, key="[bucket, key, etag]")


@tracer.capture_method(capture_response=False, capture_error=False)
def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    results = []
    for ref in s3_objects(record.body):
        result = ingest_once({"bucket": ref.bucket, "key": ref.key, "etag": ref.etag})
        metrics.add_metric(name=f"Upload_{result['status']}", unit=MetricUnit.Count, value=1)
        logger.info("upload handled", extra={**result, "key": ref.key})
        results.append(result)
    return results


lambda_handler = sqs_batch_handler(
    record_handler, processor=processor, logger=logger, tracer=tracer, metrics=metrics, idempotent_steps=(ingest_once,)
)


init_phase.done()  # the handler is built: the end of the init phase
