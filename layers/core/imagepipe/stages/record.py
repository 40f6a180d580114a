"""provenance: the single writer of the provenance table."""

from __future__ import annotations

from ..adapters.provenance_store import ApplyResult, ProvenanceStore
from ..errors import TransientError
from ..models import ProvenanceEvent


class FactArrivedEarly(TransientError):
    """A fact whose predecessors are not applied yet (a "moderated" before its "created").

    Failing the record keeps it, and the FIFO group behind it, until they are: SQS retries it,
    and after ``maxReceiveCount`` it is in the DLQ with this reason, to redrive once its
    predecessors are."""


def record(event: ProvenanceEvent, *, store: ProvenanceStore) -> ApplyResult:
    outcome = store.apply(event)
    if outcome == "early":
        raise FactArrivedEarly(f"{event.kind} {event.status} for {event.asset_id} arrived before its predecessors")
    return outcome
