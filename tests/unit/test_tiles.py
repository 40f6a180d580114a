"""Tiling for classifiers: which images are tiled, how tiles cover them, how labels are pooled."""

from __future__ import annotations

import pytest
from PIL import Image

from imagepipe.moderation.policy import Label, Region
from imagepipe.moderation.tiles import (
    MAX_ASPECT,
    OVERLAP,
    WORKING_MAX_PIXELS,
    classify_tiled,
    pool,
    tile_boxes,
    working_size,
)


def spans(boxes, horizontal: bool) -> list[tuple[int, int]]:
    return [(b[0], b[2]) if horizontal else (b[1], b[3]) for b in boxes]


@pytest.mark.parametrize("size", [(1024, 1024), (4000, 3000), (640, 480), (2048, 1024), (1024, 2048), (1, 1)])
def test_ordinary_images_are_not_tiled_and_keep_the_old_working_size(size):
    """GIVEN images at most 2:1 elongated THEN no tile is cut (whatever the cap) and the working
    size is exactly what the stage's old 1024-px thumbnail gave: square images cost nothing new."""
    assert tile_boxes(*size, max_tiles=8) == ()
    old = Image.new("L", size)
    old.thumbnail((1024, 1024))
    new = Image.new("L", size)
    new.thumbnail(working_size(*size))
    assert new.size == old.size


@pytest.mark.parametrize("size", [(2050, 1024), (4000, 400), (300, 4000), (1280, 320), (20000, 500), (9000, 100)])
@pytest.mark.parametrize("max_tiles", [2, 4, 8])
def test_tiles_cover_elongated_images_end_to_end_with_overlap(size, max_tiles):
    """GIVEN an image more than 2:1 elongated and a cap on tiles
    THEN at most that many tiles span the short side, run from one end of the long side to the
    other, and each neighbour shares at least a quarter of a tile; they are squares whenever the
    cap allows, else equal longer tiles (so any aspect ratio is covered)."""
    width, height = size
    horizontal = width >= height
    long, short = max(size), min(size)
    boxes = tile_boxes(width, height, max_tiles=max_tiles)
    assert 2 <= len(boxes) <= max_tiles
    for box in boxes:
        assert 0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height
        assert (box[3] - box[1] if horizontal else box[2] - box[0]) == short
    runs = spans(boxes, horizontal)
    assert runs[0][0] == 0 and runs[-1][1] == long
    lengths = {end - start for start, end in runs}
    assert len(lengths) == 1
    (length,) = lengths
    for (_, end), (start, _) in zip(runs, runs[1:]):
        assert end - start >= OVERLAP * length - 1
    squares_needed = (long - short) / (short * (1 - OVERLAP)) + 1
    assert (length == short) == (squares_needed <= max_tiles)


def test_a_cap_below_two_means_whole_image_only():
    """GIVEN max_tiles 0 or 1 THEN even a 10:1 banner is not tiled (one view, one call)."""
    assert tile_boxes(4000, 400, max_tiles=0) == tile_boxes(4000, 400, max_tiles=1) == ()


def test_elongated_images_keep_enough_pixels_across():
    """GIVEN a 20000x500 panorama (which the old 1024-px thumbnail left 26 px tall)
    THEN moderation works on at least 224 px across (open_nsfw's input) within the 2 MP
    budget; a 4000x400 banner is kept whole; a 4000x2000 one is reduced as before."""
    width, height = working_size(20000, 500)
    assert height >= 224 and width * height <= WORKING_MAX_PIXELS
    assert abs(width / height - 40) < 0.5
    assert working_size(4000, 400) == (4000, 400)
    assert working_size(300, 4000) == (300, 4000)
    assert working_size(4000, 2000) == (1024, 512)
    assert working_size(4100, 2000)[1] == 512  # just past 2:1: the same short side, no jump


def test_classify_tiled_hands_the_backend_square_views_of_a_banner():
    """GIVEN a fake backend that records what it is handed and finds a label only in the
    last tile (with two confidences in two views)
    WHEN a 4000x400 banner is classified with at most 8 tiles
    THEN it gets the whole banner then 8 tiles no more than 1.6:1, and the pooled label keeps
    the highest confidence; a square image is handed over once, as it is."""
    seen: list[tuple[int, int]] = []

    def backend(view: Image.Image) -> list[Label]:
        seen.append(view.size)
        confidence = 0.9 if len(seen) == 9 else 0.2
        return [Label("Explicit", "Explicit", confidence)] if len(seen) >= 8 else []

    labels = classify_tiled(Image.new("RGB", (4000, 400)), backend, max_tiles=8)
    assert seen[0] == (4000, 400) and len(seen) == 9
    assert all(h == 400 and w / h <= 1.6 for w, h in seen[1:])
    assert labels == [Label("Explicit", "Explicit", 0.9)]

    seen.clear()
    classify_tiled(Image.new("RGB", (800, 800)), backend, max_tiles=8)
    assert seen == [(800, 800)]


def face(left: float, top: float, width: float, height: float, confidence: float = 0.99) -> Label:
    return Label("Face", "Face", confidence, region=Region(left, top, width, height))


def test_faces_in_tiles_are_mapped_to_the_whole_image_and_counted_once():
    """GIVEN a 4000x400 banner and a face at x 1000-1200 px, y 100-300 px, seen by the whole
    image, by two overlapping tiles (each in its own coordinates, one with a clipped box) and a
    second face elsewhere seen by one tile
    WHEN the views' labels are pooled
    THEN there are two faces, in whole-image coordinates: the first one's box covers every
    view's box (a blur hides all of it) with the best confidence."""
    size = (4000, 400)
    found = [
        (None, [face(0.25, 0.25, 0.05, 0.5, 0.91)]),
        ((480, 0, 1120, 400), [face(520 / 640, 0.25, 120 / 640, 0.5, 0.97)]),  # cut at 1120 px
        ((960, 0, 1600, 400), [face(40 / 640, 0.25, 200 / 640, 0.5, 0.99)]),
        ((2880, 0, 3520, 400), [face(0.5, 0.1, 0.25, 0.4, 0.95)]),
    ]
    first, second = pool(found, size)
    assert first.confidence == 0.99
    assert first.region == Region(0.25, 0.25, 0.05, 0.5)
    assert second.region == Region(0.8, 0.1, 0.04, 0.4)
    assert second.confidence == 0.95


def test_distinct_labels_are_kept_apart_and_in_first_seen_order():
    """GIVEN views reporting labels that differ by name or parent THEN none is merged away."""
    found = [
        (None, [Label("Weapons", "Violence", 0.5, parent="Violence")]),
        ((0, 0, 400, 400), [Label("Explicit", "Explicit", 0.4), Label("Weapons", "Violence", 0.7, parent="Violence")]),
        ((300, 0, 700, 400), [Label("Weapons", "Violence", 0.6, parent="Graphic Violence")]),
    ]
    assert pool(found, (700, 400)) == [
        Label("Weapons", "Violence", 0.7, parent="Violence"),
        Label("Explicit", "Explicit", 0.4),
        Label("Weapons", "Violence", 0.6, parent="Graphic Violence"),
    ]


def test_bad_parameters_are_refused():
    """GIVEN an overlap of 1 (tiles that never advance) or a max aspect below 1 THEN ValueError."""
    with pytest.raises(ValueError):
        tile_boxes(4000, 400, max_tiles=8, overlap=1.0)
    with pytest.raises(ValueError):
        tile_boxes(4000, 400, max_tiles=8, max_aspect=0.5)
    assert MAX_ASPECT == 2.0
