"""sign-url: short-lived CloudFront URLs for the variants of an asset the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..adapters.provenance_store import ProvenanceStore
from ..ids import is_asset_id
from ..models import utc_now
from ..signed_urls import UrlSigner


@dataclass(frozen=True)
class SigningRefused(Exception):
    """The caller gets a clear 4xx: ``status`` and a message that leaks nothing private."""

    status: int
    message: str


def signed_variant_urls(
    asset_id: str,
    requester: str | None,
    *,
    store: ProvenanceStore,
    signer: UrlSigner,
    cdn_domain: str,
    ttl_seconds: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """URLs for every variant of a published asset.

    Private assets are signed and only for their requester; another caller is told the
    asset does not exist rather than that it is someone else's. Public variants need no
    signature and get plain URLs.
    """
    if not is_asset_id(asset_id):
        raise SigningRefused(400, "not an asset id")
    asset = store.asset(asset_id)
    if asset is None or (asset.get("visibility") != "public" and asset.get("requester") != requester):
        raise SigningRefused(404, "no such asset")
    status = asset.get("status")
    if status == "taken_down":
        raise SigningRefused(410, "asset was taken down")
    if status != "published":
        raise SigningRefused(409, f"asset is not approved for delivery (status: {status})")

    publication = asset.get("publication", {})
    now = now or utc_now()
    expires_at = now + timedelta(seconds=ttl_seconds)
    private = asset.get("visibility") != "public"

    def url_for(key: str) -> str:
        url = f"https://{cdn_domain}/{key}"
        return signer.sign(url, expires_at) if private else url

    return {
        "asset_id": asset_id,
        "visibility": asset.get("visibility"),
        "signed": private,
        "expires_at": expires_at.isoformat() if private else None,
        "manifest_url": url_for(publication["manifest_key"]),
        "variants": [
            {
                "width": v["width"],
                "height": v["height"],
                "format": v["format"],
                "content_type": v["content_type"],
                "bytes": v["bytes"],
                "url": url_for(v["key"]),
            }
            for v in publication.get("variants", [])
        ],
    }
