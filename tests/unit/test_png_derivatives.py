"""Opt-in lossless PNG derivatives: exact pixels and alpha, the XMP label only, recorded as lossless."""

from __future__ import annotations

import hashlib
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagepipe_tools import cli
from imagepipe.imaging.engine import DEFAULT_FORMATS, EngineSettings, derive
from imagepipe.imaging.probe import decode
from imagepipe_tools.procedural import render
from imagepipe.imaging.xmp import XMP_PNG_KEY
from imagepipe.keys import parse_variant_key
from imagepipe.models import DIGITAL_SOURCE_TYPE, Manifest
from imagepipe.provenance.c2pa_signing import ContentCredentials, sign_variants

from tests.unit.imaging_fixtures import encode, phone_metadata

WIDTHS = (160, 320)


def sticker() -> Image.Image:
    """A 400x300 RGBA graphic: clear, half-transparent and opaque regions, with soft edges."""
    rgba = np.asarray(render("sticker", 5, 400, 300).convert("RGBA")).copy()
    rgba[:, :100, 3] = 0
    rgba[:, 100:200, 3] = np.linspace(0, 255, 100, dtype=np.uint8)
    return Image.fromarray(rgba)


@pytest.fixture(scope="module")
def source() -> bytes:
    """The sticker as an uploaded PNG carrying GPS EXIF, a camera make and an ICC profile."""
    return encode(sticker(), "PNG", **phone_metadata())


@pytest.fixture(scope="module")
def pngs(source: bytes) -> list:
    return list(derive(source, EngineSettings(widths=WIDTHS, formats=("png",))).variants)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def resized(image: Image.Image, width: int, height: int) -> Image.Image:
    """The engine's documented resize: Lanczos with ``reducing_gap=2``."""
    return image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=2.0)


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """Every (type, payload) of a PNG stream, in order."""
    found, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        found.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return found


def test_png_is_opt_in_never_a_default_format() -> None:
    """GIVEN the engine's defaults THEN PNG is not among the formats derived."""
    assert "png" not in DEFAULT_FORMATS and "png" not in EngineSettings().formats


def test_an_rgba_source_gives_pngs_whose_pixels_and_alpha_are_the_resized_image(source: bytes, pngs: list) -> None:
    """GIVEN an RGBA source WHEN derived as PNG THEN every width decodes as RGBA with exactly the
    pixels (alpha included) of the decoded source resized to that width: nothing is lost."""
    upright = decode(source)
    assert upright.mode == "RGBA"
    for v in pngs:
        image = opened(v.data)
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (v.width, v.height))
        assert np.array_equal(np.asarray(image), np.asarray(resized(upright, v.width, v.height))), v.width


def test_an_opaque_source_gives_rgb_pngs_with_exact_pixels() -> None:
    """GIVEN an opaque source WHEN derived as PNG THEN it stays RGB (no alpha channel added), pixel-exact."""
    source = encode(render("opaque", 2, 400, 300), "PNG")
    [variant] = derive(source, EngineSettings(widths=(320,), formats=("png",))).variants
    image = opened(variant.data)
    assert image.mode == "RGB"
    assert np.array_equal(np.asarray(image), np.asarray(resized(decode(source), 320, 240)))


def test_a_png_carries_the_xmp_label_and_no_other_metadata(pngs: list) -> None:
    """GIVEN a source with GPS EXIF, a camera make and an ICC profile WHEN derived as PNG THEN each
    file holds only IHDR, IDAT, IEND and one uncompressed iTXt chunk with the XMP packet, which
    Pillow reads as DigitalSourceType trainedAlgorithmicMedia; no EXIF, GPS, make or ICC remains."""
    for v in pngs:
        found = chunks(v.data)
        assert {kind for kind, _ in found} == {b"IHDR", b"iTXt", b"IDAT", b"IEND"}, v.width
        [itxt] = [payload for kind, payload in found if kind == b"iTXt"]
        assert itxt.startswith(XMP_PNG_KEY.encode() + b"\x00\x00")  # keyword, then "not compressed"
        image = opened(v.data)
        description = image.getxmp()["xmpmeta"]["RDF"]["Description"]
        assert description["DigitalSourceType"] == DIGITAL_SOURCE_TYPE
        assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
        assert b"TestCam" not in v.data and b"Exif" not in v.data


def test_a_png_is_recorded_as_lossless_at_every_width(pngs: list) -> None:
    """GIVEN PNG variants THEN each says what it is (image/png, extension png, its own sha256) and
    records quality 100 and score 100.0 at every width, probe or not: nothing was searched."""
    assert [v.width for v in pngs] == list(WIDTHS)
    for v in pngs:
        assert (v.format, v.content_type, v.extension) == ("png", "image/png", "png")
        assert v.sha256 == hashlib.sha256(v.data).hexdigest()
        assert (v.quality, v.score) == (100, 100.0)
    settings = EngineSettings(formats=("avif", "png"))
    assert (settings.quality_for("png"), settings.target_for("png")) == (100, None)


def test_png_beside_lossy_formats_under_a_tiny_memory_budget_gives_the_same_bytes(source: bytes) -> None:
    """GIVEN PNG with AVIF and JPEG WHEN derived with a roomy and a one-at-a-time memory budget
    THEN the scheduler costs PNG like the others and the bytes are identical either way."""
    formats = ("avif", "png", "jpeg")
    roomy = derive(source, EngineSettings(widths=WIDTHS, formats=formats))
    tiny = derive(source, EngineSettings(widths=WIDTHS, formats=formats, encode_memory_budget=1))
    assert [v.format for v in roomy.variants] == [f for f in formats for _ in WIDTHS]
    assert [v.data for v in tiny.variants] == [v.data for v in roomy.variants]


def test_derive_cli_formats_png_writes_a_manifest_of_pngs(source: bytes, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN `imagepipe derive --formats png` THEN the variants are PNGs at content-hashed .png keys,
    and the manifest validates with format png, image/png, quality 100 and score 100.0."""
    path = tmp_path / "sticker.png"
    path.write_bytes(source)
    code = cli.main(["derive", str(path), "--out", str(tmp_path / "out"), "--json",
                     "--widths", *map(str, WIDTHS), "--formats", "png"])
    assert code == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    manifest = Manifest.model_validate_json((tmp_path / "out" / result["manifest_key"]).read_bytes())
    assert [(v.format, v.width) for v in manifest.variants] == [("png", w) for w in WIDTHS]
    for v in manifest.variants:
        assert parse_variant_key(v.key)["ext"] == "png" and v.content_type == "image/png"
        assert (v.quality, v.score) == (100, 100.0)
        assert opened((tmp_path / "out" / v.key).read_bytes()).format == "PNG"


def test_png_variants_are_signed_with_content_credentials(c2pa_chain, source: bytes, pngs: list) -> None:
    """GIVEN PNG variants WHEN signed (remote for public, embedded for private) THEN each validates
    Trusted and still carries the XMP label after c2pa rewrote its chunks."""
    credentials = ContentCredentials(c2pa_chain)
    items = [(v.data, v.content_type, f"{v.width}w.{v.extension}") for v in pngs]
    for visibility in ("public", "private"):
        signed = sign_variants(credentials, items, parent=source, parent_content_type="image/png",
                               visibility=visibility, remote_url_for=lambda m: f"https://cdn.example/{m}.c2pa")
        for result in signed:
            manifest = result.manifest if result.placement == "remote" else None
            assert credentials.validate(result.data, "image/png", manifest=manifest).state == "Trusted"
            description = opened(result.data).getxmp()["xmpmeta"]["RDF"]["Description"]
            assert description["DigitalSourceType"] == DIGITAL_SOURCE_TYPE
