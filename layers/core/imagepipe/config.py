"""Settings read from the Lambda environment that template.yaml defines.

Only names live here, never values: every bucket, queue and table name comes from the
template (in AWS through the function's environment, locally through the local runtime
that resolves the same template). The derivative ladder is the template's too (parameters
``DerivativeWidths``, ``DerivativeFormats`` and ``QualityTarget``); unset, the engine's
defaults apply.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigurationError
from .models import ImageFormat

if TYPE_CHECKING:
    from .imaging.engine import EngineSettings

QUALITY_TARGET_RANGE = (30.0, 90.0)
"""SSIMULACRA2 targets a deployment may set: 30 is low quality, 70 high, 90 visually lossless."""

_POSITIVE_INTEGER = re.compile(r"^[1-9][0-9]*$")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str = "dev"
    originals_bucket: str = ""
    variants_bucket: str = ""
    provenance_table: str = ""
    idempotency_table: str = ""
    provenance_queue_url: str = ""
    derivatives_queue_url: str = ""
    review_queue_url: str = ""
    moderation_backend: str = "rekognition"  # comma-separated, see moderation/config.py
    moderation_policy_parameter: str = ""  # SSM JSON: thresholds + face policy ("" = defaults)
    phash_blocklist_parameter: str = ""  # SSM JSON: known-bad pHashes ("" = empty list)
    prompt_moderation: str = "lexicon"  # after the lexicon, comma-separated: see moderation/prompt_backends.py
    prompt_guardrail_id: str = ""  # Bedrock guardrail for prompt_moderation "bedrock-guardrail"
    prompt_guardrail_version: str = ""
    distribution_id: str = ""  # CloudFront, for takedown invalidations
    review_preview_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    reviewer_role_arns: tuple[str, ...] = ()  # IAM roles whose sessions are staff (staff.py); none: nobody
    image_model_ids: tuple[str, ...] = ()  # none unless configured: the template names them
    signing_key_secret_arn: str = ""
    c2pa_signing_secret_arn: str = ""
    cloudfront_key_id: str = ""
    cdn_domain: str = ""
    signed_url_ttl_seconds: int = Field(default=300, ge=30, le=86_400)
    max_upload_bytes: int = 50 * 1024 * 1024
    upload_tickets_table: str = ""  # what upload-url vouched for; the uploads function trusts nothing else
    upload_url_ttl_seconds: int = Field(default=900, ge=60, le=3600)  # longest a presigned upload POST lives
    max_pixels: int = 40_000_000
    generation_quota_per_hour: int = Field(default=100, ge=0)  # per requester; 0 = unlimited
    # Must match the RedrivePolicy maxReceiveCount of the moderation queue (a test checks it).
    max_receive_count: int = 3
    derivative_widths: tuple[int, ...] | None = None  # the ladder, capped at each source's width
    derivative_formats: tuple[ImageFormat, ...] | None = None  # in manifest order; PNG only if listed
    quality_target: float | None = None  # SSIMULACRA2 target of every lossy format

    @field_validator("image_model_ids", "reviewer_role_arns", mode="before")
    @classmethod
    def _split_lists(cls, raw: Any) -> Any:
        return _comma_separated(raw) if isinstance(raw, str) else raw

    @field_validator("derivative_widths", mode="before")
    @classmethod
    def _parse_widths(cls, raw: Any) -> Any:
        parts = _comma_separated(raw) if isinstance(raw, str) else raw
        if parts is not None and not (parts and all(_POSITIVE_INTEGER.match(str(p)) for p in parts)):
            raise ValueError(f"DERIVATIVE_WIDTHS must be positive integers, got {raw!r}")
        return parts

    @field_validator("derivative_formats", mode="before")
    @classmethod
    def _parse_formats(cls, raw: Any) -> Any:
        parts = _comma_separated(raw) if isinstance(raw, str) else raw
        known = get_args(ImageFormat)
        if parts is not None and not (parts and set(parts) <= set(known) and len(set(parts)) == len(parts)):
            raise ValueError(f"DERIVATIVE_FORMATS must be distinct names among {', '.join(known)}, got {raw!r}")
        return parts

    @field_validator("quality_target", mode="before")
    @classmethod
    def _parse_quality_target(cls, raw: Any) -> Any:
        low, high = QUALITY_TARGET_RANGE
        if raw is not None and not low <= _number(raw) <= high:
            raise ValueError(f"QUALITY_TARGET must be a number from {low:g} to {high:g}, got {raw!r}")
        return raw

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from its upper-case variable; an empty variable counts as unset.

        Raises
        ------
        ConfigurationError
            If a variable holds a value its setting refuses, naming the variable.
        """
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if env.get(name.upper())}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise ConfigurationError(_describe(error)) from None

    def engine_settings(self) -> EngineSettings:
        """The derivatives engine as this deployment configures it; unset settings keep the engine's defaults."""
        from .imaging.engine import DEFAULT_TARGETS, EngineSettings  # numpy and the encoders: only where derived

        configured: dict[str, Any] = {"max_pixels": self.max_pixels}
        if self.derivative_widths is not None:
            configured["widths"] = self.derivative_widths
        if self.derivative_formats is not None:
            configured["formats"] = self.derivative_formats
        if self.quality_target is not None:
            configured |= {f"{fmt}_target": self.quality_target for fmt in DEFAULT_TARGETS}
        return EngineSettings(**configured)

    def require(self, *names: str) -> None:
        missing = [n.upper() for n in names if not getattr(self, n)]
        if missing:
            raise ConfigurationError(f"missing environment variables: {', '.join(missing)}")


def _comma_separated(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _number(raw: Any) -> float:
    """``raw`` as a float, or NaN (which no range holds) when it is not a number."""
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def _describe(error: ValidationError) -> str:
    """One clause per refused variable: a validator's own message, else pydantic's with the variable's name."""
    clauses = []
    for problem in error.errors():
        cause = problem.get("ctx", {}).get("error")
        name = str(problem["loc"][0]).upper() if problem["loc"] else "settings"
        clauses.append(str(cause) if cause is not None else f"{name}: {problem['msg']}, got {problem['input']!r}")
    return "; ".join(clauses)


@cache
def settings() -> Settings:
    """The settings of this process (a Lambda container serves one function)."""
    return Settings.from_environ()
