"""Responsive images from a manifest: ``<picture>`` with AVIF/WebP/JPEG ``srcset`` and ``sizes``.

Candidates are width-based (``640w``), so the browser picks by layout width and device pixel
ratio. ``width``/``height`` on the ``<img>`` are the intrinsic size of the largest variant: the
browser reserves the box before any byte arrives (no layout shift). AVIF is offered first,
then WebP, and JPEG is the ``<img>`` fallback; PNG (opt-in, lossless) is the fallback only
where there is no JPEG. Beside a JPEG it is left out: every browser decodes PNG, so a PNG
``<source>`` would always win over the JPEG ``<img>`` and the JPEG would never be chosen.
`Picture.to_json` is the same for apps.

The ladder can be widened with on-demand widths through the ``t/*`` behaviour
(`on_demand_url`): public assets only, and only widths the CloudFront Function keeps (steps).
Pages that send ``Accept-CH: Sec-CH-Width, Sec-CH-DPR`` may also use a bare ``/t/{id}`` URL;
the edge then picks the width from the hints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from .negotiation import EXTENSIONS, WIDTH_STEPS

SOURCE_FORMATS = ("avif", "webp")  # offered as <source type=...>, in this order
FALLBACK_FORMATS = ("jpeg", "png")  # the <img>: the first of these the variants have
# The content types of imaging.formats.OUTPUT_FORMATS (a test keeps them equal): sign-url builds
# pictures, and importing the imaging package would load numpy and the encoders at its cold start.
MIME = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png"}
DEFAULT_SIZES = "100vw"
FALLBACK_WIDTH = 960  # the <img src> for browsers without srcset: the first fallback candidate at least this wide


@dataclass(frozen=True)
class Candidate:
    url: str
    width: int
    height: int


@dataclass(frozen=True)
class Source:
    format: str
    candidates: tuple[Candidate, ...]

    @property
    def type(self) -> str:
        return MIME[self.format]

    @property
    def srcset(self) -> str:
        return ", ".join(f"{_srcset_safe(c.url)} {c.width}w" for c in self.candidates)


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    sizes: str
    sources: tuple[Source, ...]  # AVIF, WebP, then JPEG or else PNG (those present), narrowest candidate first
    fallback: Candidate

    def to_json(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "sizes": self.sizes,
            "sources": [
                {"type": s.type, "srcset": s.srcset,
                 "candidates": [{"url": c.url, "width": c.width, "height": c.height} for c in s.candidates]}
                for s in self.sources
            ],
            "fallback": {"url": self.fallback.url, "width": self.fallback.width, "height": self.fallback.height},
        }

    def to_html(self, alt: str, *, loading: str = "lazy", decoding: str = "async", css_class: str | None = None) -> str:
        """The ``<picture>`` element; ``alt`` is required (use ``""`` for a decorative image)."""
        sizes = escape(self.sizes)
        parts = [
            f'<source type="{s.type}" srcset="{escape(s.srcset)}" sizes="{sizes}">'
            for s in self.sources
            if s.format not in FALLBACK_FORMATS
        ]
        img = next((s for s in self.sources if s.format in FALLBACK_FORMATS), None)
        srcset = f' srcset="{escape(img.srcset)}" sizes="{sizes}"' if img else ""
        klass = f' class="{escape(css_class)}"' if css_class else ""
        parts.append(
            f'<img src="{escape(self.fallback.url)}"{srcset} width="{self.width}" height="{self.height}" '
            f'alt="{escape(alt)}" loading="{escape(loading)}" decoding="{escape(decoding)}"{klass}>'
        )
        return "<picture>" + "".join(parts) + "</picture>"


def _srcset_safe(url: str) -> str:
    # A srcset is split on commas and spaces: neither may appear raw inside a candidate URL.
    return url.replace(" ", "%20").replace(",", "%2C")


def on_demand_url(cdn_base: str, asset_id: str) -> Callable[[int, str], str]:
    """URLs of the ``t/*`` behaviour in their explicit form, ``{cdn_base}/t/{id}/{width}w.{ext}``."""
    base = cdn_base.rstrip("/")
    return lambda width, fmt: f"{base}/t/{asset_id}/{width}w.{EXTENSIONS[fmt]}"


def offered_formats(present: Iterable[str]) -> tuple[str, ...]:
    """The formats a picture offers, in order: AVIF and WebP, then JPEG or else PNG (of ``present``)."""
    present = set(present)
    fallback = next((fmt for fmt in FALLBACK_FORMATS if fmt in present), None)
    return tuple(fmt for fmt in SOURCE_FORMATS if fmt in present) + ((fallback,) if fallback else ())


def picture(
    variants: Iterable[Mapping[str, Any]],
    *,
    url: Callable[[Mapping[str, Any]], str] = lambda v: v["url"],
    sizes: str = DEFAULT_SIZES,
    on_demand: Callable[[int, str], str] | None = None,
    extra_widths: Iterable[int] = (),
) -> Picture:
    """Build the picture from variant records (a manifest's, or sign-url's with their ``url``).

    ``url`` maps a variant to its URL (default: its ``url`` field; for a manifest, e.g.
    ``lambda v: f"https://{cdn}/{v['key']}"``). With ``on_demand``, each of ``extra_widths`` that
    is a step, narrower than the widest variant and missing from the ladder is added through
    the transform origin.
    """
    items = [v for v in variants if v["format"] in MIME]
    if not items:
        raise ValueError("no AVIF, WebP, JPEG or PNG variants to build a picture from")
    largest = max(items, key=lambda v: v["width"])
    width, height = int(largest["width"]), int(largest["height"])
    sources = []
    for fmt in offered_formats({v["format"] for v in items}):
        ladder = {int(v["width"]): Candidate(url(v), int(v["width"]), int(v["height"])) for v in items if v["format"] == fmt}
        if on_demand is not None:
            for extra in extra_widths:
                if extra in WIDTH_STEPS and extra < width and extra not in ladder:
                    ladder[extra] = Candidate(on_demand(extra, fmt), extra, max(1, round(height * extra / width)))
        sources.append(Source(fmt, tuple(ladder[w] for w in sorted(ladder))))
    fallback_source = sources[-1]  # the JPEG or PNG source when there is one
    fallback = next((c for c in fallback_source.candidates if c.width >= FALLBACK_WIDTH), fallback_source.candidates[-1])
    return Picture(width, height, sizes, tuple(sources), fallback)
