"""Builds each adapter once per process from the settings (the handlers' cached factories)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from .adapters.aws import client
from .adapters.cdn import Cdn
from .adapters.provenance_store import ProvenanceStore
from .adapters.quota import HourlyQuota
from .adapters.queues import Publisher
from .adapters.storage import ObjectStore
from .adapters.upload_tickets import UploadTickets
from .config import settings
from .errors import ConfigurationError
from .generation.base import ImageModel
from .generation.registry import model_for
from .moderation.policy import ModerationBackend, ModerationPolicy
from .signed_urls import KeyRing, UrlSigner

if TYPE_CHECKING:
    from .moderation.prompt_backends import PromptModeration
    from .provenance.c2pa_signing import ContentCredentials
    from .provenance.certificates import SigningChain
    from .provenance.token import TokenSigner

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
def upload_tickets() -> UploadTickets:
    settings().require("upload_tickets_table")
    return UploadTickets(client("dynamodb"), settings().upload_tickets_table)


@cache
def generation_quota() -> HourlyQuota:
    return HourlyQuota(client("dynamodb"), settings().idempotency_table, settings().generation_quota_per_hour)


@cache
def cdn() -> Cdn:
    settings().require("distribution_id")
    return Cdn(client("cloudfront"), settings().distribution_id)


@cache
def moderation_backend() -> ModerationBackend:
    from .moderation.config import blocklist_loader, build_backend

    takedowns = provenance_store().takedown_hashes if settings().provenance_table else None
    blocklist = blocklist_loader(settings().phash_blocklist_parameter, lambda: client("ssm"), takedowns)
    return build_backend(settings().moderation_backend, client=client, blocklist=blocklist)


@cache
def moderation_policy() -> Callable[[], ModerationPolicy]:
    """The current policy (thresholds + face policy), re-read from SSM every few minutes."""
    from .moderation.config import policy_loader

    return policy_loader(settings().moderation_policy_parameter, lambda: client("ssm"))


@cache
def prompt_moderation() -> PromptModeration:
    """The lexicon, then the backends PROMPT_MODERATION names (a Bedrock guardrail on deployed stacks)."""
    from .moderation.prompt_backends import build_prompt_moderation

    config = settings()
    return build_prompt_moderation(
        config.prompt_moderation,
        client=client,
        guardrail_id=config.prompt_guardrail_id,
        guardrail_version=config.prompt_guardrail_version,
    )


def image_model(model_id: str) -> ImageModel:
    return model_for(model_id, bedrock_client=lambda: client("bedrock-runtime"))


@cache
def _secrets() -> SecretsProvider:
    return SecretsProvider(boto3_client=client("secretsmanager"))


def url_signer() -> UrlSigner:
    """The signer for the key ring's current key; the secret is cached for a few minutes, not forever."""
    settings().require("signing_key_secret_arn")
    secret = _secrets().get(settings().signing_key_secret_arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    try:
        key = KeyRing.from_secret(secret if isinstance(secret, dict) else {}, default_key_id=settings().cloudfront_key_id).current()
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(f"the signing key secret holds no usable key ({error}); see docs/delivery.md") from error
    return _signer(key.key_id, key.private_key_pem)


@cache
def _signer(key_id: str, private_key_pem: str) -> UrlSigner:
    return UrlSigner(key_id, private_key_pem)


def content_credentials() -> ContentCredentials:
    """C2PA signing with the current key of the C2PA signing secret (cached a few minutes)."""
    return _content_credentials(_c2pa_chain())


def provenance_token_signer() -> TokenSigner:
    """Signs public provenance tokens with the same key and chain as the C2PA manifests."""
    from .provenance.c2pa_signing import kms_signer
    from .provenance.token import TokenSigner

    chain = _c2pa_chain()
    return TokenSigner(chain, sign_der=kms_signer(client("kms"), chain.kms_key_id) if chain.kms_key_id else None)


def _c2pa_chain() -> SigningChain:
    from .provenance.certificates import SigningChain

    settings().require("c2pa_signing_secret_arn")
    secret = _secrets().get(settings().c2pa_signing_secret_arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    try:
        return SigningChain.from_secret(secret)
    except (KeyError, TypeError, AttributeError):
        raise ConfigurationError(
            "the C2PA signing secret needs certificate_chain_pem and private_key_pem (or kms_key_id)"
        ) from None


@cache
def _content_credentials(chain: SigningChain) -> ContentCredentials:
    from .provenance.c2pa_signing import ContentCredentials  # c2pa loads a 23 MB library: only where used

    return ContentCredentials(chain, kms_client=client("kms") if chain.kms_key_id else None)


def reset() -> None:
    """Forget every cached adapter (tests and the local runtime between stacks)."""
    from . import config
    from .adapters import aws

    for factory in (object_store, publisher, provenance_store, upload_tickets, generation_quota, moderation_backend, moderation_policy, prompt_moderation, cdn, _secrets, _signer,
                    _content_credentials):
        factory.cache_clear()
    config.settings.cache_clear()
    aws.reset()
