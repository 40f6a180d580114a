"""Invoking the real handlers the way Lambda does: SQS event source mappings and direct invokes.

Invocations are serialised: handlers run in this process and share its environment, and
Lambda itself runs one event at a time per execution environment.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from imagepipe_tools import local_model
from imagepipe_tools.local.stack import LocalFunction, LocalStack, SqsTrigger

LOCAL_ENVIRONMENT = {
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
    "POWERTOOLS_DEV": "false",
}
RETRY_DELAY_SECONDS = 1  # failed records come back quickly locally (minutes in AWS)


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass
class InvocationStats:
    invocations: int = 0
    records: int = 0
    failed_records: int = 0
    errors: int = 0
    sqs_errors: int = 0  # receive/delete calls that failed; the poller carried on


class LocalRuntime:
    def __init__(self, stack: LocalStack, *, log: TextIO | None = None) -> None:
        self.stack = stack
        self.log = log or sys.stderr
        local_model.install()  # the handlers run in this process: they may now name "local"
        self._lock = threading.RLock()
        self._modules: dict[str, ModuleType] = {}
        self._sqs = stack.client("sqs")
        self.stats: dict[str, InvocationStats] = {}
        self._environment = self._union_environment()

    def _union_environment(self) -> dict[str, str]:
        """All functions' variables at once: they agree on every shared name (checked here)."""
        merged: dict[str, str] = {}
        for fn in self.stack.functions.values():
            for key, value in fn.environment.items():
                if key == "POWERTOOLS_SERVICE_NAME":
                    continue
                if merged.setdefault(key, value) != value:
                    raise ValueError(f"functions disagree on {key}: {merged[key]!r} != {value!r}")
        endpoint = {"AWS_ENDPOINT_URL": self.stack.endpoint_url} if self.stack.endpoint_url else {}
        return {
            **merged,
            **LOCAL_ENVIRONMENT,
            **endpoint,
            "AWS_DEFAULT_REGION": self.stack.region,
            "AWS_REGION": self.stack.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    @contextlib.contextmanager
    def _as(self, fn: LocalFunction):
        with self._lock:
            os.environ.update(self._environment)
            os.environ["POWERTOOLS_SERVICE_NAME"] = fn.environment.get("POWERTOOLS_SERVICE_NAME", fn.name)
            os.environ["AWS_LAMBDA_FUNCTION_NAME"] = fn.name
            with contextlib.redirect_stdout(self.log), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="No application metrics to publish")
                yield

    def handler(self, fn: LocalFunction) -> Callable[[dict[str, Any], Any], Any]:
        module_name, _, attribute = fn.handler.rpartition(".")
        if fn.logical_id not in self._modules:
            path = fn.code_dir / f"{module_name}.py"
            spec = importlib.util.spec_from_file_location(f"imagepipe_functions.{fn.code_dir.name}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            with self._as(fn):
                spec.loader.exec_module(module)
            self._modules[fn.logical_id] = module
        return getattr(self._modules[fn.logical_id], attribute)

    def invoke(self, fn: LocalFunction, event: dict[str, Any]) -> Any:
        handler = self.handler(fn)
        stats = self.stats.setdefault(fn.logical_id, InvocationStats())
        stats.invocations += 1
        with self._as(fn):
            return handler(event, LocalContext(fn.name, fn.memory_mb, fn.timeout))

    # -- SQS event source mapping ----------------------------------------------------------

    def poll_once(self) -> int:
        """One receive per trigger; returns how many messages were handed to functions."""
        handled = 0
        for fn in self.stack.functions.values():
            for trigger in fn.triggers:
                handled += self._deliver(fn, trigger)
        return handled

    def _deliver(self, fn: LocalFunction, trigger: SqsTrigger) -> int:
        # An event source mapping outlives a failed receive: log it and poll again next round.
        try:
            messages = self._sqs.receive_message(
                QueueUrl=trigger.queue_url,
                MaxNumberOfMessages=min(trigger.batch_size, 10),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
        except (BotoCoreError, ClientError) as error:
            self.stats.setdefault(fn.logical_id, InvocationStats()).sqs_errors += 1
            print(f"[{fn.name}] receive from {trigger.queue_url.rsplit('/', 1)[-1]} failed: {error!r}", file=self.log)
            return 0
        if not messages:
            return 0
        event = {"Records": [sqs_record(m, trigger.queue_arn, self.stack.region) for m in messages]}
        stats = self.stats.setdefault(fn.logical_id, InvocationStats())
        stats.records += len(messages)
        try:
            response = self.invoke(fn, event)
            failed = (
                {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
                if trigger.report_failures
                else set()
            )
        except Exception as error:  # a handler that raises fails its whole batch, as in Lambda
            print(f"[{fn.name}] invocation failed: {error!r}", file=self.log)
            for child in getattr(error, "child_exceptions", None) or [error]:
                detail = child if isinstance(child, BaseException) else child[1]
                print("".join(traceback.format_exception(detail))[-3000:], file=self.log)
            stats.errors += 1
            failed = {m["MessageId"] for m in messages}
        stats.failed_records += len(failed)
        for message in messages:
            if message["MessageId"] in failed:
                receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
                print(f"[{fn.name}] record {message['MessageId']} failed (receive {receives}); it comes back "
                      f"in {RETRY_DELAY_SECONDS}s", file=self.log)
        done = [m for m in messages if m["MessageId"] not in failed]
        # A failed delete leaves the message to come back after its visibility timeout, as in
        # AWS: the handlers are idempotent. Neither failure may end the poller.
        try:
            if done:
                self._sqs.delete_message_batch(
                    QueueUrl=trigger.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            for message in messages:
                if message["MessageId"] in failed:
                    self._sqs.change_message_visibility(
                        QueueUrl=trigger.queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=RETRY_DELAY_SECONDS,
                    )
        except (BotoCoreError, ClientError) as error:
            stats.sqs_errors += 1
            print(f"[{fn.name}] settling a batch of {trigger.queue_url.rsplit('/', 1)[-1]} failed: {error!r}",
                  file=self.log)
        return len(messages)

    def queue_depths(self) -> dict[str, int]:
        """Visible + in-flight messages of every queue a function consumes."""
        depths = {}
        for fn in self.stack.functions.values():
            for trigger in fn.triggers:
                attributes = self._sqs.get_queue_attributes(
                    QueueUrl=trigger.queue_url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
                depths[trigger.queue_url.rsplit("/", 1)[-1]] = int(attributes["ApproximateNumberOfMessages"]) + int(
                    attributes["ApproximateNumberOfMessagesNotVisible"]
                )
        return depths

    def drain(self, *, timeout: float = 300, done: Callable[[], bool] | None = None) -> bool:
        """Poll until every consumed queue is empty (and ``done()`` holds), or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.poll_once() == 0:
                if sum(self.queue_depths().values()) == 0 and (done is None or done()):
                    return True
                time.sleep(0.2)
        return False

    def run(self, stop: threading.Event, *, idle_sleep: float = 0.25) -> None:
        while not stop.is_set():
            if self.poll_once() == 0:
                stop.wait(idle_sleep)


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to a function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": value.get("BinaryListValues", []),
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def load_event(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text())
