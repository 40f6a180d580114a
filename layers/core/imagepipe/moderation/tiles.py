"""Tiling for classifiers: very tall or wide images are looked at region by region.

A classifier squashes whatever it is given to its own input (open_nsfw: 256x256, then a
224 crop; Rekognition: a JPEG of at most 2048 px on its long side). A 4000x300 banner
squashed that way shows a person at a few pixels across. So an image whose aspect ratio
exceeds ``MAX_ASPECT`` is also cut into square-ish tiles along its long side, each tile as
tall (or wide) as the image's short side, neighbours overlapping by ``OVERLAP`` of a tile:
anything up to a quarter of a tile long lies whole inside some tile. Each backend
classifies the whole image and every tile, and ``pool`` merges what they found.

The work is bounded: at most ``max_tiles`` tiles, a number each backend chooses (one
Rekognition call per tile is billed). An aspect ratio too extreme for that many squares is
still covered end to end: the tiles grow longer, keeping the overlap, so each one is
squashed less than the whole image but more than a square would be.

``working_size`` is the size the moderation stage reduces an image to before any of this:
the long side bounded as before for ordinary images, the short side and the pixel count
for elongated ones, so tiles are cut from enough pixels.

Everything here is pure: boxes, sizes and labels in, boxes, sizes and labels out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from PIL import Image

from imagepipe.moderation.policy import Label, Region

Box = tuple[int, int, int, int]  # left, upper, right, lower: what ``Image.crop`` takes

MAX_ASPECT = 2.0  # images at most this elongated are looked at whole only
OVERLAP = 0.25  # of a tile's length, shared with each neighbour
WORKING_LONG_SIDE = 1024  # ordinary images: the long side moderation looks at
WORKING_MAX_PIXELS = 2 * WORKING_LONG_SIDE * WORKING_LONG_SIDE  # elongated images: the pixel budget
SAME_DETECTION = 0.5  # two boxes sharing this much of the smaller one are one detection


def working_size(
    width: int,
    height: int,
    *,
    long_side: int = WORKING_LONG_SIDE,
    max_aspect: float = MAX_ASPECT,
    max_pixels: int = WORKING_MAX_PIXELS,
) -> tuple[int, int]:
    """The size to reduce an image to before moderation (never larger than it is).

    An image at most ``max_aspect`` elongated fits ``long_side`` on its long side. A more
    elongated one keeps at most ``long_side / max_aspect`` on its short side (what a
    2:1 image keeps) and at most ``max_pixels`` in all, so its tiles are not cut from a
    sliver (a 20000x500 panorama becomes 9158x228, not 1024x26).

    Parameters
    ----------
    width, height : int
        The decoded image's size.
    long_side : int
        Bound on the long side of ordinary images.
    max_aspect : float
        Aspect ratio from which images are tiled.
    max_pixels : int
        Bound on ``width * height`` of elongated images.

    Returns
    -------
    tuple of int
        ``(width, height)``, each at least 1.
    """
    if width < 1 or height < 1:
        return width, height
    long, short = max(width, height), min(width, height)
    if long <= max_aspect * short:
        scale = min(1.0, long_side / long)
        return max(1, round(width * scale)), max(1, round(height * scale))
    scale = min(1.0, long_side / max_aspect / short, math.sqrt(max_pixels / (width * height)))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))  # floor: within the budget


def tile_boxes(
    width: int,
    height: int,
    *,
    max_tiles: int,
    max_aspect: float = MAX_ASPECT,
    overlap: float = OVERLAP,
) -> tuple[Box, ...]:
    """The tiles to classify besides the whole image; none unless it is more than ``max_aspect`` elongated.

    Tiles span the short side and step along the long one. They are squares when
    ``max_tiles`` squares overlapping by ``overlap`` cover the long side, else exactly
    ``max_tiles`` longer tiles with the same overlap. The first tile starts at one end
    and the last one finishes at the other.

    Parameters
    ----------
    width, height : int
        Size of the image to tile.
    max_tiles : int
        Most tiles to return; below 2, nothing is tiled.
    max_aspect : float
        Aspect ratio (long / short side) up to which the whole image is enough.
    overlap : float
        Least fraction of a tile shared with each neighbour, in ``[0, 1)``.

    Returns
    -------
    tuple of Box
        ``(left, upper, right, lower)`` pixel boxes inside the image.
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    if max_aspect < 1.0:
        raise ValueError(f"max_aspect must be at least 1, got {max_aspect!r}")
    long, short = max(width, height), min(width, height)
    if short < 1 or max_tiles < 2 or long <= max_aspect * short:
        return ()
    stride = short * (1.0 - overlap)
    count = math.ceil((long - short) / stride) + 1
    side = short
    if count > max_tiles:
        count = max_tiles
        side = min(long, math.ceil(long / (1 + (count - 1) * (1.0 - overlap))))
    starts = [round(i * (long - side) / (count - 1)) for i in range(count)]
    if width >= height:
        return tuple((start, 0, start + side, height) for start in starts)
    return tuple((0, start, width, start + side) for start in starts)


def views(image: Image.Image, *, max_tiles: int) -> list[tuple[Box | None, Image.Image]]:
    """The whole image (box ``None``) followed by its tiles, each with its box."""
    boxes = tile_boxes(image.width, image.height, max_tiles=max_tiles)
    return [(None, image), *((box, image.crop(box)) for box in boxes)]


def pool(found: Iterable[tuple[Box | None, Sequence[Label]]], size: tuple[int, int]) -> list[Label]:
    """Merge what a backend found in each view into labels for the whole image.

    Labels without a region keep the highest confidence per (name, category, parent),
    in the order first seen. Labels with a region (faces) are mapped from their tile to
    the whole image; detections of the same name whose boxes share at least half of the
    smaller one (one face seen by two overlapping tiles, or by a tile and the whole
    image) become one label covering both boxes, with the higher confidence, so a blur
    covers every part any view saw.

    Parameters
    ----------
    found : iterable of (Box or None, sequence of Label)
        Each view's box in the whole image (``None`` for the whole image) and its labels.
    size : tuple of int
        ``(width, height)`` of the whole image the boxes refer to.
    """
    width, height = size
    best: dict[tuple[str, str, str | None], Label] = {}
    detections: list[Label] = []
    for box, labels in found:
        for label in labels:
            if label.region is not None:
                detections.append(label if box is None else _to_whole(label, box, width, height))
                continue
            key = (label.name, label.category, label.parent)
            if key not in best or label.confidence > best[key].confidence:
                best[key] = label
    return [*best.values(), *_merge(detections)]


def classify_tiled(
    image: Image.Image, classify: Callable[[Image.Image], list[Label]], *, max_tiles: int
) -> list[Label]:
    """Classify the whole image and each of its tiles with ``classify``; return the pooled labels.

    Parameters
    ----------
    image : PIL.Image.Image
        The image to moderate.
    classify : callable
        One backend call on one image (whole or tile); its errors propagate.
    max_tiles : int
        Most tiles, so at most ``max_tiles + 1`` calls.
    """
    return pool(((box, classify(view)) for box, view in views(image, max_tiles=max_tiles)), image.size)


def _to_whole(label: Label, box: Box, width: int, height: int) -> Label:
    r = label.region
    assert r is not None
    left, top, right, bottom = box
    tile_w, tile_h = right - left, bottom - top
    region = Region.clipped(
        (left + r.left * tile_w) / width,
        (top + r.top * tile_h) / height,
        r.width * tile_w / width,
        r.height * tile_h / height,
    )
    return Label(name=label.name, category=label.category, confidence=label.confidence, parent=label.parent, region=region)


def _merge(detections: list[Label]) -> list[Label]:
    merged: list[Label] = []
    for label in detections:
        for index, other in enumerate(merged):
            if other.name == label.name and _shared(other.region, label.region) >= SAME_DETECTION:
                merged[index] = _union(other, label)
                break
        else:
            merged.append(label)
    # A union can reach a box it did not overlap before: repeat until nothing merges.
    return merged if len(merged) == len(detections) else _merge(merged)


def _shared(a: Region | None, b: Region | None) -> float:
    assert a is not None and b is not None
    across = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    down = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    if across <= 0 or down <= 0:
        return 0.0
    return across * down / min(a.width * a.height, b.width * b.height)


def _union(a: Label, b: Label) -> Label:
    ra, rb = a.region, b.region
    assert ra is not None and rb is not None
    left, top = min(ra.left, rb.left), min(ra.top, rb.top)
    right = max(ra.left + ra.width, rb.left + rb.width)
    bottom = max(ra.top + ra.height, rb.top + rb.height)
    keep = a if a.confidence >= b.confidence else b
    return Label(
        name=keep.name,
        category=keep.category,
        confidence=keep.confidence,
        parent=keep.parent,
        region=Region.clipped(left, top, right - left, bottom - top),
    )
