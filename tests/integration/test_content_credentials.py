"""C2PA Content Credentials and provenance through the real handlers (template.yaml on in-process moto)."""

from __future__ import annotations

import hashlib

from imagepipe.adapters.queues import Publisher
from imagepipe.adapters.storage import ObjectStore
from imagepipe.imaging.engine import EngineSettings
from imagepipe_tools.local.provenance import tampered_copy, trace_local_file
from imagepipe.models import DIGITAL_SOURCE_TYPE, DerivativesJob, ProvenanceEvent
from imagepipe.provenance.c2pa_signing import ContentCredentials, placement, validate
from imagepipe.provenance.token import verify_token
from imagepipe_tools.trace import render_text
from imagepipe.stages.derive import publish_variants

from tests.integration.test_pipeline import env, provenance, request, submit, variant_objects

PROMPT = "a calm mountain lake at sunrise"


def flipped(data: bytes) -> bytes:
    """One byte of the image data flipped (not of the manifest's unprotected signature padding)."""
    return tampered_copy(data)


def published(stack, runtime, **overrides):
    (asset_id,) = submit(stack, request(**overrides))
    assert runtime.drain(timeout=120)
    record = provenance(stack).asset(asset_id)
    assert record["status"] == "published"
    return asset_id, record


def body(stack, bucket_env: str, key: str) -> bytes:
    return stack.client("s3").get_object(Bucket=env(stack, bucket_env), Key=key)["Body"].read()


def test_a_generated_original_is_signed_and_recorded_by_the_hash_of_what_is_stored(stack, runtime):
    """GIVEN a generation request WHEN the pipeline drains THEN the stored original carries a Trusted
    c2pa.created manifest (trainedAlgorithmicMedia, the model as software agent, the prompt's hash
    only), the recorded content_sha256 is the hash of the stored (signed) bytes, and the model's
    licence and usage restrictions from the registry are in the creation record."""
    asset_id, record = published(stack, runtime)
    stored = body(stack, "ORIGINALS_BUCKET", record["original_key"])
    assert hashlib.sha256(stored).hexdigest() == record["content_sha256"]
    report = validate(stored, trust_anchor_pem=stack.c2pa_trust_anchor)
    assert report.state == "Trusted", report.failures
    assert report.actions == ("c2pa.created",) and report.digital_source_type == DIGITAL_SOURCE_TYPE
    assert report.software_agent == {"name": "local", "version": "procedural-1"}
    assert report.generation["prompt_sha256"] == hashlib.sha256(PROMPT.encode()).hexdigest()
    assert report.generation["asset_id"] == asset_id and PROMPT.encode() not in stored
    creation = record["creation"]
    assert creation["model_licence"] == "Apache-2.0" and creation["model_usage_restrictions"]
    assert creation["content_credentials"]["placement"] == "embedded"
    assert creation["bytes"] == len(stored)


def test_every_public_variant_is_trusted_as_served_and_a_flipped_byte_is_invalid(stack, runtime):
    """GIVEN a published public asset THEN every variant's key and sha256 are those of the served
    bytes, its manifest is embedded or a sidecar beside it as the size policy says, each validates
    Trusted against the local root (with its sidecar when remote), and a flipped byte reads Invalid."""
    asset_id, record = published(stack, runtime)
    variants = record["publication"]["variants"]
    for variant in variants:
        data = body(stack, "VARIANTS_BUCKET", variant["key"])
        digest = hashlib.sha256(data).hexdigest()
        assert digest == variant["sha256"] and digest[:16] in variant["key"] and len(data) == variant["bytes"]
        credentials = variant["content_credentials"]
        manifest = None
        if credentials["placement"] == "remote":
            sidecar = stack.client("s3").get_object(Bucket=env(stack, "VARIANTS_BUCKET"), Key=credentials["manifest_key"])
            assert sidecar["ContentType"] == "application/c2pa"
            assert sidecar["CacheControl"] == "public, max-age=31536000, immutable"
            manifest = sidecar["Body"].read()
            alone = validate(data, trust_anchor_pem=stack.c2pa_trust_anchor)
            assert (alone.state, alone.remote_url) == ("none", credentials["manifest_url"])
            assert credentials["manifest_url"] == f"https://{env(stack, 'CDN_DOMAIN')}/{credentials['manifest_key']}"
        report = validate(data, manifest=manifest, trust_anchor_pem=stack.c2pa_trust_anchor)
        assert report.state == "Trusted", (variant["key"], report.failures)
        assert report.actions == ("c2pa.opened", "c2pa.resized", "c2pa.transcoded")
        assert report.ingredients[0]["relationship"] == "parentOf"
        assert validate(flipped(data), manifest=manifest, trust_anchor_pem=stack.c2pa_trust_anchor).state == "Invalid"
    remote = [v["bytes"] for v in variants if v["content_credentials"]["placement"] == "remote"]
    embedded = [v["bytes"] - v["content_credentials"]["manifest_bytes"] for v in variants
                if v["content_credentials"]["placement"] == "embedded"]
    assert remote and max(remote) < min(embedded, default=float("inf"))  # small ones go remote, by size alone
    manifest = max(v["content_credentials"]["manifest_bytes"] for v in variants)
    assert all(placement("public", size, manifest) == "embedded" for size in embedded)


def test_a_public_asset_publishes_a_signed_token_without_private_data(stack, runtime):
    """GIVEN a published public asset THEN public/{id}/provenance.json verifies against the C2PA root
    and lists the asset, original and variant hashes, model, source type, creation time and verdict,
    and nothing of the prompt or the requester."""
    asset_id, record = published(stack, runtime)
    token = body(stack, "VARIANTS_BUCKET", f"public/{asset_id}/provenance.json")
    claims = verify_token(token, stack.c2pa_trust_anchor)
    assert claims["asset_id"] == asset_id and claims["original_sha256"] == record["content_sha256"]
    assert {v["sha256"] for v in claims["variants"]} == {v["sha256"] for v in record["publication"]["variants"]}
    assert (claims["model_id"], claims["model_version"]) == ("local", "procedural-1")
    assert claims["digital_source_type"] == DIGITAL_SOURCE_TYPE and claims["moderation_verdict"] == "approve"
    assert claims["created_at"] == record["creation"]["at"]
    assert b"mountain lake" not in token and b"alice" not in token
    assert record["publication"]["provenance_token_key"] == f"public/{asset_id}/provenance.json"


def test_private_variants_embed_their_manifests_and_get_no_public_token(stack, runtime):
    """GIVEN a private asset THEN every manifest is embedded (a sidecar URL would need a signature),
    each variant is Trusted, and nothing is published under public/."""
    asset_id, record = published(stack, runtime, visibility="private", requester="bob", client_request_id="p-1")
    for variant in record["publication"]["variants"]:
        assert variant["content_credentials"]["placement"] == "embedded"
        data = body(stack, "VARIANTS_BUCKET", variant["key"])
        assert validate(data, trust_anchor_pem=stack.c2pa_trust_anchor).state == "Trusted"
    assert not variant_objects(stack, f"public/{asset_id}/")
    assert not [k for k in variant_objects(stack, f"private/{asset_id}/") if k.endswith(".c2pa")]


def test_provenance_traces_a_served_variant_back_to_its_generation_record(stack, runtime):
    """GIVEN a variant file as served WHEN it is traced THEN the content-hash index leads from the
    variant to the original, the generation record (model, version, licence, prompt, seed,
    parameters, requester, times), the moderation decision, no review and no takedown, and the
    file itself reads C2PA Trusted; the original traces as an original; a damaged copy has no
    record and reads Invalid."""
    asset_id, record = published(stack, runtime, negative_prompt="people")
    variant = min(record["publication"]["variants"], key=lambda v: v["bytes"])  # a remote-manifest one
    data = body(stack, "VARIANTS_BUCKET", variant["key"])

    traced = trace_local_file(stack, data)
    assert traced["c2pa"]["state"] == "Trusted" and traced["c2pa"]["placement"] == "remote"
    (chain,) = traced["chains"]
    assert chain["match"] == "variant" and chain["variant"]["key"] == variant["key"]
    assert chain["original"] == chain["original"] | {"key": record["original_key"], "sha256": record["content_sha256"]}
    generation = chain["generation"]
    assert generation["prompt"] == PROMPT and generation["negative_prompt"] == "people"
    assert (generation["model_id"], generation["model_version"], generation["seed"]) == ("local", "procedural-1", 7)
    assert generation["requester"] == "alice" and generation["parameters"]["seed"] == 7
    assert generation["model_licence"] == "Apache-2.0" and generation["at"]
    assert chain["moderation"]["verdict"] == "approve"
    assert chain["review"] is None and chain["takedown"] is None
    assert [e["kind"] for e in chain["events"]] == ["created", "moderated", "published"]
    text = render_text("320w.avif", traced)
    assert PROMPT in text and "Trusted" in text and "takedown    none" in text

    original = trace_local_file(stack, body(stack, "ORIGINALS_BUCKET", record["original_key"]))
    assert [c["match"] for c in original["chains"]] == ["original"] and original["c2pa"]["state"] == "Trusted"
    damaged = trace_local_file(stack, flipped(data))
    assert damaged["chains"] == [] and damaged["c2pa"]["state"] == "Invalid"


def test_an_original_altered_after_moderation_is_refused_not_published(stack, c2pa_chain):
    """GIVEN an original whose stored bytes were changed after signing WHEN the derivatives stage
    runs THEN it records a c2pa_invalid rejection and writes no variant."""
    from imagepipe_tools.local_model import LocalImageModel
    from imagepipe.generation.base import GenerationSpec
    from imagepipe.provenance.c2pa_signing import GenerationClaim

    credentials = ContentCredentials(c2pa_chain)
    png = LocalImageModel().generate(GenerationSpec("x", None, 256, 256, 1)).png
    asset_id = "0b6f0c2e-5d1e-8a4b-9c3d-2e1f0a9b8c7d"
    signed = credentials.sign_original(png, "image/png", GenerationClaim(asset_id, "local", "procedural-1", "0" * 64, "t"))
    s3, key = stack.client("s3"), f"originals/{asset_id}.png"
    s3.put_object(Bucket=env(stack, "ORIGINALS_BUCKET"), Key=key, Body=flipped(signed.data), ContentType="image/png")
    store = provenance(stack)
    store.apply(ProvenanceEvent(event_id="c", asset_id=asset_id, kind="created", actor="t", status="created",
                                data={"original_key": key, "visibility": "public"}))
    store.apply(ProvenanceEvent(event_id="m", asset_id=asset_id, kind="moderated", actor="t", status="approved",
                                data={"verdict": "approve"}))
    result = publish_variants(
        DerivativesJob(asset_id=asset_id, original_key=key, visibility="public"),
        store=ObjectStore(s3),
        publisher=Publisher(stack.client("sqs"), env(stack, "PROVENANCE_QUEUE_URL")),
        originals_bucket=env(stack, "ORIGINALS_BUCKET"),
        variants_bucket=env(stack, "VARIANTS_BUCKET"),
        engine=EngineSettings(widths=(128,)),
        max_bytes=10_000_000,
        content_credentials=credentials,
        provenance=store,
    )
    assert (result.status, result.reason) == ("rejected", "c2pa_invalid")
    assert not variant_objects(stack, "")
