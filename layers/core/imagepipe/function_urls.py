"""What the Function URL handlers (sign-url, upload-url, review) share: how a refusal is answered.

Kept apart from `lambda_support` (batches, idempotency) so sign-url's cold start loads only this.
"""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.metrics import MetricUnit

from .errors import RequestRefused


def refusal_response(error: RequestRefused, *, metrics: Metrics, metric: str) -> Response:
    """The answer to a refused request (its status, a JSON message), counted as ``{metric}_{status}``."""
    metrics.add_metric(name=f"{metric}_{error.status}", unit=MetricUnit.Count, value=1)
    return Response(status_code=error.status, content_type=content_types.APPLICATION_JSON, body=error.body())
