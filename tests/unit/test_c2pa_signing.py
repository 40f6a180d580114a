"""C2PA Content Credentials with c2pa-python and a chain this project generates: real signing, real validation."""

from __future__ import annotations

import hashlib
import io

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from PIL import Image

from imagepipe.imaging.engine import EngineSettings, derive
from imagepipe_tools.procedural import render_png
from imagepipe_tools.local.provenance import tampered_copy
from imagepipe.models import DIGITAL_SOURCE_TYPE
from imagepipe.provenance.c2pa_signing import (
    MAX_EMBEDDED_SHARE,
    ContentCredentials,
    GenerationClaim,
    placement,
    sign_variants,
    validate,
)
from imagepipe.provenance.certificates import generate_chain

PROMPT = "a calm mountain lake at sunrise"


@pytest.fixture(scope="module")
def credentials(c2pa_chain) -> ContentCredentials:
    return ContentCredentials(c2pa_chain)


@pytest.fixture(scope="module")
def original(credentials):
    claim = GenerationClaim(
        asset_id="0b6f0c2e-5d1e-8a4b-9c3d-2e1f0a9b8c7d",
        model_id="local",
        model_version="procedural-1",
        prompt_sha256=hashlib.sha256(PROMPT.encode()).hexdigest(),
        created_at="2026-11-27T12:00:00+00:00",
    )
    return credentials.sign_original(render_png(PROMPT, 7, 512, 384), "image/png", claim)


@pytest.fixture(scope="module")
def variants(original):
    return derive(original.data, EngineSettings(widths=(160, 512))).variants


def flipped(data: bytes) -> bytes:
    """One byte of the image data flipped (not of the manifest's unprotected signature padding)."""
    return tampered_copy(data)


def test_the_generated_leaf_certificate_is_one_c2pa_accepts(c2pa_chain):
    """GIVEN the generated chain THEN the leaf has what c2pa-python demands (emailProtection EKU,
    digitalSignature, AuthorityKeyIdentifier, not a CA, not self-signed) and chains to the root."""
    leaf, intermediate = c2pa_chain.certificates()
    root = x509.load_pem_x509_certificate(c2pa_chain.trust_anchor_pem.encode())
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.issuer != leaf.subject
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)


def test_an_original_is_created_by_the_model_as_trained_algorithmic_media(credentials, original):
    """GIVEN a generated PNG signed at creation THEN its manifest reads Trusted against the root,
    says c2pa.created with digitalSourceType trainedAlgorithmicMedia and the model as software
    agent, and carries the prompt's hash but never the prompt."""
    report = credentials.validate(original.data)
    assert report.state == "Trusted", report.failures
    assert report.placement == "embedded" and original.placement == "embedded"
    assert report.actions == ("c2pa.created",)
    assert report.digital_source_type == DIGITAL_SOURCE_TYPE
    assert report.software_agent == {"name": "local", "version": "procedural-1"}
    assert report.generation["prompt_sha256"] == hashlib.sha256(PROMPT.encode()).hexdigest()
    assert PROMPT.encode() not in original.data and b"calm mountain" not in original.data
    assert Image.open(io.BytesIO(original.data)).size == (512, 384)  # still a normal PNG


def test_trust_comes_from_the_anchor_not_from_the_file(c2pa_chain, original):
    """GIVEN the same signed file THEN without our root it is only Valid (intact, signer unknown),
    and a root from another chain does not make it Trusted either."""
    assert validate(original.data, trust_anchor_pem=None).state == "Valid"
    stranger = generate_chain(name="someone else").trust_anchor_pem
    assert validate(original.data, trust_anchor_pem=stranger).state == "Valid"
    assert validate(original.data, trust_anchor_pem=c2pa_chain.trust_anchor_pem).state == "Trusted"


def test_each_variant_gets_its_own_manifest_with_the_original_as_parent(credentials, original, variants):
    """GIVEN variants re-encoded from the signed original (which destroys its manifest) THEN each,
    once signed, reads Trusted with c2pa.opened/resized/transcoded, the original as parentOf
    ingredient, and no claim thumbnail."""
    for variant in variants:
        assert validate(variant.data).state == "none"  # re-encoding dropped the parent's manifest
        signed = credentials.sign_variant(variant.data, variant.content_type, parent=original.data,
                                          parent_content_type="image/png", title=f"{variant.width}w")
        report = credentials.validate(signed.data)
        assert report.state == "Trusted", (variant.format, report.failures)
        assert report.actions == ("c2pa.opened", "c2pa.resized", "c2pa.transcoded")
        (ingredient,) = report.ingredients
        assert ingredient["relationship"] == "parentOf" and ingredient["format"] == "image/png"
        assert b"c2pa.thumbnail" not in signed.manifest and b"c2pa.thumbnail" not in signed.data


def test_a_flipped_byte_reads_invalid_in_every_format(credentials, original, variants):
    """GIVEN a signed original and signed variants in AVIF, WebP and JPEG WHEN one byte in the
    middle of the file is flipped THEN the state is Invalid, never Trusted or none."""
    assert credentials.validate(flipped(original.data)).state == "Invalid"
    for variant in variants:
        signed = credentials.sign_variant(variant.data, variant.content_type, parent=original.data,
                                          parent_content_type="image/png", title="t")
        assert credentials.validate(flipped(signed.data)).state == "Invalid", variant.format


def test_a_remote_manifest_validates_with_its_sidecar_only(credentials, original, variants):
    """GIVEN a small variant signed with a remote manifest THEN the file grows by well under a KB,
    names its sidecar URL, reads none without the sidecar and Trusted with it; a flipped byte
    in the file reads Invalid even with the right sidecar."""
    small = min(variants, key=lambda v: len(v.data))
    signed = credentials.sign_variant(small.data, small.content_type, parent=original.data,
                                      parent_content_type="image/png", title="t",
                                      remote_url_for=lambda m: f"https://cdn.example/public/a/c2pa/{m}.c2pa")
    assert signed.placement == "remote" and signed.added_bytes < 1024
    alone = credentials.validate(signed.data)
    assert (alone.state, alone.remote_url) == ("none", signed.remote_url)
    assert signed.manifest_id in signed.remote_url
    assert credentials.validate(signed.data, manifest=signed.manifest).state == "Trusted"
    assert credentials.validate(flipped(signed.data), manifest=signed.manifest).state == "Invalid"


def test_placement_embeds_unless_the_manifest_outweighs_the_image():
    """A manifest stays in the file unless it is more than MAX_EMBEDDED_SHARE of the served bytes;
    private variants always embed (their sidecar could not be fetched without a signature)."""
    manifest = 9_000
    big = int(manifest / MAX_EMBEDDED_SHARE)
    assert placement("public", big, manifest) == "embedded"
    assert placement("public", 4_000, manifest) == "remote"
    assert placement("private", 4_000, manifest) == "embedded"


def test_a_variant_set_is_placed_by_size(credentials, original, variants):
    """GIVEN a public variant set with one very large file THEN that one is embedded, variants
    where an embedded manifest would be more than MAX_EMBEDDED_SHARE of the bytes are remote,
    results keep their order and each verifies as placed."""
    buffer = io.BytesIO()
    Image.effect_noise((2048, 1536), 64).convert("RGB").save(buffer, "JPEG", quality=90)  # ~1 MB
    items = [(v.data, v.content_type, f"{v.width}w.{v.extension}") for v in variants]
    items.insert(1, (buffer.getvalue(), "image/jpeg", "2048w.jpg"))
    signed = sign_variants(credentials, items, parent=original.data, parent_content_type="image/png",
                           visibility="public", remote_url_for=lambda m: f"https://cdn.example/{m}.c2pa")
    assert len(signed) == len(items)
    assert signed[1].placement == "embedded"
    assert {s.placement for s in signed} == {"embedded", "remote"}
    for (data, _, _), result in zip(items, signed, strict=True):
        assert result.placement == placement("public", len(data), signed[1].added_bytes)
        manifest = result.manifest if result.placement == "remote" else None
        assert credentials.validate(result.data, manifest=manifest).state == "Trusted"
    private = sign_variants(credentials, items, parent=original.data, parent_content_type="image/png",
                            visibility="private", remote_url_for=lambda m: f"https://cdn.example/{m}.c2pa")
    assert {s.placement for s in private} == {"embedded"}


def test_files_without_content_credentials_read_none():
    """A plain image has no manifest: state none (not Invalid); bytes that are no image: none."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(buffer, "JPEG")
    assert validate(buffer.getvalue()).state == "none"
    assert validate(b"not an image at all").state == "none"


def test_a_model_output_that_is_already_signed_keeps_its_credentials_as_parent(credentials):
    """GIVEN a model output that carries its provider's C2PA manifest (Bedrock's models sign theirs)
    WHEN the original is signed THEN the provider's manifest is kept as the parentOf ingredient of
    a c2pa.opened action instead of being overwritten, and ours still reads Trusted."""
    provider = ContentCredentials(generate_chain(name="model provider"))
    claim = GenerationClaim("0b6f0c2e-5d1e-8a4b-9c3d-2e1f0a9b8c7d", "amazon.nova-canvas-v1:0", "v1", "0" * 64, "t")
    from_model = provider.sign_original(render_png(PROMPT, 3, 256, 256), "image/png", claim)
    ours = credentials.sign_original(from_model.data, "image/png", claim)
    report = credentials.validate(ours.data)
    assert report.state == "Trusted" and report.actions == ("c2pa.opened",)
    (ingredient,) = report.ingredients
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["active_manifest"] == f"urn:c2pa:{from_model.manifest_id}"


def test_a_blurred_variant_says_it_was_filtered(credentials, original, variants):
    """GIVEN a public variant derived from a face-blurred original THEN its manifest adds a
    c2pa.filtered action after resizing and transcoding, and still reads Trusted."""
    from imagepipe.stages.derive import BLUR_ACTIONS

    variant = variants[0]
    signed = credentials.sign_variant(variant.data, variant.content_type, parent=original.data,
                                      parent_content_type="image/png", title="t", edits=BLUR_ACTIONS)
    report = credentials.validate(signed.data)
    assert report.state == "Trusted", report.failures
    assert report.actions == ("c2pa.opened", "c2pa.resized", "c2pa.transcoded", "c2pa.filtered")
