"""SSIMULACRA2 and SSIM (`imagepipe.imaging.quality`)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from imagepipe_tools.procedural import render
from imagepipe.imaging.quality import Ssimulacra2Reference, ssim, ssimulacra2

from tests.unit.imaging_fixtures import encode


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return render("quality scene", 4, 320, 256)


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    return Image.open(io.BytesIO(encode(image, "JPEG", quality=quality))).convert("RGB")


def test_identical_images_score_100(photo: Image.Image) -> None:
    """GIVEN an image and itself WHEN scored THEN SSIMULACRA2 is 100 and SSIM 1."""
    assert ssimulacra2(photo, photo) == pytest.approx(100.0)
    assert ssim(photo, photo) == pytest.approx(1.0)


def test_scores_fall_as_compression_rises(photo: Image.Image) -> None:
    """GIVEN JPEG encodes at quality 95, 75, 40, 10
    WHEN scored against the original
    THEN both metrics strictly decrease, and SSIMULACRA2 spans its documented scale
    (above 85 near-lossless, below 40 for heavy damage)."""
    scores = [ssimulacra2(photo, jpeg(photo, q)) for q in (95, 75, 40, 10)]
    ssims = [ssim(photo, jpeg(photo, q)) for q in (95, 75, 40, 10)]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4
    assert ssims == sorted(ssims, reverse=True)
    assert scores[0] > 85 and scores[-1] < 40


def test_blur_is_penalised_more_than_a_one_level_shift(photo: Image.Image) -> None:
    """GIVEN a blurred copy and a copy one grey level brighter
    WHEN scored
    THEN blur (lost detail) scores far lower than the invisible shift."""
    brighter = Image.fromarray(np.clip(np.asarray(photo, dtype=int) + 1, 0, 255).astype(np.uint8))
    blurred = photo.filter(ImageFilter.GaussianBlur(2))
    assert ssimulacra2(photo, brighter) > 90
    assert ssimulacra2(photo, blurred) < ssimulacra2(photo, brighter) - 30


def test_prepared_reference_gives_the_same_score(photo: Image.Image) -> None:
    """GIVEN a prepared reference WHEN scoring several encodes
    THEN each score equals the one-shot function's, and the reference is not altered."""
    ref = Ssimulacra2Reference(photo)
    for q in (30, 60, 90):
        distorted = jpeg(photo, q)
        assert ref.score(distorted) == pytest.approx(ssimulacra2(photo, distorted), abs=1e-9)
    assert ref.score(photo) == pytest.approx(100.0)


def test_alpha_takes_the_worse_of_dark_and_light_backgrounds(photo: Image.Image) -> None:
    """GIVEN an RGBA image and a copy whose transparent pixels' colour changed
    WHEN scored
    THEN the hidden colour does not matter (score 100), while a changed alpha does."""
    rgba = photo.convert("RGBA")
    alpha = Image.new("L", rgba.size, 255)
    alpha.paste(0, (0, 0, 160, 256))
    rgba.putalpha(alpha)
    hidden = rgba.copy()
    hidden.paste((0, 255, 0, 0), (0, 0, 160, 256))
    assert ssimulacra2(rgba, hidden) == pytest.approx(100.0)
    opaque = photo.convert("RGBA")
    assert ssimulacra2(rgba, opaque) < 60


def test_different_sizes_are_refused(photo: Image.Image) -> None:
    """GIVEN images of different sizes WHEN scored THEN ValueError."""
    with pytest.raises(ValueError):
        ssimulacra2(photo, photo.resize((160, 128)))
    with pytest.raises(ValueError):
        Ssimulacra2Reference(photo).score(photo.resize((160, 128)))


def test_agrees_with_the_independent_package(photo: Image.Image, tmp_path) -> None:
    """GIVEN the ``ssimulacra2`` package (SciPy, installed by the bench requirements)
    WHEN both score the same JPEG encodes
    THEN they rank them the same way and agree within 4 points (the two blur differently
    at the borders, which weighs on a small image; about 1 point at 640 px)."""
    package = pytest.importorskip("ssimulacra2")
    ref_path = tmp_path / "ref.png"
    photo.save(ref_path)
    ours, theirs = [], []
    for q in (20, 50, 85):
        dist_path = tmp_path / f"d{q}.png"
        distorted = jpeg(photo, q)
        distorted.save(dist_path)
        ours.append(ssimulacra2(photo, distorted))
        theirs.append(package.compute_ssimulacra2(str(ref_path), str(dist_path)))
    assert np.argsort(ours).tolist() == np.argsort(theirs).tolist()
    assert max(abs(a - b) for a, b in zip(ours, theirs)) < 4.0
