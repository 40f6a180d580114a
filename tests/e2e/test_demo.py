"""The demo flow end to end on moto server over loopback: what `make demo` shows, asserted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from imagepipe import wiring
from imagepipe_tools.local import demo
from imagepipe_tools.local.embedded import EmbeddedAws, use_endpoint
from imagepipe_tools.local.runtime import LocalRuntime
from imagepipe_tools.local.stack import LocalStack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    saved = dict(os.environ)
    aws = EmbeddedAws()
    endpoint = aws.start()
    use_endpoint(endpoint)
    wiring.reset()
    out = tmp_path_factory.mktemp("demo")
    try:
        stack = LocalStack(ROOT, endpoint_url=endpoint).deploy()
        log = (out / "functions.log").open("w")
        runtime = LocalRuntime(stack, log=log)
        summary = demo.run(stack, runtime, out / "site", timeout=300)
        log.close()
        yield summary, out / "site", stack
    finally:
        aws.stop()
        wiring.reset()
        os.environ.clear()
        os.environ.update(saved)


def by_label(summary):
    return {a["label"]: a for a in summary["assets"]}


def test_every_outcome_is_reached_and_recorded(demo_run):
    """GIVEN the demo workload on the embedded AWS THEN the queues drain and each asset ends
    where it should: published, review or rejected with the right reason."""
    summary, _, _ = demo_run
    assert summary["drained"]
    assets = by_label(summary)
    expected = {
        "public landscape": ("published", None),
        "private scene": ("published", None),
        "wide public": ("taken_down", "demo: rights holder's request"),
        "needs review": ("published", None),  # approved by a reviewer through the review API
        "kept for review": ("review", "prompt_review:pistol"),
        "policy reject": ("rejected", "prompt_policy"),
        "upload (phone JPEG with GPS)": ("published", None),
        "corrupt upload": ("rejected", "truncated"),
        "not an image": ("rejected", "not_an_image"),
    }
    for label, (status, reason) in expected.items():
        assert assets[label]["status"] == status, label
        if reason:
            assert assets[label]["reason"] == reason, label


def test_staff_approve_one_review_and_take_one_published_asset_down(demo_run):
    """THEN the reviewer's approval through the review API published "needs review" (recorded
    with the reviewer's IAM identity), the other stays pending, and the takedown of "wide public"
    withdrew every object under its prefixes with a CloudFront invalidation of its paths."""
    summary, _, _ = demo_run
    staff, assets = summary["staff"], by_label(summary)
    assert staff["ok"]
    assert staff["approved"]["asset_id"] == assets["needs review"]["asset_id"]
    assert staff["approved"]["reviewer"].endswith("/demo-reviewer")
    assert staff["pending_after"] == [assets["kept for review"]["asset_id"]]
    taken = staff["taken_down"]
    assert taken["asset_id"] == assets["wide public"]["asset_id"] and taken["withdrawn"] > 0 and taken["objects_left"] == 0
    assert taken["invalidations"][0]["paths"] == [f"/public/{taken['asset_id']}/*", f"/private/{taken['asset_id']}/*", f"/t/{taken['asset_id']}*"]


def test_published_assets_have_real_variant_files_and_a_gallery(demo_run):
    """THEN every published asset has AVIF, WebP and JPEG files on disk matching the summary,
    no upscaling, and index.html references them through <picture>/srcset."""
    summary, site, _ = demo_run
    html = (site / "index.html").read_text()
    assert json.loads((site / "summary.json").read_text())["assets"]
    for asset in summary["assets"]:
        if asset["status"] != "published":
            assert not asset["variants"]
            continue
        assert {v["format"] for v in asset["variants"]} == {"avif", "webp", "jpeg"}
        for variant in asset["variants"]:
            path = site / variant["key"]
            assert path.stat().st_size == variant["bytes"]
            assert variant["key"] in html
        assert max(v["width"] for v in asset["variants"]) <= 1536
    assert html.count("<picture>") == sum(a["status"] == "published" for a in summary["assets"])


def test_private_asset_has_a_working_signed_url(demo_run):
    """THEN the private asset's URL from sign-url carries a valid CloudFront signature,
    a tampered copy does not verify, and another requester is refused."""
    summary, _, _ = demo_run
    private = by_label(summary)["private scene"]
    assert private["visibility"] == "private" and "Signature=" in private["signed_url"]
    assert private["signed_url_check"]["signature"] == "valid"
    assert private["signed_url_check"]["tampered"] == "bad signature"
    assert private["signed_url_check"]["other_requester_status"] == 404


def test_malformed_message_is_dead_lettered_not_lost(demo_run):
    """THEN the unparseable generation request sits in the generate DLQ."""
    summary, _, _ = demo_run
    assert [d["queue"] for d in summary["dead_letters"]] == ["imagepipe-dev-generate-requests-dlq"]


def test_every_published_variant_is_c2pa_trusted_and_a_flipped_byte_reads_invalid(demo_run):
    """THEN every variant the demo published validates C2PA Trusted against the local root, as the
    file on disk (with its sidecar beside it when the manifest is remote); the demo's own check
    found a copy with one flipped byte Invalid; each public asset's provenance token verifies."""
    from imagepipe_tools.local.provenance import check_passed
    from imagepipe.provenance.c2pa_signing import validate

    summary, site, stack = demo_run
    published = [a for a in summary["assets"] if a["status"] == "published"]
    assert published
    for asset in published:
        check = asset["content_credentials"]
        assert check_passed(check), (asset["label"], check)
        assert check["tampered"]["state"] == "Invalid"
        assert ("token" in check) == (asset["visibility"] == "public")
        for variant in asset["variants"]:
            data = (site / variant["key"]).read_bytes()
            report = validate(data, trust_anchor_pem=stack.c2pa_trust_anchor)
            if report.state == "none":  # remote manifest: the sidecar the file names, beside it
                sidecar = site / report.remote_url.split("/", 3)[3]
                report = validate(data, manifest=sidecar.read_bytes(), trust_anchor_pem=stack.c2pa_trust_anchor)
            assert report.state == "Trusted", (variant["key"], report.failures)


def test_imagepipe_provenance_traces_a_demo_variant_to_its_generation_record(demo_run, tmp_path, monkeypatch, capsys):
    """GIVEN a variant file written by the demo and the demo's stack running WHEN `imagepipe
    provenance FILE --json` runs THEN it finds the variant by content hash and prints the chain to
    the generation record (model, prompt, seed, requester), the moderation decision, no takedown,
    and the file's C2PA state Trusted; the text form says the same."""
    from imagepipe_tools import cli
    from imagepipe_tools.local.embedded import recorded

    summary, site, stack = demo_run
    asset = by_label(summary)["public landscape"]
    variant = min(asset["variants"], key=lambda v: v["bytes"])
    for name in ("template.yaml", "samconfig.toml", "functions"):  # a project root of our own for the state file
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.setenv("IMAGEPIPE_ROOT", str(tmp_path))
    with recorded(tmp_path, stack.endpoint_url):
        assert cli.main(["provenance", str(site / variant["key"]), "--json"]) == 0
        traced = json.loads(capsys.readouterr().out)
        assert cli.main(["provenance", str(site / variant["key"])]) == 0
        text = capsys.readouterr().out
    assert traced["c2pa"]["state"] == "Trusted"
    (chain,) = traced["chains"]
    assert chain["match"] == "variant" and chain["asset_id"] == asset["asset_id"]
    generation = chain["generation"]
    assert generation["prompt"] == demo.GENERATION_REQUESTS[0][1]["prompt"]
    assert (generation["model_id"], generation["seed"], generation["requester"]) == ("local", 7, "alice")
    assert generation["model_licence"] and generation["model_usage_restrictions"]
    assert chain["moderation"]["verdict"] == "approve" and chain["takedown"] is None
    assert "Trusted" in text and generation["prompt"] in text


def test_a_taken_down_variant_still_traces_to_its_takedown(demo_run):
    """GIVEN the asset the demo took down WHEN one of its (withdrawn) variants is traced by hash
    THEN the chain ends in the takedown record: who took it down."""
    from imagepipe.adapters.provenance_store import ProvenanceStore
    from imagepipe_tools.trace import trace_hash

    summary, _, stack = demo_run
    taken = next(a for a in summary["assets"] if a["status"] == "taken_down")
    store = ProvenanceStore(stack.client("dynamodb"), stack.function("provenance").environment["PROVENANCE_TABLE"])
    publication = next(e for e in store.history(taken["asset_id"]) if e["kind"] == "published")
    (chain,) = trace_hash(publication["data"]["variants"][0]["sha256"], store)
    assert chain["match"] == "variant" and chain["status"] == "taken_down"
    assert chain["takedown"]["by"] and chain["generation"]["prompt"]


def test_delivery_through_the_local_edge(demo_run):
    """THEN, over HTTP on loopback through the local CloudFront: the private asset's wildcard
    URL is served (200) while tampered and unsigned copies are refused (403), an on-demand
    width is rendered as AVIF on the first miss and a cache hit on the second, and the
    taken-down asset is not served."""
    summary, _, _ = demo_run
    assert summary["edge"]["ok"]
    assets = by_label(summary)
    assert assets["private scene"]["edge_check"] == {"policy": "wildcard", "signed": 200, "tampered": 403, "unsigned": 403}
    transform = next(a["transform_check"] for a in summary["assets"] if "transform_check" in a)
    assert [r["x_cache"] for r in transform["requests"]] == ["Miss from cloudfront", "Hit from cloudfront"]
    assert assets["wide public"]["edge_check"]["on_demand"] in (404, 410)
