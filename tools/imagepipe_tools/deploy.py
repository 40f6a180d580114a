"""`imagepipe deploy bootstrap|verify|rotate`: a stage's keys and secrets before `sam deploy`, and
the proof after it. The first deploy of a stage is three commands::

    imagepipe deploy bootstrap --stage prod --c2pa pem --chain chain.pem --key leaf-key.pem
    sam deploy --config-env prod
    imagepipe deploy verify --stage prod

Where things live. Bootstrap makes everything the template only *refers to*, before the first
deploy, and writes the references into samconfig.toml's ``[STAGE.deploy.parameters]``:

* ``imagepipe/{stage}/cloudfront-signing-key`` (Secrets Manager): the CloudFront signing private
  key. CloudFormation never holds a placeholder for it (a redeploy cannot regenerate it, deleting
  the stack cannot delete it) and nothing is installed after deploy: in the single-key form the key
  has no ``key_id``, and sign-url signs with slot A's CloudFront key id (``CLOUDFRONT_KEY_ID``),
  which the template knows once it has created the key. The secret also records, for this tool,
  which SSM parameter names each slot (``slots``) and a key staged for rotation (``staged``); the
  key ring (`imagepipe.signed_urls.KeyRing`) ignores both.
* ``/imagepipe/{stage}/cloudfront/keys/{UTC time}`` (SSM, String): each public key's PEM, the
  parameter a slot names (``CloudFrontPublicKeyPem``, ``CloudFrontSecondPublicKeyPem``). A new key
  always gets a new name, so CloudFormation replaces the CloudFront public key instead of editing it.
* ``imagepipe/{stage}/c2pa-signing`` (Secrets Manager): the C2PA chain, with its private key
  (``--c2pa pem``, or ``dev``: a generated development CA) or the id of an ECC_NIST_P256 KMS key
  (``--c2pa kms``; the template then grants ``kms:Sign`` on that key, and only to the functions that
  sign, through ``C2paKmsKeyArn``).

Bootstrap is idempotent: what exists is kept and checked, never overwritten (``--replace-c2pa``
replaces the C2PA chain; CloudFront keys change only through ``rotate``). Rotation, in three steps
that each end in a deploy or a wait (docs/delivery.md#key-rotation):
``rotate`` stages a new key in the free slot (deploy), ``rotate --switch`` makes it the signing key
once CloudFront trusts it, ``rotate --retire`` drops the old private key a day later.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shlex
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from imagepipe.provenance.certificates import SigningChain, generate_chain
from imagepipe.signed_urls import KeyRing, UrlSigner, generate_key_pair, parse_time, verify as verify_signed_url

Clients = Callable[[str], Any]  # service name -> boto3 client
C2paMode = Literal["pem", "kms", "dev"]
STAGES = ("dev", "prod")
MAX_URL_TTL = timedelta(seconds=86_400)  # sign-url's longest TTL (stages/sign.py MAX_TTL_SECONDS)
SECRET_CACHE = timedelta(minutes=5)  # functions re-read the secret this often (wiring.SECRET_MAX_AGE_SECONDS)
# The template values bootstrap owns in samconfig.toml; every other override is left alone.
OWNED_OVERRIDES = ("CloudFrontPublicKeyPem", "CloudFrontSecondPublicKeyPem", "SigningKeySecret",
                   "C2paSigningSecret", "C2paKmsKeyArn")
REQUIRED_OUTPUTS = ("CloudFrontKeyGroupId", "CloudFrontPublicKeyId", "SigningKeySecretArn", "C2paSigningSecretArn",
                    "DistributionId", "DistributionDomainName")


class DeployError(Exception):
    """A step that cannot go on; the message says what to do about it."""


@dataclass(frozen=True)
class StageNames:
    """The names bootstrap gives a stage's secrets, parameters and KMS alias."""

    stage: str

    @property
    def signing_secret(self) -> str:
        return f"imagepipe/{self.stage}/cloudfront-signing-key"

    @property
    def c2pa_secret(self) -> str:
        return f"imagepipe/{self.stage}/c2pa-signing"

    @property
    def kms_alias(self) -> str:
        return f"alias/imagepipe-{self.stage}-c2pa"

    def key_parameter(self, now: datetime) -> str:
        return f"/imagepipe/{self.stage}/cloudfront/keys/{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True)
class C2paSource:
    """Where the C2PA signing chain comes from on the first bootstrap (or with ``--replace-c2pa``).

    ``pem``: ``chain_pem`` (leaf first, then intermediates) and ``private_key_pem``. ``kms``: the key
    ``kms_key_id`` (id, ARN or alias; empty: the stage's alias, created with a new key if missing)
    certified by ``chain_pem``, or by a development CA made here with ``dev_ca``. ``dev``: a
    generated development chain (``chain``, when the caller has one: the embedded stack's).
    """

    mode: C2paMode
    chain_pem: str = ""
    private_key_pem: str = ""
    trust_anchor_pem: str = ""
    kms_key_id: str = ""
    dev_ca: bool = False
    chain: SigningChain | None = None

    @classmethod
    def ready(cls, chain: SigningChain) -> C2paSource:
        return cls("kms" if chain.kms_key_id else "dev", chain=chain)


@dataclass
class Bootstrap:
    """What bootstrap did: the template values to deploy with, and a line per step."""

    stage: str
    overrides: dict[str, str]
    actions: list[str] = field(default_factory=list)
    c2pa_chain: SigningChain | None = None
    csr_pem: str = ""  # a new KMS key's certificate signing request, for the CA (nothing installed yet)

    @property
    def complete(self) -> bool:
        return not self.csr_pem


# -- keys and certificates --------------------------------------------------------------------------


def public_pem_of(private_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM of a private key (what CloudFront and SSM hold)."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def same_public_key(a_pem: str, b_pem: str) -> bool:
    """True when two public key PEMs hold the same key (whatever their line breaks)."""
    try:
        a, b = (serialization.load_pem_public_key(p.strip().encode() + b"\n") for p in (a_pem, b_pem))
    except ValueError:
        return False
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(*der) == b.public_bytes(*der)


def chain_problems(chain: SigningChain, public_key_der: bytes, *, now: datetime | None = None) -> list[str]:
    """What c2pa would refuse in a signing chain, or what makes it useless: [] when it is sound.

    ``public_key_der`` is the signing key's SubjectPublicKeyInfo (the PEM key's, or KMS's).
    """
    now = now or datetime.now(UTC)
    try:
        certificates = chain.certificates()
    except ValueError as error:
        return [f"the certificate chain does not parse ({error})"]
    if not certificates:
        return ["the certificate chain is empty"]
    leaf, problems = certificates[0], []
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*der) != public_key_der:
        problems.append("the leaf certificate (first in the chain) does not certify the signing key")
    if not isinstance(leaf.public_key(), ec.EllipticCurvePublicKey) or leaf.public_key().curve.name != "secp256r1":
        problems.append("the leaf key is not ECDSA P-256 (ES256)")
    for certificate in certificates:
        if certificate.not_valid_after_utc <= now:
            problems.append(f"{certificate.subject.rfc4514_string()} expired on {certificate.not_valid_after_utc:%Y-%m-%d}")
    try:
        if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            problems.append("the leaf certificate is a CA")
    except x509.ExtensionNotFound:
        pass
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.EMAIL_PROTECTION not in usages:
            problems.append("the leaf certificate lacks the emailProtection extended key usage C2PA requires")
    except x509.ExtensionNotFound:
        problems.append("the leaf certificate has no extended key usage (C2PA requires emailProtection)")
    if len(certificates) == 1 and leaf.issuer == leaf.subject:
        problems.append("the leaf certificate is self-signed (C2PA refuses it)")
    return problems


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    length = bytes([size]) if size < 0x80 else bytes([0x80 | ((size.bit_length() + 7) // 8)]) + size.to_bytes(
        (size.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + body


def kms_certificate_request(kms: Any, key_id: str, common_name: str) -> str:
    """A PKCS#10 certificate signing request for a KMS key, signed by ``kms:Sign`` (PEM).

    cryptography signs requests only with keys it holds, so the request is assembled here:
    ``CertificationRequestInfo`` (version 0, subject, the key's SubjectPublicKeyInfo from KMS, no
    attributes), ecdsa-with-SHA256, and KMS's DER signature over it. The CA adds the extensions
    (end entity, digitalSignature, emailProtection).
    """
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    spki = kms.get_public_key(KeyId=key_id)["PublicKey"]
    info = _der(0x30, _der(0x02, b"\x00") + subject.public_bytes() + spki + _der(0xA0, b""))
    signature = kms.sign(KeyId=key_id, Message=info, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    ecdsa_with_sha256 = _der(0x30, _der(0x06, bytes.fromhex("2a8648ce3d040302")))
    request = x509.load_der_x509_csr(_der(0x30, info + ecdsa_with_sha256 + _der(0x03, b"\x00" + signature)))
    if not request.is_signature_valid:
        raise DeployError(f"KMS key {key_id} signed a request that does not verify")
    return request.public_bytes(serialization.Encoding.PEM).decode()


# -- secrets ----------------------------------------------------------------------------------------


def _read_secret(secrets: Any, secret_id: str) -> tuple[str, dict[str, Any]] | None:
    """(ARN, JSON value) of a secret, or None when there is no such secret."""
    try:
        value = secrets.get_secret_value(SecretId=secret_id)
    except secrets.exceptions.ResourceNotFoundException:
        return None
    except secrets.exceptions.InvalidRequestException as error:
        raise DeployError(f"secret {secret_id} cannot be read ({error}); if it is scheduled for deletion, "
                          f"`aws secretsmanager restore-secret --secret-id {secret_id}`") from None
    try:
        parsed = json.loads(value.get("SecretString") or "")
    except ValueError:
        raise DeployError(f"secret {secret_id} does not hold JSON: fix or delete it, then bootstrap again") from None
    if not isinstance(parsed, dict):
        raise DeployError(f"secret {secret_id} does not hold a JSON object")
    return value["ARN"], parsed


def _create_secret(secrets: Any, name: str, value: Mapping[str, Any], description: str, stage: str) -> str:
    return secrets.create_secret(
        Name=name, Description=description, SecretString=json.dumps(value),
        Tags=[{"Key": "imagepipe:stage", "Value": stage}, {"Key": "imagepipe:made-by", "Value": "imagepipe deploy bootstrap"}],
    )["ARN"]


@dataclass
class SigningState:
    """The CloudFront signing secret as this tool reads it (a `KeyRing` plus ``slots`` and ``staged``)."""

    value: dict[str, Any]

    @property
    def slots(self) -> dict[str, str]:
        return {slot: str(name) for slot, name in (self.value.get("slots") or {}).items() if name}

    @property
    def staged(self) -> dict[str, Any] | None:
        return self.value.get("staged") or None

    def keys(self) -> list[dict[str, Any]]:
        """Every signing key: ``private_key_pem``, ``key_id`` (None: slot A's), ``public_key_parameter``."""
        if "keys" in self.value:
            return [dict(entry) for entry in self.value["keys"]]
        return [{"key_id": self.value.get("key_id"), "private_key_pem": self.value.get("private_key_pem", ""),
                 "public_key_parameter": self.slots.get("A")}]

    def ring(self, default_key_id: str = "") -> KeyRing:
        return KeyRing.from_secret(self.value, default_key_id=default_key_id)

    def problems(self) -> list[str]:
        """Why this is not a usable signing secret (a placeholder, a broken key): [] when it is."""
        try:
            ring = self.ring(default_key_id="slot-A")
        except (ValueError, KeyError, TypeError) as error:
            return [f"it holds no signing key ({error})"]
        problems = []
        for key in ring.keys:
            try:
                loaded = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
            except (ValueError, TypeError):
                problems.append(f"key {key.key_id}: private_key_pem is not a PEM private key (a placeholder?)")
                continue
            if not isinstance(loaded, rsa.RSAPrivateKey) or loaded.key_size < 2048:
                problems.append(f"key {key.key_id}: CloudFront needs an RSA key of 2048 bits or more")
        return problems

    def bookkeeping_problems(self) -> list[str]:
        """`problems`, and what bootstrap and rotate need beyond a usable ring: the slots' parameters."""
        if "A" not in self.slots:
            return [*self.problems(), "it names no SSM parameter for slot A (\"slots\"): it was not made by bootstrap"]
        return self.problems()

    def overrides(self) -> dict[str, str]:
        return {"CloudFrontPublicKeyPem": self.slots.get("A", ""), "CloudFrontSecondPublicKeyPem": self.slots.get("B", "")}


def _ensure_public_key_parameter(ssm: Any, name: str, public_pem: str, actions: list[str]) -> None:
    """The SSM parameter a slot names holds its public key; a missing one is (re)made, a different one refused."""
    try:
        current = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        ssm.put_parameter(Name=name, Value=public_pem, Type="String",
                          Description="imagepipe CloudFront signing public key (PEM); never rewritten: a new key gets a new name")
        actions.append(f"created SSM parameter {name} (public key)")
        return
    if not same_public_key(current, public_pem):
        raise DeployError(f"SSM parameter {name} holds another public key than the signing secret's: a slot's parameter "
                          "is never rewritten. Restore it, or stage a new key with `imagepipe deploy rotate`")
    actions.append(f"kept SSM parameter {name}")


def _ensure_signing_key(clients: Clients, names: StageNames, now: datetime, actions: list[str]) -> tuple[str, SigningState]:
    secrets, ssm = clients("secretsmanager"), clients("ssm")
    found = _read_secret(secrets, names.signing_secret)
    if found is None:
        private_pem, public_pem = generate_key_pair()
        parameter = names.key_parameter(now)
        state = SigningState({"private_key_pem": private_pem, "slots": {"A": parameter}})
        arn = _create_secret(secrets, names.signing_secret, state.value, stage=names.stage, description=(
            "imagepipe CloudFront signing key ring (sign-url). Made by `imagepipe deploy bootstrap`; "
            "rotate with `imagepipe deploy rotate` (docs/delivery.md#key-rotation)."))
        actions.append(f"created secret {names.signing_secret} (new RSA-2048 CloudFront key pair, slot A)")
        _ensure_public_key_parameter(ssm, parameter, public_pem, actions)
        return arn, state
    arn, value = found
    state = SigningState(value)
    problems = state.bookkeeping_problems()
    if problems:
        raise DeployError(f"secret {names.signing_secret} is not a usable signing secret: {'; '.join(problems)}. "
                          "Fix or delete it (nothing is overwritten), then bootstrap again")
    actions.append(f"kept secret {names.signing_secret}")
    _ensure_slot_parameters(ssm, state, actions)
    return arn, state


def _ensure_slot_parameters(ssm: Any, state: SigningState, actions: list[str]) -> None:
    """Each slot's parameter holds the public key of the key the secret keeps for that slot."""
    by_parameter = {key["public_key_parameter"]: key["private_key_pem"] for key in state.keys() if key.get("public_key_parameter")}
    if state.staged:
        by_parameter[state.staged["public_key_parameter"]] = state.staged["private_key_pem"]
    for slot, parameter in sorted(state.slots.items()):
        if parameter in by_parameter:
            _ensure_public_key_parameter(ssm, parameter, public_pem_of(by_parameter[parameter]), actions)
        else:  # a retired key's slot: its private key is gone, the parameter stays until a rotation reuses the slot
            actions.append(f"slot {slot} ({parameter}) holds a retired key")


def _kms_key_arn(kms: Any, key_id: str) -> str:
    try:
        metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        raise DeployError(f"KMS key {key_id} does not exist") from None
    if metadata.get("KeySpec") != "ECC_NIST_P256" or metadata.get("KeyUsage") != "SIGN_VERIFY":
        raise DeployError(f"KMS key {key_id} is {metadata.get('KeySpec')}/{metadata.get('KeyUsage')}: "
                          "C2PA (ES256) needs an ECC_NIST_P256 SIGN_VERIFY key")
    return metadata["Arn"]


def _stage_kms_key(kms: Any, names: StageNames, key_id: str, actions: list[str]) -> str:
    """The KMS key C2PA signs with: the one named, the stage's alias, or a new key under that alias."""
    if key_id:
        return _kms_key_arn(kms, key_id)
    try:
        return _kms_key_arn(kms, names.kms_alias)
    except DeployError:
        pass
    metadata = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY",
                              Description=f"imagepipe {names.stage} C2PA Content Credentials signing key (ES256)",
                              Tags=[{"TagKey": "imagepipe:stage", "TagValue": names.stage}])["KeyMetadata"]
    kms.create_alias(AliasName=names.kms_alias, TargetKeyId=metadata["KeyId"])
    actions.append(f"created KMS key {metadata['Arn']} ({names.kms_alias}, ECC_NIST_P256 SIGN_VERIFY)")
    return metadata["Arn"]


def _c2pa_chain(clients: Clients, names: StageNames, source: C2paSource, actions: list[str]) -> tuple[SigningChain | None, str]:
    """The chain to install, or (None, CSR) when a KMS key still waits for its certificate."""
    if source.chain is not None:
        chain = source.chain
    elif source.mode == "dev":
        chain = generate_chain(name=f"imagepipe {names.stage} (development CA)")
        actions.append("generated a development C2PA chain (root -> intermediate -> leaf): readers outside "
                       "this project see its manifests as Valid, not Trusted")
    elif source.mode == "pem":
        if not (source.chain_pem and source.private_key_pem):
            raise DeployError("--c2pa pem needs --chain (leaf + intermediates) and --key (the leaf's private key)")
        chain = SigningChain(source.private_key_pem, source.chain_pem, source.trust_anchor_pem)
    else:
        kms = clients("kms")
        key_arn = _stage_kms_key(kms, names, source.kms_key_id, actions)
        public_key = serialization.load_der_public_key(kms.get_public_key(KeyId=key_arn)["PublicKey"])
        if source.chain_pem:
            chain = SigningChain("", source.chain_pem, source.trust_anchor_pem, kms_key_id=key_arn)
        elif source.dev_ca:
            chain = generate_chain(name=f"imagepipe {names.stage} (development CA)", leaf_public_key=public_key,
                                   kms_key_id=key_arn)
            actions.append(f"certified {key_arn} with a generated development CA")
        else:
            return None, kms_certificate_request(kms, key_arn, f"imagepipe {names.stage} content credentials")
    der = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if chain.kms_key_id:
        expected = clients("kms").get_public_key(KeyId=chain.kms_key_id)["PublicKey"]
    else:
        try:
            expected = serialization.load_pem_private_key(chain.private_key_pem.encode(), password=None).public_key().public_bytes(*der)
        except (ValueError, TypeError) as error:
            raise DeployError(f"the C2PA private key does not load ({error})") from None
    problems = chain_problems(chain, expected)
    if problems:
        raise DeployError(f"the C2PA signing chain cannot be used: {'; '.join(problems)}")
    return chain, ""


def _ensure_c2pa(clients: Clients, names: StageNames, source: C2paSource | None, replace: bool,
                 actions: list[str]) -> tuple[str, SigningChain | None, str]:
    """(secret ARN or "", chain, CSR) for the C2PA signing secret."""
    secrets = clients("secretsmanager")
    found = _read_secret(secrets, names.c2pa_secret)
    if found is not None and not replace:
        arn, value = found
        try:
            chain = SigningChain.from_secret(value)
        except (KeyError, TypeError, AttributeError):
            raise DeployError(f"secret {names.c2pa_secret} holds no C2PA chain: bootstrap with --replace-c2pa "
                              "and a --c2pa source") from None
        mode = "kms" if chain.kms_key_id else "pem"
        asked = source and ("kms" if source.mode == "kms" or (source.chain and source.chain.kms_key_id) else "pem")
        note = f"; --replace-c2pa switches it to {source.mode}" if asked and asked != mode else ""
        actions.append(f"kept secret {names.c2pa_secret} ({mode}){note}")
        return arn, chain, ""
    if source is None:
        raise DeployError(f"no C2PA signing secret {names.c2pa_secret} yet: choose --c2pa pem --chain FILE --key FILE "
                          "(your CA's chain), --c2pa kms (a KMS key) or --c2pa dev (a development CA)")
    chain, csr = _c2pa_chain(clients, names, source, actions)
    if chain is None:
        return "", None, csr
    description = ("imagepipe C2PA Content Credentials signing chain (generate, derivatives, transform). "
                   "Made by `imagepipe deploy bootstrap`.")
    if found is not None:
        arn = secrets.put_secret_value(SecretId=found[0], SecretString=chain.to_secret())["ARN"]
        actions.append(f"replaced the chain in secret {names.c2pa_secret}")
    else:
        arn = _create_secret(secrets, names.c2pa_secret, json.loads(chain.to_secret()), description, names.stage)
        actions.append(f"created secret {names.c2pa_secret} ({'kms' if chain.kms_key_id else 'pem'})")
    return arn, chain, ""


def bootstrap(clients: Clients, stage: str, *, c2pa: C2paSource | None = None, replace_c2pa: bool = False,
              now: datetime | None = None) -> Bootstrap:
    """Make (or check) a stage's signing key pair, public key parameter and C2PA secret.

    Returns the template values to deploy with (`OWNED_OVERRIDES`). Rerunning changes nothing.
    """
    names, now = StageNames(stage), now or datetime.now(UTC)
    actions: list[str] = []
    signing_arn, state = _ensure_signing_key(clients, names, now, actions)
    c2pa_arn, chain, csr = _ensure_c2pa(clients, names, c2pa, replace_c2pa, actions)
    overrides = {**state.overrides(), "SigningKeySecret": signing_arn}
    if c2pa_arn:
        kms_arn = _kms_key_arn(clients("kms"), chain.kms_key_id) if chain and chain.kms_key_id else ""
        overrides |= {"C2paSigningSecret": c2pa_arn, "C2paKmsKeyArn": kms_arn}
    return Bootstrap(stage, overrides, actions, chain, csr)


# -- rotation ---------------------------------------------------------------------------------------


def _signing_state(clients: Clients, stage: str) -> tuple[str, SigningState]:
    names = StageNames(stage)
    found = _read_secret(clients("secretsmanager"), names.signing_secret)
    if found is None:
        raise DeployError(f"no signing secret {names.signing_secret}: run `imagepipe deploy bootstrap --stage {stage}` first")
    state = SigningState(found[1])
    problems = state.bookkeeping_problems()
    if problems:
        raise DeployError(f"secret {names.signing_secret}: {'; '.join(problems)}")
    return found[0], state


def _slot_key_ids(outputs: Mapping[str, str]) -> dict[str, str]:
    return {slot: outputs[name] for slot, name in (("A", "CloudFrontPublicKeyId"), ("B", "CloudFrontSecondPublicKeyId"))
            if outputs.get(name)}


def rotate_stage(clients: Clients, stage: str, *, now: datetime | None = None) -> Bootstrap:
    """Step 1: a new key pair into the free slot (its private key staged in the secret). Deploy next."""
    now = now or datetime.now(UTC)
    names = StageNames(stage)
    arn, state = _signing_state(clients, stage)
    if state.staged:
        raise DeployError(f"a key is already staged in slot {state.staged['slot']}: deploy, then `imagepipe deploy rotate "
                          f"--stage {stage} --switch`")
    keys = state.keys()
    if len(keys) > 1:
        raise DeployError(f"the key ring still holds {len(keys)} keys: retire the old one first "
                          f"(`imagepipe deploy rotate --stage {stage} --retire`)")
    in_use = keys[0]["public_key_parameter"]
    slot = next((s for s in ("B", "A") if state.slots.get(s) != in_use), None)
    if slot is None:  # pragma: no cover - two slots, one key in use
        raise DeployError("no free key slot")
    private_pem, public_pem = generate_key_pair()
    parameter = names.key_parameter(now)
    actions: list[str] = []
    _ensure_public_key_parameter(clients("ssm"), parameter, public_pem, actions)
    value = dict(state.value)
    value["slots"] = {**state.slots, slot: parameter}
    value["staged"] = {"slot": slot, "private_key_pem": private_pem, "public_key_parameter": parameter,
                       "staged_at": now.isoformat()}
    clients("secretsmanager").put_secret_value(SecretId=arn, SecretString=json.dumps(value))
    actions.append(f"staged a new key pair in slot {slot} ({parameter}); the signing key is unchanged")
    return Bootstrap(stage, {**SigningState(value).overrides(), "SigningKeySecret": arn}, actions)


def rotate_switch(clients: Clients, stage: str, *, outputs: Mapping[str, str], now: datetime | None = None) -> Bootstrap:
    """Step 2: once the deployed key group trusts the staged key, make it the signing key."""
    now = now or datetime.now(UTC)
    arn, state = _signing_state(clients, stage)
    staged = state.staged
    if not staged:
        raise DeployError(f"nothing is staged: `imagepipe deploy rotate --stage {stage}` stages a new key")
    cloudfront = clients("cloudfront")
    key_ids = _slot_key_ids(outputs)
    new_id = key_ids.get(staged["slot"])
    trusted = set(cloudfront.get_key_group(Id=outputs["CloudFrontKeyGroupId"])["KeyGroup"]["KeyGroupConfig"]["Items"])
    encoded = cloudfront.get_public_key(Id=new_id)["PublicKey"]["PublicKeyConfig"]["EncodedKey"] if new_id else ""
    if not new_id or new_id not in trusted or not same_public_key(encoded, public_pem_of(staged["private_key_pem"])):
        raise DeployError(f"the deployed stack does not trust the staged key yet: `sam deploy --config-env {stage}` "
                          "with the slot bootstrap wrote, then switch")
    status = cloudfront.get_distribution(Id=outputs["DistributionId"])["Distribution"]["Status"]
    if status != "Deployed":
        raise DeployError(f"the distribution is {status}: edge locations may not trust the new key yet; switch once it is Deployed")
    ring = []
    for key in state.keys():
        key_id = key.get("key_id") or key_ids.get("A")
        ring.append({**key, "key_id": key_id, "active_from": key.get("active_from") or (now - timedelta(days=1)).isoformat()})
    ring.append({"key_id": new_id, "private_key_pem": staged["private_key_pem"],
                 "public_key_parameter": staged["public_key_parameter"], "active_from": now.isoformat()})
    value = {"keys": ring, "slots": state.slots}
    KeyRing.from_secret(value)  # what sign-url will read
    clients("secretsmanager").put_secret_value(SecretId=arn, SecretString=json.dumps(value))
    retire_at = now + MAX_URL_TTL + SECRET_CACHE
    return Bootstrap(stage, {**state.overrides(), "SigningKeySecret": arn}, [
        f"key {new_id} signs from now on (functions pick it up within {SECRET_CACHE.seconds // 60} minutes); "
        f"URLs signed with the old key stay valid. Retire it after {retire_at:%Y-%m-%d %H:%M} UTC"])


def rotate_retire(clients: Clients, stage: str, *, now: datetime | None = None, force: bool = False) -> Bootstrap:
    """Step 3: drop every key but the current one, once no URL they signed can still be valid."""
    now = now or datetime.now(UTC)
    arn, state = _signing_state(clients, stage)
    if "keys" not in state.value or len(state.value["keys"]) < 2:
        raise DeployError("the key ring holds one key: nothing to retire")
    current = state.ring().current(now)
    since = [parse_time(k.get("active_from")) for k in state.value["keys"] if k["key_id"] == current.key_id][0]
    earliest = (since or now) + MAX_URL_TTL + SECRET_CACHE
    if now < earliest and not force:
        raise DeployError(f"URLs signed with the old key may be valid until {earliest:%Y-%m-%d %H:%M} UTC: retire then "
                          "(--force retires now and breaks them: for a leaked key)")
    kept = [k for k in state.value["keys"] if k["key_id"] == current.key_id]
    value = {"keys": kept, "slots": state.slots}
    clients("secretsmanager").put_secret_value(SecretId=arn, SecretString=json.dumps(value))
    retired = [k["key_id"] for k in state.value["keys"] if k["key_id"] != current.key_id]
    return Bootstrap(stage, {**state.overrides(), "SigningKeySecret": arn}, [
        f"retired {', '.join(retired)}: its slot stays in the key group (idle) until the next rotation replaces it"])


# -- verify -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _probe_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((64, 64)).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def verify(clients: Clients, outputs: Mapping[str, str], parameters: Mapping[str, str], *,
           now: datetime | None = None, sign_probe: bool = True) -> list[Check]:
    """Check a deployed stack's keys against its outputs: secrets real, key group and secret agree,
    the C2PA chain sound and signing. Every failure says what to do."""
    now = now or datetime.now(UTC)
    checks: list[Check] = []
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    checks.append(Check("stack outputs", not missing, f"missing {', '.join(missing)}: deploy the current template" if missing
                        else f"{len(outputs)} outputs"))
    if missing:
        return checks
    checks += _verify_signing(clients, outputs, parameters, now)
    checks += _verify_c2pa(clients, outputs, parameters, now, sign_probe=sign_probe)
    return checks


def _verify_signing(clients: Clients, outputs: Mapping[str, str], parameters: Mapping[str, str], now: datetime) -> list[Check]:
    secrets, cloudfront, ssm = clients("secretsmanager"), clients("cloudfront"), clients("ssm")
    secret_id = outputs["SigningKeySecretArn"]
    found = _read_secret(secrets, secret_id)
    state = SigningState(found[1] if found else {})
    problems = ["the secret does not exist"] if found is None else state.problems()
    if problems:
        return [Check("signing secret", False, f"{secret_id}: {'; '.join(problems)}. Run `imagepipe deploy bootstrap` "
                      "and deploy with the SigningKeySecret it writes")]
    checks = [Check("signing secret", True, f"{len(state.keys())} key(s)" + (
        f", one staged in slot {state.staged['slot']}" if state.staged else ""))]
    ring = state.ring(default_key_id=outputs["CloudFrontPublicKeyId"])
    trusted = cloudfront.get_key_group(Id=outputs["CloudFrontKeyGroupId"])["KeyGroup"]["KeyGroupConfig"]["Items"]
    public_keys = {key_id: cloudfront.get_public_key(Id=key_id)["PublicKey"]["PublicKeyConfig"]["EncodedKey"] for key_id in trusted}
    problems = []
    for key in ring.keys:
        if key.active_from is not None and key.active_from > now + SECRET_CACHE:
            continue  # not signing yet
        if key.key_id not in public_keys:
            problems.append(f"key {key.key_id} of the ring is not in the key group: CloudFront refuses its URLs")
        elif not same_public_key(public_keys[key.key_id], public_pem_of(key.private_key_pem)):
            problems.append(f"key group key {key.key_id} is not the public half of the secret's key")
    try:
        current = ring.current(now)
        url = f"https://{outputs['DistributionDomainName']}/private/imagepipe-verify/probe.webp"
        signed = UrlSigner(current.key_id, current.private_key_pem).sign(url, now + timedelta(minutes=5))
        verdict = verify_signed_url(signed, public_keys, now=now.timestamp())
        if not verdict.ok:
            problems.append(f"a URL signed with the current key {current.key_id} fails CloudFront's check: {verdict.reason}")
    except ValueError as error:
        problems.append(str(error))
    checks.append(Check("key group matches the secret", not problems, "; ".join(problems) or
                        f"signs with {ring.current(now).key_id}; key group trusts {', '.join(sorted(trusted))}"))
    problems = []
    for slot, parameter_name, output in (("A", "CloudFrontPublicKeyPem", "CloudFrontPublicKeyId"),
                                         ("B", "CloudFrontSecondPublicKeyPem", "CloudFrontSecondPublicKeyId")):
        parameter, key_id = parameters.get(parameter_name), outputs.get(output)
        if not parameter or not key_id:
            continue
        try:
            value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            problems.append(f"slot {slot}: SSM parameter {parameter} is gone (the next deploy fails to resolve it)")
            continue
        if key_id in public_keys and not same_public_key(value, public_keys[key_id]):
            problems.append(f"slot {slot}: {parameter} was rewritten after deploy; a new key needs a new parameter "
                            "name (`imagepipe deploy rotate`)")
    checks.append(Check("public key parameters", not problems, "; ".join(problems) or "each slot's parameter holds its key"))
    return checks


def _verify_c2pa(clients: Clients, outputs: Mapping[str, str], parameters: Mapping[str, str], now: datetime, *,
                 sign_probe: bool) -> list[Check]:
    secret_id = outputs["C2paSigningSecretArn"]
    found = _read_secret(clients("secretsmanager"), secret_id)
    try:
        chain = SigningChain.from_secret(found[1]) if found else None
    except (KeyError, TypeError, AttributeError):
        chain = None
    if chain is None:
        return [Check("c2pa secret", False, f"{secret_id} holds no C2PA chain (a placeholder?): run `imagepipe deploy "
                      "bootstrap --c2pa ...` and deploy with the C2paSigningSecret it writes")]
    der = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kms = clients("kms") if chain.kms_key_id else None
    granted = parameters.get("C2paKmsKeyArn", "")
    problems = []
    if kms is not None:
        try:
            key_arn = _kms_key_arn(kms, chain.kms_key_id)
            expected = kms.get_public_key(KeyId=key_arn)["PublicKey"]
        except DeployError as error:
            return [Check("c2pa secret", False, str(error))]
        if granted != key_arn:
            problems.append(f"the secret signs with KMS key {key_arn} but the stack grants kms:Sign on "
                            f"{granted or 'no key'}: deploy with C2paKmsKeyArn={key_arn}")
    else:
        try:
            expected = serialization.load_pem_private_key(chain.private_key_pem.encode(), password=None).public_key().public_bytes(*der)
        except (ValueError, TypeError):
            return [Check("c2pa secret", False, f"{secret_id}: private_key_pem is not a PEM private key")]
    problems += chain_problems(chain, expected, now=now)
    if problems:
        return [Check("c2pa secret", False, "; ".join(problems))]
    leaf = chain.certificates()[0]
    checks = [Check("c2pa secret", True, f"{'kms ' + chain.kms_key_id if kms else 'pem'}; leaf "
                    f"{leaf.subject.rfc4514_string()} valid until {leaf.not_valid_after_utc:%Y-%m-%d}"
                    + (f"; kms:Sign is granted on {granted}, which this chain does not use" if granted and not kms else ""))]
    if sign_probe:
        try:
            from imagepipe.provenance.c2pa_signing import ContentCredentials, GenerationClaim

            credentials = ContentCredentials(chain, kms_client=kms)
            claim = GenerationClaim("00000000-0000-8000-8000-000000000000", "imagepipe-verify", "0", "0" * 64, now.isoformat())
            state = credentials.validate(credentials.sign_original(_probe_png(), "image/png", claim).data).state
            wanted = "Trusted" if chain.trust_anchor_pem else "Valid"
            checks.append(Check("c2pa signs", state == wanted, f"a probe image signed{' through kms:Sign' if kms else ''} "
                                f"reads {state}" + ("" if state == wanted else f" (expected {wanted})")))
        except Exception as error:  # noqa: BLE001 - any failure to sign is the finding
            checks.append(Check("c2pa signs", False, f"signing a probe image failed: {type(error).__name__}: {error}"[:400]))
    return checks


# -- samconfig.toml ---------------------------------------------------------------------------------


def _parse_overrides(raw: object) -> dict[str, str]:
    pairs = shlex.split(raw) if isinstance(raw, str) else [str(p) for p in raw or []]
    return dict(pair.split("=", 1) for pair in pairs)


def _format_overrides(values: Mapping[str, str]) -> str:
    return " ".join(f'{k}=""' if v == "" else f"{k}={shlex.quote(v)}" if re.search(r"[\s\"'\\]", v) else f"{k}={v}"
                    for k, v in values.items())


@dataclass(frozen=True)
class SamConfig:
    """One environment of samconfig.toml: its stack name, region and parameter overrides."""

    path: Path
    environment: str

    def _data(self) -> dict[str, Any]:
        try:
            return tomllib.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    def _section(self, command: str) -> dict[str, Any]:
        return self._data().get(self.environment, {}).get(command, {}).get("parameters", {})

    @property
    def stack_name(self) -> str | None:
        return self._section("deploy").get("stack_name") or self._section("global").get("stack_name")

    @property
    def region(self) -> str | None:
        return self._section("deploy").get("region") or self._section("global").get("region")

    @property
    def overrides(self) -> dict[str, str]:
        return _parse_overrides(self._section("deploy").get("parameter_overrides", ""))

    def write_overrides(self, values: Mapping[str, str]) -> bool:
        """Set ``values`` in this environment's parameter_overrides, the rest of the file as it was.
        Returns whether anything changed."""
        merged = {**self.overrides, **values}
        if merged == self.overrides and self.path.exists():
            return False
        line = f"parameter_overrides = {json.dumps(_format_overrides(merged))}"
        header = f"[{self.environment}.deploy.parameters]"
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        try:
            start = next(i for i, text in enumerate(lines) if text.strip() == header)
        except StopIteration:
            lines += ["", header, line]
        else:
            end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
            found = [i for i in range(start + 1, end) if re.match(r"\s*parameter_overrides\s*=", lines[i])]
            if found and not re.match(r'\s*parameter_overrides\s*=\s*"[^"\\]*(\\.[^"\\]*)*"\s*$', lines[found[0]]):
                raise DeployError(f"{self.path}: {header} parameter_overrides is not a one-line string; set "
                                  f"{_format_overrides(values)} there yourself")
            if found:
                lines[found[0]] = line
            else:
                lines.insert(start + 1, line)
        self.path.write_text("\n".join(lines) + "\n")
        if self.overrides != merged:  # pragma: no cover - the file's TOML disagrees with what was written
            raise DeployError(f"{self.path}: could not write parameter_overrides for {self.environment}")
        return True


# -- the command ------------------------------------------------------------------------------------


def _session(args: argparse.Namespace, config: SamConfig | None) -> Any:
    import boto3

    session = boto3.session.Session(profile_name=args.profile, region_name=args.region or (config.region if config else None))
    if not session.region_name:
        raise DeployError("no AWS region: pass --region (or set it in samconfig.toml or your AWS configuration)")
    return session


def _config(args: argparse.Namespace) -> SamConfig:
    from imagepipe_tools.local.root import find_root

    return SamConfig(find_root() / "samconfig.toml", args.config_env or args.stage)


def stack_description(cloudformation: Any, stack_name: str) -> tuple[dict[str, str], dict[str, str]]:
    """(outputs, parameters) of a deployed stack."""
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except cloudformation.exceptions.ClientError as error:
        raise DeployError(f"stack {stack_name}: {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ResolvedValue", p.get("ParameterValue", "")) for p in stack.get("Parameters", [])}
    return outputs, parameters


def _target(args: argparse.Namespace) -> tuple[Any, str]:
    """(boto3 session, stack name) from --stack, or from the stage's samconfig environment."""
    config = _config(args) if args.stage else None
    stack_name = args.stack or (config.stack_name if config else None)
    if not stack_name:
        raise DeployError("name the stack: --stack NAME, or --stage STAGE with a stack_name in samconfig.toml")
    return _session(args, config), stack_name


def _print_actions(result: Bootstrap) -> None:
    for action in result.actions:
        print(f"  {action}")


def cmd_bootstrap(args: argparse.Namespace) -> int:
    config = _config(args)
    session = _session(args, config)
    read = lambda path: Path(path).read_text() if path else ""  # noqa: E731
    source = None
    if args.c2pa:
        source = C2paSource(args.c2pa, chain_pem=read(args.chain), private_key_pem=read(args.key),
                            trust_anchor_pem=read(args.trust_anchor), kms_key_id=args.kms_key or "", dev_ca=args.dev_ca)
    print(f"bootstrapping stage {args.stage} in {session.region_name} (account secrets, SSM, KMS):")
    result = bootstrap(session.client, args.stage, c2pa=source, replace_c2pa=args.replace_c2pa)
    _print_actions(result)
    if args.write_samconfig:
        changed = config.write_overrides(result.overrides)
        print(f"{'wrote' if changed else 'kept'} {', '.join(result.overrides)} in {config.path.name} [{config.environment}]")
    else:
        print("deploy with: " + _format_overrides(result.overrides))
    if result.csr_pem:
        path = Path(args.csr_out or f"imagepipe-{args.stage}-c2pa.csr")
        path.write_text(result.csr_pem)
        print(f"\nthe KMS key needs a certificate: have your CA issue an end-entity certificate (ECDSA P-256, "
              f"digitalSignature, emailProtection EKU) for the request in {path}, then run this again with "
              f"--c2pa kms --chain ISSUED_CHAIN.pem", file=sys.stderr)
        return 2
    print(f"\nnext: sam deploy --config-env {config.environment}, then imagepipe deploy verify --stage {args.stage}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    session, stack_name = _target(args)
    outputs, parameters = stack_description(session.client("cloudformation"), stack_name)
    checks = verify(session.client, outputs, parameters, sign_probe=not args.no_sign_probe)
    for check in checks:
        print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    ok = all(c.ok for c in checks)
    if ok and not args.skip_smoke:
        from imagepipe_tools import smoke

        report = smoke.run(smoke.Endpoints.from_stack(session, stack_name, outputs, parameters,
                                                      staff_role_arn=args.staff_role_arn, app_role_arn=args.app_role_arn),
                           timeout=args.timeout, log=print)
        ok = report.ok
    print(f"\n{stack_name}: {'verified' if ok else 'NOT verified'}")
    return 0 if ok else 1


def cmd_rotate(args: argparse.Namespace) -> int:
    config = _config(args)
    session = _session(args, config)
    if args.retire:
        result = rotate_retire(session.client, args.stage, force=args.force)
    elif args.switch:
        if not config.stack_name:
            raise DeployError(f"samconfig.toml [{config.environment}] names no stack_name")
        outputs, _ = stack_description(session.client("cloudformation"), config.stack_name)
        result = rotate_switch(session.client, args.stage, outputs=outputs)
    else:
        result = rotate_stage(session.client, args.stage)
    _print_actions(result)
    if config.write_overrides(result.overrides):
        slots = {k: v for k, v in result.overrides.items() if k.startswith("CloudFront")}
        print(f"wrote {_format_overrides(slots)} in {config.path.name} [{config.environment}]")
    if not args.switch and not args.retire:
        print(f"next: sam deploy --config-env {config.environment}, then imagepipe deploy rotate --stage {args.stage} --switch")
    return 0


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except DeployError as error:
            print(f"imagepipe deploy: {error}", file=sys.stderr)
            return 1
    return run


def register(commands: Any) -> None:
    """Add `imagepipe deploy bootstrap|verify|rotate` to the `imagepipe` parser's subcommands."""
    aws = argparse.ArgumentParser(add_help=False)
    aws.add_argument("--region", help="AWS region (default: samconfig.toml's for the stage, else your configuration)")
    aws.add_argument("--profile", help="AWS profile")
    aws.add_argument("--config-env", help="samconfig.toml environment (default: the stage's name)")

    deploy = commands.add_parser("deploy", help="a stage's first deploy: bootstrap, then sam deploy, then verify")
    steps = deploy.add_subparsers(dest="deploy_command", required=True)

    boot = steps.add_parser("bootstrap", parents=[aws], help="make the stage's keys and secrets (before sam deploy)")
    boot.add_argument("--stage", required=True, choices=STAGES)
    boot.add_argument("--c2pa", choices=["pem", "kms", "dev"],
                      help="C2PA signing key: pem (--chain, --key from your CA), kms (a KMS key), dev (a development CA)")
    boot.add_argument("--chain", help="PEM certificate chain, leaf first (pem; kms: the KMS key's certificate)")
    boot.add_argument("--key", help="PEM private key of the leaf (pem)")
    boot.add_argument("--trust-anchor", help="PEM root certificate, for validators (optional)")
    boot.add_argument("--kms-key", help="kms: an existing key (id, ARN, alias; default: alias/imagepipe-STAGE-c2pa, made if missing)")
    boot.add_argument("--dev-ca", action="store_true", help="kms: certify the key with a generated development CA")
    boot.add_argument("--csr-out", help="kms without --chain: where to write the certificate signing request")
    boot.add_argument("--replace-c2pa", action="store_true", help="replace an existing C2PA chain")
    boot.add_argument("--no-samconfig", dest="write_samconfig", action="store_false",
                      help="print the parameter overrides instead of writing them into samconfig.toml")
    boot.set_defaults(func=_guarded(cmd_bootstrap))

    check = steps.add_parser("verify", parents=[aws], help="check the deployed stack's keys, then run the smoke suite")
    target = check.add_mutually_exclusive_group(required=True)
    target.add_argument("--stage", choices=STAGES)
    target.add_argument("--stack", help="stack name (instead of the stage's)")
    check.add_argument("--skip-smoke", action="store_true", help="the key checks only")
    check.add_argument("--no-sign-probe", action="store_true", help="do not sign a probe image with the C2PA key")
    add_smoke_arguments(check)
    check.set_defaults(func=_guarded(cmd_verify))

    rotate = steps.add_parser("rotate", parents=[aws], help="CloudFront key rotation: stage (default), --switch, --retire")
    rotate.add_argument("--stage", required=True, choices=STAGES)
    phase = rotate.add_mutually_exclusive_group()
    phase.add_argument("--switch", action="store_true", help="make the staged key the signing key (after its deploy)")
    phase.add_argument("--retire", action="store_true", help="drop the previous key (a day after the switch)")
    rotate.add_argument("--force", action="store_true", help="--retire at once (a leaked key)")
    rotate.set_defaults(func=_guarded(cmd_rotate))


def add_smoke_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--staff-role-arn", help="reviewer role to assume for the takedown (default: the stack's first "
                        "ReviewerRoleArns)")
    parser.add_argument("--app-role-arn", help="role to assume as the app backend calling sign-url (default: your credentials)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for publication and invalidation")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:  # for tests
    top = argparse.ArgumentParser(prog="imagepipe")
    register(top.add_subparsers(dest="command", required=True))
    return top.parse_args(list(argv))
