"""The demo flow end to end on moto server over loopback: what `make demo` shows, asserted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from imagepipe import wiring
from imagepipe.local import demo
from imagepipe.local.embedded import EmbeddedAws, use_endpoint
from imagepipe.local.runtime import LocalRuntime
from imagepipe.local.stack import LocalStack

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
        "wide public": ("published", None),
        "needs review": ("review", "prompt_review:weapon"),
        "policy reject": ("rejected", "prompt_policy"),
        "upload (phone JPEG with GPS)": ("published", None),
        "corrupt upload": ("rejected", "truncated"),
        "not an image": ("rejected", "not_an_image"),
    }
    for label, (status, reason) in expected.items():
        assert assets[label]["status"] == status, label
        if reason:
            assert assets[label]["reason"] == reason, label


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
