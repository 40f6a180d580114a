"""DynamoDB upload tickets table (template.yaml: UploadTicketsTable, key ``upload_id``, TTL ``expiration``).

upload-url writes each ticket once (and may do nothing else here); the uploads function reads
it and claims it for the one object it admits. A claimed ticket stays until its TTL, so a
second object under it is told apart from an object no ticket was ever issued for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..errors import ImagepipeError
from ..models import UploadTicket

_OPTIONAL = ("issued_by", "model_id", "licence")


class TicketExistsError(ImagepipeError):
    """An upload id was issued twice (it is random: this would mean a broken generator)."""


class UploadTickets:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def issue(self, ticket: UploadTicket, *, keep_until: datetime) -> None:
        """Store ``ticket``; DynamoDB's TTL removes it after ``keep_until``."""
        item = {
            "upload_id": {"S": ticket.upload_id},
            "requester": {"S": ticket.requester},
            "visibility": {"S": ticket.visibility},
            "content_type": {"S": ticket.content_type},
            "max_bytes": {"N": str(ticket.max_bytes)},
            "issued_at": {"S": ticket.issued_at.isoformat()},
            "expires_at": {"N": str(int(ticket.expires_at.timestamp()))},
            "expiration": {"N": str(int(keep_until.timestamp()))},
            **{name: {"S": getattr(ticket, name)} for name in _OPTIONAL if getattr(ticket, name)},
        }
        try:
            self._ddb.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(upload_id)"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise TicketExistsError(f"upload id {ticket.upload_id} was already issued") from error
            raise

    def get(self, upload_id: str) -> UploadTicket | None:
        """The ticket issued for ``upload_id`` (claimed or not), or None."""
        item = self._ddb.get_item(
            TableName=self._table, Key={"upload_id": {"S": upload_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return UploadTicket(
            upload_id=item["upload_id"]["S"],
            requester=item["requester"]["S"],
            visibility=item["visibility"]["S"],
            content_type=item["content_type"]["S"],
            max_bytes=int(item["max_bytes"]["N"]),
            issued_at=datetime.fromisoformat(item["issued_at"]["S"]),
            expires_at=datetime.fromtimestamp(int(item["expires_at"]["N"]), UTC),
            **{name: item[name]["S"] for name in _OPTIONAL if name in item},
        )

    def claim(self, upload_id: str, etag: str, *, now: datetime) -> bool:
        """Bind the ticket to the object with ``etag``; False when another object holds it.

        Claiming again for the same object succeeds: a retried ingest is not a second use.
        """
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"upload_id": {"S": upload_id}},
                UpdateExpression="SET claimed_by = :etag, claimed_at = if_not_exists(claimed_at, :now)",
                ConditionExpression="attribute_exists(upload_id) AND (attribute_not_exists(claimed_by) OR claimed_by = :etag)",
                ExpressionAttributeValues={":etag": {"S": etag}, ":now": {"S": now.isoformat()}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
