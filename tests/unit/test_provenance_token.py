"""The public provenance token: signed with the C2PA key, verified against the C2PA root, no private data."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from imagepipe.models import DIGITAL_SOURCE_TYPE
from imagepipe.provenance.certificates import generate_chain
from imagepipe.provenance.token import TokenError, TokenSigner, provenance_claims, verify_token

ASSET = "0b6f0c2e-5d1e-8a4b-9c3d-2e1f0a9b8c7d"


def claims(**overrides):
    fields = dict(
        asset_id=ASSET,
        original_sha256="a" * 64,
        variants=[{"sha256": "b" * 64, "width": 320, "height": 240, "format": "avif", "key": "k",
                   "prompt": "must not leak", "requester": "alice"}],
        model_id="local",
        model_version="procedural-1",
        digital_source_type=DIGITAL_SOURCE_TYPE,
        created_at="2026-11-27T12:00:00+00:00",
        moderation_verdict="approve",
        issued_at=datetime(2026, 11, 27, tzinfo=UTC),
    )
    return provenance_claims(**(fields | overrides))


def test_a_token_verifies_against_the_c2pa_root_and_says_only_what_is_public(c2pa_chain):
    """GIVEN a token signed with the C2PA key THEN it verifies against the C2PA root and its claims
    are exactly the public ones: no prompt, no requester, even if a caller passes them along."""
    token = TokenSigner(c2pa_chain).sign(claims())
    verified = verify_token(token, c2pa_chain.trust_anchor_pem)
    assert verified["asset_id"] == ASSET and verified["moderation_verdict"] == "approve"
    assert set(verified) == {"iss", "sub", "iat", "asset_id", "original_sha256", "variants", "model_id",
                             "model_version", "digital_source_type", "created_at", "moderation_verdict"}
    assert set(verified["variants"][0]) == {"sha256", "width", "height", "format"}
    assert b"must not leak" not in token and b"alice" not in token


def test_the_document_is_a_flattened_jws_with_the_signing_chain(c2pa_chain):
    document = json.loads(TokenSigner(c2pa_chain).sign(claims()))
    header = json.loads(base64.urlsafe_b64decode(document["protected"] + "=="))
    assert set(document) == {"protected", "payload", "signature"}
    assert header["alg"] == "ES256" and len(header["x5c"]) == 2  # leaf + intermediate, never the root


def test_altered_tokens_and_foreign_roots_are_refused(c2pa_chain):
    """GIVEN a valid token WHEN its payload is swapped, its signature damaged, or it is checked
    against another root or after its certificate expired THEN verification fails."""
    signer = TokenSigner(c2pa_chain)
    document = json.loads(signer.sign(claims()))
    other = json.loads(signer.sign(claims(moderation_verdict="reject")))
    forged = json.dumps(document | {"payload": other["payload"]})
    with pytest.raises(TokenError, match="bad signature"):
        verify_token(forged, c2pa_chain.trust_anchor_pem)
    damaged = document["signature"][:-4] + ("AAAA" if not document["signature"].endswith("AAAA") else "BBBB")
    with pytest.raises(TokenError):
        verify_token(json.dumps(document | {"signature": damaged}), c2pa_chain.trust_anchor_pem)
    with pytest.raises(TokenError, match="trust anchor"):
        verify_token(json.dumps(document), generate_chain(name="stranger").trust_anchor_pem)
    with pytest.raises(TokenError, match="not valid now"):
        verify_token(json.dumps(document), c2pa_chain.trust_anchor_pem, now=datetime.now(UTC) + timedelta(days=3650))
    with pytest.raises(TokenError, match="malformed"):
        verify_token("{}", c2pa_chain.trust_anchor_pem)
