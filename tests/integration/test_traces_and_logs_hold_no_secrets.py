"""What sign-url, review and generate send to X-Ray and to their logs holds no signed URL, cookie,
presigned link, prompt or requester (issue 10, point 4).

Each handler runs with tracing on, and event logging too (tests/integration/traced.py): the
assertions read the JSON documents the X-Ray emitter would send, the function's log output and
Lambda's error report. A last check reads the decorators of the functions not run here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagepipe import wiring
from imagepipe.adapters.quota import HourlyQuota
from imagepipe_tools.local.demo import function_url_event
from imagepipe_tools.local.runtime import sqs_record
from imagepipe.models import ProvenanceEvent
from imagepipe_tools.review_console.server import staff_event
from tests.integration.traced import traced

VIEWER = "viewer-7f3a@example.test"
PROMPT = "a quokka reading secret ledgers in zanzibar"
# What a signed CloudFront URL or cookie, or a presigned S3 URL, always carries.
SIGNED_MARKERS = ("Signature=", "Key-Pair-Id", "CloudFront-Signature", "CloudFront-Policy", "X-Amz-Signature",
                  "X-Amz-Credential", "AWSAccessKeyId=")


def leaks(text: str, *secrets: str) -> list[str]:
    return [s for s in (*SIGNED_MARKERS, "PRIVATE KEY", *secrets) if s in text]


def env(stack, name: str) -> str:
    return next(fn.environment[name] for fn in stack.functions.values() if name in fn.environment)


def record(stack, asset_id: str, kind: str, status: str, data: dict | None = None) -> None:
    stack.provenance_store().apply(ProvenanceEvent(
        event_id=f"{asset_id}:{kind}:{status}", asset_id=asset_id, kind=kind, actor="test", status=status, data=data or {}))


def private_published_asset(stack) -> str:
    """A published private asset of VIEWER, recorded straight into provenance (no pipeline run)."""
    asset_id = "0190a4b2-0000-8000-8000-00000000a001"
    variants = [{"key": f"private/{asset_id}/w{w}.avif", "width": w, "height": w // 2, "format": "avif",
                 "content_type": "image/avif", "bytes": 100 + w, "sha256": f"{w:064x}"} for w in (320, 640)]
    record(stack, asset_id, "created", "created", {"requester": VIEWER, "visibility": "private",
                                                   "original_key": f"originals/{asset_id}.png", "prompt": PROMPT})
    record(stack, asset_id, "moderated", "approved")
    record(stack, asset_id, "published", "published", {"manifest_key": f"private/{asset_id}/manifest.json",
                                                       "variants": variants, "width": 640, "height": 320})
    return asset_id


def asset_in_review(stack, suffix: str = "a002") -> str:
    asset_id = f"0190a4b2-0000-8000-8000-0000000{suffix:0>5}"
    record(stack, asset_id, "created", "created", {"requester": VIEWER, "visibility": "public", "source": "generated",
                                                   "original_key": f"originals/{asset_id}.png", "prompt": PROMPT,
                                                   "model_id": "local"})
    record(stack, asset_id, "moderated", "review", {"reasons": ["nsfw:0.55"], "labels": []})
    return asset_id


@pytest.mark.parametrize("options", [
    {},  # canned: one signature per URL
    {"policy": "wildcard", "ip": "203.0.113.0/24"},  # a custom policy in the query string
    {"policy": "wildcard", "cookies": "true"},  # signed cookies
], ids=["canned", "wildcard", "cookies"])
def test_sign_url_traces_and_logs_hold_no_signed_url_cookie_or_requester(stack, options):
    """GIVEN sign-url traced as in AWS (Tracing: Active) WHEN it signs URLs, cookies and a batch for a
    named viewer, and refuses an unknown asset THEN the caller gets its answers, but no X-Ray document,
    log line or metric holds a signature, a policy, a cookie or the viewer's id."""
    asset_id = private_published_asset(stack)
    headers = {"x-imagepipe-requester": VIEWER}
    with traced(stack, "sign_url") as fn:
        single = function_url_event("GET", f"/assets/{asset_id}/urls", headers)
        single["queryStringParameters"] = options
        batch = function_url_event("POST", "/assets/urls", headers, json.dumps({"asset_ids": [asset_id], **options}))
        answers = [fn.invoke(single), fn.invoke(batch)]
        missing = fn.invoke(function_url_event("GET", "/assets/0190a4b2-0000-8000-8000-00000000a0ff/urls", headers))

    assert [a["statusCode"] for a in answers] == [200, 200]
    assert all(leaks(a["body"]) for a in answers)  # the caller does get signed URLs or cookies
    assert missing["statusCode"] == 404  # a refusal passes through the tracer as itself, not as a crash
    assert {"lambda_handler", "asset_urls", "batch_urls"} <= fn.subsegment_names  # traces were sent
    assert leaks(fn.sent, VIEWER) == []


def test_review_traces_and_logs_hold_no_preview_link_prompt_or_requester(stack):
    """GIVEN the review function traced WHEN staff list the queue (presigned previews of unapproved
    originals, the prompt, the requester), approve, and are refused a decision already taken (whose
    note quotes the prompt) THEN none of that reaches X-Ray or the logs; the decision is logged with
    the reviewer, who is staff."""
    asset_id, decided_before = asset_in_review(stack), asset_in_review(stack, "a003")
    record(stack, decided_before, "reviewed", "approved", {"decision": "approved", "reviewer": "arn:x",
                                                           "note": f"fine: {PROMPT}"})
    with traced(stack, "review") as fn:
        listed = fn.invoke(staff_event("GET", "/reviews", staff="dana"))
        decided = fn.invoke(staff_event("POST", f"/reviews/{asset_id}/approve", staff="dana",
                                        body={"note": f"fine: {PROMPT}"}))
        late = fn.invoke(staff_event("POST", f"/reviews/{decided_before}/reject", staff="dana", body={"reason": "no"}))

    items = json.loads(listed["body"])["items"]
    assert listed["statusCode"] == 200 and "X-Amz-Signature" in items[0]["preview_url"]
    assert items[0]["prompt"] == PROMPT and items[0]["requester"] == VIEWER
    assert decided["statusCode"] == 202
    assert late["statusCode"] == 409 and PROMPT in late["body"]  # staff are told what was decided
    assert {"lambda_handler", "list_pending", "approve", "reject"} <= fn.subsegment_names
    assert '"review decision"' in fn.output.getvalue() and "assumed-role/imagepipe-reviewers/dana" in fn.output.getvalue()
    assert leaks(fn.sent, VIEWER, PROMPT, "zanzibar") == []


def generation(requester: str, client_request_id: str, prompt: str = PROMPT, **fields) -> str:
    return json.dumps({"prompt": prompt, "requester": requester, "client_request_id": client_request_id,
                       "model_id": "local", "width": 256, "height": 256, **fields})


def sqs_event(stack, *bodies: str) -> dict:
    queue_arn = stack.function("generate").triggers[0].queue_arn
    messages = [{"MessageId": f"m-{i}", "ReceiptHandle": f"r-{i}", "Body": body,
                 "Attributes": {"ApproximateReceiveCount": "1"}} for i, body in enumerate(bodies)]
    return {"Records": [sqs_record(m, queue_arn, "us-east-1") for m in messages]}


def test_generate_traces_and_logs_hold_no_prompt_or_requester(stack):
    """GIVEN the generate function traced WHEN it refuses a requester over quota, a prompt with a blocked
    term and malformed requests (alone in a batch too, so the invocation fails) THEN neither the prompt,
    nor the requester, nor the blocked term reaches X-Ray, the logs or Lambda's error report."""
    over_quota = "quota-user-93c1@example.test"
    wiring.reset()
    assert HourlyQuota(stack.client("dynamodb"), env(stack, "IDEMPOTENCY_TABLE"), 1).take(over_quota, datetime.now(UTC))
    blocked = generation("blocked-user-51e2@example.test", "b-1", prompt="a zanzibar hentai scroll")
    malformed = [
        generation("long-prompt-user-0d4b@example.test", "m-1", prompt="zanzibar " * 200),  # over 1024 characters
        generation("bad requester zanzibar", "m-2"),  # the requester does not match its pattern
        generation(over_quota, "m-3", prompt_extra="zanzibar"),  # a field the model forbids
        '{"prompt": "zanzibar ledgers", "requester": ',  # not JSON
    ]
    with traced(stack, "generate", GENERATION_QUOTA_PER_HOUR="1") as fn:
        partial = fn.invoke(sqs_event(stack, generation(over_quota, "q-1"), blocked, *malformed))
        failed = fn.invoke(sqs_event(stack, *malformed))

    assert len(partial["batchItemFailures"]) == len(malformed) and failed is None and fn.lambda_reports
    assert '"generation request handled"' in fn.output.getvalue()
    assert {"lambda_handler", "record_handler"} <= fn.subsegment_names
    requesters = (over_quota, "blocked-user-51e2", "long-prompt-user-0d4b", "bad requester")
    assert leaks(fn.sent, *requesters, "zanzibar", "ledgers", "quokka", "hentai") == []


NO_PAYLOADS = {  # decorator -> the arguments that keep payloads out of X-Ray and the logs
    "capture_method": {"capture_response": False, "capture_error": False},
    "capture_lambda_handler": {"capture_response": False, "capture_error": False},
    "inject_lambda_context": {"log_event": False},
}


def payload_decorators(path) -> list[tuple[str, str, dict]]:
    """Each Powertools decorator of `NO_PAYLOADS` in ``path``: where, which, its keyword arguments."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        for decorator in getattr(node, "decorator_list", []):
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr in NO_PAYLOADS:
                keywords = {k.arg: ast.literal_eval(k.value) for k in getattr(decorator, "keywords", [])}
                found.append((f"{path.parent.name}/{path.name}:{node.name}", target.attr, keywords))
    return found


def test_no_function_hands_its_events_responses_or_errors_to_the_tracer_or_the_logs():
    """GIVEN every function (the ones not run above too: moderate, uploads, derivatives, provenance,
    transform, upload-url) THEN each traced handler and method opts out of response and error
    capture, each handler out of event logging, and the template's Globals make the tracer's
    opt-out the default for any new one."""
    from imagepipe import lambda_support
    from imagepipe_tools.local import template as cfn
    from tests.conftest import ROOT

    paths = [*sorted((ROOT / "functions").glob("*/app.py")), Path(lambda_support.__file__)]
    decorators = [d for path in paths for d in payload_decorators(path)]
    assert len([d for d in decorators if d[1] == "capture_method"]) >= len(paths) - 1
    assert [(where, name) for where, name, keywords in decorators if keywords != NO_PAYLOADS[name]] == []
    variables = cfn.load(ROOT / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    assert (variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"], variables["POWERTOOLS_TRACER_CAPTURE_ERROR"]) == ("false", "false")
