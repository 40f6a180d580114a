"""The width/format rule of the t/* behaviour: Python twin and CloudFront Function agree on shared vectors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from imagepipe.delivery.negotiation import DEFAULT_WIDTH, WIDTH_STEPS, cf_request, normalize

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "edge" / "vectors.json").read_text())
REWRITES = [v for v in VECTORS["vectors"] if "uri" in v["expect"]]


def as_cf(request: dict) -> dict:
    """A vector's request in the CloudFront Functions event shape (as the node harness builds it)."""
    query = {k: v if isinstance(v, list) else [v] for k, v in request["querystring"].items()}
    return cf_request(request["uri"], query, request["headers"])


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=[v["name"] for v in VECTORS["vectors"]])
def test_python_rule_passes_the_shared_vectors(vector):
    """GIVEN a vector from edge/vectors.json WHEN the Python twin normalises its request THEN it
    yields the same path (query string dropped) or the same function-generated status as expected."""
    result = normalize(as_cf(vector["request"]))
    if "status" in vector["expect"]:
        assert (result.status, result.uri) == (vector["expect"]["status"], None)
    else:
        assert (result.status, result.uri) == (None, vector["expect"]["uri"])


def test_python_and_vectors_share_the_steps():
    """GIVEN the vector file THEN it names the same width steps and default the Python rule uses
    (the node harness checks the same of the JavaScript)."""
    assert tuple(VECTORS["steps"]) == WIDTH_STEPS and VECTORS["default_width"] == DEFAULT_WIDTH


@pytest.mark.parametrize("vector", REWRITES, ids=[v["name"] for v in REWRITES])
def test_normalising_twice_changes_nothing(vector):
    """GIVEN any vector that rewrites WHEN the explicit viewer form of its result (/t/{id}/{w}w.{ext},
    e.g. a redirect target) is normalised with other query and headers THEN it lands on the same
    path, and the rewritten path itself passes through unchanged: cache keys cannot drift."""
    first = normalize(as_cf(vector["request"]))
    explicit = f"/t/{first.asset_id}/{first.width}w.{first.uri.rsplit('.', 1)[1]}"
    noisy = {"Accept": "image/webp", "Sec-CH-Width": "100"}
    assert normalize(cf_request(explicit, {"w": ["9999"], "f": ["jpeg"]}, noisy)).uri == first.uri
    assert normalize(cf_request(first.uri, {}, noisy)).uri == first.uri


def test_every_snapped_width_is_a_step():
    """GIVEN every width from 1 to 3000 THEN the rule lands on a step, never below the request
    unless the request exceeds the largest step."""
    for w in range(1, 3001):
        result = normalize(cf_request("/t/546b722c-500b-88be-b32d-226f8de0eb1f", {"w": [str(w)]}, {}))
        assert result.width in WIDTH_STEPS
        assert result.width >= min(w, WIDTH_STEPS[-1])


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_cloudfront_function_passes_the_shared_vectors_under_node():
    """GIVEN edge/normalize.js as deployed WHEN node runs it (in a vm context, no exports added)
    against the same vectors THEN every vector passes."""
    run = subprocess.run(["node", "--test", str(ROOT / "edge")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert f"# pass {len(VECTORS['vectors']) + 2}" in run.stdout


@pytest.mark.skipif(shutil.which("njs") is None, reason="njs is not installed (make test-deps installs it)")
def test_cloudfront_function_passes_the_shared_vectors_under_njs():
    """GIVEN edge/normalize.js as deployed WHEN njs (the engine the CloudFront Functions runtime is
    built on, stricter than node) runs it through edge/normalize.njs.js, nothing transpiled or
    polyfilled, against the same vectors THEN every vector is checked and passes."""
    run = subprocess.run(
        ["njs", str(ROOT / "edge" / "normalize.njs.js"), str(ROOT / "edge")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert f": checked {len(VECTORS['vectors'])} vectors, 0 failed" in run.stdout, run.stdout[-3000:]
