"""Validate untrusted image bytes and decode them once into 8-bit sRGB.

Everything here treats its input as hostile: sizes are checked from the header before any
pixel buffer is allocated, files are decoded completely to prove they are whole, and every
failure of Pillow surfaces as an `ImageRejectedError` with a stable reason code:

``empty``, ``too_large``, ``not_an_image``, ``unsupported_format``, ``too_many_pixels``,
``truncated`` and ``corrupt``.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageCms, UnidentifiedImageError

from ..errors import ImageRejectedError
from .formats import UPLOAD_FORMATS, FormatSpec

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 50 * 1024 * 1024

ANIMATION_PIXEL_BUDGET = 4
"""An animation may decode to at most this many times ``max_pixels`` over all its frames.

Each GIF frame is composited on the full canvas, so a small file with many frames can cost
far more work than its size suggests.
"""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"
_AVIF_BRANDS = {b"avif", b"avis"}
_ORIENTATION_TAG = 0x0112
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_WIDE_GRAY_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


@dataclass(frozen=True)
class ImageInfo:
    """What `inspect_image` learned about a valid image.

    Attributes
    ----------
    format : str
        Pillow's format name, a key of `UPLOAD_FORMATS` (MPO files report ``"JPEG"``).
    content_type : str
        MIME type of the format.
    extension : str
        File extension of the format, without a dot.
    width, height : int
        Size as displayed, that is after the EXIF orientation is applied.
    mode : str
        Pillow mode of the stored (first) frame, before any conversion.
    frames : int
        Number of frames; 1 for still images.
    """

    format: str
    content_type: str
    extension: str
    width: int
    height: int
    mode: str
    frames: int


def inspect_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allowed: Collection[str] = UPLOAD_FORMATS,
) -> ImageInfo:
    """Validate untrusted bytes as a whole, reasonably sized image of an accepted format.

    The header is parsed first and the pixel count of the canvas and of every frame is
    checked against ``max_pixels`` before that frame is decoded. Then every frame is
    decoded in full, so truncated or damaged files are rejected here rather than later.

    Parameters
    ----------
    data : bytes
        The untrusted file content.
    max_pixels : int, optional
        Largest accepted ``width * height``, per frame.
    max_bytes : int, optional
        Largest accepted file size.
    allowed : Collection[str], optional
        Accepted Pillow format names; defaults to the keys of `UPLOAD_FORMATS`.

    Returns
    -------
    ImageInfo
        Format, displayed size, mode and frame count.

    Raises
    ------
    ImageRejectedError
        With ``reason`` one of ``empty``, ``too_large``, ``not_an_image``,
        ``unsupported_format``, ``too_many_pixels``, ``truncated``, ``corrupt``.
    """
    data = bytes(data)
    _check_bytes(data, max_bytes)
    allowed_names = tuple(name.upper() for name in allowed)
    with _quiet_warnings():
        im, fmt = _open(data, allowed_names, max_pixels)
        try:
            mode = im.mode
            _check_pixels(im.size, max_pixels)
            _load(im, data, fmt)
            size = im.size
            orientation = _orientation(im)
            frames = _decode_remaining_frames(im, data, fmt, max_pixels)
        finally:
            im.close()
        if fmt == "PNG" and _PNG_IEND not in data:
            raise ImageRejectedError("truncated", "the PNG file ends before its IEND chunk")
    width, height = size
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    spec = _spec_for(fmt)
    return ImageInfo(
        format=fmt,
        content_type=spec.content_type,
        extension=spec.extension,
        width=width,
        height=height,
        mode=mode,
        frames=frames,
    )


def decode(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode an original once into an upright 8-bit sRGB image, ready to resize or score.

    Steps: the same header pixel check as `inspect_image`; decode; apply the EXIF
    orientation; convert to sRGB (`normalize`).

    Animated inputs (GIF, animated WebP/AVIF/PNG, multi-page TIFF, MPO) are reduced to
    their **first frame**: derivatives are still images and moderation scores what they
    show. Only the first frame is decoded.

    Parameters
    ----------
    data : bytes
        Image file content, normally already accepted by `inspect_image`.
    max_pixels : int, optional
        Largest accepted ``width * height``.

    Returns
    -------
    PIL.Image.Image
        Mode ``"RGB"``, or ``"RGBA"`` when at least one pixel is not fully opaque. Its
        ``info`` is empty: no EXIF (GPS, maker notes), ICC profile or XMP survives.

    Raises
    ------
    ImageRejectedError
        With the reasons of `inspect_image`, except ``too_large``: there is no byte limit.
    """
    data = bytes(data)
    if not data:
        raise ImageRejectedError("empty", "the image has 0 bytes")
    with _quiet_warnings():
        im, fmt = _open(data, tuple(UPLOAD_FORMATS), max_pixels)
        try:
            _check_pixels(im.size, max_pixels)
            _load(im, data, fmt)
            orientation = _orientation(im)
            try:
                out = normalize(im)
            except MemoryError:
                raise
            except Exception as exc:  # a plugin can still fail converting odd modes
                raise _classify(exc, data, fmt) from exc
        finally:
            im.close()
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    if method is not None:
        out = out.transpose(method)
    return out


def normalize(image: Image.Image) -> Image.Image:
    """Convert a decoded image of any mode to 8-bit sRGB, dropping its metadata.

    ICC-profiled images are converted with LittleCMS (perceptual intent); CMYK, YCbCr,
    LAB, palette and grayscale images are expanded to RGB; 16-bit and 32-bit grayscale is
    scaled to 8 bits (``I`` images whose values fit in 8 bits are taken as they are, those
    above 16 bits are scaled by their maximum; ``F`` images in ``[0, 1]`` are scaled by 255).
    Alpha is kept only when some pixel is not fully opaque. The orientation is not touched:
    `decode` applies it.

    Parameters
    ----------
    image : PIL.Image.Image
        A loaded image.

    Returns
    -------
    PIL.Image.Image
        A new ``"RGB"`` or ``"RGBA"`` image with an empty ``info``; never ``image`` itself.
    """
    icc = image.info.get("icc_profile")
    im = image
    if im.mode in _WIDE_GRAY_MODES:
        im = _wide_gray_to_l(im)
    elif im.mode == "1":
        im = im.convert("L")
    if im.mode in ("La", "RGBa"):
        im = im.convert({"La": "LA", "RGBa": "RGBA"}[im.mode])
    elif im.mode in ("P", "PA"):
        im = im.convert("RGBA" if im.mode == "PA" or im.has_transparency_data else "RGB")
    elif im.mode in ("L", "RGB") and "transparency" in im.info:
        im = im.convert("RGBA")

    alpha: Image.Image | None = None
    if im.mode in ("RGBA", "LA"):
        alpha = im.getchannel("A")
        im = im.convert("RGB" if im.mode == "RGBA" else "L")

    if icc:
        im = _icc_to_srgb(im, icc)
    if im.mode == "LAB":
        im = ImageCms.applyTransform(im, _lab_to_srgb())
    elif im.mode != "RGB":
        im = im.convert("RGB")

    if alpha is not None and alpha.getextrema()[0] < 255:
        im.putalpha(alpha)
    if im is image:
        im = im.copy()
    im.info = {}
    return im


# -- opening and classification ---------------------------------------------------------


@contextmanager
def _quiet_warnings() -> Iterator[None]:
    # DecompressionBombWarning, "Corrupt EXIF data" and friends: the limits are ours and
    # every real problem becomes an ImageRejectedError.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _check_bytes(data: bytes, max_bytes: int) -> None:
    if not data:
        raise ImageRejectedError("empty", "the image has 0 bytes")
    if len(data) > max_bytes:
        raise ImageRejectedError(
            "too_large", f"{len(data):,} bytes exceeds the limit of {max_bytes:,} bytes"
        )


def _check_pixels(size: tuple[int, int], max_pixels: int, *, frame: int | None = None) -> None:
    width, height = size
    pixels = width * height
    if pixels > max_pixels:
        where = "" if frame is None else f"frame {frame}: "
        raise ImageRejectedError(
            "too_many_pixels",
            f"{where}{width}x{height} = {pixels:,} pixels exceeds the limit of {max_pixels:,}",
        )


def _open(
    data: bytes, allowed: tuple[str, ...], max_pixels: int
) -> tuple[Image.Image, str]:
    """Parse the header with the accepted plugins only; classify anything that fails."""
    if "GIF" in allowed and _sniff(data) == "GIF":
        # Before Pillow sees it: opening a GIF already sets up frame 0 (see _scan_gif).
        _scan_gif(data, max_pixels)
    Image.init()
    registered = tuple(name for name in allowed if name in Image.OPEN)
    try:
        im = Image.open(io.BytesIO(data), formats=registered)
    except Image.DecompressionBombError as exc:
        raise _bomb(exc, max_pixels) from None
    except UnidentifiedImageError:
        pass
    except MemoryError:
        raise
    except Exception as exc:
        raise _classify(exc, data, _sniff(data)) from exc
    else:
        return im, "JPEG" if im.format == "MPO" else str(im.format)

    sniffed = _sniff(data)
    if sniffed is not None:
        if sniffed not in allowed:
            raise _unsupported(sniffed, allowed)
        if _structurally_truncated(data, sniffed):
            raise ImageRejectedError("truncated", f"the {sniffed} file is cut short")
        raise ImageRejectedError(
            "corrupt", f"the data starts like {sniffed} but its header cannot be parsed"
        )
    # Header-only parse with every plugin, just to tell "wrong format" from "not an image".
    try:
        with Image.open(io.BytesIO(data)) as other:
            name = str(other.format)
    except Image.DecompressionBombError:
        name = "an unknown format"
    except MemoryError:
        raise
    except Exception:
        raise ImageRejectedError(
            "not_an_image", "the data is not an image in any format Pillow recognises"
        ) from None
    raise _unsupported(name, allowed)


def _unsupported(name: str, allowed: tuple[str, ...]) -> ImageRejectedError:
    return ImageRejectedError(
        "unsupported_format",
        f"{name} images are not accepted (accepted: {', '.join(allowed) or 'none'})",
    )


def _bomb(exc: Exception, max_pixels: int) -> ImageRejectedError:
    match = _BOMB_PIXELS.search(str(exc))
    declared = f"{int(match[1]):,} pixels" if match else "so many pixels that Pillow refused it"
    return ImageRejectedError(
        "too_many_pixels",
        f"the header declares {declared}, over the limit of {max_pixels:,}",
    )


def _load(im: Image.Image, data: bytes, fmt: str | None) -> None:
    try:
        im.load()
    except MemoryError:
        raise
    except Exception as exc:
        raise _classify(exc, data, fmt) from exc


def _classify(exc: Exception, data: bytes, fmt: str | None) -> ImageRejectedError:
    if isinstance(exc, ImageRejectedError):
        return exc
    if isinstance(exc, Image.DecompressionBombError):
        return ImageRejectedError("too_many_pixels", str(exc))
    label = fmt or "image"
    message = str(exc)
    if (
        isinstance(exc, EOFError | struct.error)
        or "truncat" in message.lower()
        or (fmt is not None and _structurally_truncated(data, fmt))
    ):
        return ImageRejectedError("truncated", f"the {label} file is cut short ({message})")
    return ImageRejectedError(
        "corrupt", f"the {label} file cannot be decoded: {type(exc).__name__}: {message[:200]}"
    )


def _sniff(data: bytes) -> str | None:
    """Name the format from magic bytes, for formats whose structure we can check."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == _PNG_SIGNATURE:
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data[4:8] == b"ftyp" and len(data) >= 16:
        size = int.from_bytes(data[0:4], "big")
        brands = {data[8:12]} | {
            data[i : i + 4] for i in range(16, min(size, len(data), 64) - 3, 4)
        }
        if brands & _AVIF_BRANDS:
            return "AVIF"
    return None


def _structurally_truncated(data: bytes, fmt: str) -> bool:
    """Whether the container's own length fields point past the end of the data."""
    n = len(data)
    if fmt == "PNG":
        return _PNG_IEND not in data
    if fmt == "JPEG":
        return b"\xff\xd9" not in data[-4096:]
    if fmt == "WEBP":
        return n < 12 or int.from_bytes(data[4:8], "little") + 8 > n
    if fmt == "TIFF":
        if n < 8:
            return True
        order = "little" if data[:2] == b"II" else "big"
        if data[2:4] in (b"+\x00", b"\x00+"):
            return n < 16 or int.from_bytes(data[8:16], order) >= n
        return int.from_bytes(data[4:8], order) >= n
    if fmt == "AVIF":
        pos = 0
        while pos < n:
            if pos + 8 > n:
                return True
            size = int.from_bytes(data[pos : pos + 4], "big")
            if size == 1:
                if pos + 16 > n:
                    return True
                size = int.from_bytes(data[pos + 8 : pos + 16], "big")
            elif size == 0:
                return False
            if size < 8:
                return False
            pos += size
        return pos > n
    if fmt == "GIF":
        try:
            _scan_gif(data, max_pixels=None)
        except ImageRejectedError as exc:
            return exc.reason == "truncated"
    return False


def _scan_gif(data: bytes, max_pixels: int | None) -> int:
    """Walk the GIF blocks without decoding: count frames, check frame extents.

    Pillow enlarges the canvas when a frame extends past the logical screen and allocates
    that canvas while seeking, before the caller could check the new size; so the extents
    are checked here from the raw descriptors.
    """
    n = len(data)
    truncated = ImageRejectedError("truncated", "the GIF file ends before its trailer")
    if n < 13:
        raise truncated
    width, height = struct.unpack_from("<HH", data, 6)
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while True:
        if pos >= n:
            raise truncated
        block = data[pos]
        if block == 0x3B:
            return frames
        if block == 0x21:
            pos = _skip_gif_sub_blocks(data, pos + 2, truncated)
        elif block == 0x2C:
            if pos + 10 > n:
                raise truncated
            left, top, w, h = struct.unpack_from("<HHHH", data, pos + 1)
            flags = data[pos + 9]
            pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
            pos = _skip_gif_sub_blocks(data, pos, truncated)
            width, height = max(width, left + w), max(height, top + h)
            if max_pixels is not None:
                _check_pixels((width, height), max_pixels, frame=frames)
            frames += 1
        else:
            raise ImageRejectedError(
                "corrupt", f"the GIF file has an unknown block 0x{block:02x} at byte {pos}"
            )


def _skip_gif_sub_blocks(data: bytes, pos: int, truncated: ImageRejectedError) -> int:
    n = len(data)
    while True:
        if pos >= n:
            raise truncated
        size = data[pos]
        pos += 1
        if size == 0:
            return pos
        pos += size


def _decode_remaining_frames(im: Image.Image, data: bytes, fmt: str, max_pixels: int) -> int:
    """Decode frames 1.. after frame 0 was loaded; return the frame count."""
    if not getattr(im, "is_animated", False) and getattr(im, "n_frames", 1) == 1:
        return 1
    budget = max_pixels * ANIMATION_PIXEL_BUDGET
    total = im.size[0] * im.size[1]
    frame = 1
    while True:
        try:
            im.seek(frame)
        except EOFError:
            return frame
        except MemoryError:
            raise
        except Exception as exc:
            raise _classify(exc, data, fmt) from exc
        _check_pixels(im.size, max_pixels, frame=frame)
        total += im.size[0] * im.size[1]
        if total > budget:
            raise ImageRejectedError(
                "too_many_pixels",
                f"the animation decodes to more than {budget:,} pixels over {frame + 1} "
                f"frames ({ANIMATION_PIXEL_BUDGET} x the per-frame limit of {max_pixels:,})",
            )
        _load(im, data, fmt)
        frame += 1


def _orientation(im: Image.Image) -> int:
    """EXIF orientation (1..8), or 1 when absent or unreadable: bad EXIF is not fatal."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _spec_for(fmt: str) -> FormatSpec:
    spec = UPLOAD_FORMATS.get(fmt)
    if spec is not None:
        return spec
    Image.init()
    extension = next((ext[1:] for ext, name in Image.EXTENSION.items() if name == fmt), "")
    return FormatSpec(Image.MIME.get(fmt, "application/octet-stream"), extension)


# -- colour ------------------------------------------------------------------------------


@cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@cache
def _lab_to_srgb() -> ImageCms.ImageCmsTransform:
    return ImageCms.buildTransform(ImageCms.createProfile("LAB"), _srgb_profile(), "LAB", "RGB")


_PROFILE_SPACES = {"RGB": "RGB ", "CMYK": "CMYK", "L": "GRAY", "LAB": "Lab "}


def _icc_to_srgb(im: Image.Image, icc: bytes) -> Image.Image:
    """Convert through the embedded profile; an unusable profile is ignored (assume sRGB)."""
    expected = _PROFILE_SPACES.get(im.mode)
    if expected is None:
        return im
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if source.profile.xcolor_space != expected:
            return im
        transform = ImageCms.buildTransform(
            source, _srgb_profile(), im.mode, "RGB", ImageCms.Intent.PERCEPTUAL
        )
        return ImageCms.applyTransform(im, transform)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return im


def _wide_gray_to_l(im: Image.Image) -> Image.Image:
    import numpy as np  # only 16/32-bit grayscale needs it: the uploads function's cold start stays without numpy

    values = np.asarray(im)
    if im.mode == "F":
        values = np.nan_to_num(values.astype(np.float64))
        top = float(values.max()) if values.size else 0.0
        scaled = values * 255.0 if top <= 1.0 else values
    else:
        values = values.astype(np.float64)
        top = float(values.max()) if values.size else 0.0
        if im.mode != "I" or 255 < top <= 65535:
            scaled = values / 257.0
        elif top > 65535:
            scaled = values * (255.0 / top)
        else:
            scaled = values
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))
