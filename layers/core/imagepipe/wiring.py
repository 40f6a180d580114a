"""Builds each adapter once per process from the settings (the handlers' cached factories)."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from .adapters.aws import client
from .adapters.provenance_store import ProvenanceStore
from .adapters.queues import Publisher
from .adapters.storage import ObjectStore
from .config import settings
from .errors import ConfigurationError
from .generation import ImageModel, model_for
from .moderation.policy import ModerationBackend
from .signed_urls import UrlSigner

SECRET_MAX_AGE_SECONDS = 300  # a rotated key is picked up within five minutes


@cache
def object_store() -> ObjectStore:
    return ObjectStore(client("s3"))


@cache
def publisher() -> Publisher:
    settings().require("provenance_queue_url")
    return Publisher(client("sqs"), settings().provenance_queue_url)


@cache
def provenance_store() -> ProvenanceStore:
    settings().require("provenance_table")
    return ProvenanceStore(client("dynamodb"), settings().provenance_table)


@cache
def moderation_backend() -> ModerationBackend:
    name = settings().moderation_backend
    if name == "rekognition":
        from .moderation.rekognition import RekognitionModeration

        return RekognitionModeration(client("rekognition"))
    if name == "local":
        from .moderation.local_classifier import OpenNsfwModeration

        return OpenNsfwModeration()
    raise ConfigurationError(f"MODERATION_BACKEND must be 'rekognition' or 'local', not {name!r}")


def image_model(model_id: str) -> ImageModel:
    return model_for(model_id, bedrock_client=lambda: client("bedrock-runtime"))


@cache
def _secrets() -> SecretsProvider:
    return SecretsProvider(boto3_client=client("secretsmanager"))


def url_signer() -> UrlSigner:
    """The signer for the current key; the secret is cached for a few minutes, not forever."""
    settings().require("signing_key_secret_arn")
    secret = _secrets().get(settings().signing_key_secret_arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    if not isinstance(secret, dict) or "private_key_pem" not in secret:
        raise ConfigurationError("the signing key secret holds no private_key_pem; run `imagepipe keys install`")
    return _signer(secret.get("key_id") or settings().cloudfront_key_id, secret["private_key_pem"])


@cache
def _signer(key_id: str, private_key_pem: str) -> UrlSigner:
    return UrlSigner(key_id, private_key_pem)


def reset() -> None:
    """Forget every cached adapter (tests and the local runtime between stacks)."""
    from . import config
    from .adapters import aws

    for factory in (object_store, publisher, provenance_store, moderation_backend, _secrets, _signer):
        factory.cache_clear()
    config.settings.cache_clear()
    aws.reset()
