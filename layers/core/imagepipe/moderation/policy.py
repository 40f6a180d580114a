"""Moderation labels, thresholds and the policy that turns labels into a verdict.

Backends (Rekognition, the local open_nsfw classifier) only produce ``Label`` objects;
every decision about what is acceptable lives here, so the same policy applies whatever
backend ran and the ``Decision`` records exactly which thresholds were applied.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from PIL import Image

from imagepipe.errors import ConfigurationError

Verdict = Literal["approve", "review", "reject"]

_SEVERITY: dict[str, int] = {"approve": 0, "review": 1, "reject": 2}

# Background used to flatten transparency before classification.
FLATTEN_BACKGROUND = (255, 255, 255)


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
    """

    name: str
    category: str
    confidence: float
    parent: str | None = None

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
class Decision:
    """The outcome of moderating one image, with everything needed to audit it."""

    verdict: Verdict
    reasons: tuple[str, ...]
    labels: tuple[Label, ...]
    backend: str
    model_version: str
    thresholds: Mapping[str, Thresholds] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """Return a JSON-able dict for provenance records.

        Returns
        -------
        dict
            ``verdict``, ``reasons``, ``labels`` (name, category, parent, confidence),
            ``backend``, ``model_version`` and the applied ``thresholds``. Numbers are
            plain floats (convert to ``Decimal`` before writing to DynamoDB).
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
                }
                for label in self.labels
            ],
            "backend": self.backend,
            "model_version": self.model_version,
            "thresholds": {key: t.to_record() for key, t in sorted(self.thresholds.items())},
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
    """

    default: Thresholds
    per_category: Mapping[str, Thresholds] = field(default_factory=dict)

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
        for label in collected:
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
        return Decision(
            verdict=verdict,
            reasons=tuple(reasons),
            labels=collected,
            backend=backend,
            model_version=model_version,
            thresholds=applied,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ModerationPolicy:
        """Build a policy from JSON-like config.

        Parameters
        ----------
        data : Mapping
            ``{"default": {"review": 0.5, "reject": 0.9},
            "per_category": {"Explicit": {"review": 0.3, "reject": 0.6}, ...}}``.
            ``default`` is required; ``per_category`` is optional. Nothing is merged
            with ``DEFAULT_POLICY``: the mapping is the whole policy.

        Raises
        ------
        ConfigurationError
            On unknown keys, missing or non-numeric thresholds, or thresholds out of order.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"moderation policy must be a mapping, got {type(data).__name__}"
            )
        unknown = set(data) - {"default", "per_category"}
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
        return cls(default=default, per_category=per_category)

    def to_mapping(self) -> dict[str, Any]:
        """Return the policy in the shape ``from_mapping`` reads."""
        return {
            "default": self.default.to_record(),
            "per_category": {k: t.to_record() for k, t in sorted(self.per_category.items())},
        }


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
    },
)
