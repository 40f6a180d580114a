"""A deployment that configures its ladder (template parameters) publishes and serves what it says.

The local stack resolves DerivativeWidths, DerivativeFormats and QualityTarget from template.yaml
into the functions' environment, as CloudFormation would; the real handlers read them at cold start.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imagepipe.imaging.engine import EngineSettings
from tests.conftest import FUNCTION_LOG, ROOT
from tests.integration.delivery_world import CHROME_ACCEPT, build_world

PARAMETERS = {"DerivativeWidths": "160,320", "DerivativeFormats": "webp,png", "QualityTarget": "60"}


@pytest.fixture(scope="module")
def world():
    yield from build_world(ROOT, labels=("public",), parameters=PARAMETERS, log=FUNCTION_LOG)


def test_the_published_ladder_has_the_configured_widths_formats_and_target(world):
    """GIVEN widths 160,320, formats webp,png and target 60 THEN the 640-px asset is published at
    exactly those widths and formats, in that order; PNG is recorded lossless and WebP's probe
    starts below the quality a target of 70 starts at."""
    publication = world.store.asset(world.assets["public"])["publication"]
    variants = publication["variants"]
    assert [(v["format"], v["width"]) for v in variants] == [
        ("webp", 160), ("webp", 320), ("png", 160), ("png", 320)]
    for v in variants:
        if v["format"] == "png":
            assert (v["content_type"], v["quality"], v["score"]) == ("image/png", 100, 100)
            assert v["key"].endswith(".png")
    webp_quality = {int(v["quality"]) for v in variants if v["format"] == "webp"}
    assert max(webp_quality) < EngineSettings().webp_quality


def test_png_is_served_on_demand_when_asked_for_by_name(world):
    """GIVEN PNG among the configured formats WHEN a viewer asks for f=png or an explicit .png path
    THEN the transform renders a PNG at the snapped width; Accept alone still gets AVIF, which the
    edge negotiates whatever the ladder holds."""
    asset_id = world.assets["public"]
    by_query = world.get(f"/t/{asset_id}?w=450&f=png", {"Accept": CHROME_ACCEPT})
    by_path = world.get(f"/t/{asset_id}/480w.png")
    assert by_query.status == by_path.status == 200
    assert by_query.headers["Content-Type"] == "image/png" and by_query.body == by_path.body
    assert Image.open(io.BytesIO(by_query.body)).size == (480, 360)
    negotiated = world.get(f"/t/{asset_id}?w=480", {"Accept": CHROME_ACCEPT})
    assert negotiated.status == 200 and negotiated.headers["Content-Type"] == "image/avif"
