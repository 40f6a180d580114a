"""sign-url: CloudFront signed URLs for the variants of an approved asset (Function URL, IAM auth).

The caller is the application's backend, authenticated by IAM on the Function URL; it
names the viewer it acts for in the ``X-Imagepipe-Requester`` header.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe import wiring
from imagepipe.config import settings
from imagepipe.stages.sign import SigningRefused, signed_variant_urls

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = LambdaFunctionUrlResolver()


@app.get("/assets/<asset_id>/urls")
@tracer.capture_method
def asset_urls(asset_id: str) -> dict[str, Any]:
    config = settings()
    result = signed_variant_urls(
        asset_id,
        app.current_event.headers.get("x-imagepipe-requester"),
        store=wiring.provenance_store(),
        signer=wiring.url_signer(),
        cdn_domain=config.cdn_domain,
        ttl_seconds=config.signed_url_ttl_seconds,
    )
    metrics.add_metric(name="UrlsSigned", unit=MetricUnit.Count, value=len(result["variants"]))
    return result


@app.exception_handler(SigningRefused)
def refused(error: SigningRefused) -> Response:
    metrics.add_metric(name=f"SigningRefused_{error.status}", unit=MetricUnit.Count, value=1)
    return Response(status_code=error.status, content_type=content_types.APPLICATION_JSON, body={"message": error.message})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
