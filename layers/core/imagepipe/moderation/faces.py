"""Face detection for the privacy policy, and the blur applied to public variants.

Two detectors behind the ``ModerationBackend`` interface, each returning ``Face`` labels
with a region relative to the upright image:

* ``RekognitionFaces``: Amazon Rekognition ``DetectFaces`` (the deployed stack).
* ``HaarFaces``: OpenCV's frontal-face Haar cascade, shipped inside the
  ``opencv-python-headless`` wheel (Apache-2.0; the cascade file carries Intel's
  BSD-style licence). Offline and about 30-90 ms per image here, but the wheel unpacks to
  ~170 MB: it does not fit a Lambda layer next to the classifier, so it serves the
  embedded stack and tests. A Haar cascade answers yes or no: its faces are reported
  with confidence 1.0 (its own threshold is ``min_neighbors``).

What a face means (record, blur, review) is the ``FacePolicy``'s business, not theirs.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from imagepipe.errors import ModerationError
from imagepipe.moderation import tiles
from imagepipe.moderation.policy import FACE_CATEGORY, Label, Region
from imagepipe.moderation.rekognition import MAX_TILES, call, renditions

HAAR_CASCADE = "haarcascade_frontalface_default.xml"


def face_labels_from_response(response: Mapping[str, Any]) -> list[Label]:
    """Map a ``DetectFaces`` response to ``Face`` labels.

    Raises
    ------
    ModerationError
        If a face lacks a bounding box or a valid confidence.
    """
    labels = []
    for detail in response.get("FaceDetails") or []:
        box = detail.get("BoundingBox") or {}
        confidence = detail.get("Confidence")
        try:
            region = Region.clipped(
                float(box["Left"]), float(box["Top"]), float(box["Width"]), float(box["Height"])
            )
            labels.append(
                Label(
                    name="Face",
                    category=FACE_CATEGORY,
                    confidence=min(1.0, max(0.0, float(confidence) / 100.0)),
                    region=region,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModerationError(f"rekognition returned a malformed face: {dict(detail)!r}") from exc
    return labels


class RekognitionFaces:
    """Face detector calling Rekognition ``DetectFaces`` with an injected client.

    The image is sent as the same JPEG renditions moderation labels use (≤ 5 MB, ≥ 80 px):
    the whole image and, if it is more than 2:1 elongated, up to ``max_tiles`` tiles (each
    one more billed call). Faces found in a tile are mapped back to the whole image, and
    one face seen by several views is reported once, its box covering all of them.
    """

    name = "rekognition-faces"
    model_version = "DetectFaces"

    def __init__(self, client: Any, *, max_tiles: int = MAX_TILES) -> None:
        self._client = client
        self._max_tiles = max_tiles

    def classify(self, image: Image.Image) -> list[Label]:
        found = []
        for box, payload in renditions(image, max_tiles=self._max_tiles):
            response = call(self._client.detect_faces, Image={"Bytes": payload}, Attributes=["DEFAULT"])
            found.append((box, face_labels_from_response(response)))
        return tiles.pool(found, image.size)


class HaarFaces:
    """Offline face detector: OpenCV's frontal-face Haar cascade from the opencv wheel.

    Not tiled: the cascade scans the image's own pixels at every scale from 1/20 of its
    short side up, so a face in a long banner is found as it would be in a tile.
    """

    name = "haar-faces"

    def __init__(self, *, min_neighbors: int = 5, scale_factor: float = 1.1) -> None:
        self._min_neighbors = min_neighbors
        self._scale_factor = scale_factor
        self._lock = threading.Lock()
        self._cascade: Any = None
        self.model_version = f"{HAAR_CASCADE.removesuffix('.xml')}/opencv-unknown"

    def _load(self) -> Any:
        if self._cascade is None:
            try:
                import cv2
            except ImportError as exc:
                raise ModerationError("opencv-python-headless is not installed (local face detection)") from exc
            cascade = cv2.CascadeClassifier(cv2.data.haarcascades + HAAR_CASCADE)
            if cascade.empty():
                raise ModerationError(f"the Haar cascade {HAAR_CASCADE} could not be loaded")
            self._cascade = cascade
            self.model_version = f"{HAAR_CASCADE.removesuffix('.xml')}/opencv-{cv2.__version__}"
        return self._cascade

    def classify(self, image: Image.Image) -> list[Label]:
        import cv2

        with self._lock:  # a CascadeClassifier is not safe to share between threads
            cascade = self._load()
            grey = cv2.equalizeHist(np.asarray(image.convert("L")))
            side = max(24, min(grey.shape) // 20)
            try:
                boxes = cascade.detectMultiScale(
                    grey, scaleFactor=self._scale_factor, minNeighbors=self._min_neighbors, minSize=(side, side)
                )
            except cv2.error as exc:
                raise ModerationError(f"face detection failed: {exc}") from exc
        width, height = image.size
        return [
            Label(
                name="Face",
                category=FACE_CATEGORY,
                confidence=1.0,
                region=Region.clipped(x / width, y / height, w / width, h / height),
            )
            for x, y, w, h in (tuple(int(v) for v in box) for box in boxes)
        ]


def blur_regions(image: Image.Image, regions: Iterable[Region], *, margin: float = 0.2) -> Image.Image:
    """Return a copy of ``image`` with every region (grown by ``margin``) pixelated and blurred.

    Pixelating first, then blurring, leaves nothing a de-blurring filter could invert.
    """
    result = image.copy()
    width, height = image.size
    for region in regions:
        grow_x, grow_y = region.width * margin, region.height * margin
        box = (
            max(0, int((region.left - grow_x) * width)),
            max(0, int((region.top - grow_y) * height)),
            min(width, int(round((region.left + region.width + grow_x) * width))),
            min(height, int(round((region.top + region.height + grow_y) * height))),
        )
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        patch = result.crop(box)
        cells = (max(1, patch.width // 12), max(1, patch.height // 12))
        patch = patch.resize(cells, Image.Resampling.BOX).resize(patch.size, Image.Resampling.NEAREST)
        patch = patch.filter(ImageFilter.GaussianBlur(radius=max(2, min(patch.size) // 10)))
        result.paste(patch, box[:2])
    return result


def blurred_original(data: bytes, regions: Iterable[Region]) -> bytes:
    """Decode an original upright (as moderation saw it), blur ``regions``, return a lossless PNG."""
    from imagepipe.imaging.probe import decode

    image = blur_regions(decode(data), regions)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
