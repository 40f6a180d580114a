"""SQS: the messages stages send to each other."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel

from ..models import ProvenanceEvent


class Publisher:
    def __init__(self, sqs_client: Any, provenance_queue_url: str) -> None:
        self._sqs = sqs_client
        self._provenance_queue_url = provenance_queue_url

    def send(self, queue_url: str, message: BaseModel) -> None:
        self._sqs.send_message(QueueUrl=queue_url, MessageBody=message.model_dump_json())

    def record(self, event: ProvenanceEvent) -> None:
        """Send a provenance fact, ordered per asset and deduplicated by its event id."""
        self._sqs.send_message(
            QueueUrl=self._provenance_queue_url,
            MessageBody=event.model_dump_json(),
            MessageGroupId=event.asset_id,
            MessageDeduplicationId=hashlib.sha256(event.event_id.encode()).hexdigest(),
        )
