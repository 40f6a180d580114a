"""Moderation labels, thresholds and the policy that turns labels into a verdict.

Backends (Rekognition, the local open_nsfw classifier, face detectors, the perceptual-hash
blocklist) only produce ``Label`` objects; every decision about what is acceptable lives
here, so the same policy applies whatever backend ran and the ``Decision`` records exactly
which thresholds were applied.

Faces are labels of category ``"Face"`` with a ``region``. They are not scored against
thresholds: the ``FacePolicy`` says what a face means (record it, blur it in public
variants, or send the image to review).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from PIL import Image

from imagepipe.errors import ConfigurationError, ModerationError

Verdict = Literal["approve", "review", "reject"]
FaceAction = Literal["record", "blur", "review"]
FACE_CATEGORY = "Face"
FACE_ACTIONS: tuple[FaceAction, ...] = ("record", "blur", "review")

_SEVERITY: dict[str, int] = {"approve": 0, "review": 1, "reject": 2}

# Background used to flatten transparency before classification.
FLATTEN_BACKGROUND = (255, 255, 255)


class UnsupportedImageError(ModerationError):
    """A backend cannot look at this image at all (too small, wrong type): retrying will not help."""


@dataclass(frozen=True)
class Region:
    """A box relative to the image's size (every value in ``[0, 1]``), as Rekognition gives them."""

    left: float
    top: float
    width: float
    height: float

    def __post_init__(self) -> None:
        for value in (self.left, self.top, self.width, self.height):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"region values must be finite numbers, got {value!r}")
        if not (0.0 <= self.left <= 1.0 and 0.0 <= self.top <= 1.0 and 0.0 < self.width and 0.0 < self.height):
            raise ValueError(f"region out of range: {self!r}")

    @classmethod
    def clipped(cls, left: float, top: float, width: float, height: float) -> Region:
        """The part of a box inside the image (detectors report boxes that overhang the edges)."""
        x0, y0 = max(0.0, left), max(0.0, top)
        x1, y1 = min(1.0, left + width), min(1.0, top + height)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"region lies outside the image: {(left, top, width, height)!r}")
        return cls(round(x0, 6), round(y0, 6), round(x1 - x0, 6), round(y1 - y0, 6))

    def to_record(self) -> dict[str, float]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Label:
    """One thing a moderation backend detected in an image.

    Parameters
    ----------
    name : str
        The backend's label name, e.g. ``"Exposed Female Nipple"`` or ``"nsfw"``.
    category : str
        The top-level category the label belongs to, e.g. ``"Explicit"``.
    confidence : float
        Confidence in ``[0, 1]``.
    parent : str or None
        The direct parent label, if the backend has a hierarchy.
    region : Region or None
        Where in the image, for detections (faces).
    """

    name: str
    category: str
    confidence: float
    parent: str | None = None
    region: Region | None = None

    def __post_init__(self) -> None:
        # A NaN would compare False against every threshold and silently approve.
        if not isinstance(self.confidence, (int, float)) or isinstance(self.confidence, bool):
            raise ValueError(f"label confidence must be a number, got {self.confidence!r}")
        if not math.isfinite(self.confidence) or not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"label confidence must be in [0, 1], got {self.confidence!r}")
        if not self.name or not self.category:
            raise ValueError("label name and category must be non-empty")


@dataclass(frozen=True)
class Thresholds:
    """Confidence at or above which a label sends an image to review or rejects it.

    Parameters
    ----------
    review : float
        Confidence from which the image needs a human decision.
    reject : float
        Confidence from which the image is rejected outright. ``1.0`` means "only at
        certainty", which in practice makes a category review-only.

    Raises
    ------
    ValueError
        Unless ``0 <= review <= reject <= 1``.
    """

    review: float
    reject: float

    def __post_init__(self) -> None:
        for value in (self.review, self.reject):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"thresholds must be numbers, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"thresholds must be finite, got {value!r}")
        if not 0.0 <= self.review <= self.reject <= 1.0:
            raise ValueError(
                f"thresholds must satisfy 0 <= review <= reject <= 1, "
                f"got review={self.review} reject={self.reject}"
            )

    def verdict_for(self, confidence: float) -> Verdict:
        """Return the verdict these thresholds give to one confidence."""
        if confidence >= self.reject:
            return "reject"
        if confidence >= self.review:
            return "review"
        return "approve"

    def to_record(self) -> dict[str, float]:
        return {"review": self.review, "reject": self.reject}


@dataclass(frozen=True)
class FacePolicy:
    """What a detected face means.

    Parameters
    ----------
    action : {"record", "blur", "review"}
        ``record``: keep the faces in the decision only; ``blur``: public variants are
        derived with the faces blurred (private ones are left alone: only the requester
        sees them); ``review``: an image with a face needs a human decision.
    min_confidence : float
        Detections below this confidence are recorded but ignored.
    """

    action: FaceAction = "record"
    min_confidence: float = 0.9

    def __post_init__(self) -> None:
        if self.action not in FACE_ACTIONS:
            raise ValueError(f"face action must be one of {FACE_ACTIONS}, got {self.action!r}")
        if isinstance(self.min_confidence, bool) or not isinstance(self.min_confidence, (int, float)):
            raise ValueError(f"min_confidence must be a number, got {self.min_confidence!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence!r}")

    def to_record(self) -> dict[str, Any]:
        return {"action": self.action, "min_confidence": self.min_confidence}


@dataclass(frozen=True)
class Decision:
    """The outcome of moderating one image, with everything needed to audit it."""

    verdict: Verdict
    reasons: tuple[str, ...]
    labels: tuple[Label, ...]
    backend: str
    model_version: str
    thresholds: Mapping[str, Thresholds] = field(default_factory=dict)
    face_policy: FacePolicy = field(default_factory=FacePolicy)
    faces: int = 0
    blur_regions: tuple[Region, ...] = ()

    def to_record(self) -> dict[str, Any]:
        """Return a JSON-able dict for provenance records.

        Returns
        -------
        dict
            ``verdict``, ``reasons``, ``labels`` (name, category, parent, confidence and,
            for detections, ``region``), ``backend``, ``model_version``, the applied
            ``thresholds``, the ``face_policy``, the number of ``faces`` it counted and
            the ``blur_regions`` public variants must blur. Numbers are plain floats
            (convert to ``Decimal`` before writing to DynamoDB).
        """
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "labels": [
                {
                    "name": label.name,
                    "category": label.category,
                    "parent": label.parent,
                    "confidence": round(float(label.confidence), 6),
                    **({"region": label.region.to_record()} if label.region else {}),
                }
                for label in self.labels
            ],
            "backend": self.backend,
            "model_version": self.model_version,
            "thresholds": {key: t.to_record() for key, t in sorted(self.thresholds.items())},
            "face_policy": self.face_policy.to_record(),
            "faces": self.faces,
            "blur_regions": [region.to_record() for region in self.blur_regions],
        }


@dataclass(frozen=True)
class ModerationPolicy:
    """Maps labels to a verdict with per-category thresholds.

    Parameters
    ----------
    default : Thresholds
        Applied to labels no entry of ``per_category`` covers.
    per_category : Mapping[str, Thresholds]
        Thresholds keyed by name. For each label the most specific key wins: the label's
        own name, then its parent, then its category, then ``default``. Keying by a
        sub-label (e.g. ``"Graphic Violence"``) refines one branch of a category.
    faces : FacePolicy
        What labels of category ``"Face"`` mean; they never meet thresholds.
    """

    default: Thresholds
    per_category: Mapping[str, Thresholds] = field(default_factory=dict)
    faces: FacePolicy = field(default_factory=FacePolicy)

    def thresholds_for(self, label: Label) -> tuple[str, Thresholds]:
        """Return the key and thresholds that apply to ``label``."""
        for key in (label.name, label.parent, label.category):
            if key is not None and key in self.per_category:
                return key, self.per_category[key]
        return "default", self.default

    def decide(
        self,
        labels: Iterable[Label],
        *,
        backend: str,
        model_version: str,
        extra_reasons: Iterable[str] = (),
    ) -> Decision:
        """Turn a backend's labels into a decision; the worst verdict wins.

        Parameters
        ----------
        labels : iterable of Label
            Everything the backend reported.
        backend : str
            The backend's ``name``, recorded in the decision.
        model_version : str
            The backend's ``model_version``, recorded in the decision.
        extra_reasons : iterable of str
            Reasons found elsewhere (e.g. ``"prompt_review:weapon"``); any of them makes
            the verdict at least ``"review"``.

        Returns
        -------
        Decision
            Reasons read like ``"Explicit Nudity>=0.60 (0.93)"``: the label, the
            threshold it crossed and its confidence.
        """
        collected = tuple(labels)
        verdict: Verdict = "approve"
        reasons: list[str] = []
        applied: dict[str, Thresholds] = {"default": self.default}
        faces: list[Label] = []
        for label in collected:
            if label.category == FACE_CATEGORY:
                if label.confidence >= self.faces.min_confidence:
                    faces.append(label)
                continue
            key, thresholds = self.thresholds_for(label)
            applied[key] = thresholds
            label_verdict = thresholds.verdict_for(label.confidence)
            if label_verdict == "approve":
                continue
            crossed = thresholds.reject if label_verdict == "reject" else thresholds.review
            reason = f"{label.name}>={crossed:.2f} ({label.confidence:.2f})"
            if reason not in reasons:
                reasons.append(reason)
            verdict = _worst(verdict, label_verdict)
        for extra in extra_reasons:
            if extra not in reasons:
                reasons.append(extra)
            verdict = _worst(verdict, "review")
        if faces and self.faces.action == "review":
            reasons.append(f"faces:{len(faces)} (face policy: review)")
            verdict = _worst(verdict, "review")
        blur = tuple(f.region for f in faces if f.region is not None) if self.faces.action == "blur" else ()
        return Decision(
            verdict=verdict,
            reasons=tuple(reasons),
            labels=collected,
            backend=backend,
            model_version=model_version,
            thresholds=applied,
            face_policy=self.faces,
            faces=len(faces),
            blur_regions=blur,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ModerationPolicy:
        """Build a policy from JSON-like config.

        Parameters
        ----------
        data : Mapping
            ``{"default": {"review": 0.5, "reject": 0.9},
            "per_category": {"Explicit": {"review": 0.3, "reject": 0.6}, ...},
            "faces": {"action": "blur", "min_confidence": 0.9}}``.
            ``default`` is required; ``per_category`` and ``faces`` are optional. Nothing
            is merged with ``DEFAULT_POLICY``: the mapping is the whole policy.

        Raises
        ------
        ConfigurationError
            On unknown keys, missing or non-numeric thresholds, or thresholds out of order.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"moderation policy must be a mapping, got {type(data).__name__}"
            )
        unknown = set(data) - {"default", "per_category", "faces"}
        if unknown:
            raise ConfigurationError(f"unknown moderation policy keys: {sorted(unknown)}")
        if "default" not in data:
            raise ConfigurationError("moderation policy needs 'default' thresholds")
        default = _thresholds_from(data["default"], "default")
        raw_categories = data.get("per_category", {})
        if not isinstance(raw_categories, Mapping):
            raise ConfigurationError("'per_category' must be a mapping of name -> thresholds")
        per_category: dict[str, Thresholds] = {}
        for name, raw in raw_categories.items():
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"category names must be non-empty strings, got {name!r}")
            per_category[name] = _thresholds_from(raw, name)
        return cls(default=default, per_category=per_category, faces=face_policy_from_mapping(data.get("faces", {})))

    def to_mapping(self) -> dict[str, Any]:
        """Return the policy in the shape ``from_mapping`` reads (``faces`` only if not the default)."""
        mapping: dict[str, Any] = {
            "default": self.default.to_record(),
            "per_category": {k: t.to_record() for k, t in sorted(self.per_category.items())},
        }
        if self.faces != FacePolicy():
            mapping["faces"] = self.faces.to_record()
        return mapping


@runtime_checkable
class ModerationBackend(Protocol):
    """Something that labels an image.

    ``classify`` receives a decoded RGB or RGBA Pillow image and raises
    ``ModerationError`` on any failure; callers must then fail closed.
    """

    name: str
    model_version: str

    def classify(self, image: Image.Image) -> list[Label]: ...


def flatten_to_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` as RGB, compositing any transparency onto white.

    Parameters
    ----------
    image : PIL.Image.Image
        Any mode; palette images with a transparent index are handled too.

    Returns
    -------
    PIL.Image.Image
        An RGB image. Publish derivatives flattened the same way, so that what was
        moderated is what people see.
    """
    has_alpha = image.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*FLATTEN_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def _worst(a: Verdict, b: Verdict) -> Verdict:
    return a if _SEVERITY[a] >= _SEVERITY[b] else b


def _thresholds_from(raw: Any, where: str) -> Thresholds:
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"thresholds for {where!r} must be a mapping with review/reject")
    unknown = set(raw) - {"review", "reject"}
    missing = {"review", "reject"} - set(raw)
    if unknown or missing:
        raise ConfigurationError(
            f"thresholds for {where!r} need exactly 'review' and 'reject' "
            f"(missing {sorted(missing)}, unknown {sorted(unknown)})"
        )
    try:
        return Thresholds(review=raw["review"], reject=raw["reject"])
    except ValueError as exc:
        raise ConfigurationError(f"invalid thresholds for {where!r}: {exc}") from exc


def face_policy_from_mapping(raw: Any) -> FacePolicy:
    if not isinstance(raw, Mapping):
        raise ConfigurationError("'faces' must be a mapping with 'action' and/or 'min_confidence'")
    unknown = set(raw) - {"action", "min_confidence"}
    if unknown:
        raise ConfigurationError(f"unknown face policy keys: {sorted(unknown)}")
    try:
        return FacePolicy(**raw)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"invalid face policy: {exc}") from exc


def _t(review: float, reject: float) -> Thresholds:
    return Thresholds(review=review, reject=reject)


# Rekognition's top-level (TaxonomyLevel 1) categories, plus the local classifier's "nsfw".
# Principles: sexual content and hate symbols are rejected at modest confidence (a wrong
# publication is far costlier than a human review); categories that are mostly legitimate
# in generated art (weapons, swimwear, alcohol, gambling, kissing) are review-only
# (reject=1.0) so a model's confidence alone never discards them.
DEFAULT_POLICY = ModerationPolicy(
    default=_t(0.50, 0.90),
    per_category={
        "Explicit": _t(0.30, 0.60),
        "Non-Explicit Nudity of Intimate parts and Kissing": _t(0.60, 1.0),
        "Swimwear or Underwear": _t(0.85, 1.0),
        "Violence": _t(0.60, 1.0),
        # Sub-label override: weapons alone are review-only, depicted violence is not.
        "Graphic Violence": _t(0.40, 0.80),
        "Visually Disturbing": _t(0.40, 0.85),
        "Drugs & Tobacco": _t(0.60, 1.0),
        "Alcohol": _t(0.80, 1.0),
        "Rude Gestures": _t(0.60, 1.0),
        "Gambling": _t(0.80, 1.0),
        "Hate Symbols": _t(0.30, 0.70),
        # Top-level names of the pre-7.0 taxonomy, in case an older model answers.
        "Explicit Nudity": _t(0.30, 0.60),
        "Suggestive": _t(0.85, 1.0),
        # open_nsfw: Yahoo calls < 0.2 safe and > 0.8 NSFW with high probability; the band
        # in between goes to a human from 0.40. Procedural renders and noise score < 0.01,
        # flat grey or skin-toned fields about 0.2: the review band stays clear of them.
        "nsfw": _t(0.40, 0.85),
        # The perceptual-hash blocklist reports 1 - hamming/64 for the closest known-bad
        # image: 8 bits or fewer apart (>= 0.875) is the same picture resized or
        # re-encoded and is rejected; 9-12 bits apart (>= 0.8125) goes to a human.
        "Known-bad image": _t(0.81, 0.87),
    },
)
