"""CloudFront signed URLs: signing with botocore's ``CloudFrontSigner`` and verifying them
exactly as CloudFront does (for the local edge and for tests).

CloudFront signs with RSA PKCS#1 v1.5 over SHA-1 and a URL-safe base64 alphabet in which
``+ = /`` become ``- _ ~``. A canned policy is implied by ``Expires``; a custom policy is
carried in ``Policy``. botocore has a signer but no verifier, so the verifier is ours.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from botocore.signers import CloudFrontSigner
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNING_PARAMS = frozenset({"Expires", "Signature", "Key-Pair-Id", "Policy"})


def generate_key_pair() -> tuple[str, str]:
    """A new 2048-bit RSA key pair as (private PEM, public PEM): the format CloudFront takes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private_pem, public_pem


class UrlSigner:
    """Signs CloudFront URLs with one key of the distribution's trusted key group."""

    def __init__(self, key_id: str, private_key_pem: str) -> None:
        self.key_id = key_id
        self._key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        if not isinstance(self._key, rsa.RSAPrivateKey):
            raise ValueError("CloudFront signing keys are RSA keys")
        self._signer = CloudFrontSigner(key_id, self._rsa_sign)

    def _rsa_sign(self, message: bytes) -> bytes:
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - CloudFront's algorithm

    def sign(self, url: str, expires_at: datetime) -> str:
        """A canned-policy URL valid until ``expires_at``."""
        return self._signer.generate_presigned_url(url, date_less_than=expires_at)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


def _cf_b64decode(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def strip_signature(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in SIGNING_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(query)))


def verify(url: str, public_keys: Mapping[str, str], *, now: float | None = None, client_ip: str | None = None) -> Verdict:
    """Check a signed URL as CloudFront would; ``public_keys`` maps key id -> public PEM."""
    now = time.time() if now is None else now
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    key_id, signature = params.get("Key-Pair-Id"), params.get("Signature")
    if not key_id or not signature:
        return Verdict(False, "missing signature")
    pem = public_keys.get(key_id)
    if pem is None:
        return Verdict(False, "unknown key id")
    resource = strip_signature(url)
    if "Policy" in params:
        try:
            policy_bytes = _cf_b64decode(params["Policy"])
            statement = json.loads(policy_bytes)["Statement"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            return Verdict(False, "malformed policy")
    elif "Expires" in params:
        try:
            expires = int(params["Expires"])
        except ValueError:
            return Verdict(False, "malformed expiry")
        statement = {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
        policy_bytes = json.dumps({"Statement": [statement]}, separators=(",", ":")).encode()
    else:
        return Verdict(False, "missing expiry")
    try:
        public_key = serialization.load_pem_public_key(pem.encode())
        assert isinstance(public_key, rsa.RSAPublicKey)
        public_key.verify(_cf_b64decode(signature), policy_bytes, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    except (InvalidSignature, ValueError):
        return Verdict(False, "bad signature")
    return _check_statement(statement, resource, now, client_ip)


def _check_statement(statement: dict, resource: str, now: float, client_ip: str | None) -> Verdict:
    pattern = statement.get("Resource", "")
    if not isinstance(pattern, str) or not fnmatchcase(resource, pattern.replace("[", "[[]")):
        return Verdict(False, "resource not covered by policy")
    condition = statement.get("Condition", {})
    try:
        if now >= int(condition["DateLessThan"]["AWS:EpochTime"]):
            return Verdict(False, "expired")
        not_before = condition.get("DateGreaterThan", {}).get("AWS:EpochTime")
        if not_before is not None and now < int(not_before):
            return Verdict(False, "not yet valid")
    except (KeyError, TypeError, ValueError):
        return Verdict(False, "malformed policy")
    ip_range = condition.get("IpAddress", {}).get("AWS:SourceIp")
    if ip_range and client_ip:
        import ipaddress

        if ipaddress.ip_address(client_ip) not in ipaddress.ip_network(ip_range, strict=False):
            return Verdict(False, "ip not allowed")
    return Verdict(True)
