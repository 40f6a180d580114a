"""The one place that builds boto3 clients.

Clients are cached per process (Lambda reuses them across invocations). Endpoints come
from the standard environment (``AWS_ENDPOINT_URL``), which is how the local runtime
points everything at moto server.
"""

from __future__ import annotations

import threading
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


# One session for every client: a session per client loads botocore's endpoint and partition
# data again for each, about 60 ms per further client in a function's first request (a second
# client from the same session: about 5 ms). A session is not thread-safe (its clients are),
# so clients are made one at a time.
_LOCK = threading.Lock()


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    with _LOCK:
        return _session().client(service, config=_SERVICE_CONFIG.get(service, _CONFIG))


def reset() -> None:
    """Forget cached clients and their session (tests and the local runtime switch endpoints and credentials)."""
    client.cache_clear()
    _session.cache_clear()
