"""Derivatives: decode once, resize once per width, find each format's quality, encode in parallel.

The plan for one source (`derive`):

1. Decode once (`imaging.probe.decode`: pixel limit from the header before any pixel is
   allocated, EXIF orientation, sRGB 8-bit, first frame of an animation).
2. Resize once per planned width (Lanczos, ``reducing_gap=2``), in the thread pool.
3. Per format, on the *probe* variant (the planned width nearest ``probe_width``, 320 px
   by default): encode at the quality a typical image needs for the format's SSIMULACRA2
   target, and search upwards only when that scores under the floor (``target -
   floor_margin``; see `_search`). The probe variant is the trial that was kept; its
   measured score goes into the manifest.
4. Encode every other width of that format at the quality found, longest jobs first, on
   ``threads`` workers, within a memory budget (`_run_within_budget`): an encode whose
   working memory would not fit beside the ones running waits, so two large AVIF encodes
   (libaom needs ~27 bytes per pixel) never overlap and the peak is bounded whatever the
   aspect ratio. Each task saves its own copy of the image (``Image.save`` keeps its
   options on the image object); a resized image is dropped after its last encode.

Encoders (see the module's benchmark, ``bench/derivatives.py``, for the evidence):

* AVIF: Pillow's own libavif/libaom plugin, 4:2:0, speed 6, one thread per encode and no
  tiles (tiles only pay for multi-threaded encodes; they cost ~1 % at 1920 px).
  ``pillow_avif`` (SVT-AV1, rav1e) is never imported: at equal SSIMULACRA2 and equal CPU,
  SVT-AV1 is 5-15 % larger than libaom (preset 4 vs speed 6, preset 6 vs speed 8), rav1e
  is slower and larger, and importing the plugin would take over ``AVIF`` saving.
  Speed 6 is 11 % smaller than speed 7 for 30 % more CPU; speed 8 halves the CPU for
  18 % more bytes; speed 5 (what sharp's effort 4 runs) is ~7 % smaller for 4.6x the CPU.
  ``tune=ssimulacra2`` (libaom 3.13+) is 3.6 % smaller at equal SSIMULACRA2 but loses SSIM
  at equal bytes: it tunes to the metric, so the default (``tune=iq``) stays.
* WebP: libwebp through Pillow, method 6 (~5 % smaller than 4 at equal SSIMULACRA2 for
  1.6x the WebP time, which is a fifth of the total).
* JPEG: jpegli (``pyjpegli``), then a lossless progressive rewrite by mozjpeg's jpegtran
  (``mozjpeg_lossless_optimization``): about 20 % smaller than libjpeg-turbo (Pillow, or
  sharp's default JPEG) at equal SSIMULACRA2 (jpegli ~10 %, the rewrite ~6 %, per-image
  qualities the rest). jpegli encodes faster than Pillow's progressive libjpeg-turbo; the
  rewrite adds about 30 ms per megapixel. 4:2:0; the pixels are exactly jpegli's.
* PNG (opt-in, for graphics with alpha where a lossy format is wrong): Pillow's zlib
  writer, lossless, so no quality search: quality 100 and score 100 (the decoded pixels
  are the resized image's). The XMP packet goes into an iTXt chunk (Pillow ignores
  ``xmp=`` for PNG).
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from functools import partial
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType

import mozjpeg_lossless_optimization
import numpy as np
import pyjpegli
from PIL import Image

from .formats import OUTPUT_FORMATS, PILLOW_OUTPUT_FORMATS
from .probe import DEFAULT_MAX_PIXELS, decode, normalize
from .quality import Ssimulacra2Reference
from .xmp import digital_source_type_xmp, png_xmp_pnginfo

DEFAULT_WIDTHS: tuple[int, ...] = (320, 640, 960, 1280, 1920)
DEFAULT_FORMATS: tuple[str, ...] = ("avif", "webp", "jpeg")
"""Derivative formats when none are configured; PNG is opt-in only."""
LOSSLESS_FORMATS: frozenset[str] = frozenset({"png"})
"""Formats encoded without loss: no quality search, `LOSSLESS_QUALITY` and `LOSSLESS_SCORE`."""
LOSSLESS_QUALITY = 100
LOSSLESS_SCORE = 100.0

DEFAULT_TARGETS: Mapping[str, float] = MappingProxyType({"avif": 70.0, "webp": 70.0, "jpeg": 70.0})
"""Default SSIMULACRA2 target per format: 70 is "high quality" (artifacts hard to notice)."""

QUALITY_RANGES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {"avif": (20, 95), "webp": (30, 98), "jpeg": (30, 98)}
)
"""The range a quality search may use, per format."""

# Encoder quality points per SSIMULACRA2 point near the targets, measured on photographs
# and generated images; the secant steps only start from it.
_QUALITY_PER_POINT: Mapping[str, float] = MappingProxyType({"avif": 1.6, "webp": 2.0, "jpeg": 1.6})
_CALIBRATED_TARGET = 70.0  # the target the configured qualities are calibrated for
_SCORE_TOLERANCE = 0.75  # a trial within this of the target ends the search
# Loop-filter sharpness 2 (libaom's default is 0): ~2 % smaller AVIF at equal SSIMULACRA2,
# with equal or better SSIM at equal bytes, at no CPU cost (sharpness 1-4 measure alike).
_AOM_OPTIONS: tuple[tuple[str, str], ...] = (("sharpness", "2"),)
_WEBP_METHOD = 6  # libwebp effort 0..6: 6 is ~5 % smaller than 4 at equal SSIMULACRA2, 1.6x the WebP CPU
# With alpha, libwebp's method also sets the effort of the lossless alpha plane, and at 6 it
# runs its slowest lossless search: a 2048-px cutout's WebP set took 8.7 s of CPU at method 6
# (3x its AVIF set) for 3-6 % fewer bytes than method 5.
_WEBP_ALPHA_METHOD = 5
# zlib level 6 (zlib's and Pillow's default), measured at 1920 px: on a flat sticker with
# alpha it is 43-46 % smaller than levels 1-3 for +16 ms (76 ms), and 9 takes twice as long
# for 2 % more bytes; on a photo-like image (not what PNG is for) it is 6.5 % smaller than
# level 1 for 5x the time (0.7 s, about one AVIF encode), and 9 saves 1.5 % more for +50 %.
_PNG_COMPRESS_LEVEL = 6
_JPEG_BACKGROUND = (255, 255, 255)
_XMP_APP1_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
# CPU per pixel of each encoder relative to AVIF (libaom speed 6), for scheduling only. PNG
# measures 0.15 on a flat graphic and 1.15 on a photo-like image: it is costed as AVIF, since
# a long job mistaken for a short one starts last and leaves the other worker idle.
_RELATIVE_COST: Mapping[str, float] = MappingProxyType(
    {"avif": 1.0, "webp": 0.28, "jpeg": 0.08, "png": 1.0}
)
# Peak working memory of one encode, bytes per output pixel (measured at 1920 x 1920: the
# encoder's own buffers plus the copy each task saves; PNG 5.7-6.8, the output held twice).
_ENCODE_BYTES_PER_PIXEL: Mapping[str, int] = MappingProxyType(
    {"avif": 27, "webp": 8, "jpeg": 4, "png": 8}
)


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
        Encoder quality, 0..100: the fixed quality of a format without a target, and the
        first trial of a format's quality search. PNG is lossless and has neither.
    avif_target, webp_target, jpeg_target : float or None
        SSIMULACRA2 score to reach on the probe variant; None encodes at the fixed quality.
    probe_width : int
        The planned width nearest to this one is where qualities are searched and scored.
    floor_margin : float
        The floor under the target: a first trial (at the quality a typical image needs
        for the target) scoring at least ``target - floor_margin`` is kept; only images
        under that floor are searched, up to it (see `_search`).
    max_probes : int
        Most encodes a quality search may try per format.
    score_all : bool
        Also score every other variant (one SSIMULACRA2 per variant: slow, for tools).
    avif_speed : int
        libaom speed preset, 0 (slowest, smallest) .. 10.
    max_pixels : int
        Largest accepted source, checked from the header before decoding.
    threads : int
        Worker threads for resizing, searching and encoding; each encoder runs on one.
    encode_memory_budget : int
        Bytes of encoder working memory that may be in use at once (estimated per encode
        from `_ENCODE_BYTES_PER_PIXEL`). An encode larger than the budget runs alone.
    """

    widths: tuple[int, ...] = DEFAULT_WIDTHS
    formats: tuple[str, ...] = DEFAULT_FORMATS
    avif_quality: int = 52
    webp_quality: int = 75
    jpeg_quality: int = 62
    avif_target: float | None = DEFAULT_TARGETS["avif"]
    webp_target: float | None = DEFAULT_TARGETS["webp"]
    jpeg_target: float | None = DEFAULT_TARGETS["jpeg"]
    probe_width: int = 320
    floor_margin: float = 12.0
    max_probes: int = 4
    score_all: bool = False
    avif_speed: int = 6
    max_pixels: int = DEFAULT_MAX_PIXELS
    threads: int = 2
    encode_memory_budget: int = 128 * 1024 * 1024

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
        for name in ("avif_target", "webp_target", "jpeg_target"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 100:
                raise ValueError(f"{name} must be None or between 0 and 100, got {value}")
        if not 0 <= self.avif_speed <= 10:
            raise ValueError(f"avif_speed must be between 0 and 10, got {self.avif_speed}")
        if (self.threads < 1 or self.max_pixels < 1 or self.max_probes < 1 or self.probe_width < 1
                or self.encode_memory_budget < 1):
            raise ValueError("threads, max_pixels, max_probes, probe_width and "
                             "encode_memory_budget must be at least 1")
        if self.floor_margin < 0:
            raise ValueError(f"floor_margin must not be negative, got {self.floor_margin}")

    def quality_for(self, fmt: str) -> int:
        """Return the fixed (or first-trial) quality of a format; `LOSSLESS_QUALITY` for PNG."""
        return {"avif": self.avif_quality, "webp": self.webp_quality,
                "jpeg": self.jpeg_quality, "png": LOSSLESS_QUALITY}[fmt]

    def target_for(self, fmt: str) -> float | None:
        """Return the SSIMULACRA2 target of a format, or None for a fixed quality (and PNG)."""
        return {"avif": self.avif_target, "webp": self.webp_target,
                "jpeg": self.jpeg_target, "png": None}[fmt]


@dataclass(frozen=True)
class EncodedVariant:
    """One encoded derivative.

    ``quality`` is the encoder setting used; ``score`` the SSIMULACRA2 of this file against
    the resized source it was encoded from, when it was measured (always for the probe
    width, for every variant with ``score_all``), else None. A lossless variant is never
    measured: its quality is `LOSSLESS_QUALITY` and its score `LOSSLESS_SCORE`.
    """

    width: int
    height: int
    format: str
    content_type: str
    extension: str
    data: bytes = field(repr=False)
    sha256: str
    quality: int
    score: float | None = None

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
    and every resized image is encoded in every format, at the quality the format's
    search found on the probe width (see the module docstring).

    Every output is sRGB without an embedded profile, carries the DigitalSourceType XMP
    packet, and nothing else from the source (no EXIF, GPS, ICC). AVIF, WebP and PNG keep
    alpha; JPEG (progressive, 4:2:0) flattens it onto white.

    Parameters
    ----------
    source : bytes or PIL.Image.Image
        Original file content, or an already decoded image.
    settings : EngineSettings, optional
        Ladder, formats, targets and encoder settings.

    Returns
    -------
    DerivedSet
        Variants ordered by ``settings.formats`` order, then by width.

    Raises
    ------
    ImageRejectedError
        If ``source`` is bytes that `decode` rejects (``too_many_pixels`` before decoding).
    """
    if isinstance(source, Image.Image):
        image = normalize(source)
    else:
        image = decode(bytes(source), max_pixels=settings.max_pixels)
    width, height = image.size
    widths = plan_widths(width, settings.widths)
    sizes = [(w, max(1, round(height * w / width))) for w in widths]
    probe = min(range(len(widths)), key=lambda i: (abs(widths[i] - settings.probe_width), i))
    xmp = digital_source_type_xmp()
    done: dict[tuple[str, int], EncodedVariant] = {}
    with ThreadPoolExecutor(max_workers=settings.threads) as pool:
        resized = list(pool.map(partial(_resize, image), sizes))
        del image  # the decoded source is no longer needed (unless it is one of the sizes)
        reference = _ScoringReference(resized[probe])
        # Searches first, AVIF (the longest) first. Then every other encode, longest first
        # (largest pixel count x the format's relative cost), so that the last job to start
        # is a short one and neither worker idles at the end.
        searches = {
            fmt: pool.submit(_search, resized[probe], fmt, settings, xmp, reference)
            for fmt in sorted(settings.formats, key=_RELATIVE_COST.__getitem__, reverse=True)
        }
        for fmt, search in searches.items():
            done[(fmt, probe)] = search.result()
    jobs = [(fmt, i) for fmt in settings.formats for i in range(len(sizes)) if i != probe]
    jobs.sort(key=lambda job: -_RELATIVE_COST[job[0]] * sizes[job[1]][0] * sizes[job[1]][1])
    remaining = {i: sum(1 for _, j in jobs if j == i) for i in range(len(sizes))}
    lock = threading.Lock()

    def encode(job: tuple[str, int]) -> None:
        fmt, i = job
        variant = _encode_scored(resized[i], fmt, done[(fmt, probe)].quality, settings, xmp)
        with lock:
            done[job] = variant
            remaining[i] -= 1
            if remaining[i] == 0 and i != probe:
                resized[i] = None  # type: ignore[call-overload]  # its last encode is done
    _run_within_budget(
        jobs, encode, workers=settings.threads, budget=settings.encode_memory_budget,
        need=lambda job: _ENCODE_BYTES_PER_PIXEL[job[0]] * sizes[job[1]][0] * sizes[job[1]][1],
    )
    variants = tuple(done[(fmt, i)] for fmt in settings.formats for i in range(len(sizes)))
    return DerivedSet(width=width, height=height, variants=variants)


def _run_within_budget(
    jobs: list[tuple[str, int]],
    run: Callable[[tuple[str, int]], None],
    *,
    workers: int,
    budget: int,
    need: Callable[[tuple[str, int]], int],
) -> None:
    """Run ``jobs`` on ``workers`` threads, in order, with at most ``budget`` of ``need`` in use.

    A free worker takes the first pending job that fits in what is left of the budget (so
    a small job may pass a large one that has to wait); a job larger than the whole budget
    runs when nothing else is running. The first error stops the taking of new jobs and
    is raised once the running ones have finished.
    """
    pending = list(jobs)
    in_use = 0
    running = 0
    errors: list[BaseException] = []
    changed = threading.Condition()

    def take() -> tuple[tuple[str, int], int] | None:
        nonlocal in_use, running
        with changed:
            while True:
                if errors or not pending:
                    return None
                for index, job in enumerate(pending):
                    cost = min(need(job), budget)
                    if in_use + cost <= budget:
                        del pending[index]
                        in_use += cost
                        running += 1
                        return job, cost
                changed.wait()

    def worker() -> None:
        nonlocal in_use, running
        while (taken := take()) is not None:
            job, cost = taken
            try:
                run(job)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                with changed:
                    errors.append(exc)
            finally:
                with changed:
                    in_use -= cost
                    running -= 1
                    changed.notify_all()

    threads = [threading.Thread(target=worker, name=f"derive-{n}") for n in range(max(1, workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# -- resizing and scoring --------------------------------------------------------------------


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


class _ScoringReference:
    """SSIMULACRA2 references of one resized image, as each format will show it.

    AVIF and WebP keep alpha and JPEG flattens it onto white, so images with alpha are
    compared as composited on mid grey (AVIF, WebP) or on white (JPEG); opaque images share
    one reference. References are built lazily and at most once (under the GIL, a race only
    builds one twice).
    """

    def __init__(self, image: Image.Image) -> None:
        self._image = image
        self._built: dict[str, Ssimulacra2Reference] = {}

    def for_format(self, fmt: str) -> Ssimulacra2Reference:
        kind = "flat" if fmt == "jpeg" and self._image.mode == "RGBA" else "rgb"
        ref = self._built.get(kind)
        if ref is None:
            source = _flatten(self._image) if kind == "flat" else self._image
            ref = self._built[kind] = Ssimulacra2Reference(source)
        return ref


def _score(reference: Ssimulacra2Reference, data: bytes) -> float:
    with Image.open(io.BytesIO(data)) as decoded:
        decoded.load()
        return round(reference.score(decoded), 2)


def _search(
    image: Image.Image,
    fmt: str,
    settings: EngineSettings,
    xmp: bytes,
    reference: _ScoringReference,
) -> EncodedVariant:
    """Encode the probe variant at the target's typical quality, lifting images under the floor.

    The first trial uses the quality a typical image needs for the target (the configured
    quality, calibrated for 70, moved by the format's quality-per-point for other
    targets). It is kept unless it scores under the floor, ``target - floor_margin``: at
    equal *mean* SSIMULACRA2 over the benchmark corpus (640 px), one quality for every
    image is 6-7 % smaller in AVIF and JPEG than pulling each image onto the target (easy
    images pulled down save little, hard ones pulled up cost a lot), and 4 % smaller than
    searching both ways beyond a 5-point band. Only images a fixed quality would leave
    visibly worse are searched, up to the floor (not the target): secant steps (the first
    with a calibrated slope) inside the bracket of the trials below and above it; the
    result is the trial nearest the floor from above when there is one. Every trial is
    measured, so the recorded score is the real one. A lossless format is encoded once.
    """
    if fmt in LOSSLESS_FORMATS:
        return _encode_scored(image, fmt, LOSSLESS_QUALITY, settings, xmp)
    ref = reference.for_format(fmt)
    target = settings.target_for(fmt)
    quality = settings.quality_for(fmt)
    if target is None:
        data = _encode(image, fmt, quality, settings.avif_speed, xmp)
        return _variant(image, fmt, quality, data, _score(ref, data))
    low, high = QUALITY_RANGES[fmt]
    typical = quality + (target - _CALIBRATED_TARGET) * _QUALITY_PER_POINT[fmt]
    quality = min(max(round(typical), low), high)
    floor = target - settings.floor_margin
    trials: dict[int, tuple[float, bytes]] = {}
    for _ in range(settings.max_probes):
        data = _encode(image, fmt, quality, settings.avif_speed, xmp)
        score = _score(ref, data)
        trials[quality] = (score, data)
        if score >= floor - _SCORE_TOLERANCE and (len(trials) == 1 or score <= floor + _SCORE_TOLERANCE):
            return _variant(image, fmt, quality, data, score)
        following = _next_quality(trials, floor, fmt, low, high)
        if following is None:
            break
        quality = following
    above = [q for q, (s, _) in trials.items() if s >= floor - _SCORE_TOLERANCE]
    chosen = min(above) if above else max(trials, key=lambda q: (trials[q][0], q))
    score, data = trials[chosen]
    return _variant(image, fmt, chosen, data, score)


def _next_quality(
    trials: dict[int, tuple[float, bytes]], target: float, fmt: str, low: int, high: int
) -> int | None:
    below = [q for q, (s, _) in trials.items() if s < target]
    above = [q for q, (s, _) in trials.items() if s >= target]
    lo = max(below) if below else None
    hi = min(above) if above else None
    if lo is not None and hi is not None:
        if hi - lo <= 1:
            return None
        s_lo, s_hi = trials[lo][0], trials[hi][0]
        guess = lo + (target - s_lo) * (hi - lo) / (s_hi - s_lo) if s_hi > s_lo else (lo + hi) / 2
        return min(max(round(guess), lo + 1), hi - 1)
    q, (s, _) = (lo, trials[lo]) if lo is not None else (hi, trials[hi])  # type: ignore[index]
    step = (target - s) * _QUALITY_PER_POINT[fmt]
    step = math.copysign(max(abs(step), 2.0), step)
    guess = min(max(round(q + step), low), high)
    return None if guess in trials else guess


def _encode_scored(
    image: Image.Image, fmt: str, quality: int, settings: EngineSettings, xmp: bytes
) -> EncodedVariant:
    data = _encode(image, fmt, quality, settings.avif_speed, xmp)
    score = None
    if fmt in LOSSLESS_FORMATS:
        score = LOSSLESS_SCORE
    elif settings.score_all:
        score = _score(_ScoringReference(image).for_format(fmt), data)
    return _variant(image, fmt, quality, data, score)


def _variant(
    image: Image.Image, fmt: str, quality: int, data: bytes, score: float | None
) -> EncodedVariant:
    spec = OUTPUT_FORMATS[fmt]
    return EncodedVariant(
        width=image.width,
        height=image.height,
        format=fmt,
        content_type=spec.content_type,
        extension=spec.extension,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        quality=quality,
        score=score,
    )


# -- encoders --------------------------------------------------------------------------------


def _encode(image: Image.Image, fmt: str, quality: int, avif_speed: int, xmp: bytes) -> bytes:
    return _ENCODERS[fmt](image, quality, avif_speed, xmp)


def _encode_pillow(image: Image.Image, fmt: str, params: dict[str, object]) -> bytes:
    own = image.copy()  # never save an Image object another thread may be saving
    own.info = {}
    out = io.BytesIO()
    own.save(out, PILLOW_OUTPUT_FORMATS[fmt], **params)
    return out.getvalue()


def _encode_avif(image: Image.Image, quality: int, speed: int, xmp: bytes) -> bytes:
    return _encode_pillow(image, "avif", {
        "quality": quality, "speed": speed, "subsampling": "4:2:0", "codec": "aom",
        "max_threads": 1, "autotiling": False, "advanced": _AOM_OPTIONS, "xmp": xmp,
    })


def _encode_webp(image: Image.Image, quality: int, _speed: int, xmp: bytes) -> bytes:
    method = _WEBP_ALPHA_METHOD if "A" in image.mode else _WEBP_METHOD
    return _encode_pillow(image, "webp", {"quality": quality, "method": method, "xmp": xmp})


def _encode_png(image: Image.Image, _quality: int, _speed: int, _xmp: bytes) -> bytes:
    return _encode_pillow(image, "png", {
        "compress_level": _PNG_COMPRESS_LEVEL, "pnginfo": png_xmp_pnginfo(),
    })


def _encode_jpeg(image: Image.Image, quality: int, _speed: int, xmp: bytes) -> bytes:
    rgb = _flatten(image) if image.mode != "RGB" else image
    pixels = np.ascontiguousarray(np.asarray(rgb))
    baseline = pyjpegli.encode(pixels, rgb.width, rgb.height, quality=quality)
    progressive = mozjpeg_lossless_optimization.optimize(baseline)
    return _with_jpeg_xmp(progressive, xmp)


_ENCODERS: Mapping[str, Callable[[Image.Image, int, int, bytes], bytes]] = MappingProxyType(
    {"avif": _encode_avif, "webp": _encode_webp, "jpeg": _encode_jpeg, "png": _encode_png}
)


def _flatten(image: Image.Image) -> Image.Image:
    """Composite an image with alpha onto the JPEG background (white), as RGB."""
    if image.mode == "RGB":
        return image
    background = Image.new("RGBA", image.size, _JPEG_BACKGROUND + (255,))
    return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")


def _with_jpeg_xmp(jpeg: bytes, xmp: bytes) -> bytes:
    """Insert an XMP APP1 segment after SOI and any APP0 (JFIF) segment."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG stream")
    payload = _XMP_APP1_PREFIX + xmp
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("XMP packet too large for one APP1 segment")
    pos = 2
    while jpeg[pos : pos + 2] == b"\xff\xe0":
        pos += 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:pos] + segment + jpeg[pos:]
