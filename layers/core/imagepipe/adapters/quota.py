"""Per-requester generation quota: a counter per requester and hour, in DynamoDB.

The counters live in the idempotency table (key ``id``, TTL ``expiration``): short-lived
items with the same shape, so no second table to provision. One conditional ``ADD`` per
request: it counts and enforces in the same write, so concurrent requests cannot overshoot.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError


class HourlyQuota:
    def __init__(self, dynamodb_client: Any, table_name: str, per_hour: int) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self.per_hour = per_hour

    def take(self, requester: str, now: datetime) -> bool:
        """Count one request for ``requester``; False when the hour's allowance is used up."""
        if self.per_hour <= 0:
            return True
        hour = int(now.timestamp()) // 3600
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"id": {"S": f"quota#{requester}#{hour}"}},
                UpdateExpression="ADD used :one SET expiration = if_not_exists(expiration, :expires)",
                ConditionExpression="attribute_not_exists(used) OR used < :limit",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(self.per_hour)},
                    ":expires": {"N": str((hour + 2) * 3600)},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
