"""Settings read from the Lambda environment that template.yaml defines.

Only names live here, never values: every bucket, queue and table name comes from the
template (in AWS through the function's environment, locally through the local runtime
that resolves the same template).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConfigurationError


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
    distribution_id: str = ""  # CloudFront, for takedown invalidations
    review_preview_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    image_model_ids: tuple[str, ...] = ("local",)
    signing_key_secret_arn: str = ""
    c2pa_signing_secret_arn: str = ""
    cloudfront_key_id: str = ""
    cdn_domain: str = ""
    signed_url_ttl_seconds: int = Field(default=300, ge=30, le=86_400)
    max_upload_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 40_000_000
    generation_quota_per_hour: int = Field(default=100, ge=0)  # per requester; 0 = unlimited
    # Must match the RedrivePolicy maxReceiveCount of the moderation queue (a test checks it).
    max_receive_count: int = 3

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(name.upper())
            if raw is None or raw == "":
                continue
            values[name] = tuple(p.strip() for p in raw.split(",") if p.strip()) if name == "image_model_ids" else raw
        return cls.model_validate(values)

    def require(self, *names: str) -> None:
        missing = [n.upper() for n in names if not getattr(self, n)]
        if missing:
            raise ConfigurationError(f"missing environment variables: {', '.join(missing)}")


@cache
def settings() -> Settings:
    """The settings of this process (a Lambda container serves one function)."""
    return Settings.from_environ()
