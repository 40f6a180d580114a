"""The moderate stage with in-memory fakes: what image the backends get, and what the decision records."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pytest
from PIL import Image, ImageDraw

from imagepipe.errors import ModerationError, RejectedInputError
from imagepipe.moderation.policy import DEFAULT_POLICY, Label
from imagepipe.moderation.phash import phash, to_hex
from imagepipe.stages.moderate import moderate

ASSET = "0b0a2a3e-7a40-8c1e-9d1e-4d5c6b7a8f90"
KEY = f"originals/{ASSET}.png"


@dataclass
class Stored:
    data: bytes
    metadata: dict = field(default_factory=lambda: {"visibility": "public"})


class FakeObjects:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def get(self, bucket, key, *, max_bytes):
        if key != KEY:
            raise RejectedInputError("missing_object", key)
        return Stored(self.data)


class FakePublisher:
    def __init__(self) -> None:
        self.events: list = []
        self.sent: list = []

    def record(self, event) -> None:
        self.events.append(event)

    def send(self, queue_url, message) -> None:
        self.sent.append((queue_url, message))


class RecordingBackend:
    """Hands back fixed labels and keeps a copy of every image it was given."""

    name = "recording"
    model_version = "1"

    def __init__(self, labels: list[Label] | None = None, error: Exception | None = None) -> None:
        self.images: list[Image.Image] = []
        self.labels = labels or []
        self.error = error

    def classify(self, image: Image.Image) -> list[Label]:
        self.images.append(image.copy())
        if self.error:
            raise self.error
        return self.labels


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def banner(width: int, height: int) -> Image.Image:
    """A banner with a dark disc every `height` px: something to look at, quick to encode."""
    image = Image.new("RGB", (width, height), (200, 210, 220))
    draw = ImageDraw.Draw(image)
    for x in range(0, width, height):
        draw.ellipse((x + height // 4, height // 4, x + 3 * height // 4, 3 * height // 4), fill=(60, 40, 30))
    return image


def run(data: bytes, backend: RecordingBackend, *, last_attempt: bool = False) -> FakePublisher:
    publisher = FakePublisher()
    moderate("originals", KEY, store=FakeObjects(data), backend=backend, policy=DEFAULT_POLICY,
             publisher=publisher, derivatives_queue_url="derive", review_queue_url="review",
             max_bytes=10**8, max_pixels=10**8, last_attempt=last_attempt)
    return publisher


def test_a_panorama_reaches_the_backends_with_enough_pixels_to_tile():
    """GIVEN a 20000x500 panorama (10 MP, within max_pixels)
    WHEN it is moderated
    THEN the backend gets it about 40:1 and at least 224 px tall (open_nsfw's input), not the
    1024x26 sliver a 1024-px thumbnail leaves, and no more than 2 MP."""
    backend = RecordingBackend()
    run(png(banner(20000, 500)), backend)
    (seen,) = backend.images
    assert seen.height >= 224 and seen.width * seen.height <= 2 * 1024 * 1024
    assert abs(seen.width / seen.height - 40) < 0.5


@pytest.mark.parametrize("size, expected", [((3000, 2000), (1024, 683)), ((800, 800), (800, 800)), ((4000, 400), (4000, 400))])
def test_ordinary_images_are_reduced_as_before_and_banners_are_kept(size, expected):
    """GIVEN a 3:2 photo, a small square and a 10:1 banner THEN the backend gets the photo at
    1024 px on its long side (as before), the square and the banner untouched."""
    backend = RecordingBackend()
    run(png(banner(*size)), backend)
    assert backend.images[0].size == expected


def test_the_moderated_fact_records_the_phash_of_what_was_moderated():
    """GIVEN an approved image
    WHEN it is moderated
    THEN the moderated fact's data carries "phash": the 16-hex pHash of exactly the image the
    backend looked at, next to the decision fields (verdict, labels, ...)."""
    rng = np.random.default_rng(5)
    photo = Image.fromarray(rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8))
    backend = RecordingBackend()
    publisher = run(png(photo), backend)
    (event,) = publisher.events
    assert event.kind == "moderated" and event.data["verdict"] == "approve"
    assert event.data["phash"] == to_hex(phash(backend.images[0]))
    assert len(event.data["phash"]) == 16 and int(event.data["phash"], 16) >= 0


@pytest.mark.parametrize(
    "backend, verdict",
    [
        (RecordingBackend(labels=[Label("Explicit", "Explicit", 0.99)]), "reject"),
        (RecordingBackend(error=ModerationError("rekognition ThrottlingException")), "review"),
    ],
    ids=["rejected", "backend-unavailable"],
)
def test_the_phash_is_recorded_whatever_the_verdict(backend, verdict):
    """GIVEN a rejected image, or one whose backend failed on the last attempt THEN the fact
    still carries the pHash: a takedown or a blocklist entry needs it most for those."""
    publisher = run(png(banner(640, 480)), backend, last_attempt=True)
    (event,) = publisher.events
    assert event.data["verdict"] == verdict
    assert event.data["phash"] == to_hex(phash(banner(640, 480)))
