"""Who may receive an asset's delivery URLs: the one authorisation rule of sign-url.

The caller of sign-url is the application's backend (IAM on the Function URL); it names the
viewer it acts for and the viewer's roles. A viewer may see a public asset, or a private one
it requested, or any asset when it holds a reader role. Only approved, derived and not
taken-down assets are ever delivered.

Refusals are chosen so they leak nothing. Its requester and reader roles are told why an
asset is not delivered (409 with its status, 410 once taken down). Anyone else learns only
what was public: a published public asset's URLs, or that a public asset once published was
taken down (410). Every other asset, private or not yet (or never) published, is "no such
asset", the very answer for an id that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..lifecycle import AssetRecord

READER_ROLES = frozenset({"admin", "moderator"})
"""Roles that may see any asset, private or not (support staff, moderators)."""

_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Viewer:
    """The person a URL is for: their id (as the asset's ``requester``) and roles."""

    id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_headers(cls, requester: str | None, roles: str | None) -> Viewer:
        parsed = frozenset(r.strip().lower() for r in (roles or "").split(",") if r.strip())
        return cls(id=requester or None, roles=frozenset(r for r in parsed if _ROLE.match(r)))

    @property
    def reads_everything(self) -> bool:
        return bool(self.roles & READER_ROLES)


@dataclass(frozen=True)
class Refusal:
    """A clear 4xx for the caller."""

    status: int
    message: str


NO_SUCH_ASSET = Refusal(404, "no such asset")


def refusal(asset: AssetRecord | Mapping[str, Any] | None, viewer: Viewer) -> Refusal | None:
    """Why ``viewer`` may not receive URLs for ``asset`` (its provenance record), or None."""
    record = AssetRecord.of(asset)
    if record is None:
        return NO_SUCH_ASSET
    status = record.status
    if not _is_insider(record, viewer):
        if record.visibility != "public":
            return NO_SUCH_ASSET
        if status == "taken_down" and not record.taken_down_after_publication:
            return NO_SUCH_ASSET  # withdrawn before anyone outside could have seen it
        if status not in ("published", "taken_down"):
            return NO_SUCH_ASSET
    if status == "taken_down":
        return Refusal(410, "asset was taken down")
    if status != "published":
        return Refusal(409, f"asset is not approved for delivery (status: {status})")
    if not record.variants:
        return Refusal(409, "asset has no variants")
    return None


def _is_insider(asset: AssetRecord, viewer: Viewer) -> bool:
    """The asset's requester, or a reader role: told the asset's state, not just "no such asset"."""
    return viewer.reads_everything or (viewer.id is not None and asset.requester == viewer.id)
