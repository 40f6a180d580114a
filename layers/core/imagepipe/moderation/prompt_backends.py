"""Prompt moderation backends: the lexicon first, then (on deployed stacks) one that reads meaning.

``PROMPT_MODERATION`` names what runs after the lexicon, comma-separated::

    lexicon              the lexicon alone (``DEFAULT_TEXT_POLICY``; offline, the default)
    bedrock-guardrail    Amazon Bedrock Guardrails ApplyGuardrail on the prompt (source
                         INPUT), with the guardrail ``PROMPT_GUARDRAIL_ID`` at version
                         ``PROMPT_GUARDRAIL_VERSION``

The lexicon always runs first: its rejection ends the check without a remote call. A
remote backend that fails raises (``TransientError`` or ``ModerationError``), so the
request is retried and ends in the dead-letter queue rather than being approved. No
prompt text goes into an exception, a log line or a verdict: a verdict names filter
types (``"guardrail:SEXUAL"``), never what matched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from botocore.exceptions import BotoCoreError, ClientError

from imagepipe.errors import ConfigurationError, ModerationError, TransientError
from imagepipe.moderation.policy import Verdict
from imagepipe.moderation.text import DEFAULT_TEXT_POLICY, LEXICON_NAME, TextPolicy, TextVerdict

GUARDRAIL_NAME = "bedrock-guardrail"
BACKEND_NAMES = (LEXICON_NAME, GUARDRAIL_NAME)

_SEVERITY: dict[Verdict, int] = {"approve": 0, "review": 1, "reject": 2}
_TRANSIENT_CODES = frozenset(
    {"ThrottlingException", "ServiceUnavailableException", "InternalServerException", "ServiceQuotaExceededException"}
)


@runtime_checkable
class PromptModeration(Protocol):
    """Something that judges a generation request's text.

    ``check`` returns a ``TextVerdict`` and raises on any failure (the caller then fails
    closed: the request is retried, never approved).
    """

    name: str

    @property
    def model_version(self) -> str: ...

    def check(self, prompt: str, negative_prompt: str | None = None) -> TextVerdict: ...


class BedrockGuardrailPrompts:
    """Prompt moderation with Amazon Bedrock Guardrails ``ApplyGuardrail``.

    Only the prompt is sent: the negative prompt lists what the image must not show and
    would trip the filters it steers away from (the lexicon reads it for steering terms).

    A content filter that blocks with ``HIGH`` confidence rejects; one that blocks with
    lower confidence, or detects without blocking (a filter in detect mode), sends the
    image to review. A blocked denied topic or word rejects; a blocked or anonymized
    sensitive-information match sends to review. An intervention with no finding this
    adapter understands sends to review too: an intervention is never approved.

    Parameters
    ----------
    client
        A ``boto3`` ``bedrock-runtime`` client.
    guardrail_id : str
        The guardrail's identifier (ID or ARN).
    guardrail_version : str
        A published version number, or ``"DRAFT"``.
    """

    name = GUARDRAIL_NAME

    def __init__(self, client: Any, guardrail_id: str, guardrail_version: str) -> None:
        if not guardrail_id or not guardrail_version:
            raise ConfigurationError("the Bedrock guardrail needs PROMPT_GUARDRAIL_ID and PROMPT_GUARDRAIL_VERSION")
        self._client = client
        self.guardrail_id = guardrail_id
        self.guardrail_version = guardrail_version

    @property
    def model_version(self) -> str:
        return f"{self.guardrail_id}:{self.guardrail_version}"

    def check(self, prompt: str, negative_prompt: str | None = None) -> TextVerdict:
        """Apply the guardrail to ``prompt``.

        Raises
        ------
        TransientError
            Throttling, a service or network failure: worth retrying.
        ModerationError
            Any other failure (access denied, unknown guardrail, invalid request).
        """
        try:
            response = self._client.apply_guardrail(
                guardrailIdentifier=self.guardrail_id,
                guardrailVersion=self.guardrail_version,
                source="INPUT",
                content=[{"text": {"text": prompt}}],
                outputScope="FULL",  # detections that did not block too (detect mode)
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            request_id = exc.response.get("ResponseMetadata", {}).get("RequestId", "")
            error = TransientError if code in _TRANSIENT_CODES else ModerationError
            # Neither the message nor the cause: a validation message may quote the prompt.
            raise error(f"bedrock guardrail {self.model_version} failed: {code} (request {request_id})") from None
        except BotoCoreError as exc:
            raise TransientError(f"bedrock guardrail {self.model_version} unreachable: {type(exc).__name__}") from None
        return verdict_from_guardrail(response)


def verdict_from_guardrail(response: Mapping[str, Any]) -> TextVerdict:
    """The verdict an ``ApplyGuardrail`` response stands for (see ``BedrockGuardrailPrompts``).

    Raises
    ------
    ModerationError
        If the response has no ``action``.
    """
    action = response.get("action")
    if action not in ("NONE", "GUARDRAIL_INTERVENED"):
        raise ModerationError(f"the guardrail answered without a known action: {action!r}")
    findings: dict[str, Verdict] = {}

    def note(label: str, verdict: Verdict) -> None:
        if _SEVERITY[verdict] > _SEVERITY[findings.get(label, "approve")]:
            findings[label] = verdict

    for assessment in response.get("assessments", []):
        for item in assessment.get("contentPolicy", {}).get("filters", []):
            if item.get("action") == "BLOCKED":
                note(f"guardrail:{item['type']}", "reject" if item.get("confidence") == "HIGH" else "review")
            elif item.get("detected"):
                note(f"guardrail:{item['type']}", "review")
        for topic in assessment.get("topicPolicy", {}).get("topics", []):
            if topic.get("action") == "BLOCKED" or topic.get("detected"):
                note(f"guardrail:topic:{topic['name']}", "reject" if topic.get("action") == "BLOCKED" else "review")
        words = assessment.get("wordPolicy", {})
        for item in [*words.get("customWords", []), *words.get("managedWordLists", [])]:
            if item.get("action") == "BLOCKED" or item.get("detected"):
                # item["match"] is the prompt's own text: never recorded.
                note(f"guardrail:word:{item.get('type', 'CUSTOM')}", "reject" if item.get("action") == "BLOCKED" else "review")
        pii = assessment.get("sensitiveInformationPolicy", {})
        for item in [*pii.get("piiEntities", []), *pii.get("regexes", [])]:
            if item.get("action") in ("BLOCKED", "ANONYMIZED"):
                note(f"guardrail:pii:{item.get('type', 'REGEX')}", "review")
    if action == "GUARDRAIL_INTERVENED" and not findings:
        note("guardrail:intervened", "review")
    rejected = tuple(sorted(label for label, verdict in findings.items() if verdict == "reject"))
    if rejected:
        return TextVerdict("reject", rejected)
    if findings:
        return TextVerdict("review", tuple(sorted(findings)))
    return TextVerdict("approve", ())


class LayeredPromptModeration:
    """The lexicon first, then each further backend; the strictest verdict wins.

    A rejection ends the check at once (no further, remote, call); review findings of
    every backend are pooled. Any backend's failure propagates: the caller fails closed.
    """

    def __init__(self, lexicon: TextPolicy, backends: Sequence[PromptModeration] = ()) -> None:
        self.lexicon = lexicon
        self.backends = tuple(backends)
        self.name = "+".join([lexicon.name, *(b.name for b in self.backends)])

    @property
    def model_version(self) -> str:
        return ";".join(f"{b.name}={b.model_version}" for b in (self.lexicon, *self.backends))

    def check(self, prompt: str, negative_prompt: str | None = None) -> TextVerdict:
        verdict = self.lexicon.check(prompt, negative_prompt)
        matched = list(verdict.matched)
        for backend in self.backends:
            if verdict.verdict == "reject":
                return verdict
            answer = backend.check(prompt, negative_prompt)
            if answer.verdict == "reject":
                return answer
            if answer.verdict == "review":
                matched += [m for m in answer.matched if m not in matched]
                verdict = TextVerdict("review", tuple(matched))
        return verdict


def build_prompt_moderation(
    spec: str,
    *,
    client: Callable[[str], Any],
    guardrail_id: str = "",
    guardrail_version: str = "",
    lexicon: TextPolicy = DEFAULT_TEXT_POLICY,
) -> PromptModeration:
    """The prompt moderation ``spec`` names (see the module notes); the lexicon is always first.

    Raises
    ------
    ConfigurationError
        On an unknown or repeated name, or a guardrail without its identifier and version.
    """
    names = [name.strip() for name in spec.split(",") if name.strip()] or [LEXICON_NAME]
    unknown = [n for n in names if n not in BACKEND_NAMES]
    if unknown or len(set(names)) != len(names):
        raise ConfigurationError(
            f"PROMPT_MODERATION must name distinct backends among {', '.join(BACKEND_NAMES)}; got {spec!r}"
        )
    backends: list[PromptModeration] = []
    if GUARDRAIL_NAME in names:
        backends.append(BedrockGuardrailPrompts(client("bedrock-runtime"), guardrail_id, guardrail_version))
    return LayeredPromptModeration(lexicon, backends) if backends else lexicon


__all__ = [
    "BACKEND_NAMES",
    "BedrockGuardrailPrompts",
    "LayeredPromptModeration",
    "PromptModeration",
    "build_prompt_moderation",
    "verdict_from_guardrail",
]
