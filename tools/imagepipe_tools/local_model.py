"""The offline procedural image model of the embedded stack, the demo and the tests.

It is not part of the runtime: `install` registers it (and its licence entry) with the
runtime's model registries in this process, which the embedded stack does before it runs a
handler. A deployed stack cannot name it.
"""

from __future__ import annotations

from imagepipe.errors import RejectedInputError
from imagepipe.generation.base import GeneratedImage, GenerationSpec
from imagepipe.generation.registry import register_model
from imagepipe.provenance.models_registry import ModelEntry, register_entry

LOCAL_MODEL_ENTRY = ModelEntry(
    name="imagepipe procedural renderer",
    provider="imagepipe",
    licence="Apache-2.0",
    licence_url="https://www.apache.org/licenses/LICENSE-2.0",
    usage_restrictions=(
        "Development and test output only: a procedural renderer, not a generative model",
        "Not for publication outside local and test environments",
    ),
)


class LocalImageModel:
    """Deterministic procedural renderer: same spec, same PNG bytes.

    The negative prompt is ignored (the renderer has no notion of it) and is therefore not
    part of the recorded parameters.
    """

    model_id = "local"
    model_version = "procedural-1"

    def generate(self, spec: GenerationSpec) -> GeneratedImage:
        """Render ``spec`` with ``imagepipe_tools.procedural.render_png``.

        Raises
        ------
        RejectedInputError
            ``invalid_parameters`` if the renderer refuses the size (256..2048 px).
        """
        from imagepipe_tools.procedural import render_png

        try:
            png = render_png(spec.prompt, spec.seed, spec.width, spec.height)
        except ValueError as exc:
            raise RejectedInputError("invalid_parameters", str(exc)) from exc
        return GeneratedImage(
            png=png,
            model_id=self.model_id,
            model_version=self.model_version,
            parameters={
                "prompt": spec.prompt,
                "seed": spec.seed,
                "width": spec.width,
                "height": spec.height,
            },
        )


def install() -> None:
    """Register the local model and its licence entry in this process (idempotent)."""
    register_model(LocalImageModel.model_id, LocalImageModel)
    register_entry(LocalImageModel.model_id, LOCAL_MODEL_ENTRY)
