"""Moderation with Amazon Rekognition ``DetectModerationLabels``."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image

from imagepipe.errors import ModerationError
from imagepipe.moderation import tiles
from imagepipe.moderation.policy import Label, UnsupportedImageError, flatten_to_rgb

MAX_IMAGE_BYTES = 5 * 1024 * 1024  # Rekognition's ImageBlob limit
MIN_SIDE = 80
MAX_LONG_SIDE = 2048
_JPEG_QUALITIES = (90, 80, 70)
_SHRINK_STEP = 0.75
# Each tile is one more billed call (DetectModerationLabels and DetectFaces alike): an image
# more than 2:1 elongated costs at most MAX_TILES + 1 calls per API, any other image one.
MAX_TILES = 4

# Rekognition moderation taxonomy 7.0, level 2 -> level 1. Only consulted when a response
# names a parent that is not itself in the response.
_TOP_LEVEL = frozenset(
    {
        "Explicit",
        "Non-Explicit Nudity of Intimate parts and Kissing",
        "Swimwear or Underwear",
        "Violence",
        "Visually Disturbing",
        "Drugs & Tobacco",
        "Alcohol",
        "Rude Gestures",
        "Gambling",
        "Hate Symbols",
    }
)
_LEVEL2_PARENT: dict[str, str] = {
    "Explicit Nudity": "Explicit",
    "Explicit Sexual Activity": "Explicit",
    "Sex Toys": "Explicit",
    "Non-Explicit Nudity": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Obstructed Intimate Parts": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Kissing on the Lips": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Female Swimwear or Underwear": "Swimwear or Underwear",
    "Male Swimwear or Underwear": "Swimwear or Underwear",
    "Weapons": "Violence",
    "Graphic Violence": "Violence",
    "Death and Emaciation": "Visually Disturbing",
    "Crashes": "Visually Disturbing",
    "Products": "Drugs & Tobacco",
    "Drugs & Tobacco Paraphernalia & Use": "Drugs & Tobacco",
    "Alcohol Use": "Alcohol",
    "Alcoholic Beverages": "Alcohol",
    "Middle Finger": "Rude Gestures",
    "Nazi Party": "Hate Symbols",
    "White Supremacy": "Hate Symbols",
    "Extremist": "Hate Symbols",
}


class RekognitionModeration:
    """Moderation backend calling Rekognition with an injected client.

    Parameters
    ----------
    client
        A ``boto3`` Rekognition client.
    min_confidence : float
        Lowest confidence (0..1) Rekognition should report; sent as ``MinConfidence``
        in percent. Keep it at or below the lowest review threshold of the policy.
    max_tiles : int
        Most tiles an elongated image is cut into besides the whole (``moderation.tiles``);
        each is one more call, billed. ``0`` sends the whole image only.
    """

    name = "rekognition"

    def __init__(self, client: Any, *, min_confidence: float = 0.3, max_tiles: int = MAX_TILES) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
        self._client = client
        self._min_confidence = min_confidence
        self._max_tiles = max_tiles
        self.model_version = "unknown"

    def classify(self, image: Image.Image) -> list[Label]:
        """Label a decoded Pillow image.

        The image is sent as a JPEG rendition: transparency flattened onto white, the long
        side at most 2048 px, shrunk further until it fits 5 MB. An image more than 2:1
        elongated is also sent tile by tile (at most ``max_tiles``), and each label keeps
        its highest confidence over the calls.

        Raises
        ------
        ModerationError
            ``"unsupported: ..."`` for images under 80 px on a side (before any call);
            otherwise any Rekognition, network or response error.
        """
        found: list[tuple[tiles.Box | None, list[Label]]] = []
        for box, payload in renditions(image, max_tiles=self._max_tiles):
            response = call(
                self._client.detect_moderation_labels,
                Image={"Bytes": payload},
                MinConfidence=round(self._min_confidence * 100.0, 4),
            )
            found.append((box, labels_from_response(response)))
            version = response.get("ModerationModelVersion")
            if isinstance(version, str) and version:
                self.model_version = version
        return tiles.pool(found, image.size)


def call(operation: Any, **params: Any) -> Mapping[str, Any]:
    """Call one Rekognition operation, turning every client or network failure into ``ModerationError``."""
    try:
        return operation(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = error.get("Message", "")
        raise ModerationError(f"rekognition {code}: {message}".rstrip(": ")) from exc
    except BotoCoreError as exc:
        raise ModerationError(f"rekognition unreachable: {exc}") from exc


def renditions(image: Image.Image, *, max_tiles: int) -> list[tuple[tiles.Box | None, bytes]]:
    """JPEG renditions of the whole image (box ``None``) and of its tiles, all built before any call.

    A whole image too elongated to keep 80 px per side within 2048 px is left out when
    its tiles can be sent: they cover it, at a better scale.

    Raises
    ------
    ModerationError
        ``"unsupported: ..."`` if any view but that whole image cannot be sent.
    """
    views = tiles.views(image, max_tiles=max_tiles)
    out: list[tuple[tiles.Box | None, bytes]] = []
    for box, view in views:
        try:
            out.append((box, jpeg_rendition(view)))
        except UnsupportedImageError:
            if box is not None or len(views) == 1 or min(image.size) < MIN_SIDE:
                raise
    return out


def jpeg_rendition(image: Image.Image) -> bytes:
    """Return JPEG bytes of ``image`` that Rekognition accepts.

    Raises
    ------
    ModerationError
        ``"unsupported: ..."`` if a side is (or would become) shorter than 80 px.
    """
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise UnsupportedImageError(
            f"unsupported: Rekognition needs at least {MIN_SIDE} px per side, got {width}x{height}"
        )
    rgb = flatten_to_rgb(image)
    scale = min(1.0, MAX_LONG_SIDE / max(width, height))
    while True:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if min(size) < MIN_SIDE:
            raise UnsupportedImageError(
                f"unsupported: cannot fit {width}x{height} into Rekognition's limits "
                f"while keeping {MIN_SIDE} px per side"
            )
        if size == rgb.size:
            rendition = rgb
        else:
            rendition = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        for quality in _JPEG_QUALITIES:
            buffer = io.BytesIO()
            rendition.save(buffer, format="JPEG", quality=quality)
            if buffer.tell() <= MAX_IMAGE_BYTES:
                return buffer.getvalue()
        scale *= _SHRINK_STEP


def labels_from_response(response: Mapping[str, Any]) -> list[Label]:
    """Map a ``DetectModerationLabels`` response to labels with top-level categories.

    Raises
    ------
    ModerationError
        If a label lacks a name or a valid confidence.
    """
    raw_labels: Sequence[Mapping[str, Any]] = response.get("ModerationLabels") or []
    parents: dict[str, str] = {}
    top_level = set(_TOP_LEVEL)
    for raw in raw_labels:
        name = raw.get("Name")
        parent = raw.get("ParentName") or ""
        if not name:
            continue
        if raw.get("TaxonomyLevel") == 1 or not parent:
            top_level.add(name)
        elif name != parent:
            # Level 2 and 3 labels can share a name (e.g. "Gambling"); keep the first parent.
            parents.setdefault(name, parent)
    labels: list[Label] = []
    for raw in raw_labels:
        name = raw.get("Name")
        confidence = raw.get("Confidence")
        if not name or isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
            raise ModerationError(f"rekognition returned a malformed label: {dict(raw)!r}")
        parent = raw.get("ParentName") or None
        if raw.get("TaxonomyLevel") == 1 or parent is None:
            category = name
        else:
            category = _top_ancestor(parent, parents, top_level)
        try:
            labels.append(
                Label(
                    name=name,
                    category=category,
                    confidence=min(1.0, max(0.0, float(confidence) / 100.0)),
                    parent=parent,
                )
            )
        except ValueError as exc:
            raise ModerationError(f"rekognition returned a malformed label: {exc}") from exc
    return labels


def _top_ancestor(parent: str, parents: Mapping[str, str], top_level: set[str]) -> str:
    current = parent
    seen = {current}
    while current not in top_level:
        above = parents.get(current) or _LEVEL2_PARENT.get(current)
        if above is None or above in seen:
            break
        seen.add(above)
        current = above
    return current
