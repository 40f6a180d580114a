"""The moderate function's backends (MODERATION_BACKEND) and its policy, re-read from SSM."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from ..adapters.aws import client
from ..config import settings
from ..moderation.config import blocklist_loader, build_backend, policy_loader
from ..moderation.policy import ModerationBackend, ModerationPolicy
from .records import provenance_store


@cache
def moderation_backend() -> ModerationBackend:
    takedowns = provenance_store().takedown_hashes if settings().provenance_table else None
    blocklist = blocklist_loader(settings().phash_blocklist_parameter, lambda: client("ssm"), takedowns)
    return build_backend(settings().moderation_backend, client=client, blocklist=blocklist)


@cache
def moderation_policy() -> Callable[[], ModerationPolicy]:
    """The current policy (thresholds + face policy), re-read from SSM every few minutes."""
    return policy_loader(settings().moderation_policy_parameter, lambda: client("ssm"))


def reset() -> None:
    for factory in (moderation_backend, moderation_policy):
        factory.cache_clear()
