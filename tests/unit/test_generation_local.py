"""LocalImageModel: the offline procedural model used by the local runtime and demo."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imagepipe.errors import RejectedInputError
from imagepipe.generation.base import GeneratedImage, GenerationSpec, ImageModel
from imagepipe_tools.local_model import LocalImageModel

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SPEC = GenerationSpec(
    prompt="a calm mountain lake at sunrise", negative_prompt="fog", width=320, height=256, seed=42
)


def test_same_spec_gives_identical_png() -> None:
    """GIVEN the same spec twice (even through two model instances)
    WHEN it is generated
    THEN the PNG bytes are identical: generation is deterministic."""
    first = LocalImageModel().generate(SPEC)
    second = LocalImageModel().generate(SPEC)
    assert first.png == second.png
    assert first == second


def test_different_seed_gives_different_png() -> None:
    """GIVEN two specs differing only in seed
    WHEN they are generated
    THEN the images differ."""
    other = GenerationSpec(SPEC.prompt, SPEC.negative_prompt, SPEC.width, SPEC.height, seed=43)
    assert LocalImageModel().generate(SPEC).png != LocalImageModel().generate(other).png


def test_output_is_a_png_of_the_requested_size_with_its_parameters() -> None:
    """GIVEN a spec
    WHEN it is generated
    THEN the result is a PNG of the requested size, labelled 'local'/'procedural-1', and
    records exactly the parameters given to the renderer (not the ignored negative
    prompt), while repr never dumps the PNG bytes."""
    image = LocalImageModel().generate(SPEC)
    assert isinstance(image, GeneratedImage)
    assert image.png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(image.png)) as decoded:
        assert decoded.format == "PNG"
        assert decoded.size == (320, 256)
    assert (image.model_id, image.model_version) == ("local", "procedural-1")
    assert image.parameters == {
        "prompt": "a calm mountain lake at sunrise",
        "seed": 42,
        "width": 320,
        "height": 256,
    }
    assert "png=" not in repr(image)
    assert isinstance(LocalImageModel(), ImageModel)


def test_size_outside_renderer_limits_is_rejected_input() -> None:
    """GIVEN a spec smaller than the renderer's 256 px minimum
    WHEN it is generated
    THEN RejectedInputError('invalid_parameters') is raised (not a retryable ValueError)."""
    spec = GenerationSpec("a lake", None, width=128, height=256, seed=1)
    with pytest.raises(RejectedInputError) as info:
        LocalImageModel().generate(spec)
    assert info.value.reason == "invalid_parameters"
