"""The asset lifecycle: which status an asset may move to, and what a fact does to its record.

A pure domain rule (no AWS): the provenance store turns it into its conditional write, and
every reader of the current state (the publication gate, delivery, review, takedown, the
operator's trace) reads the typed `AssetRecord` instead of digging through the table item.

* `change` says what a `ProvenanceEvent` writes on the asset's current-state record
  (``META``) and under which condition: the statuses the asset must be in now
  (`Change.expected`; ``None`` stands for "no record yet"). It does not depend on the current
  state, so the store writes it with a condition instead of a read-modify-write, and a race
  (a takedown against a late "published") is decided by the table, atomically.
* `transition` is the same rule evaluated against a known current record: the event applies,
  is out of order (kept in the audit trail, state unchanged), is refused (its kind cannot
  carry its status: it never applies) or is a duplicate (already in the audit trail). It is
  total: every current status and every event gives exactly one of these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict

from .models import AssetStatus, BlurRegion, EventKind, ProvenanceEvent, Visibility

STATUSES: tuple[AssetStatus, ...] = get_args(AssetStatus)
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)

# Which current status each new status may follow (None: the asset has no record yet).
ALLOWED_PREDECESSORS: dict[AssetStatus, frozenset[AssetStatus | None]] = {
    # "created" may follow "created": a retried generation re-signs its original (new hash).
    "created": frozenset({None, "created"}),
    "review": frozenset({"created"}),
    "approved": frozenset({"created", "review"}),
    "published": frozenset({"approved"}),
    "rejected": frozenset({None, "created", "review", "approved"}),
    "taken_down": frozenset({"created", "review", "approved", "published"}),
}
# The statuses each kind of fact may move an asset to (what the stages send).
STATUSES_BY_KIND: dict[EventKind, frozenset[AssetStatus]] = {
    "created": frozenset({"created"}),
    "moderated": frozenset({"approved", "review", "rejected"}),
    "reviewed": frozenset({"approved", "rejected"}),
    "published": frozenset({"published"}),
    "rejected": frozenset({"rejected"}),
    "taken_down": frozenset({"taken_down"}),
}
# Where each kind of event keeps its details on the current-state record.
SECTION_BY_KIND: dict[EventKind, str] = {
    "created": "creation",
    "moderated": "moderation",
    "reviewed": "review_decision",
    "published": "publication",
    "rejected": "rejection",
    "taken_down": "takedown",
}
# Copied to the top level of the record so readers (signing, review, edge) need no digging.
TOP_LEVEL_FROM_CREATION = ("requester", "visibility", "original_key", "content_sha256", "source")
# Nothing follows these: a rejected or taken-down asset never becomes public again.
TERMINAL_STATUSES: frozenset[AssetStatus] = frozenset(
    s for s in STATUSES if not any(s in before for before in ALLOWED_PREDECESSORS.values())
)
PENDING_STATUSES: frozenset[AssetStatus] = frozenset({"created", "review"})  # a decision may still be on its way
REVIEW_SINCE = "review_since"  # on the record while it waits for a person


# -- the typed record ----------------------------------------------------------------------


class Section(BaseModel):
    """One event's details as the record keeps them: typed for what readers use, open for
    the rest (the generation record, moderation labels, ...), which the trace shows as is."""

    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)

    actor: str | None = None
    at: str | None = None  # ISO 8601, as recorded

    def recorded(self) -> dict[str, Any]:
        """The section as recorded (typed fields and the rest), without defaults it lacked."""
        return self.model_dump(mode="json", exclude_unset=True)


class Creation(Section):
    """``created``: the original and, for generated images, the generation record."""

    source: Literal["generated", "upload"] | None = None
    requester: str | None = None
    visibility: Visibility | None = None
    original_key: str | None = None
    content_sha256: str | None = None
    content_type: str | None = None
    bytes: int | None = None
    width: int | None = None
    height: int | None = None
    model_id: str | None = None
    prompt: str | None = None


class Moderation(Section):
    """``moderated``: the automated decision."""

    verdict: Literal["approve", "review", "reject"] | None = None
    reasons: tuple[str, ...] = ()
    labels: tuple[dict[str, Any], ...] = ()
    backend: str | None = None
    model_version: str | None = None
    thresholds: dict[str, Any] = {}
    face_policy: Any = None
    faces: int = 0
    blur_regions: tuple[BlurRegion, ...] = ()
    phash: str | None = None  # 16 hex digits of the image moderation looked at


class ReviewDecision(Section):
    """``reviewed``: a person's decision, which wins over moderation's."""

    decision: Literal["approved", "rejected"] | None = None
    reviewer: str | None = None
    decided_at: str | None = None
    reason: str | None = None
    note: str | None = None
    moderation_reasons: tuple[str, ...] = ()


class PublishedVariant(BaseModel):
    """A variant as the publication lists it (`models.Variant`, as the table returns it)."""

    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)

    key: str
    width: int | None = None
    height: int | None = None
    format: str | None = None
    content_type: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    quality: int | None = None
    score: float | None = None
    content_credentials: dict[str, Any] | None = None


class Publication(Section):
    """``published``: the variant set, its manifest and the public source on-demand renders use."""

    manifest_key: str | None = None
    provenance_token_key: str | None = None
    public_source_key: str | None = None
    width: int | None = None
    height: int | None = None
    variants: tuple[PublishedVariant, ...] = ()


class Rejection(Section):
    """``rejected``: which stage refused it (the reason is the record's ``reason``)."""

    stage: str | None = None
    detail: str | None = None


class Takedown(Section):
    """``taken_down``: who withdrew it and what it was before."""

    by: str | None = None
    previous_status: AssetStatus | None = None
    paths: tuple[str, ...] = ()
    phash: str | None = None


class AssetRecord(BaseModel):
    """An asset's current state: its status, the copies of its creation every reader needs,
    and one section per kind of fact (None until such a fact applied).

    Parsed from the table's current-state item (`from_item`); the store's own attributes
    (keys, index attributes) are ignored.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    asset_id: str
    status: AssetStatus
    created_at: str | None = None
    updated_at: str | None = None
    reason: str | None = None  # of the last fact that gave one
    requester: str | None = None
    visibility: Visibility | None = None
    original_key: str | None = None
    content_sha256: str | None = None
    source: Literal["generated", "upload"] | None = None
    review_since: str | None = None
    creation: Creation | None = None
    moderation: Moderation | None = None
    review_decision: ReviewDecision | None = None
    publication: Publication | None = None
    rejection: Rejection | None = None
    takedown: Takedown | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any], asset_id: str | None = None) -> AssetRecord:
        """The record from the deserialised current-state item (``asset_id`` if it names none)."""
        found = item.get("asset_id") or str(item.get("pk", "")).removeprefix("ASSET#") or asset_id
        return cls.model_validate({**item, "asset_id": found})

    @classmethod
    def of(cls, value: AssetRecord | Mapping[str, Any] | None, asset_id: str | None = None) -> AssetRecord | None:
        """``value`` as a record: a record as it is, an item parsed, None (no record) as None."""
        if value is None or isinstance(value, AssetRecord):
            return value
        return cls.from_item(value, asset_id)

    def item(self) -> dict[str, Any]:
        """The record as the current-state item holds it (plain JSON values)."""
        return self.model_dump(mode="json", exclude_unset=True)

    @property
    def delivered_visibility(self) -> Visibility:
        """Public only when recorded public: a missing or unknown visibility is private."""
        return "public" if self.visibility == "public" else "private"

    @property
    def variants(self) -> tuple[PublishedVariant, ...]:
        return self.publication.variants if self.publication else ()

    @property
    def blur_regions(self) -> tuple[BlurRegion, ...]:
        return self.moderation.blur_regions if self.moderation else ()

    @property
    def taken_down_after_publication(self) -> bool:
        """Taken down once it was published: it was out, so saying it is gone leaks nothing."""
        return self.status == "taken_down" and self.takedown is not None and self.takedown.previous_status == "published"


class RecordSource(Protocol):
    """What readers need of the store: the current-state item (the store, or a test's fake)."""

    def asset(self, asset_id: str) -> Mapping[str, Any] | None: ...


def read_record(source: RecordSource, asset_id: str) -> AssetRecord | None:
    """The typed current record of ``asset_id`` from ``source``, or None."""
    return AssetRecord.of(source.asset(asset_id), asset_id)


# -- the rule ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What an event writes on the record if the asset's status is one of ``expected``.

    ``sets`` (attribute -> plain JSON value) and ``removes`` are the record's attributes;
    ``expected`` is empty for an event that can never apply (its kind cannot carry its status).
    """

    kind: EventKind
    to: AssetStatus
    section: str
    expected: frozenset[AssetStatus | None]
    sets: Mapping[str, Any]
    removes: tuple[str, ...]

    def allowed_from(self, status: AssetStatus | None) -> bool:
        return status in self.expected


Outcome = Literal["applied", "duplicate", "early", "out_of_order", "refused"]


@dataclass(frozen=True)
class Transition:
    """What ``change`` does to a known current record.

    ``outcome``: ``applied`` (``after`` is the new record), ``early`` (not allowed from the
    current status yet, but facts still to come can lead there: retry it), ``out_of_order``
    (not allowed from the current status, and never will be: the asset has moved past it),
    ``refused`` (never allowed: the kind cannot carry the status) or
    ``duplicate`` (the fact is already recorded); in all but ``applied``, ``after`` is the
    current record unchanged. ``reason`` says why it did not apply.
    """

    outcome: Outcome
    change: Change
    before: AssetStatus | None
    after: AssetRecord | None
    reason: str | None = None

    @property
    def applied(self) -> bool:
        return self.outcome == "applied"


def _plain(value: Any) -> Any:
    """``value`` as the table keeps it: JSON (dates as ISO text, tuples as lists)."""
    return json.loads(json.dumps(value, default=str))


def change(event: ProvenanceEvent) -> Change:
    """What ``event`` writes, and the statuses it may follow; independent of the current state."""
    at = event.at.isoformat()
    sets: dict[str, Any] = {
        "status": event.status,
        "updated_at": at,
        "asset_id": event.asset_id,
        SECTION_BY_KIND[event.kind]: _plain({**event.data, "actor": event.actor, "at": at}),
    }
    if event.reason:
        sets["reason"] = event.reason
    if event.kind == "created":
        sets["created_at"] = at
        sets |= {name: _plain(event.data[name]) for name in TOP_LEVEL_FROM_CREATION if event.data.get(name) is not None}
    removes: tuple[str, ...] = ()
    if event.status == "review":
        sets[REVIEW_SINCE] = at
    else:
        removes = (REVIEW_SINCE,)
    consistent = event.status in STATUSES_BY_KIND[event.kind]
    return Change(
        kind=event.kind,
        to=event.status,
        section=SECTION_BY_KIND[event.kind],
        expected=ALLOWED_PREDECESSORS[event.status] if consistent else frozenset(),
        sets=sets,
        removes=removes,
    )


def transition(current: AssetRecord | None, event: ProvenanceEvent, *, recorded: bool = False) -> Transition:
    """What ``event`` does to ``current`` (None: no record yet).

    ``recorded``: the fact is already in the audit trail (its event id was seen), which makes
    it a duplicate whatever the state: a redelivered fact never applies twice.
    """
    if current is not None and current.asset_id != event.asset_id:
        raise ValueError(f"a fact about {event.asset_id} applied to the record of {current.asset_id}")
    rule = change(event)
    before = current.status if current is not None else None
    if recorded:
        return Transition("duplicate", rule, before, current, "already_recorded")
    if not rule.expected:
        return Transition("refused", rule, before, current, f"{event.kind}_cannot_make_{event.status}")
    if not rule.allowed_from(before):
        outcome: Outcome = "early" if may_follow_later(before, rule) else "out_of_order"
        return Transition(outcome, rule, before, current, f"{event.status}_cannot_follow_{before or 'nothing'}")
    item = {**(current.item() if current is not None else {}), **rule.sets}
    for name in rule.removes:
        item.pop(name, None)
    return Transition("applied", rule, before, AssetRecord.from_item(item))


def reachable_from(status: AssetStatus | None) -> frozenset[AssetStatus]:
    """Every status an asset in ``status`` can still reach by allowed transitions."""
    reached: set[AssetStatus] = set()
    frontier: list[AssetStatus | None] = [status]
    while frontier:
        here = frontier.pop()
        for target, predecessors in ALLOWED_PREDECESSORS.items():
            if here in predecessors and target not in reached:
                reached.add(target)
                frontier.append(target)
    return frozenset(reached)


def may_follow_later(status: AssetStatus | None, rule: Change) -> bool:
    """Whether a fact that cannot follow ``status`` now can once facts still to come apply:
    a "moderated" fact before its "created", a "published" before its approval. Such a fact
    is retried, never kept as unapplied (a later copy would be a "duplicate" and the asset
    would stay behind). A fact the asset has moved past (anything after a takedown) is not."""
    return bool(rule.expected & reachable_from(status))


def replay(events: list[ProvenanceEvent] | tuple[ProvenanceEvent, ...]) -> AssetRecord | None:
    """The record ``events`` leave, delivered in this order (redeliveries by event id are no-ops)."""
    current: AssetRecord | None = None
    seen: set[str] = set()
    for event in events:
        current = transition(current, event, recorded=event.event_id in seen).after
        seen.add(event.event_id)
    return current
