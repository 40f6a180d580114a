"""template.yaml is the single source of truth: these checks keep it complete and consistent."""

from __future__ import annotations

import json

from imagepipe.config import Settings
from imagepipe.local import template as cfn

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
