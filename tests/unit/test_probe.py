"""Validation (`inspect_image`) and decoding (`decode`) of untrusted image bytes."""

from __future__ import annotations

import io
import struct
import time

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile

from imagepipe.errors import ImageRejectedError
from imagepipe.imaging.formats import UPLOAD_FORMATS
from imagepipe.imaging.probe import decode, inspect_image, normalize
from imagepipe.imaging.probe import ImageInfo

from tests.unit.imaging_fixtures import (
        SRGB_D50_BLUE,
        SRGB_D50_GREEN,
        SRGB_D50_RED,
        encode,
        noise_image,
        png_header_only,
        rgb_icc_profile,
    )


def rejected(data: bytes, **kwargs: object) -> ImageRejectedError:
    with pytest.raises(ImageRejectedError) as caught:
        inspect_image(data, **kwargs)  # type: ignore[arg-type]
    return caught.value


def gif_descriptor_offsets(data: bytes) -> list[int]:
    """Byte offsets of the image descriptors (0x2C) of a well-formed GIF."""
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    found = []
    while data[pos] != 0x3B:
        if data[pos] == 0x2C:
            found.append(pos)
            flags = data[pos + 9]
            pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
        else:
            pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    return found


def animated(
    fmt: str, colours: list[tuple[int, int, int]], size: tuple[int, int] = (32, 24)
) -> bytes:
    frames = [Image.new("RGB", size, colour) for colour in colours]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


# -- rejections ----------------------------------------------------------------------------


def test_empty_bytes_are_rejected_as_empty() -> None:
    """GIVEN no bytes WHEN inspected THEN the reason is ``empty`` (and decode agrees)."""
    assert rejected(b"").reason == "empty"
    with pytest.raises(ImageRejectedError) as caught:
        decode(b"")
    assert caught.value.reason == "empty"


def test_random_bytes_are_not_an_image() -> None:
    """GIVEN 4 KiB of random bytes WHEN inspected THEN the reason is ``not_an_image``."""
    data = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert rejected(data).reason == "not_an_image"


def test_text_file_is_not_an_image() -> None:
    """GIVEN a text file WHEN inspected THEN the reason is ``not_an_image``, with a detail."""
    error = rejected(b"name,width,height\nsunset,1024,1024\n" * 20)
    assert error.reason == "not_an_image"
    assert error.detail


def test_bytes_over_the_limit_are_too_large() -> None:
    """GIVEN a valid PNG bigger than max_bytes
    WHEN inspected
    THEN the reason is ``too_large`` and the detail names both sizes."""
    data = encode(noise_image(64, 64), "PNG")
    error = rejected(data, max_bytes=1000)
    assert error.reason == "too_large"
    assert f"{len(data):,} bytes" in error.detail and "1,000" in error.detail


@pytest.mark.parametrize("fmt", ["BMP", "ICO", "PPM"])
def test_real_image_of_an_unaccepted_format_is_unsupported(fmt: str) -> None:
    """GIVEN a genuine BMP/ICO/PPM WHEN inspected THEN ``unsupported_format`` names the format."""
    error = rejected(encode(noise_image(32, 32), fmt))
    assert error.reason == "unsupported_format"
    assert fmt in error.detail


def test_accepted_formats_can_be_narrowed() -> None:
    """GIVEN a PNG and allowed={"JPEG"} WHEN inspected THEN it is ``unsupported_format``."""
    assert rejected(encode(noise_image(16, 16), "PNG"), allowed={"JPEG"}).reason == (
        "unsupported_format"
    )


def test_unknown_names_in_allowed_are_ignored() -> None:
    """GIVEN allowed={"PNG", "HEIC"} (HEIC unknown to this Pillow)
    WHEN a PNG and a JPEG are inspected
    THEN the PNG passes and the JPEG is ``unsupported_format``, not a crash or ``corrupt``."""
    allowed = {"PNG", "HEIC"}
    assert inspect_image(encode(noise_image(16, 16), "PNG"), allowed=allowed).format == "PNG"
    error = rejected(encode(noise_image(16, 16), "JPEG"), allowed=allowed)
    assert error.reason == "unsupported_format"


def test_huge_png_header_is_refused_before_any_allocation() -> None:
    """GIVEN a 600-byte PNG declaring 50000x50000 (7.5 GB of RGB)
    WHEN inspected and decoded
    THEN both refuse it as ``too_many_pixels`` at once, proving nothing was allocated."""
    data = png_header_only(50_000, 50_000)
    start = time.perf_counter()
    error = rejected(data)
    with pytest.raises(ImageRejectedError) as caught:
        decode(data)
    assert time.perf_counter() - start < 0.5
    assert error.reason == caught.value.reason == "too_many_pixels"
    assert "2,500,000,000" in error.detail and "40,000,000" in error.detail


def test_pixel_limit_is_ours_not_pillows() -> None:
    """GIVEN an 8000x8000 header (64 Mpx: below Pillow's bomb warning at 89.5 Mpx)
    WHEN inspected with the default 40 Mpx limit
    THEN it is ``too_many_pixels`` with a readable WxH detail, quickly."""
    start = time.perf_counter()
    error = rejected(png_header_only(8000, 8000))
    assert time.perf_counter() - start < 0.5
    assert error.reason == "too_many_pixels"
    assert error.detail == "8000x8000 = 64,000,000 pixels exceeds the limit of 40,000,000"


def test_pixel_limit_applies_to_every_tiff_page() -> None:
    """GIVEN a TIFF whose first page is small and second page large
    WHEN inspected with a limit between the two
    THEN page 1 is rejected as ``too_many_pixels``."""
    small, large = noise_image(40, 40), noise_image(200, 150)
    data = encode(small, "TIFF", save_all=True, append_images=[large])
    error = rejected(data, max_pixels=10_000)
    assert error.reason == "too_many_pixels"
    assert error.detail.startswith("frame 1: 200x150")


def test_pixel_limit_applies_to_gif_frames_that_grow_the_canvas() -> None:
    """GIVEN a 32x24 GIF whose second frame descriptor claims 4000x4000
    WHEN inspected
    THEN it is ``too_many_pixels`` from the descriptor, before Pillow would allocate it."""
    data = bytearray(animated("GIF", [(255, 0, 0), (0, 0, 255)]))
    second = gif_descriptor_offsets(bytes(data))[1]
    struct.pack_into("<HH", data, second + 5, 4000, 4000)
    error = rejected(bytes(data), max_pixels=1_000_000)
    assert error.reason == "too_many_pixels"
    assert "frame 1" in error.detail
    with pytest.raises(ImageRejectedError) as caught:
        decode(bytes(data), max_pixels=1_000_000)
    assert caught.value.reason == "too_many_pixels"


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("PNG", {}),
        ("JPEG", {"quality": 90}),
        ("JPEG", {"progressive": True}),
        ("WEBP", {"quality": 80}),
        ("AVIF", {"quality": 60}),
        ("GIF", {}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
    ],
)
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_files_are_rejected_as_truncated(fmt: str, params: dict, keep: float) -> None:
    """GIVEN a real encode cut to half or 90 % of its length
    WHEN inspected
    THEN the reason is ``truncated`` (never a silent partial decode)."""
    data = encode(noise_image(160, 120), fmt, **params)
    assert rejected(data[: int(len(data) * keep)]).reason == "truncated"


@pytest.mark.parametrize("cut", [1, 4, 12])
def test_png_missing_its_final_bytes_is_truncated(cut: int) -> None:
    """GIVEN a PNG missing only the last bytes of its IEND chunk (pixels all present)
    WHEN inspected
    THEN it is still ``truncated``: the file is not whole."""
    data = encode(noise_image(64, 48), "PNG")
    assert rejected(data[:-cut]).reason == "truncated"


def test_gif_missing_its_trailer_is_truncated() -> None:
    """GIVEN a GIF without its final ``;`` WHEN inspected THEN it is ``truncated``."""
    data = encode(noise_image(64, 48), "GIF")
    assert rejected(data[:-1]).reason == "truncated"


def test_damaged_png_is_corrupt() -> None:
    """GIVEN a complete PNG with a flipped byte inside IDAT (bad CRC)
    WHEN inspected
    THEN the reason is ``corrupt``."""
    data = bytearray(encode(noise_image(64, 48), "PNG"))
    data[data.index(b"IDAT") + 40] ^= 0xFF
    assert rejected(bytes(data)).reason == "corrupt"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "AVIF", "GIF", "TIFF"])
def test_damaged_files_never_escape_unclassified(fmt: str) -> None:
    """GIVEN 40 deterministic corruptions of a real file (byte flips, cuts, splices)
    WHEN inspected
    THEN each either passes or raises ImageRejectedError with a known reason:
    no raw Pillow/zlib/struct exception ever escapes."""
    reasons = {"not_an_image", "unsupported_format", "truncated", "corrupt", "too_many_pixels"}
    data = encode(noise_image(48, 40), fmt)
    rng = np.random.default_rng(sum(fmt.encode()))
    for _ in range(40):
        mutated = bytearray(data)
        kind = rng.integers(3)
        pos = int(rng.integers(0, len(data)))
        if kind == 0:
            for p in rng.integers(0, len(data), 4):
                mutated[int(p)] = int(rng.integers(256))
        elif kind == 1:
            del mutated[pos:]
        else:
            mutated[pos:pos] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        try:
            inspect_image(bytes(mutated))
        except ImageRejectedError as error:
            assert error.reason in reasons
            assert error.detail


def test_pillow_still_refuses_truncated_images_globally() -> None:
    """GIVEN the imaging package imported WHEN reading Pillow's switch
    THEN LOAD_TRUNCATED_IMAGES is still False (nothing turned leniency on)."""
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# -- accepted images -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(UPLOAD_FORMATS))
def test_accepted_formats_round_trip(fmt: str) -> None:
    """GIVEN a 90x60 image in every accepted format
    WHEN inspected
    THEN format, content type, extension, size, mode and frame count are reported."""
    data = encode(noise_image(90, 60), fmt)
    info = inspect_image(data)
    content_type, extension = UPLOAD_FORMATS[fmt]
    assert info == ImageInfo(
        format=fmt,
        content_type=content_type,
        extension=extension,
        width=90,
        height=60,
        mode=info.mode,
        frames=1,
    )
    assert info.mode in {"RGB", "P", "RGBA"}


def test_bytearray_and_memoryview_inputs_are_accepted() -> None:
    """GIVEN the same PNG as bytearray and memoryview WHEN inspected and decoded THEN both work."""
    data = encode(noise_image(24, 16), "PNG")
    for view in (bytearray(data), memoryview(data)):
        assert inspect_image(view).width == 24  # type: ignore[arg-type]
        assert decode(view).size == (24, 16)  # type: ignore[arg-type]


def test_exif_orientation_6_swaps_reported_size() -> None:
    """GIVEN a 80x40 JPEG stored sideways with EXIF orientation 6
    WHEN inspected
    THEN the displayed size 40x80 is reported."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    info = inspect_image(encode(noise_image(80, 40), "JPEG", exif=exif))
    assert (info.width, info.height) == (40, 80)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animations_are_validated_frame_by_frame(fmt: str) -> None:
    """GIVEN a 3-frame animated GIF/WebP/APNG WHEN inspected THEN frames == 3 and size is right."""
    info = inspect_image(animated(fmt, [(255, 0, 0), (0, 255, 0), (0, 0, 255)]))
    assert (info.format, info.frames, info.width, info.height) == (fmt, 3, 32, 24)


# -- decode ----------------------------------------------------------------------------------


def test_decode_cmyk_jpeg_gives_rgb() -> None:
    """GIVEN a CMYK JPEG of pure cyan-free magenta+yellow (red) WHEN decoded THEN it is RGB red."""
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))
    out = decode(encode(cmyk, "JPEG", quality=95))
    assert out.mode == "RGB"
    r, g, b = out.getpixel((16, 16))
    assert r > 240 and g < 20 and b < 20


def test_decode_16_bit_grayscale_png_scales_to_8_bits() -> None:
    """GIVEN a 16-bit grayscale PNG (mode I;16) with values 0, 32896 and 65535
    WHEN decoded
    THEN it is RGB with 0, 128 and 255 (scaled, not clipped)."""
    values = np.array([[0, 32896, 65535]], dtype=np.uint16).repeat(4, axis=0)
    source = Image.fromarray(values)
    assert source.mode == "I;16"
    data = encode(source, "PNG")
    assert Image.open(io.BytesIO(data)).mode in {"I;16", "I"}
    out = decode(data)
    assert out.mode == "RGB"
    assert [out.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (128, 128, 128), (255,) * 3]


def test_decode_palette_png_with_transparency_gives_rgba() -> None:
    """GIVEN a palette PNG whose index 0 is transparent
    WHEN decoded
    THEN it is RGBA, transparent where index 0 was and opaque colour elsewhere."""
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.paste(0, (0, 0, 4, 8))
    out = decode(encode(pal, "PNG", transparency=0))
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0
    assert out.getpixel((6, 0)) == (255, 0, 0, 255)


def test_decode_gray_alpha_gives_rgba() -> None:
    """GIVEN an LA PNG (gray 90, alpha 0..255 ramp)
    WHEN decoded
    THEN it is RGBA gray 90 with the same alpha."""
    ramp = Image.linear_gradient("L").resize((256, 2))
    la = Image.merge("LA", [Image.new("L", (256, 2), 90), ramp])
    out = decode(encode(la, "PNG"))
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[:3] == (90, 90, 90)
    assert np.array_equal(np.asarray(out)[..., 3], np.asarray(la)[..., 1])


def test_decode_fully_opaque_rgba_drops_alpha() -> None:
    """GIVEN an RGBA PNG whose alpha is 255 everywhere WHEN decoded THEN it is plain RGB."""
    out = decode(encode(noise_image(20, 20, "RGBA"), "PNG"))
    assert out.mode == "RGB"


def test_decode_converts_an_embedded_non_srgb_profile() -> None:
    """GIVEN a PNG tagged with a linear-light RGB profile whose red and green primaries are
    swapped relative to sRGB
    WHEN decoded
    THEN the pixels are converted through it: stored pure red shows as sRGB green, and the
    linear mid value 128 lands on sRGB 188."""
    icc = rgb_icc_profile(SRGB_D50_GREEN, SRGB_D50_RED, SRGB_D50_BLUE, gamma=1.0)
    image = Image.new("RGB", (4, 4), (255, 0, 0))
    image.paste((128, 0, 0), (0, 0, 2, 2))
    out = decode(encode(image, "PNG", icc_profile=icc))
    assert out.getpixel((3, 3)) == (0, 255, 0)
    r, g, b = out.getpixel((0, 0))
    assert (r, b) == (0, 0) and abs(g - 188) <= 1
    assert "icc_profile" not in out.info


def test_decode_keeps_srgb_tagged_colours() -> None:
    """GIVEN a lossless image tagged with Pillow's sRGB profile
    WHEN decoded
    THEN its colours are intact (within 1 level)."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = noise_image(32, 32)
    out = decode(encode(image, "PNG", icc_profile=srgb))
    diff = np.abs(np.asarray(out, dtype=int) - np.asarray(image, dtype=int))
    assert diff.max() <= 1


def test_decode_applies_orientation_and_drops_exif_with_gps() -> None:
    """GIVEN a JPEG stored sideways (orientation 6) with GPS coordinates in its EXIF and a
    red block in the stored top-left corner
    WHEN decoded
    THEN the image is upright (block at the top-right, size swapped) and carries no EXIF."""
    stored = Image.new("RGB", (80, 40), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (52.0, 30.0, 0.0), 3: "E", 4: (13.0, 24.0, 0.0)}
    data = encode(stored, "JPEG", exif=exif, quality=95)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    out = decode(data)
    assert out.size == (40, 80)
    assert out.getpixel((35, 5))[0] > 200 and out.getpixel((5, 5))[2] > 200
    assert "exif" not in out.info and not out.getexif()
    assert not out.info


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_decode_takes_the_first_frame_of_an_animation(fmt: str) -> None:
    """GIVEN an animation red -> green -> blue
    WHEN decoded
    THEN the result is the red first frame (first-frame policy)."""
    out = decode(animated(fmt, [(255, 0, 0), (0, 255, 0), (0, 0, 255)]))
    assert out.mode == "RGB" and out.size == (32, 24)
    r, g, b = out.getpixel((10, 10))
    assert r > 240 and g < 15 and b < 15


def test_decode_rejects_like_inspect() -> None:
    """GIVEN a truncated JPEG WHEN decoded THEN the same ``truncated`` rejection is raised."""
    data = encode(noise_image(64, 64), "JPEG")
    with pytest.raises(ImageRejectedError) as caught:
        decode(data[: len(data) // 2])
    assert caught.value.reason == "truncated"


def test_normalize_returns_a_new_clean_image() -> None:
    """GIVEN an RGB image with metadata in ``info`` WHEN normalized THEN a new image, info empty."""
    image = noise_image(8, 8)
    image.info["exif"] = b"Exif\x00\x00junk"
    out = normalize(image)
    assert out is not image and out.info == {} and image.info
