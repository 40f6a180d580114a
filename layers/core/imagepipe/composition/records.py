"""The provenance table (its single writer is the provenance function; most functions read it)."""

from __future__ import annotations

from functools import cache

from ..adapters.aws import client
from ..adapters.provenance_store import ProvenanceStore
from ..config import settings


@cache
def provenance_store() -> ProvenanceStore:
    settings().require("provenance_table")
    return ProvenanceStore(client("dynamodb"), settings().provenance_table)


def reset() -> None:
    provenance_store.cache_clear()
