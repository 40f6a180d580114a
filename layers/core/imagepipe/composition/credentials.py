"""C2PA Content Credentials and provenance tokens, signed with the C2PA signing secret's current key.

Only the functions that sign (generate, derivatives, transform) import this module: c2pa
loads a 23 MB native library.
"""

from __future__ import annotations

from functools import cache

from ..adapters.aws import client
from ..config import settings
from ..errors import ConfigurationError
from ..provenance.c2pa_signing import ContentCredentials, kms_signer
from ..provenance.certificates import SigningChain
from ..provenance.token import TokenSigner
from .secrets import secret_json


def content_credentials() -> ContentCredentials:
    """C2PA signing with the current key of the C2PA signing secret (cached a few minutes)."""
    return _content_credentials(_c2pa_chain())


def provenance_token_signer() -> TokenSigner:
    """Signs public provenance tokens with the same key and chain as the C2PA manifests."""
    chain = _c2pa_chain()
    return TokenSigner(chain, sign_der=kms_signer(client("kms"), chain.kms_key_id) if chain.kms_key_id else None)


def _c2pa_chain() -> SigningChain:
    settings().require("c2pa_signing_secret_arn")
    secret = secret_json(settings().c2pa_signing_secret_arn)
    try:
        return SigningChain.from_secret(secret)
    except (KeyError, TypeError, AttributeError):
        raise ConfigurationError(
            "the C2PA signing secret needs certificate_chain_pem and private_key_pem (or kms_key_id)"
        ) from None


@cache
def _content_credentials(chain: SigningChain) -> ContentCredentials:
    return ContentCredentials(chain, kms_client=client("kms") if chain.kms_key_id else None)


def reset() -> None:
    _content_credentials.cache_clear()
