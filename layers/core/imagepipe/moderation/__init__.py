"""Image and prompt moderation: backends produce labels, policies turn them into verdicts."""

from __future__ import annotations

from imagepipe.moderation.local_classifier import OpenNsfwModeration
from imagepipe.moderation.policy import (
    DEFAULT_POLICY,
    Decision,
    FacePolicy,
    Label,
    ModerationBackend,
    ModerationPolicy,
    Region,
    Thresholds,
    UnsupportedImageError,
    Verdict,
    flatten_to_rgb,
)
from imagepipe.moderation.rekognition import RekognitionModeration
from imagepipe.moderation.text import DEFAULT_TEXT_POLICY, TextPolicy, TextVerdict, normalize

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_TEXT_POLICY",
    "Decision",
    "FacePolicy",
    "Label",
    "ModerationBackend",
    "ModerationPolicy",
    "OpenNsfwModeration",
    "RekognitionModeration",
    "Region",
    "TextPolicy",
    "TextVerdict",
    "Thresholds",
    "UnsupportedImageError",
    "Verdict",
    "flatten_to_rgb",
    "normalize",
]
