"""provenance: the single writer of the provenance table."""

from __future__ import annotations

from ..adapters.provenance_store import ApplyResult, ProvenanceStore
from ..models import ProvenanceEvent


def record(event: ProvenanceEvent, *, store: ProvenanceStore) -> ApplyResult:
    return store.apply(event)
