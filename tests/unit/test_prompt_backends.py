"""Prompt moderation backends: Bedrock Guardrails behind the lexicon, checked with botocore's Stubber.

Every response below has ApplyGuardrail's real shape: Stubber validates it, and the request,
against botocore's service model, so a field this code relies on cannot be made up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from imagepipe.errors import ConfigurationError, ModerationError, TransientError
from imagepipe.moderation.prompt_backends import (
    BedrockGuardrailPrompts,
    LayeredPromptModeration,
    PromptModeration,
    build_prompt_moderation,
    verdict_from_guardrail,
)
from imagepipe.moderation.text import DEFAULT_TEXT_POLICY, TextVerdict

GUARDRAIL_ID = "gr1abc2def3g"
VERSION = "1"
PROMPT = "a zanzibar ledger on a desk"  # a marker no message may quote


def usage() -> dict[str, int]:
    return {
        "topicPolicyUnits": 1,
        "contentPolicyUnits": 1,
        "wordPolicyUnits": 1,
        "sensitiveInformationPolicyUnits": 1,
        "sensitiveInformationPolicyFreeUnits": 0,
        "contextualGroundingPolicyUnits": 0,
    }


def response(action: str, assessment: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ApplyGuardrail response as the service sends it for a 27-character prompt."""
    coverage = {"textCharacters": {"guarded": 27, "total": 27}}
    assessments = [
        {
            **(assessment or {}),
            "invocationMetrics": {"guardrailProcessingLatency": 187, "usage": usage(), "guardrailCoverage": coverage},
        }
    ]
    blocked = [{"text": "The prompt was refused by the content policy."}]
    return {
        "usage": usage(),
        "action": action,
        "outputs": blocked if action == "GUARDRAIL_INTERVENED" else [],
        "assessments": assessments,
        "guardrailCoverage": coverage,
    }


def content_filter(kind: str, confidence: str, action: str, strength: str = "HIGH") -> dict[str, Any]:
    return {"type": kind, "confidence": confidence, "filterStrength": strength, "action": action, "detected": True}


EXPECTED_REQUEST = {
    "guardrailIdentifier": GUARDRAIL_ID,
    "guardrailVersion": VERSION,
    "source": "INPUT",
    "content": [{"text": {"text": PROMPT}}],
    "outputScope": "FULL",
}


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def guardrail(client: Any) -> BedrockGuardrailPrompts:
    return BedrockGuardrailPrompts(client, GUARDRAIL_ID, VERSION)


def test_a_high_confidence_block_rejects(bedrock: tuple[Any, Stubber]) -> None:
    """GIVEN the guardrail blocks the prompt's SEXUAL content with HIGH confidence
    WHEN the prompt is checked
    THEN ApplyGuardrail is called on the prompt alone (source INPUT, full output) and the
    verdict is a rejection naming the filter type."""
    client, stubber = bedrock
    sexual = content_filter("SEXUAL", "HIGH", "BLOCKED")
    stubber.add_response("apply_guardrail", response("GUARDRAIL_INTERVENED", {"contentPolicy": {"filters": [sexual]}}),
                         EXPECTED_REQUEST)
    assert guardrail(client).check(PROMPT, "clothes, blurry") == TextVerdict("reject", ("guardrail:SEXUAL",))


def test_a_weaker_block_or_a_detection_goes_to_review(bedrock: tuple[Any, Stubber]) -> None:
    """GIVEN the guardrail blocks VIOLENCE at MEDIUM confidence, and (next call) only detects
    INSULTS with the filter in detect mode
    WHEN the prompts are checked
    THEN both go to review: only a HIGH-confidence block refuses outright."""
    client, stubber = bedrock
    violence = content_filter("VIOLENCE", "MEDIUM", "BLOCKED", strength="MEDIUM")
    insults = content_filter("INSULTS", "LOW", "NONE", strength="LOW")
    stubber.add_response("apply_guardrail", response("GUARDRAIL_INTERVENED", {"contentPolicy": {"filters": [violence]}}))
    stubber.add_response("apply_guardrail", response("NONE", {"contentPolicy": {"filters": [insults]}}))
    assert guardrail(client).check(PROMPT) == TextVerdict("review", ("guardrail:VIOLENCE",))
    assert guardrail(client).check(PROMPT) == TextVerdict("review", ("guardrail:INSULTS",))


def test_no_finding_approves(bedrock: tuple[Any, Stubber]) -> None:
    """GIVEN the guardrail finds nothing (action NONE, every filter at confidence NONE)
    WHEN the prompt is checked
    THEN it is approved."""
    client, stubber = bedrock
    quiet = [{"type": t, "confidence": "NONE", "filterStrength": "HIGH", "action": "NONE", "detected": False}
             for t in ("SEXUAL", "VIOLENCE", "HATE")]
    stubber.add_response("apply_guardrail", response("NONE", {"contentPolicy": {"filters": quiet}}))
    assert guardrail(client).check(PROMPT) == TextVerdict("approve", ())


def test_topics_words_and_pii_never_quote_the_prompt() -> None:
    """GIVEN a response where a denied topic and a custom word block and a name is anonymized
    WHEN it is turned into a verdict
    THEN the topic and the word reject, named by topic name and word type only: the word's
    match (the prompt's own text) is nowhere in the verdict."""
    assessment = {
        "topicPolicy": {"topics": [{"name": "Weapons", "type": "DENY", "action": "BLOCKED", "detected": True}]},
        "wordPolicy": {"customWords": [{"match": "zanzibar", "action": "BLOCKED", "detected": True}], "managedWordLists": []},
        "sensitiveInformationPolicy": {
            "piiEntities": [{"match": "zanzibar", "type": "NAME", "action": "ANONYMIZED", "detected": True}],
            "regexes": [],
        },
    }
    verdict = verdict_from_guardrail(response("GUARDRAIL_INTERVENED", assessment))
    assert verdict == TextVerdict("reject", ("guardrail:topic:Weapons", "guardrail:word:CUSTOM"))
    assert "zanzibar" not in repr(verdict)


def test_an_intervention_it_cannot_read_goes_to_review() -> None:
    """GIVEN the guardrail intervened but the response holds no finding this adapter knows
    WHEN it is turned into a verdict
    THEN the image goes to review (an intervention is never approved); no action at all raises."""
    assert verdict_from_guardrail(response("GUARDRAIL_INTERVENED")) == TextVerdict("review", ("guardrail:intervened",))
    with pytest.raises(ModerationError):
        verdict_from_guardrail({"outputs": []})


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [("ThrottlingException", 429, TransientError), ("ServiceUnavailableException", 503, TransientError),
     ("AccessDeniedException", 403, ModerationError), ("ResourceNotFoundException", 404, ModerationError),
     ("ValidationException", 400, ModerationError)],
)
def test_a_failing_guardrail_fails_closed_without_quoting_the_prompt(
    bedrock: tuple[Any, Stubber], code: str, status: int, error: type[Exception]
) -> None:
    """GIVEN ApplyGuardrail fails (throttled, down, denied, unknown guardrail, invalid), with a
    message that quotes the prompt
    WHEN the prompt is checked
    THEN it raises (retried, never approved): TransientError for throttling and outages,
    ModerationError otherwise, with neither the message nor the cause attached."""
    client, stubber = bedrock
    stubber.add_client_error("apply_guardrail", service_error_code=code, service_message=f"bad text: {PROMPT}",
                             http_status_code=status)
    with pytest.raises(error) as raised:
        guardrail(client).check(PROMPT)
    assert code in str(raised.value) and "zanzibar" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_the_lexicon_rejects_first_without_a_remote_call(bedrock: tuple[Any, Stubber]) -> None:
    """GIVEN the lexicon then the guardrail, and no guardrail response stubbed
    WHEN a prompt the lexicon blocks is checked
    THEN it is rejected by the lexicon and ApplyGuardrail is never called (Stubber would fail)."""
    client, _ = bedrock
    layered = LayeredPromptModeration(DEFAULT_TEXT_POLICY, [guardrail(client)])
    assert layered.check("a ΝUDE figure") == TextVerdict("reject", ("nude",))


def test_the_guardrail_reads_what_the_lexicon_approves(bedrock: tuple[Any, Stubber]) -> None:
    """GIVEN the lexicon then the guardrail
    WHEN the lexicon approves a prompt the guardrail blocks, and reviews one the guardrail
    sends to review too
    THEN the first is rejected by the guardrail, the second reviewed with both findings."""
    client, stubber = bedrock
    sexual = content_filter("SEXUAL", "HIGH", "BLOCKED")
    violence = content_filter("VIOLENCE", "LOW", "BLOCKED")
    stubber.add_response("apply_guardrail", response("GUARDRAIL_INTERVENED", {"contentPolicy": {"filters": [sexual]}}))
    stubber.add_response("apply_guardrail", response("GUARDRAIL_INTERVENED", {"contentPolicy": {"filters": [violence]}}))
    layered = LayeredPromptModeration(DEFAULT_TEXT_POLICY, [guardrail(client)])
    assert layered.check("a couple in bed, sheets pulled away") == TextVerdict("reject", ("guardrail:SEXUAL",))
    assert layered.check("a knight holding a weapon") == TextVerdict("review", ("weapon", "guardrail:VIOLENCE"))
    assert layered.name == "lexicon+bedrock-guardrail"
    assert layered.model_version.endswith(f"bedrock-guardrail={GUARDRAIL_ID}:{VERSION}")


def test_a_guardrail_failure_propagates_through_the_layers(bedrock: tuple[Any, Stubber]) -> None:
    """GIVEN the lexicon then a guardrail that is throttled
    WHEN a prompt the lexicon approves is checked
    THEN the error propagates: the request is retried, never approved by the lexicon alone."""
    client, stubber = bedrock
    stubber.add_client_error("apply_guardrail", service_error_code="ThrottlingException", http_status_code=429)
    with pytest.raises(TransientError):
        LayeredPromptModeration(DEFAULT_TEXT_POLICY, [guardrail(client)]).check("a calm mountain lake")


def test_build_from_configuration() -> None:
    """GIVEN PROMPT_MODERATION values
    WHEN the prompt moderation is built
    THEN 'lexicon' (or nothing) is the lexicon alone, 'bedrock-guardrail' layers the guardrail
    behind it, and an unknown name or a guardrail without its id and version is refused."""
    clients: list[str] = []

    def client(service: str) -> Any:
        clients.append(service)
        return boto3.client(service, region_name="us-east-1")

    assert build_prompt_moderation("lexicon", client=client) is DEFAULT_TEXT_POLICY
    assert build_prompt_moderation("", client=client) is DEFAULT_TEXT_POLICY
    assert clients == []
    layered = build_prompt_moderation("lexicon,bedrock-guardrail", client=client, guardrail_id=GUARDRAIL_ID,
                                      guardrail_version=VERSION)
    assert isinstance(layered, PromptModeration) and layered.name == "lexicon+bedrock-guardrail"
    assert clients == ["bedrock-runtime"]
    for spec, kwargs in (("comprehend", {}), ("bedrock-guardrail,bedrock-guardrail", {}), ("bedrock-guardrail", {})):
        with pytest.raises(ConfigurationError):
            build_prompt_moderation(spec, client=client, **kwargs)


def test_generate_wiring_builds_from_the_environment(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN the generate function's environment as template.yaml sets it on a deployed stack
    WHEN the wiring builds the prompt moderation
    THEN it is the lexicon then this stack's guardrail at its version (offline: the lexicon)."""
    from imagepipe import wiring

    monkeypatch.setenv("PROMPT_MODERATION", "bedrock-guardrail")
    monkeypatch.setenv("PROMPT_GUARDRAIL_ID", GUARDRAIL_ID)
    monkeypatch.setenv("PROMPT_GUARDRAIL_VERSION", VERSION)
    wiring.reset()
    moderation = wiring.prompt_moderation()
    assert moderation.model_version.endswith(f"bedrock-guardrail={GUARDRAIL_ID}:{VERSION}")
    monkeypatch.setenv("PROMPT_MODERATION", "lexicon")
    wiring.reset()
    assert wiring.prompt_moderation() is DEFAULT_TEXT_POLICY


def test_many_review_terms_stay_within_s3_metadata() -> None:
    """GIVEN a prompt verdict with twelve review findings
    WHEN the generate stage turns it into review reasons (S3 user metadata, 2 KB at most)
    THEN the first eight are named and the other four counted."""
    from imagepipe.stages.generate import MAX_PROMPT_REVIEW_REASONS, _prompt_review_reasons

    reasons = _prompt_review_reasons(tuple(f"term{i}" for i in range(12)))
    assert len(reasons) == MAX_PROMPT_REVIEW_REASONS + 1 == 9
    assert reasons[0] == "prompt_review:term0" and reasons[-1] == "prompt_review:+4 more"
    assert _prompt_review_reasons(("weapon",)) == ["prompt_review:weapon"]
