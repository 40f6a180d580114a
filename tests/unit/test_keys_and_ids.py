"""Key layout and asset ids: the contracts every stage and the CDN rely on."""

from __future__ import annotations

import pytest

from imagepipe import keys
from imagepipe.errors import RejectedInputError
from imagepipe.ids import derived_asset_id, is_asset_id


def test_asset_ids_are_stable_per_source_and_distinct_across_sources():
    """GIVEN the same source parts THEN the same UUIDv8; any other part THEN another id."""
    a = derived_asset_id("generate", "alice", "r1")
    assert a == derived_asset_id("generate", "alice", "r1") and is_asset_id(a)
    assert len({a, derived_asset_id("generate", "alice", "r2"), derived_asset_id("generate", "bob", "r1"),
                derived_asset_id("uploads", "alice", "r1")}) == 4
    # parts are separated, not concatenated: ("ab","c") must differ from ("a","bc")
    assert derived_asset_id("x", "ab", "c") != derived_asset_id("x", "a", "bc")


def test_variant_keys_are_content_hashed_and_parse_back():
    """GIVEN a variant THEN its key carries visibility, asset, width and 16 hex of its hash."""
    asset = derived_asset_id("t")
    key = keys.variant_key("private", asset, 640, "ab" * 32, "avif")
    assert key == f"private/{asset}/640w.{'ab' * 8}.avif"
    assert keys.parse_variant_key(key) == {"visibility": "private", "asset_id": asset, "width": "640",
                                           "hash": "ab" * 8, "ext": "avif"}
    assert keys.parse_variant_key(keys.manifest_key("public", asset)) == {"visibility": "public", "asset_id": asset}
    assert keys.parse_variant_key(f"public/{asset}/../../secret") is None


def test_original_keys_refuse_anything_else():
    """GIVEN a key outside originals/{uuid}.{ext} THEN a clear rejection, not a guess."""
    asset = derived_asset_id("t")
    assert keys.asset_id_from_original_key(keys.original_key(asset, "png")) == asset
    for bad in ("uploads/x.png", f"originals/{asset}", f"originals/{asset}.png/extra", "originals/../x.png"):
        with pytest.raises(RejectedInputError) as error:
            keys.asset_id_from_original_key(bad)
        assert error.value.reason == "unexpected_key"


def test_cache_rules():
    """Public variants are cacheable by anyone for a year; private ones never by shared caches."""
    assert keys.IMMUTABLE_CACHE_CONTROL["public"] == "public, max-age=31536000, immutable"
    assert keys.IMMUTABLE_CACHE_CONTROL["private"].startswith("private,")
    assert keys.is_upload_key("uploads/a/b.png") and not keys.is_upload_key("uploads/a/")


def test_light_format_tables_agree_with_the_imaging_formats() -> None:
    """GIVEN the format tables kept outside the imaging package (so key parsing, negotiation and
    sign-url never load the encoders)
    WHEN compared with `imaging.formats.OUTPUT_FORMATS`
    THEN the key extensions, the edge's extensions and the picture's content types are the same."""
    from imagepipe.delivery.negotiation import EXTENSIONS
    from imagepipe.delivery.responsive import MIME
    from imagepipe.imaging.formats import OUTPUT_FORMATS
    from imagepipe.keys import VARIANT_EXTENSIONS

    assert set(VARIANT_EXTENSIONS) == {spec.extension for spec in OUTPUT_FORMATS.values()}
    assert EXTENSIONS == {fmt: spec.extension for fmt, spec in OUTPUT_FORMATS.items()}
    assert MIME == {fmt: spec.content_type for fmt, spec in OUTPUT_FORMATS.items()}
