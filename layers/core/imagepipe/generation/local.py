"""The offline procedural image model used by the local runtime, the demo and the tests."""

from __future__ import annotations

from imagepipe.errors import RejectedInputError
from imagepipe.generation.base import GeneratedImage, GenerationSpec


class LocalImageModel:
    """Deterministic procedural renderer: same spec, same PNG bytes.

    The negative prompt is ignored (the renderer has no notion of it) and is therefore not
    part of the recorded parameters.
    """

    model_id = "local"
    model_version = "procedural-1"

    def generate(self, spec: GenerationSpec) -> GeneratedImage:
        """Render ``spec`` with ``imagepipe.imaging.generator.render_png``.

        Raises
        ------
        RejectedInputError
            ``invalid_parameters`` if the renderer refuses the size (256..2048 px).
        """
        # Imported here so that the Bedrock path never loads the renderer.
        from imagepipe.imaging.generator import render_png

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
