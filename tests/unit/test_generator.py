"""The deterministic procedural generator behind the ``local`` model."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imagepipe_tools.procedural import render, render_png
from imagepipe_tools.procedural import MAX_SIDE, MIN_SIDE
from imagepipe.models import DIGITAL_SOURCE_TYPE


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def test_same_inputs_give_identical_pixels() -> None:
    """GIVEN the same prompt, seed and size WHEN rendered twice THEN the pixels are identical."""
    first = render("a quiet lake at dawn", 42, 512, 384)
    second = render("a quiet lake at dawn", 42, 512, 384)
    assert first.tobytes() == second.tobytes()


def test_render_png_is_deterministic_and_lossless() -> None:
    """GIVEN the same inputs
    WHEN encoded to PNG twice
    THEN the bytes match and decode to exactly the pixels of `render`."""
    data = render_png("mountains", 5, 320, 256)
    assert data == render_png("mountains", 5, 320, 256)
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == "PNG" and decoded.mode == "RGB"
    assert decoded.tobytes() == render("mountains", 5, 320, 256).tobytes()


@pytest.mark.parametrize(
    ("a", "b"),
    [(("a castle", 1), ("a castle", 2)), (("a castle", 1), ("a dragon", 1))],
    ids=["seed", "prompt"],
)
def test_different_seeds_or_prompts_look_different(a: tuple[str, int], b: tuple[str, int]) -> None:
    """GIVEN two renders differing only by seed (or only by prompt)
    WHEN compared
    THEN the mean absolute pixel difference is large (visibly different images)."""
    diff = np.abs(pixels(render(*a, 256, 256)) - pixels(render(*b, 256, 256))).mean()
    assert diff > 15


@pytest.mark.parametrize("size", [(256, 256), (2048, 256), (256, 1040), (1024, 1024)])
def test_requested_size_is_honoured(size: tuple[int, int]) -> None:
    """GIVEN a size within 256..2048 (including the 1024x1024 default)
    WHEN rendered
    THEN the image is RGB of exactly that size."""
    image = render("size check", 9, *size)
    assert image.mode == "RGB" and image.size == size


@pytest.mark.parametrize("size", [(MIN_SIDE - 1, 512), (512, MAX_SIDE + 1), (0, 0)])
def test_out_of_range_sizes_are_refused(size: tuple[int, int]) -> None:
    """GIVEN a side outside 256..2048 WHEN rendering THEN ValueError."""
    with pytest.raises(ValueError):
        render("too small or big", 1, *size)


@pytest.mark.parametrize("seed", range(6))
def test_images_are_not_flat(seed: int) -> None:
    """GIVEN renders for several seeds
    WHEN measuring them
    THEN they have real contrast (luma std dev) and fine detail (mean |Laplacian|),
    like a photograph rather than a flat gradient."""
    luma = pixels(render("texture", seed, 384, 384).convert("L"))
    laplacian = (
        4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1] - luma[1:-1, :-2] - luma[1:-1, 2:]
    )
    assert luma.std() > 12, luma.std()
    assert np.abs(laplacian).mean() > 3, np.abs(laplacian).mean()


def test_png_carries_the_ai_generated_xmp() -> None:
    """GIVEN a rendered PNG WHEN its XMP is read
    THEN an iTXt XML:com.adobe.xmp chunk declares DigitalSourceType trainedAlgorithmicMedia."""
    image = Image.open(io.BytesIO(render_png("label me", 1, 256, 256)))
    assert DIGITAL_SOURCE_TYPE in image.info["XML:com.adobe.xmp"]
    description = image.getxmp()["xmpmeta"]["RDF"]["Description"]
    assert description["DigitalSourceType"] == DIGITAL_SOURCE_TYPE


def test_prompt_keywords_steer_the_scene() -> None:
    """GIVEN a 'night' prompt and a 'sunny noon' prompt (same seed)
    WHEN rendered
    THEN the night sky is much darker than the noon sky."""
    night = pixels(render("a lake at night", 3, 256, 256))[:64].mean()
    noon = pixels(render("a lake at sunny noon", 3, 256, 256))[:64].mean()
    assert night < noon - 60
