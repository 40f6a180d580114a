"""The model registry: each image model's licence and usage restrictions, from configuration.

The registry is JSON shipped in the layer (``provenance/models.json``); the generate
stage copies an entry into the asset's ``created`` provenance record, and refuses a
model the registry does not list (no licence on record, no generation).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import RejectedInputError

REGISTRY_FILE = Path(__file__).with_name("models.json")


class ModelEntry(BaseModel):
    """One model's licence and the restrictions on using what it makes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    licence: str = Field(min_length=1)
    licence_url: str = Field(pattern=r"^https://")
    usage_restrictions: tuple[str, ...]

    def provenance_facts(self) -> dict[str, Any]:
        """The fields copied into the provenance ``created`` record."""
        return {
            "model_name": self.name,
            "model_provider": self.provider,
            "model_licence": self.licence,
            "model_licence_url": self.licence_url,
            "model_usage_restrictions": list(self.usage_restrictions),
        }


class ModelRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    comment: str = Field(default="", alias="$comment")
    models: dict[str, ModelEntry]

    @classmethod
    def load(cls, path: Path = REGISTRY_FILE) -> ModelRegistry:
        return cls.model_validate(json.loads(path.read_text()))

    def __contains__(self, model_id: object) -> bool:
        return model_id in self.models

    def entry(self, model_id: str) -> ModelEntry:
        """The entry for ``model_id``.

        Raises
        ------
        RejectedInputError
            ``unregistered_model`` when the registry has no licence on record for it.
        """
        try:
            return self.models[model_id]
        except KeyError:
            raise RejectedInputError(
                "unregistered_model", f"{model_id!r} has no licence on record in the model registry"
            ) from None


_registered: dict[str, ModelEntry] = {}


@cache
def _shipped() -> ModelRegistry:
    return ModelRegistry.load()


def register_entry(model_id: str, entry: ModelEntry) -> None:
    """Add a model a host registers (the embedded stack's offline model) to this process."""
    if model_id in _shipped():
        raise ValueError(f"{model_id!r} is in the shipped registry and cannot be replaced")
    _registered[model_id] = entry


def default_registry() -> ModelRegistry:
    """The registry shipped with the layer (read once per process) plus registered models."""
    shipped = _shipped()
    if not _registered:
        return shipped
    return shipped.model_copy(update={"models": {**shipped.models, **_registered}})
