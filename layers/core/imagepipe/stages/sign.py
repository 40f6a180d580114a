"""sign-url: short-lived CloudFront URLs (or cookies) for the variants of an asset the caller may see.

Public variants need no signature and get plain URLs. Private ones are signed with the
current key of the key ring, in one of two ways:

* ``canned`` (default): one signature per URL, each valid for exactly that URL;
* ``wildcard``: one custom policy over ``https://{cdn}/private/{asset_id}/*``, so a single RSA
  signature covers the manifest and every variant (a whole ``srcset``), and the same
  policy doubles as signed cookies for galleries.

A start time (``not_before``) or a viewer IP range turn a canned request into per-URL custom
policies (CloudFront's canned policy has neither).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Literal

from ..errors import RequestRefused
from ..delivery.access import Viewer, refusal
from ..delivery.responsive import picture as responsive_picture
from ..ids import is_asset_id
from ..keys import asset_prefix
from ..lifecycle import AssetRecord, read_record
from ..models import utc_now
from ..signed_urls import SignedPolicy, UrlSigner, parse_time

Policy = Literal["canned", "wildcard"]
MIN_TTL_SECONDS = 30
MAX_TTL_SECONDS = 86_400  # key rotation keeps a retired key trusted at least this long
MAX_START_DELAY = timedelta(days=7)
MAX_BATCH = 50
MAX_ID_LENGTH = 64  # an asset id has 36 characters; longer strings are not worth echoing back
_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"", "0", "false", "no"})


class SigningRefused(RequestRefused):
    """sign-url refuses: 400 for a malformed request, 404/409/410 as `delivery.access` decides."""


@dataclass(frozen=True)
class SigningOptions:
    policy: Policy = "canned"
    ttl_seconds: int | None = None
    not_before: datetime | None = None
    ip_range: str | None = None
    cookies: bool = False
    picture: bool = False  # add the responsive <picture> data (delivery.responsive) for apps

    @classmethod
    def parse(cls, values: Mapping[str, Any] | None) -> SigningOptions:
        """Options from a query string (strings) or a JSON body (any JSON value); anything
        invalid, of any type, is a 400."""
        values = values or {}
        policy = values.get("policy") or "canned"
        if policy not in ("canned", "wildcard"):
            raise SigningRefused(400, "policy must be 'canned' or 'wildcard'")
        ttl = values.get("ttl")
        try:
            if isinstance(ttl, bool):
                raise TypeError("a boolean is not a duration")
            ttl_seconds = None if ttl in (None, "") else int(ttl)
        except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
            raise SigningRefused(400, "ttl must be a number of seconds") from None
        if ttl_seconds is not None and not MIN_TTL_SECONDS <= ttl_seconds <= MAX_TTL_SECONDS:
            raise SigningRefused(400, f"ttl must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS} seconds")
        try:
            if isinstance(values.get("not_before"), bool):
                raise TypeError("a boolean is not a time")
            not_before = parse_time(values.get("not_before"))
        except (TypeError, ValueError, OverflowError, OSError):  # past the platform's time_t, or year 9999
            raise SigningRefused(400, "not_before must be an ISO 8601 time or epoch seconds") from None
        ip_range = values.get("ip")
        if ip_range in (None, ""):
            ip_range = None
        else:
            try:
                if not isinstance(ip_range, str):
                    raise TypeError("an IP range is written as a string")
                ip_range = str(ipaddress.ip_network(ip_range, strict=False))
            except (TypeError, ValueError):
                raise SigningRefused(400, "ip must be an IP address or CIDR range") from None
        cookies, picture = (_flag(values.get(name), name) for name in ("cookies", "picture"))
        if cookies and policy != "wildcard":
            raise SigningRefused(400, "signed cookies use the wildcard policy: pass policy=wildcard")
        return cls(policy, ttl_seconds, not_before, ip_range, cookies, picture)  # type: ignore[arg-type]


def _flag(value: Any, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise SigningRefused(400, f"{name} must be true or false")


def _viewer(viewer: Viewer | str | None) -> Viewer:
    return viewer if isinstance(viewer, Viewer) else Viewer(id=viewer)


def signed_variant_urls(
    asset_id: str,
    viewer: Viewer | str | None,
    *,
    store: Any,
    signer: UrlSigner,
    cdn_domain: str,
    ttl_seconds: int,
    options: SigningOptions | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every URL a page needs for one published asset (its manifest and all its variants).

    ``store`` is anything with ``asset(asset_id) -> META item | None`` (the provenance store),
    read as the typed record. Raises `SigningRefused` for anything but an approved,
    published, visible asset.
    """
    if not is_asset_id(asset_id):
        raise SigningRefused(400, "not an asset id")
    record = read_record(store, asset_id)
    refused = refusal(record, _viewer(viewer))
    if refused is not None:
        raise SigningRefused(refused.status, refused.message)
    return _urls(record, asset_id, signer, cdn_domain, ttl_seconds, options or SigningOptions(), now or utc_now())


def signed_gallery(
    asset_ids: Iterable[str],
    viewer: Viewer | str | None,
    *,
    store: Any,
    signer: UrlSigner,
    cdn_domain: str,
    ttl_seconds: int,
    options: SigningOptions | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """URLs for many assets in one call; each asset succeeds or carries its own 4xx.

    ``asset_ids`` comes from a JSON body: anything but strings of at most `MAX_ID_LENGTH`
    characters refuses the whole batch (400).
    """
    listed = None if isinstance(asset_ids, str | bytes) else list(asset_ids)
    if listed is None or not all(isinstance(i, str) and len(i) <= MAX_ID_LENGTH for i in listed):
        raise SigningRefused(400, f"asset_ids must list asset ids: strings of at most {MAX_ID_LENGTH} characters")
    ids = list(dict.fromkeys(listed))
    if not ids or len(ids) > MAX_BATCH:
        raise SigningRefused(400, f"asset_ids must list 1 to {MAX_BATCH} ids")
    now = now or utc_now()
    results = []
    for asset_id in ids:
        try:
            results.append(
                signed_variant_urls(asset_id, viewer, store=store, signer=signer, cdn_domain=cdn_domain,
                                    ttl_seconds=ttl_seconds, options=options, now=now)
            )
        except SigningRefused as error:
            results.append({"asset_id": asset_id, "status": error.status, "message": error.message})
    return {"assets": results}


def _urls(
    record: AssetRecord,
    asset_id: str,
    signer: UrlSigner,
    cdn_domain: str,
    default_ttl: int,
    options: SigningOptions,
    now: datetime,
) -> dict[str, Any]:
    publication = record.publication  # refusal() lets only a record with published variants through
    visibility = record.visibility
    private = visibility != "public"
    base = f"https://{cdn_domain}/"
    keys = [publication.manifest_key, *(v.key for v in publication.variants)]
    result: dict[str, Any] = {
        "asset_id": asset_id,
        "visibility": visibility,
        "width": publication.width,
        "height": publication.height,
        "signed": private,
    }
    if not private:
        urls = [base + key for key in keys]
    else:
        start = options.not_before
        if start is not None and start - now > MAX_START_DELAY:
            raise SigningRefused(400, "not_before is more than 7 days away")
        expires_at = max(start or now, now) + timedelta(seconds=options.ttl_seconds or default_ttl)
        result |= {
            "key_id": signer.key_id,
            "expires_at": expires_at.isoformat(),
            "not_before": start.isoformat() if start else None,
            "ip_range": options.ip_range,
        }
        if options.policy == "wildcard":
            resource = f"{base}{asset_prefix(visibility, asset_id)}*"
            signed = signer.sign_policy(resource, expires_at, not_before=start, ip_range=options.ip_range)
            result |= {"policy": "wildcard", "resource": resource, "query": signed.query}
            if options.cookies:
                result["cookies"] = _cookies(signed, f"/{asset_prefix(visibility, asset_id)}", expires_at)
                urls = [base + key for key in keys]  # the cookies authorise them
            else:
                suffix = "?" + signed.query
                urls = [base + key + suffix for key in keys]
        elif start is None and options.ip_range is None:
            result["policy"] = "canned"
            urls = [signer.sign(base + key, expires_at) for key in keys]
        else:
            result["policy"] = "custom"
            urls = [
                signer.sign_policy(base + key, expires_at, not_before=start, ip_range=options.ip_range).apply(base + key)
                for key in keys
            ]
    result["manifest_url"] = urls[0]
    result["variants"] = [
        {
            "width": v.width,
            "height": v.height,
            "format": v.format,
            "content_type": v.content_type,
            "bytes": v.bytes,
            "url": url,
        }
        for v, url in zip(publication.variants, urls[1:], strict=True)
    ]
    if options.picture:
        result["picture"] = responsive_picture(result["variants"]).to_json()
    return result


def _cookies(signed: SignedPolicy, path: str, expires_at: datetime) -> list[dict[str, Any]]:
    """The three CloudFront cookies, scoped to the asset's path so many assets' cookies coexist.

    No ``Domain``: the application sets the cookies on its own response for a domain shared
    with the CDN's alternate domain name (cookies for *.cloudfront.net cannot be set by it).
    """
    expires = format_datetime(expires_at.astimezone(UTC), usegmt=True)
    return [
        {
            "name": name,
            "value": value,
            "path": path,
            "expires": expires_at.isoformat(),
            "set_cookie": f"{name}={value}; Path={path}; Expires={expires}; Secure; HttpOnly; SameSite=Lax",
        }
        for name, value in signed.cookies().items()
    ]
