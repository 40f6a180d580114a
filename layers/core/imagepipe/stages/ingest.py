"""uploads: an object dropped under uploads/ is validated and becomes a canonical original."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..adapters.queues import Publisher
from ..adapters.storage import ObjectStore
from ..errors import RejectedInputError
from ..ids import derived_asset_id
from ..imaging.probe import inspect_image
from ..keys import is_upload_key, original_key
from ..models import REQUESTER_PATTERN, ProvenanceEvent
from . import StageResult
from .common import original_metadata, rejected_result, rejection, sha256_hex

ACTOR = "uploads"
_REQUESTER = re.compile(REQUESTER_PATTERN)


def uploader_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Who uploaded and who may see it, from the upload's x-amz-meta-* headers.

    Unknown or malformed values fall back to the safe side: anonymous and private.
    """
    requester = metadata.get("requester", "")
    visibility = metadata.get("visibility", "private")
    return {
        "requester": requester if _REQUESTER.match(requester) else "anonymous",
        "visibility": visibility if visibility in {"public", "private"} else "private",
        "model_id": metadata.get("model-id", "")[:128],
        "licence": metadata.get("licence", "")[:128],
    }


def ingest_upload(
    bucket: str,
    key: str,
    etag: str,
    *,
    store: ObjectStore,
    publisher: Publisher,
    max_bytes: int,
    max_pixels: int,
) -> StageResult:
    if not is_upload_key(key):
        raise RejectedInputError("unexpected_key", f"{key!r} is not under uploads/")
    asset_id = derived_asset_id(ACTOR, bucket, key, etag)
    facts: dict[str, object] = {"source": "upload", "upload_key": key}
    try:
        upload = store.get(bucket, key, max_bytes=max_bytes)
        facts |= uploader_metadata(upload.metadata) | {"bytes": len(upload.data)}
        info = inspect_image(upload.data, max_pixels=max_pixels, max_bytes=max_bytes)
    except RejectedInputError as error:
        if error.reason == "missing_object":
            # Already ingested (the upload is deleted last) or removed by its owner.
            return StageResult(asset_id, "skipped", error.reason, error.detail)
        publisher.record(rejection(asset_id, ACTOR, error, facts))
        return rejected_result(asset_id, error)

    target = original_key(asset_id, info.extension)
    content_sha256 = sha256_hex(upload.data)
    publisher.record(
        ProvenanceEvent(
            event_id=f"{asset_id}:created",
            asset_id=asset_id,
            kind="created",
            actor=ACTOR,
            status="created",
            data={
                **facts,
                "original_key": target,
                "content_sha256": content_sha256,
                "content_type": info.content_type,
                "width": info.width,
                "height": info.height,
                "frames": info.frames,
            },
        )
    )
    store.put(
        bucket,
        target,
        upload.data,
        content_type=info.content_type,
        metadata=original_metadata(
            asset_id=asset_id,
            requester=str(facts["requester"]),
            visibility=str(facts["visibility"]),
            source="upload",
            content_sha256=content_sha256,
            review_reasons=[],
        ),
        create_only=True,
    )
    store.delete(bucket, key)
    return StageResult(asset_id, "created")
