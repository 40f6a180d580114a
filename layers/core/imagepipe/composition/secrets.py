"""Secrets Manager values, cached for a few minutes (a rotated key is picked up within five)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from ..adapters.aws import client

SECRET_MAX_AGE_SECONDS = 300


@cache
def _provider() -> SecretsProvider:
    return SecretsProvider(boto3_client=client("secretsmanager"))


def secret_json(secret_id: str) -> Any:
    """The secret's JSON value, re-read once it is older than ``SECRET_MAX_AGE_SECONDS``."""
    return _provider().get(secret_id, transform="json", max_age=SECRET_MAX_AGE_SECONDS)


def reset() -> None:
    _provider.cache_clear()
