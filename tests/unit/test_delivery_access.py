"""delivery.access.refusal: what sign-url's answer tells a viewer about an asset it may not have (issue 10, 8b)."""

from __future__ import annotations

import pytest

from imagepipe.delivery.access import Refusal, Viewer, refusal

OWNER = Viewer(id="bob")
READER = Viewer(id="sam", roles=frozenset({"moderator"}))
STRANGERS = {"anonymous": Viewer(), "another viewer": Viewer(id="mallory"),
             "a role that reads nothing": Viewer(id="mallory", roles=frozenset({"viewer"}))}
MISSING = refusal(None, Viewer())


def asset(visibility: str, status: str, previous_status: str | None = None) -> dict:
    record = {"asset_id": "a", "requester": "bob", "visibility": visibility, "status": status}
    if status == "published":
        record["publication"] = {"variants": [{"key": f"{visibility}/a/w320.webp"}]}
    if previous_status:
        record["takedown"] = {"previous_status": previous_status}
        record["publication"] = {"variants": [{"key": f"{visibility}/a/w320.webp"}]} if previous_status == "published" else {}
    return record


UNDELIVERED = [
    ("public", "created", None), ("public", "review", None), ("public", "approved", None), ("public", "rejected", None),
    ("public", "taken_down", "review"), ("public", "taken_down", "created"),
    ("private", "created", None), ("private", "review", None), ("private", "rejected", None),
    ("private", "taken_down", "published"), ("private", "taken_down", "review"), ("private", "published", None),
]


@pytest.mark.parametrize("stranger", STRANGERS.values(), ids=STRANGERS.keys())
@pytest.mark.parametrize(("visibility", "status", "previous"), UNDELIVERED)
def test_strangers_get_the_missing_assets_404_for_anything_they_could_not_see(visibility, status, previous, stranger):
    """GIVEN an asset that was never out in public (private, or public but not yet or never
    published) WHEN neither its requester nor a reader role asks THEN the answer is the very
    404 an id that does not exist gets: nothing tells them the asset exists."""
    assert MISSING == Refusal(404, "no such asset")
    assert refusal(asset(visibility, status, previous), stranger) == MISSING


@pytest.mark.parametrize("insider", [OWNER, READER], ids=["requester", "reader role"])
@pytest.mark.parametrize(("visibility", "status", "previous", "expected"), [
    ("public", "review", None, 409), ("private", "approved", None, 409), ("public", "rejected", None, 409),
    ("public", "taken_down", "review", 410), ("private", "taken_down", "published", 410),
])
def test_the_requester_and_reader_roles_are_told_why(visibility, status, previous, expected, insider):
    """GIVEN an undelivered asset WHEN its requester or a reader role asks THEN they get the
    informative answer: 409 naming the status, or 410 once taken down."""
    refused = refusal(asset(visibility, status, previous), insider)
    assert refused is not None and refused.status == expected
    if expected == 409:
        assert f"(status: {status})" in refused.message


@pytest.mark.parametrize("viewer", [OWNER, READER, *STRANGERS.values()])
def test_what_was_public_stays_public(viewer):
    """GIVEN a published public asset THEN anyone gets its URLs; once taken down, anyone is told
    410: it was public, so saying it is gone leaks nothing."""
    assert refusal(asset("public", "published"), viewer) is None
    assert refusal(asset("public", "taken_down", "published"), viewer) == Refusal(410, "asset was taken down")
