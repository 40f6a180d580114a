"""sign-url's CloudFront signer, for the key ring's current key."""

from __future__ import annotations

from functools import cache

from ..config import settings
from ..errors import ConfigurationError
from ..signed_urls import KeyRing, UrlSigner
from .secrets import secret_json


def url_signer() -> UrlSigner:
    """The signer for the key ring's current key; the secret is cached for a few minutes, not forever."""
    settings().require("signing_key_secret_arn")
    secret = secret_json(settings().signing_key_secret_arn)
    try:
        key = KeyRing.from_secret(secret if isinstance(secret, dict) else {}, default_key_id=settings().cloudfront_key_id).current()
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(f"the signing key secret holds no usable key ({error}); see docs/delivery.md") from error
    return _signer(key.key_id, key.private_key_pem)


@cache
def _signer(key_id: str, private_key_pem: str) -> UrlSigner:
    return UrlSigner(key_id, private_key_pem)


def reset() -> None:
    _signer.cache_clear()
