"""review: the staff API (Function URL, IAM auth) for human review and takedowns.

    GET  /reviews?limit=&cursor=          assets waiting for a decision, with preview URLs
    POST /reviews/{asset_id}/approve      {"note"?}            -> derivatives
    POST /reviews/{asset_id}/reject       {"reason", "note"?}  -> quarantined
    POST /assets/{asset_id}/takedown      {"reason"}           -> withdrawn + invalidated

The staff member is the IAM principal that signed the request, never a name in the body, and
only sessions of the template's reviewer roles (``ReviewerRoleArns``) are staff: anyone else
the Function URL's AWS_IAM lets through gets 403 on every route, before anything is read.
A decision is claimed in the idempotency table (key: asset id): the same reviewer repeating
it gets the same answer, anyone deciding otherwise meanwhile gets 409.
"""

from __future__ import annotations

from imagepipe import init_phase  # first of all: no garbage collection until init_phase.done() below

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.adapters.aws import client
from imagepipe.composition import records, stores
from imagepipe.config import settings
from imagepipe.function_urls import refusal_response
from imagepipe.observability import powertools
from imagepipe.staff import ReviewerRoles
from imagepipe.stages import review, takedown

logger, tracer, metrics = powertools()
app = LambdaFunctionUrlResolver()
DECISION_CLAIM = IdempotencyConfig(
    event_key_jmespath="asset_id",
    payload_validation_jmespath="[decision, reviewer]",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=24 * 3600,
)


REVIEWERS = ReviewerRoles.parse(settings().reviewer_role_arns)  # a malformed ARN fails the cold start


def staff_member() -> str:
    """The IAM principal that signed the request, when it is a session of a reviewer role."""
    iam = (app.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}).get("iam") or {}
    principal = iam.get("userArn")
    if not principal:
        raise takedown.ActionRefused(403, "no IAM identity on the request")
    if not REVIEWERS.admits(principal):
        logger.warning("not a reviewer role", extra={"principal": principal})
        raise takedown.ActionRefused(403, "this IAM principal is not in a reviewer role")
    return principal


def staff_only(resolver: LambdaFunctionUrlResolver, next_middleware: NextMiddleware) -> Response:
    """Every route: refuse anyone but staff before reading, claiming or changing anything."""
    staff_member()
    return next_middleware(resolver)


app.use(middlewares=[staff_only])


def _decide(payload: dict[str, Any]) -> dict[str, Any]:
    config = settings()
    return review.decide(
        payload["asset_id"],
        payload["decision"],
        reviewer=payload["reviewer"],
        reason=payload.get("reason"),
        note=payload.get("note"),
        store=records.provenance_store(),
        objects=stores.object_store(),
        publisher=stores.publisher(),
        derivatives_queue_url=config.derivatives_queue_url,
        originals_bucket=config.originals_bucket,
    )


@cache
def decide_once() -> Any:
    persistence = DynamoDBPersistenceLayer(table_name=settings().idempotency_table, boto3_client=client("dynamodb"))
    return idempotent_function(_decide, data_keyword_argument="payload", persistence_store=persistence, config=DECISION_CLAIM)


def _decision(asset_id: str, decision: review.Decision) -> Response:
    body = app.current_event.json_body if app.current_event.body else {}
    if not isinstance(body, dict):
        raise takedown.ActionRefused(400, "the body must be a JSON object")
    review.awaiting_decision(records.provenance_store(), asset_id)  # a clear 4xx before claiming anything
    payload = {"asset_id": asset_id, "decision": decision, "reviewer": staff_member(),
               "reason": body.get("reason"), "note": body.get("note")}
    try:
        result = decide_once()(payload=payload)
    except (IdempotencyValidationError, IdempotencyAlreadyInProgressError):
        raise takedown.ActionRefused(409, "another decision on this asset was taken or is being taken") from None
    metrics.add_metric(name=f"Review_{decision}", unit=MetricUnit.Count, value=1)
    logger.info("review decision", extra={k: result[k] for k in ("asset_id", "decision", "reviewer", "next")})
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=result)


@app.get("/reviews")
@tracer.capture_method(capture_response=False, capture_error=False)
def list_pending() -> dict[str, Any]:
    query = app.current_event.query_string_parameters or {}
    try:
        limit = int(query.get("limit", "50"))
    except ValueError:
        raise takedown.ActionRefused(400, "limit must be a number") from None
    return review.pending(
        store=records.provenance_store(),
        objects=stores.object_store(),
        originals_bucket=settings().originals_bucket,
        preview_ttl_seconds=settings().review_preview_ttl_seconds,
        limit=limit,
        cursor=query.get("cursor"),
    )


@app.post("/reviews/<asset_id>/approve")
@tracer.capture_method(capture_response=False, capture_error=False)
def approve(asset_id: str) -> Response:
    return _decision(asset_id, "approved")


@app.post("/reviews/<asset_id>/reject")
@tracer.capture_method(capture_response=False, capture_error=False)
def reject(asset_id: str) -> Response:
    return _decision(asset_id, "rejected")


@app.post("/assets/<asset_id>/takedown")
@tracer.capture_method(capture_response=False, capture_error=False)
def take_down(asset_id: str) -> dict[str, Any]:
    body = app.current_event.json_body if app.current_event.body else {}
    config = settings()
    result = takedown.take_down(
        asset_id,
        reason=body.get("reason") if isinstance(body, dict) else None,
        by=staff_member(),
        store=records.provenance_store(),
        objects=stores.object_store(),
        cdn=stores.cdn(),
        variants_bucket=config.variants_bucket,
        originals_bucket=config.originals_bucket,
    )
    metrics.add_metric(name="Takedown", unit=MetricUnit.Count, value=1)
    # The reason is free text (kept in the provenance record): it may quote anyone.
    logger.info("takedown", extra={k: v for k, v in result.items() if k not in {"deleted", "reason"}}
                | {"deleted": len(result["deleted"])})
    return result


@app.exception_handler(json.JSONDecodeError)
def malformed(_: json.JSONDecodeError) -> Response:
    return Response(status_code=400, content_type=content_types.APPLICATION_JSON, body={"message": "the body is not JSON"})


@app.exception_handler(takedown.ActionRefused)
def refused(error: takedown.ActionRefused) -> Response:
    return refusal_response(error, metrics=metrics, metric="StaffActionRefused")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    DECISION_CLAIM.register_lambda_context(context)
    return app.resolve(event, context)


init_phase.done()  # the handler is built: the end of the init phase
