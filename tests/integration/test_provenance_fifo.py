"""The provenance function keeps one asset's facts in order without letting one asset's bad
fact fail another's, and retries a fact that arrived before its predecessors.

Found by a fault run (issue 12): two malformed messages on provenance.fifo failed every later
record of their batches, across assets; those counted towards maxReceiveCount and valid facts
of other assets ended in the DLQ. And a fact delivered before its predecessor was kept as
unapplied, so its retry was a "duplicate" and the asset stayed behind for good.
"""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from imagepipe.models import ProvenanceEvent


def _record(message_id: str, group: str, body: str) -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {"MessageGroupId": group, "ApproximateReceiveCount": "1", "SentTimestamp": "0",
                       "SenderId": "test", "ApproximateFirstReceiveTimestamp": "0",
                       "MessageDeduplicationId": message_id, "SequenceNumber": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:imagepipe-dev-provenance.fifo",
        "awsRegion": "us-east-1",
    }


def _fact(asset_id: str, kind: str, status: str) -> str:
    return ProvenanceEvent(
        event_id=f"{asset_id}:{kind}", asset_id=asset_id, kind=kind, actor="test", status=status,
        data={"requester": "alice", "visibility": "public", "content_sha256": "ab" * 32} if kind == "created" else {},
    ).model_dump_json()


def _failed(response) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def test_a_bad_fact_fails_its_own_asset_only(stack, runtime) -> None:
    """GIVEN one batch: a malformed fact and a valid one for asset A, then two valid facts of B
    WHEN the provenance function handles it
    THEN A's two records fail (its order holds: nothing after its bad fact applies) and B's
    apply; before, B's records failed with A's."""
    a, b = "a" * 32, "b" * 32
    event = {"Records": [
        _record("1", a, json.dumps({"kind": "created", "asset_id": a})),  # not a fact
        _record("2", a, _fact(a, "created", "created")),
        _record("3", b, _fact(b, "created", "created")),
        _record("4", b, _fact(b, "moderated", "approved")),
    ]}

    response = runtime.invoke(stack.function("provenance"), event)

    assert _failed(response) == ["1", "2"]
    store = stack.provenance_store()
    assert store.asset(a) is None
    assert store.asset(b)["status"] == "approved"


def test_a_fact_before_its_predecessor_is_retried_and_then_applies(stack, runtime) -> None:
    """GIVEN an asset's 'moderated' fact delivered before its 'created' (whose write failed)
    WHEN the function handles it, then 'created', then the retried 'moderated'
    THEN the early delivery fails (and is retried by SQS) without being recorded, and the
    retry applies: the asset ends approved."""
    asset = "c" * 32
    provenance = stack.function("provenance")
    with pytest.raises(BatchProcessingError, match="All records failed"):  # a batch of one: the invocation fails
        runtime.invoke(provenance, {"Records": [_record("1", asset, _fact(asset, "moderated", "approved"))]})
    assert stack.provenance_store().history(asset) == []

    assert _failed(runtime.invoke(provenance, {"Records": [_record("2", asset, _fact(asset, "created", "created"))]})) == []
    assert _failed(runtime.invoke(provenance, {"Records": [_record("3", asset, _fact(asset, "moderated", "approved"))]})) == []

    assert stack.provenance_store().asset(asset)["status"] == "approved"
