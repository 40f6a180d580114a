"""Every error the core raises on purpose.

Two families matter to the handlers:

* ``RejectedInputError``: the input is bad and will stay bad. The stage records a
  rejection with ``reason`` (a short machine-readable code) and ``detail`` (for people),
  and the SQS record counts as handled: retrying would not help.
* Anything else (``TransientError``, botocore errors, bugs): the record fails alone,
  SQS retries it and after ``maxReceiveCount`` it lands in the DLQ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ImagepipeError(Exception):
    """Base class of the errors raised by imagepipe."""


class RejectedInputError(ImagepipeError):
    """Input that can never be processed; carries a stable reason code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ImageRejectedError(RejectedInputError):
    """An image failed validation: not an image, wrong type, too many pixels, truncated..."""


class PromptRejectedError(RejectedInputError):
    """A generation prompt was refused by the text policy before any model call."""


class TransientError(ImagepipeError):
    """A failure worth retrying (throttling, a dependency that is down)."""


class ModerationError(ImagepipeError):
    """A moderation backend failed; the caller must fail closed (never approve)."""


class ConfigurationError(ImagepipeError):
    """A required setting is missing or invalid."""


@dataclass(eq=False)  # not frozen: X-Ray marks the exceptions it records (exception._recorded = True)
class RequestRefused(ImagepipeError):
    """A request a Function URL answers with a clear 4xx: ``status`` and a message that leaks
    nothing private; ``current`` optionally tells an insider the state that made it refuse."""

    status: int
    message: str
    current: dict[str, Any] | None = None

    def __str__(self) -> str:  # what X-Ray and tracebacks record: never ``current`` (free text)
        return f"{self.status}: {self.message}"

    def body(self) -> dict[str, Any]:
        return {"message": self.message} | ({"current": self.current} if self.current else {})
