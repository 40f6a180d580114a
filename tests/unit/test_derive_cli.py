"""`imagepipe derive`: the published set of local files, without AWS."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from imagepipe_tools import cli, derive_cli
from imagepipe.imaging.engine import EngineSettings, derive
from imagepipe_tools.procedural import render
from imagepipe.keys import parse_variant_key
from imagepipe.models import Manifest

from tests.unit.imaging_fixtures import encode

ARGS = ["--widths", "160", "320"]


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("in") / "scene.png"
    path.write_bytes(encode(render("cli scene", 9, 400, 300), "PNG"))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(["derive", *argv])
    return code, capsys.readouterr().out


def test_writes_the_variants_bucket_layout_and_a_valid_manifest(
    original: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a PNG WHEN `imagepipe derive --json` runs
    THEN every variant sits at its content-hashed key (the key module's layout) with the
    bytes and hash the manifest claims, the manifest validates as `Manifest`, and the probe
    width of each format carries its SSIMULACRA2 score."""
    code, out = run(capsys, str(original), "--out", str(tmp_path), "--json", *ARGS)
    assert code == 0
    [result] = json.loads(out)["results"]
    manifest = Manifest.model_validate_json((tmp_path / result["manifest_key"]).read_bytes())
    assert manifest.asset_id == result["asset_id"]
    assert (manifest.width, manifest.height) == (400, 300)
    assert {(v.format, v.width) for v in manifest.variants} == {
        (f, w) for f in ("avif", "webp", "jpeg") for w in (160, 320)}
    for v in manifest.variants:
        parts = parse_variant_key(v.key)
        assert parts is not None and parts["visibility"] == "public"
        assert parts["asset_id"] == manifest.asset_id and int(parts["width"]) == v.width
        data = (tmp_path / v.key).read_bytes()
        assert len(data) == v.bytes and hashlib.sha256(data).hexdigest() == v.sha256
        assert parts["hash"] == v.sha256[:16]
        assert (v.score is not None) == (v.width == 320)
    assert result["ms"] > 0 and result["cpu_ms"] > 0


def test_output_is_what_the_engine_publishes_and_is_reproducible(
    original: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN the same file derived twice by the CLI and once by `derive` with the same
    settings (as the derivatives stage calls it)
    THEN the asset id, keys and bytes are identical."""
    runs = []
    for name in ("a", "b"):
        code, out = run(capsys, str(original), "--out", str(tmp_path / name), "--json", *ARGS)
        assert code == 0
        runs.append(json.loads(out)["results"][0])
    assert runs[0]["asset_id"] == runs[1]["asset_id"]
    keys = [[v["key"] for v in r["manifest"]["variants"]] for r in runs]
    assert keys[0] == keys[1]
    engine = derive(original.read_bytes(), EngineSettings(widths=(160, 320)))
    assert [v["sha256"] for v in runs[0]["manifest"]["variants"]] == [v.sha256 for v in engine.variants]


def test_a_bad_file_is_reported_and_the_others_still_derived(
    original: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a text file and a PNG WHEN derived THEN exit code 1, the text file is reported
    with its rejection reason and the PNG's set is still written."""
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    code, out = run(capsys, str(bad), str(original), "--out", str(tmp_path / "o"), "--json",
                    "--widths", "160", "--formats", "webp")
    results = json.loads(out)["results"]
    assert code == 1
    assert results[0]["error"] == "not_an_image"
    assert (tmp_path / "o" / results[1]["manifest_key"]).exists()


def test_options_reach_the_engine(original: Path) -> None:
    """GIVEN --target, --quality, --avif-speed and --formats WHEN parsed
    THEN the engine settings carry them (a fixed quality turns that format's target off)."""
    import argparse

    args = derive_cli.add_arguments(argparse.ArgumentParser()).parse_args(
        [str(original), "--out", "x", "--target", "avif=80", "--quality", "jpeg=77",
         "--avif-speed", "8", "--formats", "avif", "jpeg"])
    settings = derive_cli._settings(args)
    assert settings.avif_target == 80.0 and settings.avif_speed == 8
    assert settings.jpeg_target is None and settings.jpeg_quality == 77
    assert settings.formats == ("avif", "jpeg")


def test_human_summary_lists_each_variant(
    original: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN no --json WHEN derived THEN one line per variant with its key and size."""
    code, out = run(capsys, str(original), "--out", str(tmp_path), "--widths", "160",
                    "--formats", "jpeg")
    assert code == 0
    assert "1 variants" in out and "160w." in out and ".jpg" in out


def test_with_content_credentials_every_variant_is_served_signed(original: Path, c2pa_chain) -> None:
    """GIVEN --content-credentials THEN each variant carries a C2PA manifest (embedded, or a sidecar
    written beside it and referenced by URL) that validates Trusted, its key hashes the signed
    bytes, and the manifest JSON records where the credentials are."""
    from imagepipe.provenance.c2pa_signing import ContentCredentials

    credentials = ContentCredentials(c2pa_chain)
    manifest, files, _ = derive_cli.derive_file(original.read_bytes(), EngineSettings(), "public", credentials)
    placements = set()
    for variant in manifest.variants:
        body = files[variant.key]
        assert hashlib.sha256(body).hexdigest() == variant.sha256 and variant.bytes == len(body)
        ref = variant.content_credentials
        assert ref is not None
        placements.add(ref.placement)
        sidecar = files[ref.manifest_key] if ref.placement == "remote" else None
        report = credentials.validate(body, variant.content_type, manifest=sidecar)
        assert report.state == "Trusted", (variant.key, report)
    assert "remote" in placements  # small public variants keep their manifest beside them
