"""Powertools' logger, tracer and metrics, as every handler builds them at import."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

TRACED_MODULES = ("botocore",)
"""What the X-Ray SDK patches: the AWS SDK, the only thing the functions call over the network.
Powertools' default (every module the SDK knows) would also import and patch sqlite3 and
http.client at each cold start, for calls the functions never make."""


def powertools() -> tuple[Logger, Tracer, Metrics]:
    """A handler's logger, tracer (``Tracing: Active``: subsegments for its AWS calls) and EMF metrics."""
    return Logger(), Tracer(patch_modules=TRACED_MODULES), Metrics()
