"""The one owner of the S3 key layout and of the caching rules that go with it.

originals bucket (private, never behind the CDN)::

    uploads/{upload_id}                      one presigned POST each (upload-url), expires after 7 days;
                                             any other key under uploads/ is refused
    originals/{asset_id}.{ext}               canonical originals, immutable
    public-sources/{asset_id}                the one source of every public pixel: the original with
                                             its faces blurred (C2PA-signed) or, with none, as it is

variants bucket (the CDN's origin)::

    {public|private}/{asset_id}/{width}w.{hash16}.{ext}   immutable, content-hashed
    {public|private}/{asset_id}/manifest.json             the asset's variant list
    {public|private}/{asset_id}/c2pa/{manifest_id}.c2pa   a variant's remote C2PA manifest, immutable
    public/{asset_id}/provenance.json                     the public provenance token (signed)
    public/{asset_id}/t/{width}w.{ext}                    on-demand variant (transform origin), immutable

An on-demand variant's key is the normalised request path the CloudFront Function produces
(``/t/{id}?w=500`` -> ``public/{id}/t/640w.avif``), not a content hash: the origin group's S3
member must find it from the request alone, so the second miss is a plain S3 hit. It is
still immutable: asset ids and originals never change, and the transform writes create-only.
Living under ``public/{asset_id}/`` it is withdrawn and invalidated with the rest of the asset.
"""

from __future__ import annotations

import re

from .errors import RejectedInputError
from .models import Visibility

UPLOADS_PREFIX = "uploads/"
ORIGINALS_PREFIX = "originals/"
PUBLIC_SOURCES_PREFIX = "public-sources/"
VISIBILITY_PREFIXES: tuple[Visibility, ...] = ("public", "private")

IMMUTABLE_CACHE_CONTROL: dict[Visibility, str] = {
    "public": "public, max-age=31536000, immutable",
    # CloudFront still caches these (the private cache policy has MinTTL > 0); shared
    # caches between the viewer and CloudFront must not.
    "private": "private, max-age=31536000, immutable",
}
MANIFEST_CACHE_CONTROL: dict[Visibility, str] = {
    "public": "public, max-age=300",
    "private": "private, max-age=300",
}

VARIANT_EXTENSIONS: tuple[str, ...] = ("avif", "webp", "jpg", "png")
"""File extensions of derivative variants: those of `imaging.formats.OUTPUT_FORMATS` (a test
keeps them equal; this module stays free of the imaging package and its encoders)."""
_EXT = "|".join(VARIANT_EXTENSIONS)
_TRANSFORM_KEY = re.compile(rf"^public/(?P<asset_id>[0-9a-f-]{{36}})/t/(?P<width>[1-9]\d{{0,4}})w\.(?P<ext>{_EXT})$")
UPLOAD_ID_REGEX = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
"""An upload id (a random UUIDv4, lower case), unanchored."""
_UPLOAD_KEY = re.compile(rf"^uploads/(?P<upload_id>{UPLOAD_ID_REGEX})$")
_ORIGINAL_KEY = re.compile(r"^originals/(?P<asset_id>[0-9a-f-]{36})\.(?P<ext>[a-z0-9]{2,5})$")
_VARIANT_KEY = re.compile(
    r"^(?P<visibility>public|private)/(?P<asset_id>[0-9a-f-]{36})/"
    rf"(?:(?P<width>\d+)w\.(?P<hash>[0-9a-f]{{16}})\.(?P<ext>{_EXT})|manifest\.json"
    r"|c2pa/(?P<manifest_id>[0-9a-f-]{36})\.c2pa|provenance\.json)$"
)


def original_key(asset_id: str, extension: str) -> str:
    return f"{ORIGINALS_PREFIX}{asset_id}.{extension}"


def asset_id_from_original_key(key: str) -> str:
    match = _ORIGINAL_KEY.match(key)
    if not match:
        raise RejectedInputError("unexpected_key", f"{key!r} is not an originals/{{asset_id}}.{{ext}} key")
    return match["asset_id"]


def public_source_key(asset_id: str) -> str:
    """What the ladder's public variants and every on-demand render are derived from."""
    return f"{PUBLIC_SOURCES_PREFIX}{asset_id}"


def is_upload_key(key: str) -> bool:
    return key.startswith(UPLOADS_PREFIX) and not key.endswith("/")


def upload_key(upload_id: str) -> str:
    """The one key a presigned POST for ``upload_id`` may write."""
    return f"{UPLOADS_PREFIX}{upload_id}"


def upload_id_from_key(key: str) -> str | None:
    """The upload id a key under uploads/ was issued for, or None for any other key."""
    match = _UPLOAD_KEY.match(key)
    return match["upload_id"] if match else None


def asset_prefix(visibility: Visibility, asset_id: str) -> str:
    return f"{visibility}/{asset_id}/"


def variant_key(visibility: Visibility, asset_id: str, width: int, sha256: str, extension: str) -> str:
    return f"{asset_prefix(visibility, asset_id)}{width}w.{sha256[:16]}.{extension}"


def manifest_key(visibility: Visibility, asset_id: str) -> str:
    return f"{asset_prefix(visibility, asset_id)}manifest.json"


def c2pa_sidecar_key(visibility: Visibility, asset_id: str, manifest_id: str) -> str:
    """Where a variant's remote C2PA manifest lives: named by the manifest, never rewritten."""
    return f"{asset_prefix(visibility, asset_id)}c2pa/{manifest_id}.c2pa"


def provenance_token_key(asset_id: str) -> str:
    """The signed public provenance token; only public assets have one."""
    return f"{asset_prefix('public', asset_id)}provenance.json"


def transform_key(asset_id: str, width: int, extension: str) -> str:
    """Where the transform origin stores an on-demand variant (public assets only)."""
    return f"{asset_prefix('public', asset_id)}t/{width}w.{extension}"


def parse_transform_key(key: str) -> dict[str, str] | None:
    """``asset_id``, ``width`` and ``ext`` of an on-demand variant key, or None."""
    match = _TRANSFORM_KEY.match(key)
    return match.groupdict() if match else None


def parse_variant_key(key: str) -> dict[str, str] | None:
    """Split a variants-bucket key into its parts, or None when it is not one of ours."""
    match = _VARIANT_KEY.match(key)
    return {k: v for k, v in match.groupdict().items() if v is not None} if match else None
