"""Which model serves a request's ``model_id``: Amazon Bedrock's, plus any a host registers.

Production knows only the Bedrock models. The embedded stack registers its offline model
(`imagepipe_tools.local_model`) before it runs a handler, so no development model is ever a
default of the shipped code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imagepipe.errors import RejectedInputError
from imagepipe.generation.base import ImageModel
from imagepipe.generation.bedrock import SUPPORTED_BEDROCK_MODELS, BedrockImageModel

_registered: dict[str, Callable[[], ImageModel]] = {}


def register_model(model_id: str, factory: Callable[[], ImageModel]) -> None:
    """Make ``model_id`` available to `model_for` in this process."""
    if model_id in SUPPORTED_BEDROCK_MODELS:
        raise ValueError(f"{model_id!r} is a Bedrock model and cannot be replaced")
    _registered[model_id] = factory


def model_for(model_id: str, *, bedrock_client: Callable[[], Any]) -> ImageModel:
    """Return the model for a request's ``model_id``.

    Parameters
    ----------
    model_id : str
        One of ``SUPPORTED_BEDROCK_MODELS`` or a registered id.
    bedrock_client : callable
        Returns a ``bedrock-runtime`` client; called only when a Bedrock model is chosen.

    Raises
    ------
    RejectedInputError
        ``unknown_model`` for any other id.
    """
    if model_id in _registered:
        return _registered[model_id]()
    if model_id in SUPPORTED_BEDROCK_MODELS:
        return BedrockImageModel(bedrock_client(), model_id)
    raise RejectedInputError("unknown_model", f"{model_id!r} is not a supported model")
