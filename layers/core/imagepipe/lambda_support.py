"""Powertools glue shared by the handlers: idempotency, S3-in-SQS parsing, record failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BasePartialBatchProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from .adapters.aws import client
from .config import settings
from .errors import RejectedInputError

IDEMPOTENCY_TTL_SECONDS = 24 * 3600


class IdempotentStep:
    """A record handler step that runs at most once per key (Powertools Idempotency on DynamoDB).

    The decorator is built on first use, not at import, so the table and client come
    from the live environment (moto in tests, the local runtime, Lambda). Each step has
    its own persistence layer: Powertools binds a layer to the first config it sees.
    """

    def __init__(self, step: Callable[[dict[str, Any]], dict[str, Any]], *, key: str) -> None:
        self._step = step
        self._key = key

    @cached_property
    def config(self) -> IdempotencyConfig:
        return IdempotencyConfig(
            event_key_jmespath=self._key,
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
        )

    @cached_property
    def _guarded(self) -> Callable[..., dict[str, Any]]:
        return idempotent_function(
            self._step,
            data_keyword_argument="payload",
            persistence_store=DynamoDBPersistenceLayer(
                table_name=settings().idempotency_table, boto3_client=client("dynamodb")
            ),
            config=self.config,
        )

    def register(self, context: LambdaContext) -> None:
        self.config.register_lambda_context(context)

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._guarded(payload=payload)


@dataclass(frozen=True)
class S3ObjectRef:
    bucket: str
    key: str
    etag: str


def s3_objects(body: str) -> list[S3ObjectRef]:
    """The objects an S3 notification (delivered through SQS) is about.

    S3's ``s3:TestEvent`` (sent when a notification is configured) names none. Powertools'
    ``S3Event`` data class reads only the fields used here (its strict parser model also
    demands userIdentity, requestParameters and more, which emulators leave out) and
    S3 sends keys ``quote_plus``-encoded, ``/`` included.
    """
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as error:
        raise RejectedInputError("malformed_message", f"body is not JSON: {error}") from error
    if isinstance(payload, dict) and payload.get("Event") == "s3:TestEvent":
        return []
    try:
        return [
            S3ObjectRef(r.s3.bucket.name, unquote_plus(r.s3.get_object.key), r.s3.get_object.etag or "")
            for r in S3Event(payload).records
            if r.event_name.startswith("ObjectCreated")
        ]
    except (KeyError, TypeError, AttributeError) as error:
        raise RejectedInputError("malformed_message", f"not an S3 event notification: {error!r}") from error


def retry_sooner(record: Any, queue_url: str, *, seconds: int) -> None:
    """Make a failing record visible again after ``seconds`` instead of the queue's visibility timeout."""
    if queue_url:
        client("sqs").change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=seconds
        )


def sqs_batch_handler(
    record_handler: Callable[[Any], Any],
    *,
    processor: BasePartialBatchProcessor,
    logger: Logger,
    tracer: Tracer,
    metrics: Metrics,
    idempotent_steps: tuple[IdempotentStep, ...] = (),
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda entry point of an SQS-triggered function: structured logs with the Lambda
    context, a trace, EMF metrics flushed once per invocation, and a partial batch response
    so that a bad record fails alone.

    Neither the event (whatever POWERTOOLS_LOGGER_LOG_EVENT says) nor the response or an error
    goes to the logs or X-Ray: messages carry prompts and requesters.
    """

    @logger.inject_lambda_context(log_event=False)
    @tracer.capture_lambda_handler(capture_response=False, capture_error=False)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        for step in idempotent_steps:
            step.register(context)
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

    return lambda_handler
