"""derivatives: approved originals -> AVIF/WebP/JPEG (PNG if configured) at responsive widths + manifest."""

from __future__ import annotations

from imagepipe import init_phase  # first of all: no garbage collection until init_phase.done() below

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from imagepipe.composition import credentials, records, stores
from imagepipe.config import settings
from imagepipe.lambda_support import IdempotentStep, retry_sooner, sqs_batch_handler
from imagepipe.models import DerivativesJob
from imagepipe.observability import powertools
from imagepipe.stages.derive import publish_variants
from imagepipe.stages.gate import NotYetApproved

logger, tracer, metrics = powertools()
processor = BatchProcessor(event_type=EventType.SQS)
ENGINE = settings().engine_settings()  # the template's ladder; a bad value fails the cold start
PENDING_RETRY_SECONDS = 10


def _derive(payload: dict[str, Any]) -> dict[str, Any]:
    config = settings()
    return publish_variants(
        DerivativesJob.model_validate(payload),
        store=stores.object_store(),
        publisher=stores.publisher(),
        originals_bucket=config.originals_bucket,
        variants_bucket=config.variants_bucket,
        engine=ENGINE,
        max_bytes=config.max_upload_bytes,
        content_credentials=credentials.content_credentials(),
        token_signer=credentials.provenance_token_signer(),
        cdn_domain=config.cdn_domain,
        provenance=records.provenance_store(),
    ).as_dict()


derive_once = IdempotentStep(_derive, key="asset_id")


@tracer.capture_method(capture_response=False, capture_error=False)
def record_handler(record: SQSRecord) -> dict[str, Any]:
    job = DerivativesJob.model_validate_json(record.body)
    started = time.perf_counter()
    try:
        result = derive_once(job.model_dump())
    except NotYetApproved:
        # The decision's fact is usually a moment behind its job: retry in seconds, not after
        # the queue's visibility timeout. A forged job for an undecided asset ends in the DLQ.
        retry_sooner(record, settings().derivatives_queue_url, seconds=PENDING_RETRY_SECONDS)
        raise
    metrics.add_metric(name="TransformLatency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000)
    logger.info("variants published", extra=result)
    return result


lambda_handler = sqs_batch_handler(
    record_handler, processor=processor, logger=logger, tracer=tracer, metrics=metrics, idempotent_steps=(derive_once,)
)


init_phase.done()  # the handler is built: the end of the init phase
