"""Helpers for the imaging tests: in-memory encodes, crafted headers, a small SSIM."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import ExifTags, Image, ImageCms


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode an image in memory with Pillow."""
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def phone_metadata() -> dict[str, object]:
    """`encode` keyword arguments for what a phone writes: GPS EXIF, a camera make, an sRGB ICC profile."""
    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (52.0, 30.0, 0.0), 3: "E", 4: (13.0, 24.0, 0.0)}
    exif[ExifTags.Base.Make] = "TestCam"
    return {"exif": exif, "icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()}


def noise_image(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A smooth-plus-noisy test image, quick to build and not flat."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [xx / max(width - 1, 1), yy / max(height - 1, 1), 0.5 + 0.5 * np.sin(xx / 7 + yy / 11)],
        axis=-1,
    )
    pixels = np.clip(base * 200 + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).convert(mode)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_header_only(width: int, height: int) -> bytes:
    """A syntactically valid PNG that declares a size and carries one tiny IDAT.

    Decoding it would need width x height x 3 bytes; validation must refuse it from the
    header alone.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def luma(image: Image.Image) -> np.ndarray:
    """BT.601 luma of an RGB(A) image as float64, alpha ignored."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    return rgb @ np.array([0.299, 0.587, 0.114])


def _gaussian_blur(a: np.ndarray, sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(a, radius, mode="reflect")
    rows = sum(t * padded[:, i : i + a.shape[1]] for i, t in enumerate(taps))
    return sum(t * rows[i : i + a.shape[0], :] for i, t in enumerate(taps))


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Mean SSIM on luma with an 11-tap Gaussian window (sigma 1.5), as Wang et al. 2004."""
    x, y = luma(a), luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _gaussian_blur(x), _gaussian_blur(y)
    vx = _gaussian_blur(x * x) - mx * mx
    vy = _gaussian_blur(y * y) - my * my
    cxy = _gaussian_blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * cxy + c2)
    den = (mx * mx + my * my + c1) * (vx + vy + c2)
    return float(np.mean(num / den))


# sRGB colorants adapted to D50, as in the ICC sRGB profile.
SRGB_D50_RED = (0.4361, 0.2225, 0.0139)
SRGB_D50_GREEN = (0.3851, 0.7169, 0.0971)
SRGB_D50_BLUE = (0.1431, 0.0606, 0.7141)
_D50 = (0.9642, 1.0, 0.8249)


def _s15f16(values: tuple[float, float, float]) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def rgb_icc_profile(
    red: tuple[float, float, float],
    green: tuple[float, float, float],
    blue: tuple[float, float, float],
    gamma: float = 1.0,
    name: str = "imagepipe test RGB",
) -> bytes:
    """Build a minimal ICC v2 matrix/TRC RGB display profile.

    ``red``, ``green`` and ``blue`` are the PCS (D50) XYZ colorants; every channel uses the
    same pure-gamma curve. Enough for LittleCMS, and lets a test state exactly where a
    colour must land in sRGB.
    """
    ascii_name = name.encode("ascii") + b"\x00"
    desc = (
        b"desc\x00\x00\x00\x00" + struct.pack(">I", len(ascii_name)) + ascii_name
        + b"\x00" * 8 + b"\x00\x00\x00" + b"\x00" * 67
    )
    xyz = lambda v: b"XYZ \x00\x00\x00\x00" + _s15f16(v)  # noqa: E731
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256)) + b"\x00\x00"
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(_D50)),
        (b"rXYZ", xyz(red)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\x00\x00\x00\x00" + b"public domain\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, blobs = b"", b""
    for sig, blob in tags:
        blob += b"\x00" * (-len(blob) % 4)
        table += sig + struct.pack(">II", offset + len(blobs), len(blob))
        blobs += blob
    body = struct.pack(">I", len(tags)) + table + blobs
    size = 128 + len(body)
    header = (
        struct.pack(">I", size) + b"\x00" * 4 + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ " + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp"
        + b"\x00" * 24 + struct.pack(">I", 0) + _s15f16(_D50) + b"\x00" * 4
    )
    header += b"\x00" * (128 - len(header))
    return header + body
