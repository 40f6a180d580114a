"""Text-to-image models: the offline procedural renderer and Amazon Bedrock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imagepipe.errors import RejectedInputError
from imagepipe.generation.base import GeneratedImage, GenerationSpec, ImageModel
from imagepipe.generation.bedrock import (
    NOVA_CANVAS,
    SUPPORTED_BEDROCK_MODELS,
    TITAN_IMAGE_V2,
    BedrockImageModel,
)
from imagepipe.generation.local import LocalImageModel

__all__ = [
    "NOVA_CANVAS",
    "SUPPORTED_BEDROCK_MODELS",
    "TITAN_IMAGE_V2",
    "BedrockImageModel",
    "GeneratedImage",
    "GenerationSpec",
    "ImageModel",
    "LocalImageModel",
    "model_for",
]


def model_for(model_id: str, *, bedrock_client: Callable[[], Any]) -> ImageModel:
    """Return the model for a request's ``model_id``.

    Parameters
    ----------
    model_id : str
        ``"local"`` or one of ``SUPPORTED_BEDROCK_MODELS``.
    bedrock_client : callable
        Returns a ``bedrock-runtime`` client; called only when a Bedrock model is chosen.

    Raises
    ------
    RejectedInputError
        ``unknown_model`` for any other id.
    """
    if model_id == LocalImageModel.model_id:
        return LocalImageModel()
    if model_id in SUPPORTED_BEDROCK_MODELS:
        return BedrockImageModel(bedrock_client(), model_id)
    raise RejectedInputError("unknown_model", f"{model_id!r} is not a supported model")
