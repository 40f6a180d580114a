"""The KMS route: the C2PA key never leaves AWS KMS; c2pa signs through a callback to kms:Sign."""

from __future__ import annotations

import hashlib

import boto3
from cryptography.hazmat.primitives.serialization import load_der_public_key

from imagepipe.generation.base import GenerationSpec
from imagepipe_tools.local_model import LocalImageModel
from imagepipe.provenance.c2pa_signing import ContentCredentials, GenerationClaim, kms_signer
from imagepipe.provenance.certificates import generate_chain
from imagepipe.provenance.token import TokenSigner, provenance_claims, verify_token


def test_a_kms_held_key_signs_trusted_manifests_and_tokens(aws, c2pa_chain):
    """GIVEN an ECC_NIST_P256 KMS key certified by the local CA THEN originals signed through kms:Sign
    read Trusted and provenance tokens verify, with no private key outside KMS; the price is the
    callback signer's fixed ~11 KB signature reserve, ~9 KB more per manifest than a PEM key."""
    kms = boto3.client("kms")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public_key = load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    chain = generate_chain(name="imagepipe kms", leaf_public_key=public_key, kms_key_id=key_id)
    assert chain.private_key_pem == ""

    png = LocalImageModel().generate(GenerationSpec("x", None, 256, 256, 1)).png
    claim = GenerationClaim("0b6f0c2e-5d1e-8a4b-9c3d-2e1f0a9b8c7d", "local", "procedural-1",
                            hashlib.sha256(b"x").hexdigest(), "2026-11-27T12:00:00+00:00")
    via_kms = ContentCredentials(chain, kms_client=kms).sign_original(png, "image/png", claim)
    assert ContentCredentials(chain, kms_client=kms).validate(via_kms.data).state == "Trusted"
    via_pem = ContentCredentials(c2pa_chain).sign_original(png, "image/png", claim)
    assert 8_000 < via_kms.added_bytes - via_pem.added_bytes < 11_000

    token = TokenSigner(chain, sign_der=kms_signer(kms, key_id)).sign(
        provenance_claims(asset_id=claim.asset_id, original_sha256="a" * 64, variants=[], model_id="local",
                          model_version="procedural-1", digital_source_type=None, created_at=None,
                          moderation_verdict="approve")
    )
    assert verify_token(token, chain.trust_anchor_pem)["asset_id"] == claim.asset_id
