"""The provenance table's writer: facts recorded once, state moved only along allowed transitions."""

from __future__ import annotations

from imagepipe.adapters.provenance_store import ProvenanceStore
from imagepipe.models import ProvenanceEvent


def store(stack) -> ProvenanceStore:
    return ProvenanceStore(stack.client("dynamodb"), stack.function("provenance").environment["PROVENANCE_TABLE"])


def fact(kind, status, suffix="", **data):
    return ProvenanceEvent(event_id=f"a1:{kind}{suffix}", asset_id="a1", kind=kind, actor="test", status=status, data=data)


def test_a_fact_is_recorded_once_however_often_it_is_delivered(stack):
    """GIVEN the same fact three times THEN one event item and one state change."""
    table = store(stack)
    created = fact("created", "created", requester="alice", visibility="public", content_sha256="ab" * 32)
    assert [table.apply(created) for _ in range(3)] == ["applied", "duplicate", "duplicate"]
    assert len(table.history("a1")) == 1
    assert table.asset("a1")["requester"] == "alice"


def test_state_only_moves_forward(stack):
    """GIVEN a published asset that was taken down WHEN a late 'published' or 'approved' fact
    arrives THEN it is kept in the audit trail (applied=false) but the asset stays taken down."""
    table = store(stack)
    table.apply(fact("created", "created", requester="a", visibility="public"))
    table.apply(fact("moderated", "approved"))
    table.apply(fact("published", "published", variants=[{"key": "public/a1/320w.x.avif", "sha256": "cd" * 32, "width": 320}]))
    table.apply(fact("taken_down", "taken_down", reason="dmca"))
    assert table.apply(fact("published", "published", suffix="-late", variants=[])) == "out_of_order"
    assert table.apply(fact("moderated", "approved", suffix="-late")) == "out_of_order"
    assert table.asset("a1")["status"] == "taken_down"
    history = table.history("a1")
    assert [e["kind"] for e in history if e["applied"]] == ["created", "moderated", "published", "taken_down"]
    assert sum(not e["applied"] for e in history) == 2


def test_nothing_is_published_before_approval(stack):
    """GIVEN an asset still waiting for review WHEN a 'published' fact arrives THEN it does not
    apply and nothing is written ("early": the provenance function retries it, and it ends in
    the DLQ unless a reviewer approves first)."""
    table = store(stack)
    table.apply(fact("created", "created"))
    table.apply(fact("moderated", "review"))
    assert table.apply(fact("published", "published", variants=[])) == "early"
    assert table.asset("a1")["status"] == "review"
    assert [e["kind"] for e in table.history("a1")] == ["created", "moderated"]


def test_a_fact_ahead_of_its_predecessor_applies_once_they_have(stack):
    """GIVEN a 'moderated' fact delivered before its asset's 'created' (the created fact's
    write failed and is being retried)
    WHEN it arrives first, then 'created', then the moderated fact again (the retry)
    THEN the first delivery writes nothing and the retry applies: the asset ends approved,
    where before the early copy was kept as unapplied and its retry was a 'duplicate'."""
    table = store(stack)
    moderated = fact("moderated", "approved")
    assert table.apply(moderated) == "early"
    assert table.apply(fact("created", "created")) == "applied"
    assert table.apply(moderated) == "applied"
    assert table.asset("a1")["status"] == "approved"
    assert [e["applied"] for e in table.history("a1")] == [True, True]


def test_variants_are_found_by_content_hash(stack):
    """GIVEN a published asset THEN each variant's sha256 leads back to its asset through the GSI."""
    table = store(stack)
    table.apply(fact("created", "created", content_sha256="00" * 32))
    table.apply(fact("moderated", "approved"))
    table.apply(fact("published", "published", variants=[
        {"key": "public/a1/320w.a.avif", "sha256": "11" * 32, "width": 320},
        {"key": "public/a1/640w.b.avif", "sha256": "22" * 32, "width": 640},
    ]))
    (hit,) = table.find_by_content_hash("22" * 32)
    assert (hit["asset_id"], hit["key"], hit["width"]) == ("a1", "public/a1/640w.b.avif", 640)
    assert table.find_by_content_hash("00" * 32)[0]["sk"] == "META"
    assert table.find_by_content_hash("99" * 32) == []


def test_a_re_signed_original_replaces_the_recorded_hash(stack):
    """GIVEN a generation retried after a crash between its 'created' fact and the S3 write
    WHEN the retry's fact (new signature, new hash, new event id) arrives THEN the current
    state carries the new hash, and the audit trail keeps both."""
    table = store(stack)
    table.apply(fact("created", "created", suffix=":aaaa", content_sha256="aa" * 32))
    assert table.apply(fact("created", "created", suffix=":bbbb", content_sha256="bb" * 32)) == "applied"
    assert table.asset("a1")["content_sha256"] == "bb" * 32
    assert len(table.history("a1")) == 2
    table.apply(fact("moderated", "approved"))
    assert table.apply(fact("created", "created", suffix=":cccc")) == "out_of_order"
