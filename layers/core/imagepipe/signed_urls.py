"""CloudFront signed URLs and signed cookies: signing with botocore's ``CloudFrontSigner`` and
verifying them exactly as CloudFront does (for the local edge and for tests).

CloudFront signs with RSA PKCS#1 v1.5 over SHA-1 and a URL-safe base64 alphabet in which
``+ = /`` become ``- _ ~``. A *canned* policy is implied by ``Expires`` and covers one exact
URL; a *custom* policy is carried in ``Policy`` and may use ``*``/``?`` wildcards in its
resource, a start time (``DateGreaterThan``) and a source IP range (``IpAddress``). One custom
policy over ``https://{cdn}/private/{asset_id}/*`` signs every variant of an asset at once:
one RSA operation per asset instead of one per URL. The same policy and signature, set as the
``CloudFront-Policy``/``CloudFront-Signature``/``CloudFront-Key-Pair-Id`` cookies, let a page
load the asset without any query string (galleries).

Keys: the distribution's trusted key group holds every *active* public key (the one signing
today and the one staged for the next rotation); the signer uses the *current* private key of
a `KeyRing`. botocore has a signer but no verifier, so the verifier is ours.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from urllib.parse import unquote, urlsplit, urlunsplit

from botocore.signers import CloudFrontSigner
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNING_PARAMS = frozenset({"Expires", "Signature", "Key-Pair-Id", "Policy"})
COOKIE_NAMES = {
    "Expires": "CloudFront-Expires",
    "Policy": "CloudFront-Policy",
    "Signature": "CloudFront-Signature",
    "Key-Pair-Id": "CloudFront-Key-Pair-Id",
}
_PAD = padding.PKCS1v15()
_SHA1 = hashes.SHA1()  # noqa: S303 - CloudFront's algorithm


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


def cf_b64encode(data: bytes) -> str:
    """CloudFront's URL-safe base64 (``+ = /`` -> ``- _ ~``)."""
    return base64.b64encode(data).decode().replace("+", "-").replace("=", "_").replace("/", "~")


def cf_b64decode(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"), validate=True)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


# -- keys -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """One private key of the key group; ``active_from`` None means "active since ever"."""

    key_id: str
    private_key_pem: str
    active_from: datetime | None = None


class KeyRing:
    """The signing keys held in the signing secret; `current` picks the one to sign with.

    The secret is either the single-key form ``{"key_id": ..., "private_key_pem": ...}`` or a
    ring ``{"keys": [{"key_id", "private_key_pem", "active_from"?}, ...]}``. The current key is
    the one with the latest ``active_from`` not in the future, so a rotation can be installed
    ahead of time and takes effect by itself once CloudFront trusts the new public key.
    """

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.keys = tuple(keys)

    @classmethod
    def from_secret(cls, secret: Mapping[str, object], *, default_key_id: str = "") -> KeyRing:
        if "keys" in secret:
            entries = secret["keys"]
            if not isinstance(entries, list):
                raise ValueError("the signing secret's 'keys' must be a list")
            keys = [
                SigningKey(
                    key_id=str(entry["key_id"]),
                    private_key_pem=str(entry["private_key_pem"]),
                    active_from=parse_time(entry.get("active_from")),
                )
                for entry in entries
            ]
            return cls(keys)
        key_id = str(secret.get("key_id") or default_key_id)
        if not key_id or key_id == "pending" or "private_key_pem" not in secret:
            raise ValueError("the signing secret holds no key")
        return cls([SigningKey(key_id, str(secret["private_key_pem"]))])

    def current(self, now: datetime | None = None) -> SigningKey:
        now = now or datetime.now(UTC)
        live = [k for k in self.keys if k.active_from is None or k.active_from <= now]
        if not live:
            raise ValueError("no signing key is active yet")
        return max(live, key=lambda k: k.active_from or datetime.min.replace(tzinfo=UTC))

    def as_secret(self) -> dict[str, object]:
        return {
            "keys": [
                {"key_id": k.key_id, "private_key_pem": k.private_key_pem}
                | ({"active_from": k.active_from.isoformat()} if k.active_from else {})
                for k in self.keys
            ]
        }


def parse_time(value: object) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value), UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- signing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedPolicy:
    """A signed custom policy: append it to any URL its resource covers, or send it as cookies."""

    policy: str  # CloudFront base64 of the policy JSON
    signature: str
    key_id: str
    expires_at: int

    @property
    def query(self) -> str:
        return f"Policy={self.policy}&Signature={self.signature}&Key-Pair-Id={self.key_id}"

    def apply(self, url: str) -> str:
        return f"{url}{'&' if '?' in url else '?'}{self.query}"

    def cookies(self) -> dict[str, str]:
        return {
            COOKIE_NAMES["Policy"]: self.policy,
            COOKIE_NAMES["Signature"]: self.signature,
            COOKIE_NAMES["Key-Pair-Id"]: self.key_id,
        }


class UrlSigner:
    """Signs CloudFront URLs and cookies with one key of the distribution's trusted key group."""

    def __init__(self, key_id: str, private_key_pem: str) -> None:
        self.key_id = key_id
        self._key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        if not isinstance(self._key, rsa.RSAPrivateKey):
            raise ValueError("CloudFront signing keys are RSA keys")
        self._signer = CloudFrontSigner(key_id, self._rsa_sign)

    def _rsa_sign(self, message: bytes) -> bytes:
        return self._key.sign(message, _PAD, _SHA1)

    def sign(self, url: str, expires_at: datetime) -> str:
        """A canned-policy URL: exactly ``url`` (query string included) until ``expires_at``."""
        return self._signer.generate_presigned_url(url, date_less_than=expires_at)

    def sign_policy(
        self,
        resource: str,
        expires_at: datetime,
        *,
        not_before: datetime | None = None,
        ip_range: str | None = None,
    ) -> SignedPolicy:
        """One signature for every URL ``resource`` matches (``*`` and ``?`` are wildcards).

        ``ip_range`` is an address or CIDR block (IPv4 or IPv6) the viewer must come from;
        ``not_before`` is when the policy starts to be valid.
        """
        if ip_range is not None:
            ip_range = str(ipaddress.ip_network(ip_range, strict=False))
        policy = self._signer.build_policy(resource, expires_at, date_greater_than=not_before, ip_address=ip_range)
        data = policy.encode()
        return SignedPolicy(cf_b64encode(data), cf_b64encode(self._rsa_sign(data)), self.key_id, _epoch(expires_at))

    def canned_cookies(self, url: str, expires_at: datetime) -> dict[str, str]:
        """Cookies equivalent to a canned-policy URL (one exact URL)."""
        expires = _epoch(expires_at)
        policy = _canned_policy(url, expires)
        return {
            COOKIE_NAMES["Expires"]: str(expires),
            COOKIE_NAMES["Signature"]: cf_b64encode(self._rsa_sign(policy)),
            COOKIE_NAMES["Key-Pair-Id"]: self.key_id,
        }


def _canned_policy(resource: str, expires: int) -> bytes:
    statement = {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
    return json.dumps({"Statement": [statement]}, separators=(",", ":")).encode()


# -- verifying (what CloudFront does at the edge) ---------------------------------------------


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    key_id: str | None = None

    @property
    def error_code(self) -> str:
        """The ``<Code>`` CloudFront puts in its 403 body for this failure."""
        return {
            "missing signature": "MissingKey",
            "unknown key id": "InvalidKey",
            "malformed policy": "MalformedPolicy",
            "malformed expiry": "MalformedPolicy",
            "malformed signature": "MalformedSignature",
        }.get(self.reason, "AccessDenied")


def _split_query(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), value))
    return pairs


def strip_signature(url: str) -> str:
    """The URL as signed: the signing parameters removed, everything else byte for byte."""
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and unquote(p.partition("=")[0]) not in SIGNING_PARAMS]
    return urlunsplit(parts._replace(query="&".join(kept)))


def verify(
    url: str,
    public_keys: Mapping[str, str],
    *,
    now: float | None = None,
    client_ip: str | None = None,
    cookies: Mapping[str, str] | None = None,
) -> Verdict:
    """Check a signed URL (or, when the URL carries no signature, signed cookies) as CloudFront would.

    ``public_keys`` maps each key id of the behaviour's trusted key groups to its public PEM.
    """
    now = time.time() if now is None else now
    params = {name: unquote(value) for name, value in _split_query(urlsplit(url).query) if name in SIGNING_PARAMS}
    if not params and cookies:
        params = {name: cookies[cookie] for name, cookie in COOKIE_NAMES.items() if cookie in cookies}
    key_id, signature = params.get("Key-Pair-Id"), params.get("Signature")
    if not key_id or not signature:
        return Verdict(False, "missing signature")
    pem = public_keys.get(key_id)
    if pem is None:
        return Verdict(False, "unknown key id", key_id)
    resource = strip_signature(url)
    if "Policy" in params:
        try:
            policy_bytes = cf_b64decode(params["Policy"])
            document = json.loads(policy_bytes)
            statements = document["Statement"]
            if not isinstance(statements, list) or len(statements) != 1:
                return Verdict(False, "malformed policy", key_id)
            statement = statements[0]
        except (ValueError, KeyError, TypeError):
            return Verdict(False, "malformed policy", key_id)
    elif "Expires" in params:
        try:
            expires = int(params["Expires"])
        except ValueError:
            return Verdict(False, "malformed expiry", key_id)
        statement = {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
        policy_bytes = _canned_policy(resource, expires)
    else:
        return Verdict(False, "missing signature", key_id)
    try:
        raw_signature = cf_b64decode(signature)
    except ValueError:
        return Verdict(False, "malformed signature", key_id)
    try:
        public_key = _public_key(pem)
        public_key.verify(raw_signature, policy_bytes, _PAD, _SHA1)
    except (InvalidSignature, ValueError):
        return Verdict(False, "bad signature", key_id)
    verdict = _check_statement(statement, resource, now, client_ip)
    return Verdict(verdict.ok, verdict.reason, key_id)


_PUBLIC_KEYS: dict[str, rsa.RSAPublicKey] = {}


def _public_key(pem: str) -> rsa.RSAPublicKey:
    key = _PUBLIC_KEYS.get(pem)
    if key is None:
        loaded = serialization.load_pem_public_key(pem.encode())
        if not isinstance(loaded, rsa.RSAPublicKey):
            raise ValueError("not an RSA public key")
        key = _PUBLIC_KEYS[pem] = loaded
    return key


def _check_statement(statement: Mapping[str, object], resource: str, now: float, client_ip: str | None) -> Verdict:
    pattern = statement.get("Resource", "")
    if not isinstance(pattern, str) or not fnmatchcase(resource, pattern.replace("[", "[[]")):
        return Verdict(False, "resource not covered by policy")
    condition = statement.get("Condition", {})
    if not isinstance(condition, Mapping):
        return Verdict(False, "malformed policy")
    try:
        if now >= int(condition["DateLessThan"]["AWS:EpochTime"]):
            return Verdict(False, "expired")
        not_before = condition.get("DateGreaterThan", {}).get("AWS:EpochTime")
        if not_before is not None and now < int(not_before):
            return Verdict(False, "not yet valid")
        ip_range = condition.get("IpAddress", {}).get("AWS:SourceIp")
    except (KeyError, TypeError, ValueError, AttributeError):
        return Verdict(False, "malformed policy")
    if ip_range:
        try:
            allowed = client_ip is not None and ipaddress.ip_address(client_ip) in ipaddress.ip_network(
                ip_range, strict=False
            )
        except ValueError:
            return Verdict(False, "malformed policy")
        if not allowed:  # an unknown viewer address fails closed
            return Verdict(False, "ip not allowed")
    return Verdict(True)

