"""template.yaml is the single source of truth: these checks keep it complete and consistent."""

from __future__ import annotations

import json
import re
from typing import get_args

import pytest

from imagepipe.config import QUALITY_TARGET_RANGE, Settings
from imagepipe.imaging.engine import EngineSettings
from imagepipe_tools.local import template as cfn
from imagepipe.models import ImageFormat

from tests.conftest import ROOT

TEMPLATE = cfn.load(ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
QUEUES = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::SQS::Queue"}
MAPPINGS = [v["Properties"] for v in RESOURCES.values() if v["Type"] == "AWS::Lambda::EventSourceMapping"]


def queue_of(mapping: dict) -> str:
    return mapping["EventSourceArn"]["Fn::GetAtt"][0]


def function_of(mapping: dict) -> dict:
    return FUNCTIONS[mapping["FunctionName"]["Ref"]]["Properties"]


def test_every_function_has_its_code_and_a_sample_event():
    """Each function's CodeUri holds app.py and events/ has an event for it (sam local invoke / imagepipe invoke)."""
    for spec in FUNCTIONS.values():
        code = ROOT / spec["Properties"]["CodeUri"]
        assert (code / "app.py").is_file(), code
        event = json.loads((ROOT / "events" / f"{code.name}.json").read_text())
        assert event.get("Records") or event.get("requestContext")


def test_every_sqs_trigger_reports_partial_failures_and_has_a_dead_letter_queue():
    """A bad record must fail alone (ReportBatchItemFailures) and end in a DLQ (RedrivePolicy), never lost."""
    assert len(MAPPINGS) >= 5
    for mapping in MAPPINGS:
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        queue = QUEUES[queue_of(mapping)]["Properties"]
        assert queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][1] == "Arn"
        assert queue.get("SqsManagedSseEnabled") is True


def test_consumers_may_poll_their_own_queue_only():
    """Least privilege: no SAM SQS events (they attach receive/delete on every queue); each consumer
    holds SQSPollerPolicy on exactly the queue its mapping reads."""
    for spec in FUNCTIONS.values():
        assert not any(e["Type"] == "SQS" for e in spec["Properties"].get("Events", {}).values())
    for mapping in MAPPINGS:
        pollers = [p["SQSPollerPolicy"]["QueueName"]["Fn::GetAtt"][0]
                   for p in function_of(mapping).get("Policies", []) if isinstance(p, dict) and "SQSPollerPolicy" in p]
        assert pollers == [queue_of(mapping)]


def test_every_queue_has_a_dead_letter_queue_or_is_one():
    dead_letter_queues = {q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
                          for q in QUEUES.values() if "RedrivePolicy" in q["Properties"]}
    assert set(QUEUES) == dead_letter_queues | {k for k, q in QUEUES.items() if "RedrivePolicy" in q["Properties"]}


def test_visibility_timeouts_outlast_the_consumers():
    """AWS advice: a queue's visibility timeout is at least 6x its consumer's timeout."""
    default_timeout = TEMPLATE["Globals"]["Function"]["Timeout"]
    for mapping in MAPPINGS:
        timeout = function_of(mapping).get("Timeout", default_timeout)
        assert QUEUES[queue_of(mapping)]["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_moderation_knows_its_last_attempt():
    """The moderate handler's idea of the last attempt matches the queue's maxReceiveCount."""
    moderation = next(m for m in MAPPINGS if m["FunctionName"] == {"Ref": "ModerateFunction"})
    redrive = QUEUES[queue_of(moderation)]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == Settings().max_receive_count


def test_function_environments_name_only_settings_the_code_reads():
    """Every variable in the template is one the settings (or Powertools) read: no dead wiring."""
    known = {name.upper() for name in Settings.model_fields} | {"STAGE"}
    names = set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    for spec in FUNCTIONS.values():
        names |= set(spec["Properties"].get("Environment", {}).get("Variables", {}))
    unknown = {n for n in names if not n.startswith("POWERTOOLS_")} - known
    assert not unknown


def test_buckets_block_public_access_and_encrypt():
    for spec in (v for v in RESOURCES.values() if v["Type"] == "AWS::S3::Bucket"):
        block = spec["Properties"]["PublicAccessBlockConfiguration"]
        assert all(block[k] is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
        assert spec["Properties"]["BucketEncryption"]


def ladder_environment(function: str) -> dict[str, str]:
    """The ladder variables of a function as it receives them with every parameter at its default."""
    defaults = cfn.parameter_defaults(TEMPLATE)
    variables = FUNCTIONS[function]["Properties"]["Environment"]["Variables"]
    names = ("DERIVATIVE_WIDTHS", "DERIVATIVE_FORMATS", "QUALITY_TARGET")
    return {name: defaults[variables[name]["Ref"]] for name in names if name in variables}


def test_the_ladder_parameters_reach_the_functions_that_encode():
    """The derivatives function gets widths, formats and target from the template's parameters; the
    transform gets formats (PNG on demand only when listed) and target (for its fallback search)."""
    variables = {name: FUNCTIONS[name]["Properties"]["Environment"]["Variables"]
                 for name in ("DerivativesFunction", "TransformFunction")}
    assert variables["DerivativesFunction"]["DERIVATIVE_WIDTHS"] == {"Ref": "DerivativeWidths"}
    for function in variables.values():
        assert function["DERIVATIVE_FORMATS"] == {"Ref": "DerivativeFormats"}
        assert function["QUALITY_TARGET"] == {"Ref": "QualityTarget"}


def test_the_ladder_parameters_default_to_todays_engine():
    """With every parameter at its default, both functions configure the engine's own defaults
    (320..1920, AVIF/WebP/JPEG, target 70): deploying this change alters no output."""
    for function in ("DerivativesFunction", "TransformFunction"):
        settings = Settings.from_environ(ladder_environment(function))
        assert settings.engine_settings() == EngineSettings(max_pixels=settings.max_pixels), function


@pytest.mark.parametrize(
    ("parameter", "accepted", "refused"),
    [
        ("DerivativeWidths", ["320", "160,320,99999"], ["", "abc", "0,320", "320,,640", "320, 640", "100000"]),
        ("DerivativeFormats", [",".join(get_args(ImageFormat)), *get_args(ImageFormat)],
         ["", "gif", "AVIF", "avif,", "avif jpeg"]),
    ],
)
def test_the_ladder_parameters_refuse_at_deploy_what_the_settings_would_refuse(parameter, accepted, refused):
    """A value the parameter's AllowedPattern admits is one the settings parse; typos stop the deploy."""
    pattern = TEMPLATE["Parameters"][parameter]["AllowedPattern"]
    variable = {"DerivativeWidths": "DERIVATIVE_WIDTHS", "DerivativeFormats": "DERIVATIVE_FORMATS"}[parameter]
    for value in accepted:
        assert re.fullmatch(pattern, value), value
        Settings.from_environ({variable: value}).engine_settings()
    assert not any(re.fullmatch(pattern, value) for value in refused)


def test_the_quality_target_parameter_has_the_settings_range():
    """QualityTarget's MinValue/MaxValue are the range the settings accept, so no deploy fails at cold start."""
    spec = TEMPLATE["Parameters"]["QualityTarget"]
    assert (spec["MinValue"], spec["MaxValue"]) == QUALITY_TARGET_RANGE


def _statements(function: str) -> list[dict]:
    policies = TEMPLATE["Resources"][function]["Properties"]["Policies"]
    return [s for policy in policies if isinstance(policy, dict) and "Statement" in policy for s in policy["Statement"]]


def _resources(statement: dict) -> list[str]:
    resources = statement["Resource"]
    return [json.dumps(r) for r in (resources if isinstance(resources, list) else [resources])]


def test_the_transform_cannot_read_raw_originals_only_public_sources():
    """The transform renders what anonymous viewers get: its role may read the public sources and
    public variants, never originals/ (where unblurred faces are)."""
    reads = [r for s in _statements("TransformFunction") if "s3:GetObject" in s["Action"] for r in _resources(s)]
    assert reads and not any("/originals/" in r for r in reads)
    assert any("/public-sources/*" in r for r in reads)


def test_cloudfront_may_not_read_held_objects():
    """Objects a publishing stage has not confirmed yet carry the hold tag, and the variants bucket
    policy denies CloudFront reading them (what the local edge enforces too)."""
    from imagepipe.adapters.storage import HOLD_TAG, HOLD_VALUE
    from imagepipe_tools.local.edge import cloudfront_denied_tags

    assert cloudfront_denied_tags(TEMPLATE, "VariantsBucket") == {HOLD_TAG: frozenset({HOLD_VALUE})}
