"""transform: on-demand variants for CloudFront's t/* behaviour (Function URL, OAC-signed requests only).

CloudFront's origin group asks the variants bucket first and calls this function only on a
miss there; the rendered variant is stored so the next miss is a plain S3 hit.
"""

from __future__ import annotations

from imagepipe import init_phase  # first of all: no garbage collection until init_phase.done() below

from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.composition import credentials, records, stores
from imagepipe.config import settings
from imagepipe.observability import powertools
from imagepipe.stages.transform import serve_transform

logger, tracer, metrics = powertools()
app = LambdaFunctionUrlResolver()
ENGINE = settings().engine_settings()  # the template's formats and targets; a bad value fails the cold start


@app.get("/public/<asset_id>/t/<name>")
@tracer.capture_method(capture_response=False, capture_error=False)
def on_demand(asset_id: str, name: str) -> Response:
    config = settings()
    answer = serve_transform(
        app.current_event.path,
        provenance=records.provenance_store(),
        objects=stores.object_store(),
        originals_bucket=config.originals_bucket,
        variants_bucket=config.variants_bucket,
        max_source_bytes=config.max_upload_bytes,
        engine=ENGINE,
        content_credentials=credentials.content_credentials(),
    )
    metrics.add_metric(name=f"Transform_{answer.outcome}", unit=MetricUnit.Count, value=1)
    logger.info("transform", extra={"path": app.current_event.path, "status": answer.status, "outcome": answer.outcome})
    return Response(status_code=answer.status, headers=answer.headers, body=answer.body)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_phase.done()  # the handler is built: the end of the init phase
