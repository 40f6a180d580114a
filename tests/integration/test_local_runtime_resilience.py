"""The embedded stack's event source mappings outlive SQS errors, as Lambda's do.

Before, one failed receive or delete raised out of `LocalRuntime.run` and ended `local up`,
and with it the in-memory AWS; a record failing inside a batch left no line in the log.
"""

from __future__ import annotations

import io
import json
import threading
import time

from botocore.exceptions import ClientError, EndpointConnectionError

from imagepipe.models import ProvenanceEvent
from imagepipe_tools.local.runtime import LocalRuntime


class FlakySqs:
    """The runtime's SQS client, failing the first ``failures`` calls of ``operation``."""

    def __init__(self, real, operation: str, failures: int, error: Exception, *, queue_url: str | None = None) -> None:
        self._real, self._operation, self._left, self._error = real, operation, failures, error
        self._queue_url = queue_url
        self.failed = 0

    def __getattr__(self, name):
        attribute = getattr(self._real, name)
        if name != self._operation:
            return attribute

        def call(*args, **kwargs):
            if self._left > 0 and self._queue_url in (None, kwargs.get("QueueUrl")):
                self._left -= 1
                self.failed += 1
                raise self._error
            return attribute(*args, **kwargs)

        return call


def _created_fact(asset_id: str) -> str:
    return ProvenanceEvent(
        event_id=f"{asset_id}:created", asset_id=asset_id, kind="created", actor="test", status="created",
        data={"requester": "alice", "visibility": "public", "content_sha256": "ab" * 32},
    ).model_dump_json()


def _send_fact(stack, body: str, asset_id: str) -> None:
    stack.client("sqs").send_message(
        QueueUrl=stack.attributes["ProvenanceQueue"]["QueueUrl"], MessageBody=body, MessageGroupId=asset_id,
        MessageDeduplicationId=f"{asset_id}-{time.monotonic_ns()}",
    )


def _run_until(runtime: LocalRuntime, done, timeout: float = 30) -> None:
    stop = threading.Event()
    poller = threading.Thread(target=runtime.run, args=(stop,), kwargs={"idle_sleep": 0.05}, daemon=True)
    poller.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done():
            assert poller.is_alive(), "the poller ended"
            time.sleep(0.05)
    finally:
        stop.set()
        poller.join(timeout=10)


def test_a_failed_receive_does_not_end_the_pollers(stack) -> None:
    """GIVEN a runtime whose first three SQS receives fail (the embedded AWS unreachable)
    WHEN a provenance fact is queued and the pollers run
    THEN the pollers keep running, log each failed receive, and the fact is applied."""
    log = io.StringIO()
    runtime = LocalRuntime(stack, log=log)
    runtime._sqs = FlakySqs(runtime._sqs, "receive_message", 3, EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    _send_fact(stack, _created_fact("a" * 32), "a" * 32)

    _run_until(runtime, lambda: stack.provenance_store().asset("a" * 32) is not None)

    assert stack.provenance_store().asset("a" * 32)["status"] == "created"
    assert runtime._sqs.failed == 3
    assert sum(s.sqs_errors for s in runtime.stats.values()) == 3
    assert log.getvalue().count("failed: EndpointConnectionError") == 3


def test_a_failed_delete_does_not_end_the_pollers(stack) -> None:
    """GIVEN a runtime whose first delete of a handled batch is throttled
    WHEN a fact is applied and its delete fails, then a second fact is queued
    THEN the poller survives and applies the second fact; the first message is not lost but
    stays in flight until its visibility timeout (as in AWS), its fact applied once."""
    log = io.StringIO()
    runtime = LocalRuntime(stack, log=log)
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "DeleteMessageBatch")
    provenance_queue = stack.attributes["ProvenanceQueue"]["QueueUrl"]
    runtime._sqs = FlakySqs(runtime._sqs, "delete_message_batch", 1, throttled, queue_url=provenance_queue)
    first, second = "b" * 32, "d" * 32
    store = stack.provenance_store()
    _send_fact(stack, _created_fact(first), first)
    _run_until(runtime, lambda: runtime._sqs.failed == 1)
    _send_fact(stack, _created_fact(second), second)

    _run_until(runtime, lambda: store.asset(second) is not None)

    assert store.asset(first)["status"] == store.asset(second)["status"] == "created"
    assert len(store.history(first)) == 1
    in_flight = stack.client("sqs").get_queue_attributes(
        QueueUrl=provenance_queue, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]["ApproximateNumberOfMessagesNotVisible"]
    assert in_flight == "1"
    assert "settling a batch of imagepipe-dev-provenance.fifo failed" in log.getvalue()


def test_a_failed_record_leaves_a_log_line(stack) -> None:
    """GIVEN a malformed message on the provenance queue
    WHEN the provenance function fails it
    THEN the runtime's log names the record and its receive count."""
    log = io.StringIO()
    runtime = LocalRuntime(stack, log=log)
    _send_fact(stack, json.dumps({"not": "a fact"}), "c" * 32)

    runtime.poll_once()

    assert "failed (receive 1)" in log.getvalue()
