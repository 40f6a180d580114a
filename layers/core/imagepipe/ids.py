"""Asset identifiers: immutable UUIDs (RFC 9562 version 8) derived from their source.

An asset's id is a hash of what created it (requester + client request id, or the
upload's bucket, key and ETag). A redelivered SQS message or a duplicate S3 event
therefore names the same asset, so every write downstream can be conditional and a
retry after a crash between two side effects converges instead of forking the asset.
Ids carry 122 bits of SHA-256 and reveal nothing about their inputs.
"""

from __future__ import annotations

import hashlib
import re
import uuid

ASSET_ID_REGEX = r"[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
"""An asset id (UUIDv8, lower case), unanchored: for patterns that embed it."""
ASSET_ID_PATTERN = re.compile(rf"^{ASSET_ID_REGEX}$")


def derived_asset_id(*parts: str) -> str:
    digest = bytearray(hashlib.sha256("\x1f".join(("imagepipe-asset", *parts)).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(digest)))


def is_asset_id(value: str) -> bool:
    return bool(ASSET_ID_PATTERN.match(value))
