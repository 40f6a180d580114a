"""DynamoDB provenance table: the system of record for every asset.

Single table: ``pk = ASSET#{id}`` with ``sk = META`` (current state), ``EVENT#{at}#{id}``
(append-only audit) and ``VARIANT#{key}`` (one per derivative). Originals (on META) and
variants carry ``content_sha256`` for the ``by-content-hash`` index, which answers
"where did this file come from?".

Facts are written by `ProvenanceStore.apply` only: the provenance function applies the
queued ones, and a takedown applies its own synchronously (withdrawal must be durable
before anything is deleted). Everyone else reads.

A takedown's perceptual hash goes into the same transaction as ``pk = BLOCKLIST``,
``sk = PHASH#{hash}#{asset_id}``: moderation refuses the same picture uploaded again.

Which transitions are allowed and what a fact writes on META is the domain's rule
(`imagepipe.lifecycle`): this adapter turns its `Change` into one conditional transaction,
and reads META back as the typed `AssetRecord` (`record`).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ..lifecycle import REVIEW_SINCE, AssetRecord, Change, change, may_follow_later
from ..models import ProvenanceEvent

ApplyResult = Literal["applied", "duplicate", "early", "out_of_order"]
CONTENT_HASH_INDEX = "by-content-hash"
# Sparse index of the assets in "review", oldest first (template.yaml: ProvenanceTable).
PENDING_REVIEW_INDEX = "pending-review"
PENDING_REVIEW_KEY = "review_queue"
PENDING_REVIEW_SINCE = REVIEW_SINCE  # set and removed by the lifecycle with the status
PENDING_REVIEW_VALUE = "pending"
BLOCKLIST_PK = "BLOCKLIST"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> dict[str, Any]:
    return _serializer.serialize(json.loads(json.dumps(value, default=str), parse_float=Decimal))


def _from_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | set):
            return [plain(v) for v in value]
        return value

    return {k: plain(_deserializer.deserialize(v)) for k, v in item.items()}


def asset_pk(asset_id: str) -> str:
    return f"ASSET#{asset_id}"


def event_sk(event: ProvenanceEvent) -> str:
    # Keyed by the fact, not by when it was sent: a fact re-sent after a crash is one item.
    return f"EVENT#{hashlib.sha256(event.event_id.encode()).hexdigest()[:32]}"


class ProvenanceStore:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    # -- writing (the provenance function only) ---------------------------------------

    def apply(self, event: ProvenanceEvent) -> ApplyResult:
        """Record ``event`` and move the asset's state, atomically and at most once.

        A redelivered event is a no-op ("duplicate"). An event whose transition is not
        allowed from the current state yet, but can be once its predecessors apply (a
        "moderated" before its "created"), writes nothing ("early"): the caller retries it.
        One the asset has moved past (a late "published" after a takedown), or never allowed
        (`lifecycle.change` expects no status), is kept in the audit trail but does not change
        the state ("out_of_order").

        The state is not read first: the META update is conditional on the statuses the
        lifecycle allows before it, so the table decides a race atomically.
        """
        rule = change(event)
        if not rule.expected:
            return self._keep_unapplied(event)
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._event_item(event, applied=True),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Update": self._meta_update(event.asset_id, rule)},
        ]
        items += [{"Put": {"TableName": self._table, "Item": v}} for v in self._variant_items(event)]
        items += [{"Put": {"TableName": self._table, "Item": b}} for b in self._blocklist_items(event)]
        try:
            self._ddb.transact_write_items(TransactItems=items)
            return "applied"
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return "duplicate"
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                current = self.record(event.asset_id)
                if may_follow_later(current.status if current is not None else None, rule):
                    return "early"  # nothing written: the caller retries it after its predecessors
                return self._keep_unapplied(event)
            raise

    def _keep_unapplied(self, event: ProvenanceEvent) -> ApplyResult:
        """Keep ``event`` in the audit trail as not applied ("duplicate" if it already is there)."""
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=self._event_item(event, applied=False),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as put_error:
            if put_error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return "duplicate"
        return "out_of_order"

    def _event_item(self, event: ProvenanceEvent, *, applied: bool) -> dict[str, Any]:
        body = event.model_dump(mode="json")
        body["applied"] = applied
        return {
            "pk": {"S": asset_pk(event.asset_id)},
            "sk": {"S": event_sk(event)},
            **{k: _to_dynamo(v) for k, v in body.items() if v is not None},
        }

    def _meta_update(self, asset_id: str, rule: Change) -> dict[str, Any]:
        """The lifecycle's ``rule`` as one conditional UpdateItem on META."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}

        def name(attribute: str) -> str:  # every attribute by placeholder: no reserved word can clash
            placeholder = next((k for k, v in names.items() if v == attribute), f"#a{len(names)}")
            names[placeholder] = attribute
            return placeholder

        sets, removes = [], [name(attribute) for attribute in rule.removes]
        for attribute, value in rule.sets.items():
            values[f":v{len(values)}"] = _to_dynamo(value)
            sets.append(f"{name(attribute)} = :v{len(values) - 1}")
        # The sparse pending-review index holds exactly the assets waiting for a person.
        if rule.to == "review":
            values[":pending"] = _to_dynamo(PENDING_REVIEW_VALUE)
            sets.append(f"{name(PENDING_REVIEW_KEY)} = :pending")
        else:
            removes.append(name(PENDING_REVIEW_KEY))

        conditions = ["attribute_not_exists(pk)"] if None in rule.expected else []
        for index, status in enumerate(sorted(s for s in rule.expected if s is not None)):
            values[f":from{index}"] = _to_dynamo(status)
            conditions.append(f"{name('status')} = :from{index}")
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": asset_pk(asset_id)}, "sk": {"S": "META"}},
            "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
            "ConditionExpression": " OR ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _variant_items(self, event: ProvenanceEvent) -> list[dict[str, Any]]:
        if event.kind != "published":
            return []
        return [
            {
                "pk": {"S": asset_pk(event.asset_id)},
                "sk": {"S": f"VARIANT#{variant['key']}"},
                "asset_id": {"S": event.asset_id},
                "content_sha256": {"S": variant["sha256"]},
                **{k: _to_dynamo(v) for k, v in variant.items() if k not in {"sha256"}},
            }
            for variant in event.data.get("variants", [])
        ]

    def _blocklist_items(self, event: ProvenanceEvent) -> list[dict[str, Any]]:
        phash = event.data.get("phash")
        if event.kind != "taken_down" or not isinstance(phash, str):
            return []
        return [
            {
                "pk": {"S": BLOCKLIST_PK},
                "sk": {"S": f"PHASH#{phash}#{event.asset_id}"},
                "phash": {"S": phash},
                "asset_id": {"S": event.asset_id},
                "at": {"S": event.at.isoformat()},
            }
        ]

    # -- reading ------------------------------------------------------------------------

    def takedown_hashes(self) -> dict[str, str]:
        """The perceptual hash of every taken-down image -> ``takedown:{asset_id}`` (all pages)."""
        found: dict[str, str] = {}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": BLOCKLIST_PK}},
            "ProjectionExpression": "phash, asset_id",
        }
        while True:
            response = self._ddb.query(**kwargs)
            for item in response.get("Items", []):
                found.setdefault(item["phash"]["S"], f"takedown:{item['asset_id']['S']}")
            if "LastEvaluatedKey" not in response:
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def record(self, asset_id: str) -> AssetRecord | None:
        """The asset's current state, typed (consistent read), or None if it has no record."""
        item = self.asset(asset_id)
        return AssetRecord.from_item(item, asset_id) if item is not None else None

    def asset(self, asset_id: str) -> dict[str, Any] | None:
        """The META item as stored (plain values), or None: for tooling; readers use `record`."""
        response = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": asset_pk(asset_id)}, "sk": {"S": "META"}},
            ConsistentRead=True,
        )
        return _from_dynamo(response["Item"]) if "Item" in response else None

    def history(self, asset_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :event)",
            "ExpressionAttributeValues": {":pk": {"S": asset_pk(asset_id)}, ":event": {"S": "EVENT#"}},
        }
        while True:
            response = self._ddb.query(**kwargs)
            items += [_from_dynamo(i) for i in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return sorted(items, key=lambda item: item.get("at", ""))
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def pending_reviews(self, *, limit: int = 50, after: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Assets waiting for a human decision, oldest first, and the key to continue after.

        Reads the sparse index (eventually consistent): check ``asset()`` before acting.
        """
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": PENDING_REVIEW_INDEX,
            "KeyConditionExpression": f"{PENDING_REVIEW_KEY} = :pending",
            "ExpressionAttributeValues": {":pending": {"S": PENDING_REVIEW_VALUE}},
            "Limit": limit,
        }
        if after:
            kwargs["ExclusiveStartKey"] = after
        response = self._ddb.query(**kwargs)
        return [_from_dynamo(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")

    def find_by_content_hash(self, sha256: str) -> list[dict[str, Any]]:
        response = self._ddb.query(
            TableName=self._table,
            IndexName=CONTENT_HASH_INDEX,
            KeyConditionExpression="content_sha256 = :h",
            ExpressionAttributeValues={":h": {"S": sha256}},
        )
        return [_from_dynamo(i) for i in response.get("Items", [])]
