"""The one place that builds boto3 clients.

Clients are cached per process (Lambda reuses them across invocations). Endpoints come
from the standard environment (``AWS_ENDPOINT_URL``), which is how the local runtime
points everything at moto server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=3,
    read_timeout=30,
)


# Image models can take well over a minute per request.
_SERVICE_CONFIG = {
    "bedrock-runtime": _CONFIG.merge(Config(read_timeout=100, retries={"mode": "standard", "max_attempts": 2})),
    # Presigned URLs (review previews) too are SigV4: S3 refuses SigV2 in newer regions.
    "s3": _CONFIG.merge(Config(signature_version="s3v4")),
}


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_SERVICE_CONFIG.get(service, _CONFIG))


def reset() -> None:
    """Forget cached clients (tests and the local runtime switch endpoints)."""
    client.cache_clear()
