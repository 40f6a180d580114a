"""The asset lifecycle as a pure rule (`imagepipe.lifecycle`), and the store's write agreeing with it.

The state space is small (7 current states x 6 kinds x 6 statuses), so the properties are
checked on every combination rather than on samples.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import product

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from imagepipe.adapters.provenance_store import ProvenanceStore
from imagepipe.lifecycle import (
    ALLOWED_PREDECESSORS,
    EVENT_KINDS,
    SECTION_BY_KIND,
    STATUSES,
    STATUSES_BY_KIND,
    TERMINAL_STATUSES,
    AssetRecord,
    change,
    replay,
    transition,
)
from imagepipe.models import BlurRegion, ProvenanceEvent

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CONSISTENT = [(kind, status) for kind in EVENT_KINDS for status in sorted(STATUSES_BY_KIND[kind])]
EVERY_PAIR = list(product(EVENT_KINDS, STATUSES))
SERIALIZER = TypeSerializer()


def fact(kind, status, suffix="", *, asset_id="a1", minute=0, reason=None, **data) -> ProvenanceEvent:
    return ProvenanceEvent(event_id=f"{asset_id}:{kind}{suffix}", asset_id=asset_id, kind=kind, actor="test",
                           at=T0 + timedelta(minutes=minute), status=status, reason=reason, data=data)


# How to bring an asset into each status (None: no record yet), through facts the stages send.
PATHS: dict[str | None, list[tuple[str, str, dict]]] = {
    None: [],
    "created": [("created", "created", {"requester": "alice", "visibility": "public", "original_key": "o/a1.png",
                                        "content_sha256": "aa" * 32, "source": "generated", "prompt": "a lake"})],
    "review": [("moderated", "review", {"verdict": "review", "reasons": ["nsfw:0.5"], "phash": "0123456789abcdef"})],
    "approved": [("moderated", "approved", {"verdict": "approve", "phash": "0123456789abcdef",
                                            "blur_regions": [{"left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}]})],
    "published": [("published", "published", {"manifest_key": "public/a1/manifest.json", "width": 640, "height": 480,
                                               "public_source_key": "public-sources/a1",
                                               "variants": [{"key": "public/a1/320w.x.avif", "sha256": "11" * 32,
                                                             "width": 320, "height": 240, "format": "avif",
                                                             "content_type": "image/avif", "bytes": 999,
                                                             "quality": 60}]})],
    "rejected": [("moderated", "rejected", {"verdict": "reject", "reasons": ["nsfw:0.99"]})],
    "taken_down": [("taken_down", "taken_down", {"by": "arn:staff", "previous_status": "published",
                                                 "paths": ["/public/a1/*"], "phash": "0123456789abcdef"})],
}
PREREQUISITE = {"created": None, "review": "created", "approved": "created", "published": "approved",
                "rejected": "created", "taken_down": "published"}


def path_to(status: str | None, asset_id: str = "a1") -> list[ProvenanceEvent]:
    if status is None:
        return []
    kind, to, data = PATHS[status][0]
    before = path_to(PREREQUISITE[status], asset_id)
    return [*before, fact(kind, to, asset_id=asset_id, minute=len(before), reason="why" if to == "rejected" else None,
                          **data)]


def record_in(status: str | None) -> AssetRecord | None:
    record = replay(path_to(status))
    assert (record.status if record else None) == status
    return record


# -- the rule is total ------------------------------------------------------------------


@pytest.mark.parametrize("before", [None, *STATUSES])
@pytest.mark.parametrize(("kind", "status"), EVERY_PAIR)
def test_every_event_from_every_state_has_exactly_one_allowed_outcome(before, kind, status):
    """GIVEN any current state and any event (kind x status) THEN the transition applies
    exactly when the kind may carry the status and the status may follow the current one;
    applied, the new record has the event's status and its section; otherwise the record is
    unchanged; and a fact already recorded is a duplicate whatever the state."""
    current = record_in(before)
    event = fact(kind, status, "-x", minute=60)
    moved = transition(current, event)
    consistent = status in STATUSES_BY_KIND[kind]
    allowed = consistent and before in ALLOWED_PREDECESSORS[status]
    later = consistent and bool(_reachable(before) & ALLOWED_PREDECESSORS[status])
    assert moved.outcome == ("applied" if allowed else "early" if later else "out_of_order" if consistent else "refused")
    assert moved.before == before and moved.change.to == status and moved.change.section == SECTION_BY_KIND[kind]
    if allowed:
        assert moved.applied and moved.reason is None
        assert moved.after.status == status and getattr(moved.after, SECTION_BY_KIND[kind]) is not None
        assert moved.after.updated_at == event.at.isoformat()
    else:
        assert not moved.applied and moved.reason and moved.after == current
    duplicate = transition(current, event, recorded=True)
    assert (duplicate.outcome, duplicate.after) == ("duplicate", current)


@pytest.mark.parametrize(("kind", "status"), EVERY_PAIR)
def test_the_condition_of_the_write_is_the_allowed_predecessors(kind, status):
    """GIVEN any event THEN the statuses its write is conditioned on are exactly the table's
    allowed predecessors of its status, and none at all when its kind cannot carry it."""
    expected = change(fact(kind, status)).expected
    assert expected == (ALLOWED_PREDECESSORS[status] if status in STATUSES_BY_KIND[kind] else frozenset())


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
@pytest.mark.parametrize(("kind", "status"), EVERY_PAIR)
def test_a_rejected_or_taken_down_asset_accepts_nothing(terminal, kind, status):
    """GIVEN a rejected or taken-down asset THEN no event applies: in particular nothing
    makes it approved or published, so it never becomes public again."""
    assert TERMINAL_STATUSES == {"rejected", "taken_down"}
    current = record_in(terminal)
    moved = transition(current, fact(kind, status, "-late", minute=60))
    assert not moved.applied and moved.after == current


def test_only_an_approval_leads_to_publication_and_every_status_is_reachable():
    """THEN "published" follows "approved" only, "approved" follows creation or review only,
    and every status is reachable from no record through facts the stages send."""
    assert ALLOWED_PREDECESSORS["published"] == {"approved"}
    assert ALLOWED_PREDECESSORS["approved"] == {"created", "review"}
    reachable, frontier = {None}, {None}
    while frontier:
        frontier = {s for s in STATUSES for before in frontier if before in ALLOWED_PREDECESSORS[s]} - reachable
        reachable |= frontier
    assert reachable == {None, *STATUSES}
    for status in STATUSES:
        assert any(status in statuses for statuses in STATUSES_BY_KIND.values())


# -- the behaviours the store's tests check, on the pure rule ----------------------------


def test_a_fact_applies_once_however_often_it_is_delivered():
    created = fact("created", "created", requester="alice", visibility="public", content_sha256="ab" * 32)
    record = replay([created, created, created])
    assert record.requester == "alice" and record.created_at == created.at.isoformat()


def test_state_only_moves_forward_and_a_withdrawal_after_publication_works():
    """GIVEN a published asset WHEN it is taken down THEN it is, and a late "published" or
    "approved" fact is out of order: the asset stays taken down."""
    published = record_in("published")
    down = transition(published, fact("taken_down", "taken_down", reason="dmca", minute=9, by="arn:staff",
                                      previous_status="published"))
    assert down.applied and down.after.status == "taken_down" and down.after.reason == "dmca"
    assert down.after.taken_down_after_publication and down.after.takedown.by == "arn:staff"
    assert down.after.publication == published.publication  # the audit of what was out stays
    for late in (fact("published", "published", "-late", variants=[]), fact("moderated", "approved", "-late")):
        moved = transition(down.after, late)
        assert moved.outcome == "out_of_order" and moved.after.status == "taken_down"


@pytest.mark.parametrize("before", ["created", "review", "approved"])
def test_a_takedown_before_publication_is_not_a_withdrawal_from_the_public(before):
    down = transition(record_in(before), fact("taken_down", "taken_down", previous_status=before)).after
    assert down.status == "taken_down" and not down.taken_down_after_publication


def test_nothing_is_published_before_approval():
    """A "published" fact for an asset in review never applies; it may still be waiting for
    the reviewer's approval ("early": retried, then dead-lettered), never kept as applied."""
    in_review = record_in("review")
    moved = transition(in_review, fact("published", "published", variants=[]))
    assert moved.outcome == "early" and moved.after.status == "review"
    assert moved.reason == "published_cannot_follow_review"


def _reachable(status):
    """The statuses reachable from ``status`` (a breadth-first walk, written apart from the rule's)."""
    seen, frontier = set(), [status]
    while frontier:
        here = frontier.pop(0)
        nxt = {s for s, allowed in ALLOWED_PREDECESSORS.items() if here in allowed} - seen
        seen |= nxt
        frontier += sorted(nxt)
    return seen


@pytest.mark.parametrize(("before", "kind", "status", "outcome"), [
    (None, "moderated", "approved", "early"),  # its "created" is still on its way (or being retried)
    (None, "published", "published", "early"),
    ("created", "published", "published", "early"),  # approval still to come
    ("taken_down", "published", "published", "out_of_order"),  # moved past: never
    ("taken_down", "moderated", "approved", "out_of_order"),
    ("rejected", "reviewed", "approved", "out_of_order"),
    ("published", "moderated", "approved", "out_of_order"),  # a redelivered decision, long after
    ("approved", "created", "created", "out_of_order"),
])
def test_a_fact_ahead_of_its_predecessors_is_early_and_one_behind_is_out_of_order(before, kind, status, outcome):
    """GIVEN facts arriving before their predecessors or after the asset moved past them
    THEN the first are "early" (retried until the predecessors apply) and the second
    "out_of_order" (kept in the audit trail, never applied)."""
    moved = transition(record_in(before), fact(kind, status, "-x", minute=60))
    assert moved.outcome == outcome and moved.after == record_in(before)


def test_a_re_signed_original_replaces_the_recorded_hash():
    first = replay([fact("created", "created", ":aaaa", content_sha256="aa" * 32)])
    again = transition(first, fact("created", "created", ":bbbb", content_sha256="bb" * 32))
    assert again.applied and again.after.content_sha256 == "bb" * 32
    approved = transition(again.after, fact("moderated", "approved")).after
    assert transition(approved, fact("created", "created", ":cccc")).outcome == "out_of_order"


@pytest.mark.parametrize(("kind", "status"), [("moderated", "published"), ("taken_down", "published"),
                                              ("published", "rejected"), ("created", "approved")])
def test_a_kind_cannot_carry_another_kinds_status(kind, status):
    """GIVEN a fact whose kind cannot carry its status (a "moderated" fact that says
    "published") THEN it is refused from every state: no path skips the stage that owns it."""
    for before in (None, *STATUSES):
        moved = transition(record_in(before), fact(kind, status))
        assert moved.outcome == "refused" and moved.reason == f"{kind}_cannot_make_{status}"


def test_waiting_for_review_is_on_the_record_only_while_in_review():
    in_review = record_in("review")
    assert in_review.review_since == (T0 + timedelta(minutes=1)).isoformat()
    decided = transition(in_review, fact("reviewed", "approved", decision="approved", reviewer="dana")).after
    assert decided.review_since is None and decided.review_decision.reviewer == "dana"
    assert "review_since" in change(fact("reviewed", "approved")).removes


def test_what_a_fact_writes():
    """THEN the section holds the fact's data with actor and time; creation's copies and the
    reason go to the top level; a fact without a reason leaves the last one in place."""
    created = change(fact("created", "created", requester="alice", visibility="private", prompt="p", seed=7))
    assert created.sets["creation"] == {"requester": "alice", "visibility": "private", "prompt": "p", "seed": 7,
                                        "actor": "test", "at": T0.isoformat()}
    assert (created.sets["requester"], created.sets["visibility"], created.sets["created_at"]) == (
        "alice", "private", T0.isoformat())
    assert "original_key" not in created.sets  # only the copies the fact has
    moderated = change(fact("moderated", "approved", verdict="approve"))
    assert "requester" not in moderated.sets and "created_at" not in moderated.sets and "reason" not in moderated.sets
    in_review = replay([*path_to("created"), fact("moderated", "review", reason="nsfw:0.5", minute=1)])
    approved = transition(in_review, fact("reviewed", "approved", decision="approved", minute=2)).after
    assert (in_review.reason, approved.reason, approved.status) == ("nsfw:0.5", "nsfw:0.5", "approved")


def test_a_fact_about_another_asset_is_a_programming_error():
    with pytest.raises(ValueError):
        transition(record_in("created"), fact("moderated", "approved", asset_id="a2"))


# -- the typed record ---------------------------------------------------------------------


def test_the_record_parses_the_item_as_the_store_returns_it():
    """GIVEN a META item with the store's own attributes and fields no reader types THEN the
    record types what readers use, keeps the rest in its sections, and ignores the keys."""
    item = {
        "pk": "ASSET#a1", "sk": "META", "status": "approved", "review_queue": "pending", "updated_at": "t",
        "visibility": "public", "original_key": "o/a1.png", "requester": "alice", "source": "upload",
        "creation": {"prompt": "a lake", "seed": 7, "parameters": {"steps": 4}, "actor": "ingest", "at": "t0"},
        "moderation": {"verdict": "approve", "reasons": ["faces:1"], "faces": 1, "labels": [{"name": "Face"}],
                       "blur_regions": [{"left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}], "extra": True},
        "publication": {"variants": [{"key": "k", "width": 320, "quality": 61, "future": "x"}]},
    }
    record = AssetRecord.from_item(item)
    assert (record.asset_id, record.status, record.delivered_visibility) == ("a1", "approved", "public")
    assert record.blur_regions == (BlurRegion(left=0.1, top=0.2, width=0.3, height=0.4),)
    assert record.moderation.reasons == ("faces:1",) and record.moderation.recorded()["extra"] is True
    assert record.creation.prompt == "a lake" and record.creation.recorded()["parameters"] == {"steps": 4}
    assert record.variants[0].quality == 61 and record.variants[0].format is None
    assert record.takedown is None and record.review_decision is None
    assert AssetRecord.of(record) is record and AssetRecord.of(None) is None
    assert AssetRecord.of({"status": "created"}, "a9").asset_id == "a9"


@pytest.mark.parametrize("visibility", [None, "private"])
def test_anything_but_a_recorded_public_visibility_is_delivered_as_private(visibility):
    assert AssetRecord.from_item({"asset_id": "a", "status": "published", "visibility": visibility}
                                 ).delivered_visibility == "private"


def test_a_record_with_an_unknown_status_is_refused():
    with pytest.raises(ValueError):
        AssetRecord.from_item({"asset_id": "a", "status": "deleted"})


# -- the store's conditional write agrees with the rule ---------------------------------


@pytest.fixture
def client(aws):
    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def table(client) -> ProvenanceStore:
    """The provenance table's keys (its indexes are not read here), in in-process DynamoDB."""
    client.create_table(
        TableName="provenance", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    return ProvenanceStore(client, "provenance")


@pytest.mark.parametrize("status", STATUSES)
def test_the_store_reaches_the_state_the_rule_computes(table, status):
    """GIVEN the facts that bring an asset into ``status`` WHEN the store applies them THEN each
    applies and the record it holds is the one the rule computes from the same facts."""
    facts = path_to(status)
    assert [table.apply(event) for event in facts] == ["applied"] * len(facts)
    assert table.record("a1") == replay(facts) and table.record("a1").status == status


@pytest.mark.parametrize("before", [None, *STATUSES])
def test_the_store_applies_exactly_what_the_rule_says(table, client, before):
    """GIVEN an asset in ``before`` WHEN each consistent fact (and some inconsistent ones) is
    applied THEN the store's answer is the rule's (a refused fact is kept as out of order), the
    record it holds is the one the rule computes, and the same fact again is a duplicate."""
    for index, (kind, status) in enumerate([*CONSISTENT, ("moderated", "published"), ("taken_down", "approved")]):
        asset_id = f"asset-{index}"
        current = replay(path_to(before, asset_id))
        if current is not None:  # the state as the store would hold it, without replaying it there
            item = json.loads(json.dumps(current.item()), parse_float=Decimal)
            client.put_item(TableName="provenance", Item={
                "pk": {"S": f"ASSET#{asset_id}"}, "sk": {"S": "META"},
                **{k: SERIALIZER.serialize(v) for k, v in item.items() if v is not None}})
        assert table.record(asset_id) == current
        event = fact(kind, status, "-x", asset_id=asset_id, minute=60, reason="late" if status == "rejected" else None,
                     **({"phash": "fedcba9876543210", "previous_status": before} if kind == "taken_down" else {}))
        expected = transition(current, event)
        assert table.apply(event) == {"refused": "out_of_order"}.get(expected.outcome, expected.outcome), (kind, status)
        assert table.record(asset_id) == expected.after, (kind, status)
        if expected.outcome == "early":  # nothing written: a retry is judged afresh, never a "duplicate"
            assert table.apply(event) == "early"
            assert table.history(asset_id) == []
            continue
        assert table.apply(event) == "duplicate"
        assert [e["applied"] for e in table.history(asset_id)] == [expected.applied]
