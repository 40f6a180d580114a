"""The public provenance token: a signed, privacy-safe summary published beside public variants.

Format: a JWS in the flattened JSON serialization (RFC 7515 section 7.2.2), served as
``public/{asset_id}/provenance.json``::

    {"protected": b64url(header), "payload": b64url(claims), "signature": b64url(sig)}

It is signed ES256 with the C2PA signing key, and the header carries that key's
certificate chain (``x5c``), so one trust anchor (the C2PA root) checks both the
files' Content Credentials and this token, and rotating the key needs no second
publication channel. (The CloudFront RSA key is not used: it is a URL-signing key whose
public half is not published as a trust anchor, and one key should serve one purpose.)

The claims are built from an allowlist (`provenance_claims`): asset id, content hashes,
model id and version, digital source type, creation time and moderation verdict. Never
the prompt, the negative prompt, the seed or the requester.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from ..errors import ImagepipeError
from .certificates import SigningChain

TOKEN_TYPE = "imagepipe-provenance+jws"
ISSUER = "imagepipe"
_COORDINATE = 32  # P-256


class TokenError(ImagepipeError):
    """A provenance token that does not verify."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def provenance_claims(
    *,
    asset_id: str,
    original_sha256: str,
    variants: Iterable[Mapping[str, Any]],
    model_id: str | None,
    model_version: str | None,
    digital_source_type: str | None,
    created_at: str | None,
    moderation_verdict: str,
    issued_at: datetime | None = None,
) -> dict[str, Any]:
    """The token's claims: only what may be public, each named here on purpose."""
    return {
        "iss": ISSUER,
        "sub": asset_id,
        "iat": int((issued_at or datetime.now(UTC)).timestamp()),
        "asset_id": asset_id,
        "original_sha256": original_sha256,
        "variants": [
            {"sha256": v["sha256"], "width": v["width"], "height": v["height"], "format": v["format"]}
            for v in variants
        ],
        "model_id": model_id,
        "model_version": model_version,
        "digital_source_type": digital_source_type,
        "created_at": created_at,
        "moderation_verdict": moderation_verdict,
    }


class TokenSigner:
    """Signs provenance tokens with the C2PA signing key (ES256, chain in ``x5c``).

    ``sign_der`` signs with a key held elsewhere (`c2pa_signing.kms_signer`): it returns
    the DER ECDSA signature of its input.
    """

    def __init__(self, chain: SigningChain, *, sign_der: Callable[[bytes], bytes] | None = None) -> None:
        if sign_der is None:
            key = serialization.load_pem_private_key(chain.private_key_pem.encode(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                raise ValueError("provenance tokens are signed ES256: the C2PA key must be ECDSA P-256")
            sign_der = partial(_sign_with, key)
        self._sign_der = sign_der
        self._x5c = [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain.certificates()
        ]

    def sign(self, claims: Mapping[str, Any]) -> bytes:
        """The token as a JSON document (UTF-8)."""
        protected = _b64url(json.dumps({"alg": "ES256", "typ": TOKEN_TYPE, "x5c": self._x5c}).encode())
        payload = _b64url(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode())
        r, s = decode_dss_signature(self._sign_der(f"{protected}.{payload}".encode()))
        signature = r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")
        return json.dumps({"protected": protected, "payload": payload, "signature": _b64url(signature)}, indent=2).encode()


def _sign_with(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def verify_token(document: bytes | str, trust_anchor_pem: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Check a token's signature and certificate chain; return its claims.

    Parameters
    ----------
    document : bytes or str
        The ``provenance.json`` content.
    trust_anchor_pem : str
        Root certificate(s) the token's chain must lead to.
    now : datetime, optional
        When to check certificate validity (default: now).

    Raises
    ------
    TokenError
        Malformed, wrongly signed, or signed by a certificate that does not chain to an anchor.
    """
    try:
        token = json.loads(document)
        header = json.loads(_b64url_decode(token["protected"]))
        signing_input = f"{token['protected']}.{token['payload']}".encode()
        signature = _b64url_decode(token["signature"])
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]
    except (ValueError, KeyError, TypeError) as error:
        raise TokenError(f"malformed token: {error}") from error
    if header.get("alg") != "ES256" or header.get("typ") != TOKEN_TYPE or not chain:
        raise TokenError("unexpected token header")
    _check_chain(chain, x509.load_pem_x509_certificates(trust_anchor_pem.encode()), now or datetime.now(UTC))
    public_key = chain[0].public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or len(signature) != 2 * _COORDINATE:
        raise TokenError("token is not signed ES256")
    der = encode_dss_signature(
        int.from_bytes(signature[:_COORDINATE], "big"), int.from_bytes(signature[_COORDINATE:], "big")
    )
    try:
        public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise TokenError("bad signature") from None
    return json.loads(_b64url_decode(token["payload"]))


def _check_chain(chain: list[x509.Certificate], anchors: list[x509.Certificate], now: datetime) -> None:
    """Leaf first; each certificate issued by the next, the last by a trust anchor; all in date."""
    leaf_usage = chain[0].extensions.get_extension_for_class(x509.KeyUsage).value
    if not leaf_usage.digital_signature:
        raise TokenError("signing certificate may not sign")
    for index, certificate in enumerate(chain):
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise TokenError(f"certificate {certificate.subject.rfc4514_string()} is not valid now")
        candidates = chain[index + 1 : index + 2] or [a for a in anchors if a.subject == certificate.issuer]
        if not candidates:
            raise TokenError("certificate chain does not lead to a trust anchor")
        issuer = candidates[0]
        try:
            constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
            certificate.verify_directly_issued_by(issuer)
        except (x509.ExtensionNotFound, ValueError, TypeError, InvalidSignature) as error:
            raise TokenError(f"broken certificate chain: {error}") from None
        if not constraints.ca:
            raise TokenError("certificate issued by a non-CA certificate")
        if index + 1 == len(chain) and issuer not in anchors:
            raise TokenError("certificate chain does not lead to a trust anchor")
