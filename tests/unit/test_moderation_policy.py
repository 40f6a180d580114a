"""The moderation policy: labels in, verdict out, with an auditable record."""

from __future__ import annotations

import json
import math

import pytest
from PIL import Image

from imagepipe.errors import ConfigurationError
from imagepipe.moderation.policy import DEFAULT_POLICY, Label, ModerationPolicy, Thresholds, flatten_to_rgb

POLICY = ModerationPolicy(
    default=Thresholds(review=0.5, reject=0.9),
    per_category={
        "Explicit": Thresholds(review=0.3, reject=0.6),
        "Violence": Thresholds(review=0.6, reject=1.0),
        "Graphic Violence": Thresholds(review=0.4, reject=0.8),
    },
)


def _decide(*labels: Label, extra: tuple[str, ...] = ()):
    return POLICY.decide(labels, backend="test", model_version="1", extra_reasons=extra)


@pytest.mark.parametrize(
    ("confidence", "verdict"),
    [(0.2999, "approve"), (0.30, "review"), (0.5999, "review"), (0.60, "reject"), (1.0, "reject")],
)
def test_thresholds_are_inclusive(confidence: float, verdict: str) -> None:
    """GIVEN Explicit thresholds review=0.30 reject=0.60
    WHEN a label sits just below, exactly at, or above each threshold
    THEN exactly-at counts as crossing (>=) and just-below does not."""
    decision = _decide(Label(name="Explicit Nudity", category="Explicit", confidence=confidence))
    assert decision.verdict == verdict


def test_no_labels_approves_and_records_default() -> None:
    """GIVEN a backend that found nothing
    WHEN the policy decides
    THEN the image is approved with no reasons and the record still shows the thresholds."""
    decision = _decide()
    assert decision.verdict == "approve"
    assert decision.reasons == ()
    assert decision.to_record()["thresholds"] == {"default": {"review": 0.5, "reject": 0.9}}


def test_worst_verdict_wins_across_categories() -> None:
    """GIVEN one label that only needs review and one that rejects, in other categories
    WHEN the policy decides
    THEN the decision is reject and both labels appear in the reasons."""
    decision = _decide(
        Label(name="Alcoholic Beverages", category="Alcohol", confidence=0.55, parent="Alcohol"),
        Label(name="Explicit Nudity", category="Explicit", confidence=0.93, parent="Explicit"),
    )
    assert decision.verdict == "reject"
    assert decision.reasons == ("Alcoholic Beverages>=0.50 (0.55)", "Explicit Nudity>=0.60 (0.93)")


def test_per_category_thresholds_override_the_default() -> None:
    """GIVEN the same confidence (0.95) in a review-only category and an unlisted one
    WHEN the policy decides each
    THEN the listed category (Violence, reject=1.0) only reviews while the default rejects."""
    weapons = _decide(Label("Weapons", "Violence", 0.95, parent="Violence"))
    unknown = _decide(Label(name="Something New", category="Future", confidence=0.95))
    assert weapons.verdict == "review"
    assert weapons.thresholds["Violence"] == Thresholds(0.6, 1.0)
    assert unknown.verdict == "reject"
    assert unknown.reasons == ("Something New>=0.90 (0.95)",)


def test_label_name_then_parent_then_category_precedence() -> None:
    """GIVEN thresholds keyed by a sub-label (Graphic Violence) inside a review-only category
    WHEN the sub-label itself or one of its children is confident
    THEN the sub-label's stricter thresholds apply to both, but not to sibling labels."""
    graphic = Label("Graphic Violence", "Violence", 0.85, parent="Violence")
    gore = Label("Blood & Gore", "Violence", 0.85, parent="Graphic Violence")
    weapons = Label("Weapons", "Violence", 0.85, parent="Violence")
    assert _decide(graphic).verdict == "reject"
    assert _decide(gore).verdict == "reject"
    assert _decide(weapons).verdict == "review"
    assert _decide(gore).thresholds["Graphic Violence"] == Thresholds(0.4, 0.8)


def test_extra_reasons_force_at_least_review() -> None:
    """GIVEN a clean image whose prompt was flagged for review
    WHEN the policy decides with extra_reasons
    THEN the verdict is review with that reason; a reject stays a reject."""
    clean = _decide(extra=("prompt_review:weapon",))
    assert clean.verdict == "review"
    assert clean.reasons == ("prompt_review:weapon",)
    rejected = _decide(
        Label("Explicit", "Explicit", 0.99), extra=("prompt_review:weapon",)
    )
    assert rejected.verdict == "reject"
    assert rejected.reasons == ("Explicit>=0.60 (0.99)", "prompt_review:weapon")


def test_decision_record_is_json_and_complete() -> None:
    """GIVEN a decision on labels from a named backend
    WHEN it is turned into a record
    THEN the record is JSON-serialisable and carries labels with scores, thresholds,
    backend, model version, reasons, verdict and the face policy applied."""
    decision = POLICY.decide(
        [Label(name="Explicit Nudity", category="Explicit", confidence=0.93, parent="Explicit")],
        backend="rekognition",
        model_version="7.0",
    )
    record = json.loads(json.dumps(decision.to_record()))
    assert record == {
        "verdict": "reject",
        "reasons": ["Explicit Nudity>=0.60 (0.93)"],
        "labels": [
            {
                "name": "Explicit Nudity",
                "category": "Explicit",
                "parent": "Explicit",
                "confidence": 0.93,
            }
        ],
        "backend": "rekognition",
        "model_version": "7.0",
        "thresholds": {
            "Explicit": {"review": 0.3, "reject": 0.6},
            "default": {"review": 0.5, "reject": 0.9},
        },
        "face_policy": {"action": "record", "min_confidence": 0.9},
        "faces": 0,
        "blur_regions": [],
    }


@pytest.mark.parametrize(
    ("review", "reject"),
    [(0.9, 0.5), (-0.1, 0.5), (0.5, 1.1), (math.nan, 0.5), (0.2, math.inf), (True, 1.0)],
)
def test_thresholds_reject_invalid_values(review: float, reject: float) -> None:
    """GIVEN thresholds out of order, out of [0, 1], non-finite or boolean
    WHEN they are constructed
    THEN construction fails with ValueError."""
    with pytest.raises(ValueError):
        Thresholds(review=review, reject=reject)


@pytest.mark.parametrize("confidence", [math.nan, -0.01, 1.01, math.inf])
def test_labels_reject_confidences_that_would_silently_approve(confidence: float) -> None:
    """GIVEN a confidence that is NaN or outside [0, 1]
    WHEN a Label is built
    THEN it fails, so a broken backend can never produce an approval by comparison quirks."""
    with pytest.raises(ValueError):
        Label(name="x", category="x", confidence=confidence)


def test_from_mapping_builds_the_policy_and_round_trips() -> None:
    """GIVEN a JSON policy as it would come from an environment variable
    WHEN it is loaded and written back
    THEN the policy equals the hand-built one and to_mapping reproduces the input."""
    raw = {
        "default": {"review": 0.5, "reject": 0.9},
        "per_category": {
            "Explicit": {"review": 0.3, "reject": 0.6},
            "Graphic Violence": {"review": 0.4, "reject": 0.8},
            "Violence": {"review": 0.6, "reject": 1},
        },
    }
    policy = ModerationPolicy.from_mapping(json.loads(json.dumps(raw)))
    assert policy == POLICY
    assert policy.to_mapping() == raw
    assert ModerationPolicy.from_mapping(DEFAULT_POLICY.to_mapping()) == DEFAULT_POLICY


GOOD = {"review": 0.5, "reject": 0.9}


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {},
        {"per_category": {}},
        {"default": {"review": 0.5, "reject": 0.9}, "extra": 1},
        {"default": {"review": 0.5}},
        {"default": {"review": 0.5, "reject": 0.9, "block": 1.0}},
        {"default": {"review": "0.5", "reject": 0.9}},
        {"default": {"review": 0.9, "reject": 0.5}},
        {"default": {"review": 0.5, "reject": 0.9}, "per_category": []},
        {"default": GOOD, "per_category": {"": {"review": 0, "reject": 1}}},
        {"default": GOOD, "per_category": {"Explicit": 0.5}},
        {"default": GOOD, "per_category": {"Explicit": {"review": 2, "reject": 3}}},
    ],
)
def test_from_mapping_rejects_invalid_config(raw: object) -> None:
    """GIVEN a malformed policy (wrong types, missing or unknown keys, bad thresholds)
    WHEN it is loaded
    THEN ConfigurationError is raised instead of running with a half-valid policy."""
    with pytest.raises(ConfigurationError):
        ModerationPolicy.from_mapping(raw)  # type: ignore[arg-type]


def test_default_policy_covers_rekognition_taxonomy_and_local_classifier() -> None:
    """GIVEN the shipped default policy
    WHEN its categories are listed
    THEN every Rekognition top-level category and the local 'nsfw' category have thresholds,
    and explicit content is rejected at moderate confidence while swimwear never is."""
    top_level = {
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
        "nsfw",
    }
    assert top_level <= set(DEFAULT_POLICY.per_category)
    assert DEFAULT_POLICY.per_category["nsfw"] == Thresholds(review=0.40, reject=0.85)
    decide = DEFAULT_POLICY.decide
    explicit = Label(name="Explicit", category="Explicit", confidence=0.7)
    swimwear = Label("Swimwear or Underwear", "Swimwear or Underwear", 0.99)
    assert decide([explicit], backend="b", model_version="v").verdict == "reject"
    assert decide([swimwear], backend="b", model_version="v").verdict == "review"


def test_flatten_to_rgb_composites_transparency_onto_white() -> None:
    """GIVEN fully transparent RGBA/LA/palette images and an opaque greyscale one
    WHEN they are flattened
    THEN transparent pixels become white and everything comes back as RGB."""
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    la = Image.new("LA", (4, 4), (0, 0))
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 0] * 256)
    palette.info["transparency"] = 0
    grey = Image.new("L", (4, 4), 7)
    for image in (rgba, la, palette):
        flat = flatten_to_rgb(image)
        assert flat.mode == "RGB"
        assert flat.getpixel((0, 0)) == (255, 255, 255)
    assert flatten_to_rgb(grey).getpixel((0, 0)) == (7, 7, 7)
    opaque = Image.new("RGB", (2, 2), (1, 2, 3))
    assert flatten_to_rgb(opaque) is opaque
