"""The certificate chain that signs C2PA manifests and provenance tokens.

In AWS the chain comes from a real CA (or a private CA) and sits in Secrets Manager beside
its private key. Locally and in tests the project makes its own three-level chain::

    root CA (the trust anchor)  ->  intermediate CA  ->  leaf (signs)

c2pa-python refuses a leaf that is self-signed, that is a CA, that lacks the
AuthorityKeyIdentifier, or that lacks the emailProtection extended key usage; the leaf
made here has each of these right, so a reader given the root as trust anchor answers
"Trusted". Keys are ECDSA P-256 (ES256): small signatures, fast, and the curve AWS KMS
signs with, so the KMS path needs no other algorithm.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ALGORITHM = "es256"
LOCAL_ORGANISATION = "imagepipe local development (not trusted outside this machine)"
CHAIN_FILE = "c2pa-local-chain.json"


@dataclass(frozen=True)
class SigningChain:
    """A signing key with its certificate chain and the root that anchors it.

    Attributes
    ----------
    private_key_pem : str
        PKCS#8 PEM of the leaf's private key.
    certificate_chain_pem : str
        Leaf first, then intermediates; never the root (readers bring their own anchors).
    trust_anchor_pem : str
        The root CA certificate, for validators.
    alg : str
        C2PA signing algorithm name (``es256``).
    kms_key_id : str
        When set, the private key never leaves AWS KMS (``private_key_pem`` is empty) and
        signatures come from ``kms:Sign`` through a signer callback.
    """

    private_key_pem: str
    certificate_chain_pem: str
    trust_anchor_pem: str
    alg: str = ALGORITHM
    kms_key_id: str = ""

    def to_secret(self) -> str:
        """The JSON stored in the C2PA signing secret."""
        return json.dumps(asdict(self))

    @classmethod
    def from_secret(cls, value: dict[str, str]) -> SigningChain:
        if not value.get("private_key_pem") and not value.get("kms_key_id"):
            raise KeyError("private_key_pem or kms_key_id")
        return cls(
            private_key_pem=value.get("private_key_pem", ""),
            certificate_chain_pem=value["certificate_chain_pem"],
            trust_anchor_pem=value.get("trust_anchor_pem", ""),
            alg=value.get("alg", ALGORITHM),
            kms_key_id=value.get("kms_key_id", ""),
        )

    def certificates(self) -> list[x509.Certificate]:
        """The chain as certificates, leaf first."""
        return x509.load_pem_x509_certificates(self.certificate_chain_pem.encode())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, LOCAL_ORGANISATION),
        ]
    )


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    subject: str,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca_path_length: int | None,
    now: datetime,
    days: int,
) -> x509.Certificate:
    """One certificate; ``ca_path_length`` None makes an end-entity (signing) certificate."""
    is_ca = ca_path_length is not None
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer or _name(subject))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=ca_path_length), critical=True)
        .add_extension(_key_usage(signer=not is_ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if not is_ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def generate_chain(
    *,
    name: str = "imagepipe",
    days: int = 825,
    now: datetime | None = None,
    leaf_public_key: ec.EllipticCurvePublicKey | None = None,
    kms_key_id: str = "",
) -> SigningChain:
    """Make a new root CA -> intermediate CA -> leaf chain (ECDSA P-256) for local use.

    Parameters
    ----------
    name : str
        Prefix of the common names.
    days : int
        Validity of every certificate from ``now``.
    now : datetime, optional
        Start of validity (tests pass a fixed time).
    leaf_public_key, kms_key_id : optional
        Certify a key held elsewhere (an AWS KMS ``ECC_NIST_P256`` key) instead of a new one.
    """
    now = now or datetime.now(UTC)
    root_key, intermediate_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate(f"{name} root CA", root_key.public_key(), None, root_key, ca_path_length=1, now=now, days=days)
    intermediate = _certificate(
        f"{name} intermediate CA", intermediate_key.public_key(), root.subject, root_key,
        ca_path_length=0, now=now, days=days,
    )
    leaf = _certificate(
        f"{name} content credentials", leaf_public_key or leaf_key.public_key(), intermediate.subject,
        intermediate_key, ca_path_length=None, now=now, days=days,
    )
    private_pem = "" if leaf_public_key is not None else leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return SigningChain(private_pem, _pem(leaf) + _pem(intermediate), _pem(root), kms_key_id=kms_key_id)


def local_chain(directory: Path) -> SigningChain:
    """The developer's local chain: loaded from ``directory`` or made once and kept there.

    Keeping it lets a file signed by an earlier ``imagepipe demo`` still read Trusted
    against the local root in a later session. The directory is git-ignored.
    """
    path = directory / CHAIN_FILE
    try:
        return SigningChain.from_secret(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError):
        pass
    chain = generate_chain()
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as handle:
        handle.write(chain.to_secret())
    os.chmod(handle.name, 0o600)
    os.replace(handle.name, path)  # two processes racing both end with one valid file
    return SigningChain.from_secret(json.loads(path.read_text()))
