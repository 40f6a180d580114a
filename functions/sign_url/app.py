"""sign-url: CloudFront signed URLs (or cookies) for approved assets (Function URL, IAM auth).

The caller is the application's backend, authenticated by IAM on the Function URL; it names
the viewer it acts for in ``X-Imagepipe-Requester`` and the viewer's roles in
``X-Imagepipe-Roles``. Options (query string or JSON body): ``policy=canned|wildcard``,
``ttl``, ``not_before``, ``ip``, ``cookies``.
"""

from __future__ import annotations

from imagepipe import init_phase  # first of all: no garbage collection until init_phase.done() below

from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.composition import records, signing
from imagepipe.config import settings
from imagepipe.delivery.access import Viewer
from imagepipe.function_urls import refusal_response
from imagepipe.observability import powertools
from imagepipe.stages.sign import SigningOptions, SigningRefused, signed_gallery, signed_variant_urls

logger, tracer, metrics = powertools()
app = LambdaFunctionUrlResolver()


def _viewer() -> Viewer:
    headers = app.current_event.headers
    return Viewer.from_headers(headers.get("x-imagepipe-requester"), headers.get("x-imagepipe-roles"))


def _signing() -> dict[str, Any]:
    config = settings()
    return dict(
        store=records.provenance_store(),
        signer=signing.url_signer(),
        cdn_domain=config.cdn_domain,
        ttl_seconds=config.signed_url_ttl_seconds,
    )


@app.get("/assets/<asset_id>/urls")
@tracer.capture_method(capture_response=False, capture_error=False)
def asset_urls(asset_id: str) -> dict[str, Any]:
    options = SigningOptions.parse(app.current_event.query_string_parameters)
    result = signed_variant_urls(asset_id, _viewer(), options=options, **_signing())
    metrics.add_metric(name="UrlsSigned", unit=MetricUnit.Count, value=len(result["variants"]) + 1)
    return result


@app.post("/assets/urls")
@tracer.capture_method(capture_response=False, capture_error=False)
def batch_urls() -> dict[str, Any]:
    try:
        body = app.current_event.json_body if app.current_event.body else {}
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the parser's depth
        raise SigningRefused(400, "the body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("asset_ids"), list):
        raise SigningRefused(400, 'send {"asset_ids": [...]} as JSON')
    result = signed_gallery(body["asset_ids"], _viewer(), options=SigningOptions.parse(body), **_signing())
    metrics.add_metric(name="AssetsSigned", unit=MetricUnit.Count, value=len(result["assets"]))
    return result


@app.exception_handler(SigningRefused)
def refused(error: SigningRefused) -> Response:
    return refusal_response(error, metrics=metrics, metric="SigningRefused")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_phase.done()  # the handler is built: the end of the init phase
