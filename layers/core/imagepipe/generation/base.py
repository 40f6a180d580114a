"""What every image model adapter takes and returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class GenerationSpec:
    """Everything a model needs to render one image.

    Parameters
    ----------
    prompt : str
        What to draw.
    negative_prompt : str or None
        What the image must not show (models that ignore it never receive it).
    width, height : int
        Size in pixels.
    seed : int
        Makes generation reproducible for models that honour it.
    """

    prompt: str
    negative_prompt: str | None
    width: int
    height: int
    seed: int


@dataclass(frozen=True)
class GeneratedImage:
    """A rendered image and exactly how it was produced.

    Parameters
    ----------
    png : bytes
        The image, PNG encoded.
    model_id : str
        The model that rendered it, e.g. ``"local"`` or ``"amazon.nova-canvas-v1:0"``.
    model_version : str
        The version of that model.
    parameters : Mapping[str, Any]
        The exact parameters sent to the model (JSON-able).
    """

    png: bytes = field(repr=False)
    model_id: str
    model_version: str
    parameters: Mapping[str, Any]


@runtime_checkable
class ImageModel(Protocol):
    """A text-to-image model."""

    model_id: str

    def generate(self, spec: GenerationSpec) -> GeneratedImage: ...
