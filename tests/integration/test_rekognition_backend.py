"""RekognitionModeration against a real botocore client stubbed with the service model."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from PIL import Image

from imagepipe.errors import ModerationError
from imagepipe.moderation.policy import DEFAULT_POLICY, Label
from imagepipe.moderation.rekognition import RekognitionModeration
from imagepipe.moderation import rekognition

FIVE_MB = 5 * 1024 * 1024


class JpegBytes:
    """Matches (and keeps) request bytes that are a JPEG Rekognition accepts."""

    def __init__(self) -> None:
        self.seen: bytes | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, bytes) or not other.startswith(b"\xff\xd8\xff"):
            return False
        self.seen = other
        return len(other) <= FIVE_MB

    def image(self) -> Image.Image:
        assert self.seen is not None
        return Image.open(io.BytesIO(self.seen))


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return boto3.client("rekognition", region_name="us-east-1")


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def _photo(width: int = 640, height: int = 480) -> Image.Image:
    return Image.new("RGB", (width, height), (90, 140, 200))


RESPONSE = {
    "ModerationLabels": [
        {"Confidence": 93.0, "Name": "Explicit", "ParentName": "", "TaxonomyLevel": 1},
        {
            "Confidence": 93.0,
            "Name": "Explicit Nudity",
            "ParentName": "Explicit",
            "TaxonomyLevel": 2,
        },
        {
            "Confidence": 91.5,
            "Name": "Exposed Female Nipple",
            "ParentName": "Explicit Nudity",
            "TaxonomyLevel": 3,
        },
        {"Confidence": 55.25, "Name": "Weapons", "ParentName": "Violence", "TaxonomyLevel": 2},
        {
            "Confidence": 41.0,
            "Name": "Blood & Gore",
            "ParentName": "Graphic Violence",
            "TaxonomyLevel": 3,
        },
    ],
    "ModerationModelVersion": "7.0",
    "ContentTypes": [{"Confidence": 98.1, "Name": "Animated"}],
}


def test_labels_mapped_to_top_level_categories(client: Any, stubber: Stubber) -> None:
    """GIVEN Rekognition answering with a 3-level ParentName chain, a label whose parent is
    not in the response, and model version 7.0
    WHEN an image is classified
    THEN the request carries a JPEG and MinConfidence=30, every label gets its top-level
    category and a 0..1 confidence, and model_version becomes '7.0'."""
    jpeg = JpegBytes()
    stubber.add_response(
        "detect_moderation_labels",
        RESPONSE,
        expected_params={"Image": {"Bytes": jpeg}, "MinConfidence": 30.0},
    )
    backend = RekognitionModeration(client)
    assert backend.model_version == "unknown"

    labels = backend.classify(_photo())

    assert labels == [
        Label(name="Explicit", category="Explicit", confidence=0.93, parent=None),
        Label(name="Explicit Nudity", category="Explicit", confidence=0.93, parent="Explicit"),
        Label(
            name="Exposed Female Nipple",
            category="Explicit",
            confidence=0.915,
            parent="Explicit Nudity",
        ),
        Label(name="Weapons", category="Violence", confidence=0.5525, parent="Violence"),
        Label(
            name="Blood & Gore", category="Violence", confidence=0.41, parent="Graphic Violence"
        ),
    ]
    assert backend.model_version == "7.0"
    assert jpeg.image().format == "JPEG"
    assert jpeg.image().size == (640, 480)
    decision = DEFAULT_POLICY.decide(labels, backend=backend.name, model_version="7.0")
    assert decision.verdict == "reject"
    assert "Explicit Nudity>=0.60 (0.93)" in decision.reasons


def test_empty_response_and_custom_min_confidence(client: Any, stubber: Stubber) -> None:
    """GIVEN min_confidence=0.55 and an answer without labels
    WHEN an image is classified
    THEN MinConfidence is sent as 55.0 (percent) and no labels come back."""
    stubber.add_response(
        "detect_moderation_labels",
        {"ModerationLabels": [], "ModerationModelVersion": "7.0"},
        expected_params={"Image": {"Bytes": JpegBytes()}, "MinConfidence": 55.0},
    )
    assert RekognitionModeration(client, min_confidence=0.55).classify(_photo()) == []


def test_large_noisy_image_is_downscaled_to_fit(client: Any, stubber: Stubber) -> None:
    """GIVEN a 6000x4000 image of pure noise (compresses badly)
    WHEN it is classified
    THEN Rekognition receives a JPEG whose long side is at most 2048 px and which fits
    in 5 MB, with the aspect ratio kept."""
    noise = np.random.default_rng(7).integers(0, 256, (4000, 6000, 3), dtype=np.uint8)
    jpeg = JpegBytes()
    stubber.add_response(
        "detect_moderation_labels",
        {"ModerationLabels": [], "ModerationModelVersion": "7.0"},
        expected_params={"Image": {"Bytes": jpeg}, "MinConfidence": 30.0},
    )
    RekognitionModeration(client).classify(Image.fromarray(noise))

    assert jpeg.seen is not None and len(jpeg.seen) <= FIVE_MB
    width, height = jpeg.image().size
    assert max(width, height) <= 2048
    assert abs(width / height - 1.5) < 0.01


def test_rendition_shrinks_until_it_fits_the_byte_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN an image that is still too heavy at 2048 px even at the lowest JPEG quality
    (simulated by lowering the byte limit to 300 kB for a 2048x2048 noise image)
    WHEN the JPEG rendition is built
    THEN it keeps shrinking the image until the bytes fit."""
    monkeypatch.setattr(rekognition, "MAX_IMAGE_BYTES", 300_000)
    noise = np.random.default_rng(3).integers(0, 256, (2048, 2048, 3), dtype=np.uint8)
    payload = rekognition.jpeg_rendition(Image.fromarray(noise))
    assert len(payload) <= 300_000
    assert 80 <= Image.open(io.BytesIO(payload)).size[0] < 2048


def test_transparency_is_flattened_onto_white(client: Any, stubber: Stubber) -> None:
    """GIVEN a fully transparent RGBA image
    WHEN it is classified
    THEN the JPEG sent is RGB and the transparent area is white, not the hidden colour."""
    jpeg = JpegBytes()
    stubber.add_response(
        "detect_moderation_labels",
        {"ModerationLabels": [], "ModerationModelVersion": "7.0"},
        expected_params={"Image": {"Bytes": jpeg}, "MinConfidence": 30.0},
    )
    RekognitionModeration(client).classify(Image.new("RGBA", (200, 200), (255, 0, 0, 0)))
    sent = jpeg.image()
    assert sent.mode == "RGB"
    assert all(channel >= 250 for channel in sent.getpixel((100, 100)))


@pytest.mark.parametrize("size", [(50, 50), (79, 500), (500, 79), (9000, 100)])
def test_too_small_images_are_refused_without_a_call(
    client: Any, stubber: Stubber, size: tuple[int, int]
) -> None:
    """GIVEN an image with a side under 80 px (or one that would be after downscaling)
    WHEN it is classified
    THEN ModerationError('unsupported: ...') is raised and Rekognition is never called."""
    with pytest.raises(ModerationError, match=r"^unsupported"):
        RekognitionModeration(client).classify(_photo(*size))


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "InternalServerError",
        "AccessDeniedException",
        "InvalidImageFormatException",
        "ImageTooLargeException",
        "InvalidParameterException",
    ],
)
def test_client_errors_become_moderation_errors(client: Any, stubber: Stubber, code: str) -> None:
    """GIVEN Rekognition answering with an error code
    WHEN an image is classified
    THEN ModerationError names the code (callers fail closed) and the model version is
    untouched."""
    stubber.add_client_error(
        "detect_moderation_labels", service_error_code=code, service_message="nope"
    )
    backend = RekognitionModeration(client)
    with pytest.raises(ModerationError, match=f"rekognition {code}: nope"):
        backend.classify(_photo())
    assert backend.model_version == "unknown"


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://rekognition.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://rekognition.us-east-1.amazonaws.com"),
    ],
)
def test_network_errors_become_moderation_errors(client: Any, error: Exception) -> None:
    """GIVEN the endpoint unreachable or timing out
    WHEN an image is classified
    THEN ModerationError is raised, chained to the botocore error."""

    def fail(**_: Any) -> None:
        raise error

    client.meta.events.register("before-call.rekognition.DetectModerationLabels", fail)
    with pytest.raises(ModerationError, match="unreachable") as info:
        RekognitionModeration(client).classify(_photo())
    assert info.value.__cause__ is error


def test_malformed_label_is_an_error_not_an_approval(client: Any, stubber: Stubber) -> None:
    """GIVEN a response label without a confidence
    WHEN an image is classified
    THEN ModerationError is raised rather than the label being dropped."""
    stubber.add_response(
        "detect_moderation_labels",
        {"ModerationLabels": [{"Name": "Explicit", "ParentName": ""}]},
    )
    with pytest.raises(ModerationError, match="malformed"):
        RekognitionModeration(client).classify(_photo())


def test_legacy_taxonomy_without_levels(client: Any, stubber: Stubber) -> None:
    """GIVEN a pre-7.0 style answer (two levels, no TaxonomyLevel, top level has ParentName '')
    WHEN an image is classified
    THEN categories come from the ParentName chain."""
    stubber.add_response(
        "detect_moderation_labels",
        {
            "ModerationLabels": [
                {"Confidence": 80.0, "Name": "Suggestive", "ParentName": ""},
                {
                    "Confidence": 80.0,
                    "Name": "Female Swimwear Or Underwear",
                    "ParentName": "Suggestive",
                },
            ],
            "ModerationModelVersion": "6.1",
        },
    )
    backend = RekognitionModeration(client)
    labels = backend.classify(_photo())
    assert [label.category for label in labels] == ["Suggestive", "Suggestive"]
    assert backend.model_version == "6.1"


def test_min_confidence_is_validated(client: Any) -> None:
    """GIVEN a min_confidence outside 0..1 (e.g. a percentage by mistake)
    WHEN the backend is built
    THEN it fails immediately."""
    with pytest.raises(ValueError):
        RekognitionModeration(client, min_confidence=30)


def _answer(*labels: tuple[str, str, float]) -> dict[str, Any]:
    return {
        "ModerationLabels": [
            {"Name": name, "ParentName": parent, "Confidence": confidence, "TaxonomyLevel": 2 if parent else 1}
            for name, parent, confidence in labels
        ],
        "ModerationModelVersion": "7.0",
    }


def test_a_banner_is_sent_whole_then_in_capped_tiles_and_labels_are_pooled(
    client: Any, stubber: Stubber
) -> None:
    """GIVEN a 2000x400 banner (5:1) and Rekognition finding a weapon in the whole image and
    more surely in the first tile, and explicit content only in the third tile
    WHEN it is classified
    THEN exactly MAX_TILES + 1 = 5 calls are made (the cost bound): the whole banner, then 4
    tiles 616x400 (the cap stretches them past square); each label keeps its highest
    confidence, so the content seen only at tile scale rejects the banner."""
    answers = [
        _answer(("Weapons", "Violence", 55.0)),
        _answer(("Weapons", "Violence", 70.0)),
        _answer(),
        _answer(("Explicit", "", 93.0)),
        _answer(),
    ]
    sent = [JpegBytes() for _ in answers]
    for answer, jpeg in zip(answers, sent):
        stubber.add_response(
            "detect_moderation_labels", answer, {"Image": {"Bytes": jpeg}, "MinConfidence": 30.0}
        )
    labels = RekognitionModeration(client).classify(_photo(2000, 400))

    assert [jpeg.image().size for jpeg in sent] == [(2000, 400)] + [(616, 400)] * 4
    assert rekognition.MAX_TILES == 4
    assert labels == [
        Label(name="Weapons", category="Violence", confidence=0.7, parent="Violence"),
        Label(name="Explicit", category="Explicit", confidence=0.93),
    ]
    assert DEFAULT_POLICY.decide(labels, backend="rekognition", model_version="7.0").verdict == "reject"


def test_square_images_and_max_tiles_zero_cost_one_call(client: Any, stubber: Stubber) -> None:
    """GIVEN a square image with the default cap, and a banner with max_tiles=0
    WHEN each is classified
    THEN each costs exactly one call (the stubber holds one answer each and refuses more)."""
    for backend, image in [
        (RekognitionModeration(client), _photo(1024, 1024)),
        (RekognitionModeration(client, max_tiles=0), _photo(2000, 400)),
    ]:
        jpeg = JpegBytes()
        stubber.add_response(
            "detect_moderation_labels", _answer(), {"Image": {"Bytes": jpeg}, "MinConfidence": 30.0}
        )
        assert backend.classify(image) == []
        assert jpeg.image().size == image.size
        stubber.assert_no_pending_responses()


def test_a_banner_too_thin_to_send_whole_is_sent_as_tiles(client: Any, stubber: Stubber) -> None:
    """GIVEN a 4000x100 banner, which fits 2048 px only at 51 px tall (under Rekognition's 80)
    WHEN it is classified
    THEN it is not refused: its 4 tiles (1231x100, covering it end to end) are sent instead,
    and nothing is sent whole."""
    sent = [JpegBytes() for _ in range(4)]
    for jpeg in sent:
        stubber.add_response(
            "detect_moderation_labels", _answer(), {"Image": {"Bytes": jpeg}, "MinConfidence": 30.0}
        )
    assert RekognitionModeration(client).classify(_photo(4000, 100)) == []
    assert [jpeg.image().size for jpeg in sent] == [(1231, 100)] * 4


def test_a_failing_tile_fails_the_image(client: Any, stubber: Stubber) -> None:
    """GIVEN a banner whose whole image is answered but whose second call is throttled
    WHEN it is classified
    THEN ModerationError is raised (the caller fails closed), not a partial set of labels."""
    stubber.add_response("detect_moderation_labels", _answer())
    stubber.add_client_error("detect_moderation_labels", service_error_code="ThrottlingException")
    with pytest.raises(ModerationError, match="ThrottlingException"):
        RekognitionModeration(client).classify(_photo(2000, 400))
