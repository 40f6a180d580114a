"""Image handling for the pipeline: validation, decoding, derivatives, XMP, generation.

Pure functions over bytes and Pillow images; nothing here talks to AWS.
"""

from __future__ import annotations

from .engine import (
    DEFAULT_FORMATS,
    DEFAULT_WIDTHS,
    DerivedSet,
    EncodedVariant,
    EngineSettings,
    derive,
    plan_widths,
)
from .formats import (
    OUTPUT_FORMATS,
    UPLOAD_FORMATS,
    FormatSpec,
    content_type_for,
    extension_for,
)
from .generator import render, render_png
from .probe import ImageInfo, decode, inspect_image, normalize
from .xmp import digital_source_type_xmp, png_xmp_pnginfo

__all__ = [
    "DEFAULT_FORMATS",
    "DEFAULT_WIDTHS",
    "OUTPUT_FORMATS",
    "UPLOAD_FORMATS",
    "DerivedSet",
    "EncodedVariant",
    "EngineSettings",
    "FormatSpec",
    "ImageInfo",
    "content_type_for",
    "decode",
    "derive",
    "digital_source_type_xmp",
    "extension_for",
    "inspect_image",
    "normalize",
    "plan_widths",
    "png_xmp_pnginfo",
    "render",
    "render_png",
]
