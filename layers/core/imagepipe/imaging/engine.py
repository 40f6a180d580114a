"""Derivatives: decode once, resize once per width, encode every format in a thread pool."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from PIL import Image

from .formats import OUTPUT_FORMATS, PILLOW_OUTPUT_FORMATS
from .probe import DEFAULT_MAX_PIXELS, decode, normalize
from .xmp import digital_source_type_xmp

DEFAULT_WIDTHS: tuple[int, ...] = (320, 640, 960, 1280, 1920)

_WEBP_METHOD = 4  # libwebp effort 0..6; 5-6 cost ~2x the time for ~2-3 % smaller files
_JPEG_BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class EngineSettings:
    """How `derive` sizes and encodes derivatives.

    Attributes
    ----------
    widths : tuple[int, ...]
        Width ladder in pixels; see `plan_widths`.
    formats : tuple[str, ...]
        Keys of `OUTPUT_FORMATS`, in the order variants are returned.
    avif_quality, webp_quality, jpeg_quality : int
        Encoder quality, 0..100 (JPEG 1..100). The defaults give similar visual quality
        (SSIM about 0.95 on photo-like content at 640 px) across the three formats.
    avif_speed : int
        libaom speed preset, 0 (slowest, smallest) .. 10.
    max_pixels : int
        Largest accepted source, checked from the header before decoding.
    threads : int
        Worker threads for resizing and encoding; each encoder itself runs single-threaded.
    """

    widths: tuple[int, ...] = DEFAULT_WIDTHS
    formats: tuple[str, ...] = ("avif", "webp", "jpeg")
    avif_quality: int = 60
    webp_quality: int = 80
    jpeg_quality: int = 80
    avif_speed: int = 8
    max_pixels: int = DEFAULT_MAX_PIXELS
    threads: int = 2

    def __post_init__(self) -> None:
        unknown = [fmt for fmt in self.formats if fmt not in OUTPUT_FORMATS]
        if unknown or not self.formats or len(set(self.formats)) != len(self.formats):
            raise ValueError(
                f"formats must be distinct names among {sorted(OUTPUT_FORMATS)}, "
                f"got {self.formats!r}"
            )
        if not self.widths or any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be positive, got {self.widths!r}")
        for name in ("avif_quality", "webp_quality", "jpeg_quality"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise ValueError(f"{name} must be between 0 and 100, got {value}")
        if not 0 <= self.avif_speed <= 10:
            raise ValueError(f"avif_speed must be between 0 and 10, got {self.avif_speed}")
        if self.threads < 1 or self.max_pixels < 1:
            raise ValueError("threads and max_pixels must be at least 1")

    def quality_for(self, fmt: str) -> int:
        """Return the quality setting used for a format key (``"avif"``, ``"webp"``, ``"jpeg"``)."""
        return {"avif": self.avif_quality, "webp": self.webp_quality,
                "jpeg": self.jpeg_quality}[fmt]


@dataclass(frozen=True)
class EncodedVariant:
    """One encoded derivative."""

    width: int
    height: int
    format: str
    content_type: str
    extension: str
    data: bytes = field(repr=False)
    sha256: str
    quality: int

    @property
    def bytes_len(self) -> int:
        """Size of `data` in bytes."""
        return len(self.data)


@dataclass(frozen=True)
class DerivedSet:
    """Every variant derived from one source, plus the size of the decoded, upright source."""

    width: int
    height: int
    variants: tuple[EncodedVariant, ...]


def plan_widths(source_width: int, widths: Iterable[int]) -> tuple[int, ...]:
    """Choose the output widths for a source, never upscaling.

    Parameters
    ----------
    source_width : int
        Width of the decoded, upright source.
    widths : Iterable[int]
        The width ladder.

    Returns
    -------
    tuple[int, ...]
        Sorted, unique widths: the ladder steps not wider than the source, plus the source
        width itself when it is below the largest step (so the full resolution stays
        available). A source narrower than every step gives ``(source_width,)``.

    Examples
    --------
    >>> plan_widths(1024, (320, 640, 960, 1280, 1920))
    (320, 640, 960, 1024)
    >>> plan_widths(200, (320, 640))
    (200,)
    """
    if source_width < 1:
        raise ValueError(f"source width must be positive, got {source_width}")
    ladder = sorted({w for w in widths if w > 0})
    planned = {w for w in ladder if w <= source_width}
    if not ladder or source_width < ladder[-1]:
        planned.add(source_width)
    return tuple(sorted(planned))


def derive(
    source: bytes | Image.Image, settings: EngineSettings = EngineSettings()
) -> DerivedSet:
    """Produce every (width, format) derivative of an image.

    The source is decoded once (`imaging.probe.decode` for bytes; an image is passed
    through `imaging.probe.normalize`, its orientation taken as already applied), resized
    once per width (Lanczos, ``reducing_gap=2.0``, height rounded from the aspect ratio),
    and every resized image is encoded in every format. Work runs on ``settings.threads``
    threads; since ``Image.save`` stores its options on the image object, each encode
    task saves its own copy.

    Every output is sRGB without an embedded profile, carries the DigitalSourceType XMP
    packet, and nothing else from the source (no EXIF, GPS, ICC). AVIF and WebP keep
    alpha; JPEG (progressive, optimised, 4:2:0) flattens it onto white.

    AVIF uses Pillow's native plugin with libaom; ``pillow_avif`` must not be imported in
    the same process, as it would take over ``AVIF`` saving (and its SVT encoder writes
    to stderr). AVIF is by far the slowest encode; the encoder choice will be revisited
    with the speed work.

    Parameters
    ----------
    source : bytes or PIL.Image.Image
        Original file content, or an already decoded image.
    settings : EngineSettings, optional
        Ladder, formats and encoder settings.

    Returns
    -------
    DerivedSet
        Variants ordered by ``settings.formats`` order, then by width.

    Raises
    ------
    ImageRejectedError
        If ``source`` is bytes that `decode` rejects.
    """
    if isinstance(source, Image.Image):
        image = normalize(source)
    else:
        image = decode(bytes(source), max_pixels=settings.max_pixels)
    width, height = image.size
    sizes = [(w, max(1, round(height * w / width))) for w in plan_widths(width, settings.widths)]
    jobs = [(fmt, i) for fmt in settings.formats for i in range(len(sizes))]
    # Longest jobs first (largest width, AVIF before the rest) to shorten the tail.
    cost_rank = {"avif": 0, "webp": 1, "jpeg": 2}
    schedule = sorted(range(len(jobs)), key=lambda j: (-jobs[j][1], cost_rank[jobs[j][0]]))
    xmp = digital_source_type_xmp()
    with ThreadPoolExecutor(max_workers=settings.threads) as pool:
        resized = list(pool.map(lambda size: _resize(image, size), sizes))
        futures = {
            j: pool.submit(_encode, resized[jobs[j][1]], jobs[j][0], settings, xmp)
            for j in schedule
        }
        variants = tuple(futures[j].result() for j in range(len(jobs)))
    return DerivedSet(width=width, height=height, variants=variants)


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def _encode(image: Image.Image, fmt: str, settings: EngineSettings, xmp: bytes) -> EncodedVariant:
    own = image.copy()  # never save an Image object another thread may be saving
    own.info = {}
    quality = settings.quality_for(fmt)
    params: dict[str, object] = {"quality": quality, "xmp": xmp}
    if fmt == "jpeg":
        if own.mode != "RGB":
            background = Image.new("RGBA", own.size, _JPEG_BACKGROUND + (255,))
            own = Image.alpha_composite(background, own.convert("RGBA")).convert("RGB")
        params.update(optimize=True, progressive=True, subsampling=2)
    elif fmt == "webp":
        params.update(method=_WEBP_METHOD)
    elif fmt == "avif":
        params.update(speed=settings.avif_speed, subsampling="4:2:0", codec="aom",
                      max_threads=1)
    out = io.BytesIO()
    own.save(out, PILLOW_OUTPUT_FORMATS[fmt], **params)
    data = out.getvalue()
    spec = OUTPUT_FORMATS[fmt]
    return EncodedVariant(
        width=own.width,
        height=own.height,
        format=fmt,
        content_type=spec.content_type,
        extension=spec.extension,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        quality=quality,
    )
