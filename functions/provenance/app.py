"""provenance: the single writer of the provenance table (FIFO queue, one group per asset).

Idempotency here is the table's own: every fact is written with a condition on its event
id, atomically with the state change, which is cheaper and stronger than a second
idempotency record per message.
"""

from __future__ import annotations

from imagepipe import init_phase  # first of all: no garbage collection until init_phase.done() below

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from imagepipe.composition import records
from imagepipe.lambda_support import sqs_batch_handler
from imagepipe.models import ProvenanceEvent
from imagepipe.observability import powertools
from imagepipe.stages.record import record as record_fact

logger, tracer, metrics = powertools()
# A failed record fails the rest of its message group (one asset), so per-asset order holds,
# and nothing else: other assets' facts in the batch apply (they used to fail with it and
# count towards maxReceiveCount, so one bad fact sent valid facts of other assets to the DLQ).
processor = SqsFifoPartialProcessor(skip_group_on_error=True)


@tracer.capture_method(capture_response=False, capture_error=False)
def record_handler(record: SQSRecord) -> str:
    event = ProvenanceEvent.model_validate_json(record.body)
    outcome = record_fact(event, store=records.provenance_store())
    metrics.add_metric(name=f"Provenance_{outcome}", unit=MetricUnit.Count, value=1)
    if event.kind == "moderated":
        metrics.add_metric(name=f"ModerationVerdict_{event.status}", unit=MetricUnit.Count, value=1)
    logger.info("provenance fact", extra={"asset_id": event.asset_id, "kind": event.kind, "outcome": outcome})
    return outcome


lambda_handler = sqs_batch_handler(record_handler, processor=processor, logger=logger, tracer=tracer, metrics=metrics)


init_phase.done()  # the handler is built: the end of the init phase
