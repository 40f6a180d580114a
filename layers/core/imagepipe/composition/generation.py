"""The generate function's own adapters: prompt moderation, image models, the hourly quota."""

from __future__ import annotations

from functools import cache

from ..adapters.aws import client
from ..adapters.quota import HourlyQuota
from ..config import settings
from ..generation.base import ImageModel
from ..generation.registry import model_for
from ..moderation.prompt_backends import PromptModeration, build_prompt_moderation


@cache
def prompt_moderation() -> PromptModeration:
    """The lexicon, then the backends PROMPT_MODERATION names (a Bedrock guardrail on deployed stacks)."""
    config = settings()
    return build_prompt_moderation(
        config.prompt_moderation,
        client=client,
        guardrail_id=config.prompt_guardrail_id,
        guardrail_version=config.prompt_guardrail_version,
    )


def image_model(model_id: str) -> ImageModel:
    return model_for(model_id, bedrock_client=lambda: client("bedrock-runtime"))


@cache
def generation_quota() -> HourlyQuota:
    return HourlyQuota(client("dynamodb"), settings().idempotency_table, settings().generation_quota_per_hour)


def reset() -> None:
    for factory in (prompt_moderation, generation_quota):
        factory.cache_clear()
