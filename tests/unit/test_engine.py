"""Derivative planning and encoding (`plan_widths`, `derive`)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms

from imagepipe.imaging import (
    DEFAULT_WIDTHS,
    OUTPUT_FORMATS,
    DerivedSet,
    EngineSettings,
    decode,
    derive,
    plan_widths,
    render,
)
from imagepipe.models import DIGITAL_SOURCE_TYPE

try:  # tests/unit may or may not become a package
    from .imaging_fixtures import encode, ssim
except ImportError:
    from imaging_fixtures import encode, ssim  # type: ignore[no-redef]

PILLOW_NAMES = {"avif": "AVIF", "webp": "WEBP", "jpeg": "JPEG"}
# Measured on this scene at 640 px with the default settings: AVIF 0.96, WebP 0.96, JPEG 0.97.
SSIM_FLOORS = {"avif": 0.93, "webp": 0.93, "jpeg": 0.94}


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture(scope="module")
def source() -> bytes:
    """A 1100x700 photo-like JPEG carrying GPS EXIF and an ICC profile, as a phone would."""
    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (52.0, 30.0, 0.0), 3: "E", 4: (13.0, 24.0, 0.0)}
    exif[ExifTags.Base.Make] = "TestCam"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(render("engine test scene", 7, 1100, 700), "JPEG", quality=95, exif=exif,
                  icc_profile=icc)


@pytest.fixture(scope="module")
def derived(source: bytes) -> DerivedSet:
    return derive(source, EngineSettings(threads=2))


# -- plan_widths -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_width", "expected"),
    [
        (2000, (320, 640, 960, 1280, 1920)),
        (1920, (320, 640, 960, 1280, 1920)),
        (1024, (320, 640, 960, 1024)),
        (960, (320, 640, 960)),
        (321, (320, 321)),
        (320, (320,)),
        (200, (200,)),
        (1, (1,)),
    ],
)
def test_plan_widths_never_upscales(source_width: int, expected: tuple[int, ...]) -> None:
    """GIVEN the default ladder and a source width
    WHEN planned
    THEN only steps <= the source are kept, plus the source width itself when it is
    below the top step, sorted and unique."""
    assert plan_widths(source_width, DEFAULT_WIDTHS) == expected


def test_plan_widths_sorts_and_dedupes_the_ladder() -> None:
    """GIVEN an unsorted ladder with duplicates WHEN planned THEN the result is sorted, unique."""
    assert plan_widths(700, [640, 320, 640, 1280]) == (320, 640, 700)


def test_plan_widths_rejects_a_zero_width() -> None:
    """GIVEN a width of 0 WHEN planned THEN ValueError."""
    with pytest.raises(ValueError):
        plan_widths(0, DEFAULT_WIDTHS)


# -- derive ----------------------------------------------------------------------------------


def test_every_width_and_format_is_present_in_a_stable_order(derived: DerivedSet) -> None:
    """GIVEN a 1100x700 source WHEN derived with the defaults
    THEN it has every (format, width) of (avif, webp, jpeg) x (320, 640, 960, 1100),
    ordered by format then width, with heights from the aspect ratio and no upscaling."""
    assert (derived.width, derived.height) == (1100, 700)
    got = [(v.format, v.width, v.height) for v in derived.variants]
    widths = (320, 640, 960, 1100)
    assert got == [
        (fmt, w, round(700 * w / 1100)) for fmt in ("avif", "webp", "jpeg") for w in widths
    ]


def test_each_variant_is_what_it_claims(derived: DerivedSet) -> None:
    """GIVEN the derived set WHEN each variant is decoded by Pillow
    THEN format, size, content type, extension, sha256, quality and bytes_len all match."""
    settings = EngineSettings()
    for v in derived.variants:
        image = opened(v.data)
        assert image.format == PILLOW_NAMES[v.format]
        assert image.size == (v.width, v.height)
        assert (v.content_type, v.extension) == OUTPUT_FORMATS[v.format]
        assert v.content_type == {"avif": "image/avif", "webp": "image/webp",
                                  "jpeg": "image/jpeg"}[v.format]
        assert v.sha256 == hashlib.sha256(v.data).hexdigest()
        assert v.quality == settings.quality_for(v.format)
        assert v.bytes_len == len(v.data) > 0
        assert "data" not in repr(v)


def test_every_variant_declares_ai_generated_xmp(derived: DerivedSet) -> None:
    """GIVEN the derived set WHEN reading each file's XMP
    THEN Iptc4xmpExt:DigitalSourceType is trainedAlgorithmicMedia, in the raw bytes and
    as parsed by Pillow."""
    for v in derived.variants:
        assert DIGITAL_SOURCE_TYPE.encode() in v.data
        description = opened(v.data).getxmp()["xmpmeta"]["RDF"]["Description"]
        assert description["DigitalSourceType"] == DIGITAL_SOURCE_TYPE, v.format


def test_no_exif_gps_or_icc_reaches_the_outputs(source: bytes, derived: DerivedSet) -> None:
    """GIVEN a source with GPS EXIF, a camera make and an ICC profile
    WHEN derived
    THEN no output carries EXIF, GPS, the make or an ICC profile."""
    assert opened(source).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    for v in derived.variants:
        image = opened(v.data)
        assert not image.getexif(), v.format
        assert not image.info.get("exif") and not image.info.get("icc_profile"), v.format
        assert b"TestCam" not in v.data and b"Exif\x00\x00" not in v.data


def test_jpeg_is_progressive_420(derived: DerivedSet) -> None:
    """GIVEN the JPEG variants WHEN opened THEN they are progressive with 4:2:0 subsampling."""
    from PIL import JpegImagePlugin

    for v in derived.variants:
        if v.format == "jpeg":
            image = opened(v.data)
            assert image.info.get("progressive")
            assert JpegImagePlugin.get_sampling(image) == 2


def test_visual_quality_floor_at_640(source: bytes, derived: DerivedSet) -> None:
    """GIVEN each 640-px variant and an exact Lanczos resize of the decoded source
    WHEN compared with SSIM on luma
    THEN every format stays above its floor (set a little below measured values)."""
    base = decode(source)
    for v in derived.variants:
        if v.width == 640:
            reference = base.resize((v.width, v.height), Image.Resampling.LANCZOS)
            score = ssim(reference, opened(v.data))
            assert score > SSIM_FLOORS[v.format], (v.format, score)


def test_one_thread_and_two_threads_give_identical_bytes(
    source: bytes, derived: DerivedSet
) -> None:
    """GIVEN the same source WHEN derived with threads=1 and threads=2
    THEN every variant is byte-identical: encode tasks never share an Image object."""
    single = derive(source, EngineSettings(threads=1))
    assert [v.data for v in single.variants] == [v.data for v in derived.variants]


def test_alpha_is_kept_in_avif_and_webp_and_flattened_on_white_in_jpeg() -> None:
    """GIVEN an RGBA source, left half fully transparent, right half opaque
    WHEN derived
    THEN AVIF and WebP decode as RGBA with that alpha, and JPEG is RGB, white on the left."""
    rgba = render("alpha", 1, 400, 300).convert("RGBA")
    alpha = Image.new("L", rgba.size, 255)
    alpha.paste(0, (0, 0, 200, 300))
    rgba.putalpha(alpha)
    result = derive(encode(rgba, "PNG"), EngineSettings(widths=(320, 640)))
    assert {(v.format, v.width) for v in result.variants} == {
        (f, w) for f in ("avif", "webp", "jpeg") for w in (320, 400)
    }
    for v in result.variants:
        image = opened(v.data)
        x_clear, x_solid, y = v.width // 4, v.width * 3 // 4, v.height // 2
        if v.format == "jpeg":
            assert image.mode == "RGB"
            assert min(image.getpixel((x_clear, y))) >= 250
        else:
            assert image.mode == "RGBA", v.format
            assert image.getpixel((x_clear, y))[3] <= 3
            assert image.getpixel((x_solid, y))[3] >= 252


def test_image_and_bytes_sources_give_the_same_output() -> None:
    """GIVEN PNG bytes and the image `decode` makes of them
    WHEN both are derived
    THEN the variants are identical (decode once, then the same pipeline)."""
    data = encode(render("same", 2, 256, 256), "PNG")
    settings = EngineSettings(widths=(128,), threads=1)
    from_bytes = derive(data, settings)
    from_image = derive(decode(data), settings)
    assert [v.sha256 for v in from_bytes.variants] == [v.sha256 for v in from_image.variants]


def test_small_sources_are_not_upscaled() -> None:
    """GIVEN a 200x150 source
    WHEN derived with the default ladder
    THEN only 200 px variants exist."""
    small = render("small", 3, 256, 256).resize((200, 150))
    result = derive(small, EngineSettings(formats=("webp", "jpeg")))
    assert [(v.format, v.width, v.height) for v in result.variants] == [
        ("webp", 200, 150), ("jpeg", 200, 150)
    ]


def test_exif_orientation_is_applied_before_sizing() -> None:
    """GIVEN a 400x300 JPEG with orientation 6 WHEN derived THEN the source is 300x400 upright."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    data = encode(render("turn", 4, 400, 300), "JPEG", exif=exif)
    result = derive(data, EngineSettings(widths=(150, 1000), formats=("jpeg",)))
    assert (result.width, result.height) == (300, 400)
    assert [(v.width, v.height) for v in result.variants] == [(150, 200), (300, 400)]


def test_avif_is_written_by_pillows_native_encoder(derived: DerivedSet) -> None:
    """GIVEN a derive has run WHEN looking at Pillow's AVIF writer
    THEN it is still Pillow's own plugin (pillow_avif was not imported to take it over)."""
    assert Image.SAVE["AVIF"].__module__ == "PIL.AvifImagePlugin"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"formats": ("png",)},
        {"formats": ()},
        {"formats": ("avif", "avif")},
        {"widths": (0, 320)},
        {"avif_quality": 101},
        {"avif_speed": 11},
        {"threads": 0},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict) -> None:
    """GIVEN a nonsensical setting WHEN building EngineSettings THEN ValueError."""
    with pytest.raises(ValueError):
        EngineSettings(**kwargs)


def test_derived_pixels_follow_the_source() -> None:
    """GIVEN a source split into a red and a blue half WHEN derived
    THEN each format keeps red on the left and blue on the right (no channel or side swap)."""
    image = Image.new("RGB", (256, 128), (220, 20, 20))
    image.paste((20, 20, 220), (128, 0, 256, 128))
    for v in derive(image, EngineSettings(widths=(64,), threads=1)).variants:
        pixels = np.asarray(opened(v.data).convert("RGB"), dtype=int)
        left = pixels[:, : v.width // 4].mean((0, 1))
        right = pixels[:, -v.width // 4 :].mean((0, 1))
        assert left[0] > 180 and left[2] < 60 and right[2] > 180 and right[0] < 60, v.format
