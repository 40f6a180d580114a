"""Key layout of the C2PA sidecars and the public provenance token (keys.py owns it)."""

from __future__ import annotations

from imagepipe.keys import c2pa_sidecar_key, parse_variant_key, provenance_token_key

ASSET = "0b6f0c2e-5d1e-8a4b-9c3d-2e1f0a9b8c7d"
MANIFEST = "3c48f0ae-b058-4485-bd9c-45d7d897f674"


def test_sidecars_live_beside_the_variants_and_are_named_by_their_manifest():
    key = c2pa_sidecar_key("public", ASSET, MANIFEST)
    assert key == f"public/{ASSET}/c2pa/{MANIFEST}.c2pa"
    assert parse_variant_key(key) == {"visibility": "public", "asset_id": ASSET, "manifest_id": MANIFEST}


def test_the_provenance_token_is_public_beside_the_public_variants():
    key = provenance_token_key(ASSET)
    assert key == f"public/{ASSET}/provenance.json"
    assert parse_variant_key(key) == {"visibility": "public", "asset_id": ASSET}
    assert parse_variant_key(f"public/{ASSET}/c2pa/../x.c2pa") is None
