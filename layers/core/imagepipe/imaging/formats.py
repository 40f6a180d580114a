"""Image formats the pipeline accepts as originals and produces as derivatives."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple


class FormatSpec(NamedTuple):
    """How a format is served: its MIME type and the file extension used in keys."""

    content_type: str
    extension: str


OUTPUT_FORMATS: Mapping[str, FormatSpec] = MappingProxyType(
    {
        "avif": FormatSpec("image/avif", "avif"),
        "webp": FormatSpec("image/webp", "webp"),
        "jpeg": FormatSpec("image/jpeg", "jpg"),
        "png": FormatSpec("image/png", "png"),
    }
)
"""Derivative formats, keyed by the name used in settings and manifests."""

UPLOAD_FORMATS: Mapping[str, FormatSpec] = MappingProxyType(
    {
        "JPEG": FormatSpec("image/jpeg", "jpg"),
        "PNG": FormatSpec("image/png", "png"),
        "WEBP": FormatSpec("image/webp", "webp"),
        "AVIF": FormatSpec("image/avif", "avif"),
        "GIF": FormatSpec("image/gif", "gif"),
        "TIFF": FormatSpec("image/tiff", "tiff"),
    }
)
"""Formats accepted as originals, keyed by Pillow's format name (``Image.format``)."""

PILLOW_OUTPUT_FORMATS: Mapping[str, str] = MappingProxyType(
    {"avif": "AVIF", "webp": "WEBP", "jpeg": "JPEG", "png": "PNG"}
)
"""Pillow's format name for each derivative format, as passed to ``Image.save``."""


def format_spec(fmt: str) -> FormatSpec:
    """Look up a format by derivative name (``"jpeg"``) or Pillow name (``"PNG"``).

    Parameters
    ----------
    fmt : str
        A key of `OUTPUT_FORMATS` or `UPLOAD_FORMATS`, in any case.

    Returns
    -------
    FormatSpec
        The content type and extension.

    Raises
    ------
    ValueError
        If the format is not one the pipeline knows.
    """
    spec = OUTPUT_FORMATS.get(fmt.lower()) or UPLOAD_FORMATS.get(fmt.upper())
    if spec is None:
        raise ValueError(f"unknown image format: {fmt!r}")
    return spec


def content_type_for(fmt: str) -> str:
    """Return the MIME type of a format (see `format_spec`), e.g. ``"image/avif"``."""
    return format_spec(fmt).content_type


def extension_for(fmt: str) -> str:
    """Return the file extension of a format (see `format_spec`), without a dot, e.g. ``"jpg"``."""
    return format_spec(fmt).extension
