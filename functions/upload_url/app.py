"""upload-url: a presigned POST for one upload, and the ticket the uploads function trusts (Function URL, IAM auth).

    POST /uploads   {"content_type", "visibility"?, "max_bytes"?, "expires_in"?, "model_id"?, "licence"?}
                    -> 201 {"upload_id", "key", "url", "fields", "content_type", "max_bytes", "visibility", "expires_at"}

The caller is the application's backend, authenticated by IAM on the Function URL; it names
the uploader it acts for in ``X-Imagepipe-Requester`` (as for sign-url).
"""

from __future__ import annotations

from imagepipe import init_phase  # first of all: no garbage collection until init_phase.done() below

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.composition import stores
from imagepipe.config import settings
from imagepipe.function_urls import refusal_response
from imagepipe.observability import powertools
from imagepipe.stages.upload_url import UploadRefused, UploadRequest, issue_upload

logger, tracer, metrics = powertools()
app = LambdaFunctionUrlResolver()


def _caller() -> str | None:
    iam = (app.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}).get("iam") or {}
    return iam.get("userArn") or iam.get("callerId")


@app.post("/uploads")
@tracer.capture_method(capture_response=False, capture_error=False)
def new_upload() -> Response:
    config = settings()
    grant = issue_upload(
        app.current_event.headers.get("x-imagepipe-requester"),
        UploadRequest.parse(app.current_event.body),
        issued_by=_caller(),
        tickets=stores.upload_tickets(),
        store=stores.object_store(),
        bucket=config.originals_bucket,
        max_bytes=config.max_upload_bytes,
        ttl_seconds=config.upload_url_ttl_seconds,
        now=datetime.now(UTC),
    )
    logger.info("upload ticket issued", extra={"upload_id": grant["upload_id"], "issued_by": _caller()})
    metrics.add_metric(name="UploadTicketsIssued", unit=MetricUnit.Count, value=1)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=grant)


@app.exception_handler(UploadRefused)
def refused(error: UploadRefused) -> Response:
    return refusal_response(error, metrics=metrics, metric="UploadRefused")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_phase.done()  # the handler is built: the end of the init phase
