"""uploads: an object under uploads/ that its upload ticket admits is validated and becomes a canonical original.

Whose the upload is and who may see it come only from the ticket upload-url recorded for
``uploads/{upload_id}`` (`UploadTicket`); the object's own ``x-amz-meta-*`` headers are
never read. Everything else is a recorded rejection, and the upload is deleted:

``no_upload_ticket``       a key upload-url never issued (a direct PutObject, any other key)
``upload_ticket_used``     the ticket already admitted another object (it admits one)
``upload_ticket_expired``  the object was written after the ticket (its POST) expired
``content_type_mismatch``  stored as, or made of, another type than the ticket declared
``too_large``              more bytes than the ticket allows
``upload_replaced``        overwritten before it was read; the replacement is kept and judged
                           by its own event (the first object read under a ticket claims it)

then the image checks of `inspect_image` (``truncated``, ``not_an_image``, ...).
"""

from __future__ import annotations

from datetime import datetime

from ..adapters.queues import Publisher
from ..adapters.storage import ObjectStore, StoredObject
from ..adapters.upload_tickets import UploadTickets
from ..errors import RejectedInputError
from ..ids import derived_asset_id
from ..imaging.probe import inspect_image
from ..keys import is_upload_key, original_key, upload_id_from_key
from ..models import ProvenanceEvent, UploadTicket
from . import StageResult
from .common import original_metadata, rejected_result, rejection, sha256_hex

ACTOR = "uploads"
KEPT_ON_REJECTION = frozenset({"upload_replaced"})
"""Rejections that leave the object in place: it is not the one this event is about."""


def ticket_facts(ticket: UploadTicket) -> dict[str, object]:
    """What the provenance record keeps of the ticket an upload came with."""
    return {
        "upload_id": ticket.upload_id,
        "requester": ticket.requester,
        "visibility": ticket.visibility,
        "model_id": ticket.model_id or "",
        "licence": ticket.licence or "",
        "ticket_issued_by": ticket.issued_by or "",
    }


def ticket_for(key: str, tickets: UploadTickets) -> UploadTicket:
    """The ticket upload-url issued for ``key``; raises ``no_upload_ticket`` when there is none."""
    upload_id = upload_id_from_key(key)
    ticket = tickets.get(upload_id) if upload_id else None
    if ticket is None:
        raise RejectedInputError("no_upload_ticket", f"no upload ticket was issued for {key!r}; uploads go through upload-url")
    return ticket


def admitted(
    ticket: UploadTicket, bucket: str, key: str, etag: str, *, store: ObjectStore, tickets: UploadTickets,
    max_bytes: int, now: datetime,
) -> StoredObject:
    """The object with ``etag`` at ``key``, once ``ticket`` is claimed for it and admits it.

    Whatever the object turns out to be, reading it claims the ticket: one object per ticket,
    however often the record is retried (a claim by the same object holds again).

    Raises
    ------
    RejectedInputError
        With a reason of the module docstring when the ticket does not admit the object;
        ``missing_object`` when the object is gone (already ingested, or deleted).
    """
    try:
        upload = store.get(bucket, key, max_bytes=max_bytes)
    except RejectedInputError as error:
        if error.reason == "too_large":  # too large to read, still the ticket's one object
            tickets.claim(ticket.upload_id, etag, now=now)
        raise
    if upload.etag != etag:
        raise RejectedInputError("upload_replaced", f"{key!r} was overwritten before it was read (now ETag {upload.etag})")
    if not tickets.claim(ticket.upload_id, etag, now=now):
        raise RejectedInputError("upload_ticket_used", f"upload {ticket.upload_id} already admitted another object")
    if len(upload.data) > ticket.max_bytes:
        raise RejectedInputError("too_large", f"{len(upload.data):,} bytes, the ticket allows {ticket.max_bytes:,}")
    written = upload.last_modified or now
    if written > ticket.expires_at:
        raise RejectedInputError("upload_ticket_expired", f"written {written.isoformat()}, the ticket expired {ticket.expires_at.isoformat()}")
    stored_as = upload.content_type.split(";")[0].strip().lower()
    if stored_as != ticket.content_type:
        raise RejectedInputError("content_type_mismatch", f"stored as {stored_as!r}, the ticket declared {ticket.content_type!r}")
    return upload


def ingest_upload(
    bucket: str,
    key: str,
    etag: str,
    *,
    store: ObjectStore,
    tickets: UploadTickets,
    publisher: Publisher,
    max_bytes: int,
    max_pixels: int,
    now: datetime,
) -> StageResult:
    """Turn the upload at ``key`` (the object with ``etag``) into a canonical original, or record why not.

    Parameters
    ----------
    bucket, key, etag : str
        The object an S3 event named.
    store, tickets, publisher : ObjectStore, UploadTickets, Publisher
        S3, the upload tickets and the provenance queue.
    max_bytes, max_pixels : int
        The deployment's limits (a ticket's own size limit is never above ``max_bytes``).
    now : datetime
        The current time (timezone-aware).

    Returns
    -------
    StageResult
        ``created``, ``rejected`` (with its reason) or ``skipped`` when the object is gone.

    Raises
    ------
    RejectedInputError
        ``unexpected_key`` for a key outside uploads/ (the record fails alone).
    """
    if not is_upload_key(key):
        raise RejectedInputError("unexpected_key", f"{key!r} is not under uploads/")
    asset_id = derived_asset_id(ACTOR, bucket, key, etag)
    facts: dict[str, object] = {"source": "upload", "upload_key": key}
    try:
        ticket = ticket_for(key, tickets)
        facts |= ticket_facts(ticket)
        upload = admitted(ticket, bucket, key, etag, store=store, tickets=tickets, max_bytes=max_bytes, now=now)
        facts["bytes"] = len(upload.data)
        info = inspect_image(upload.data, max_pixels=max_pixels, max_bytes=ticket.max_bytes)
        if info.content_type != ticket.content_type:
            raise RejectedInputError("content_type_mismatch", f"the bytes are {info.content_type}, the ticket declared {ticket.content_type}")
    except RejectedInputError as error:
        if error.reason == "missing_object":
            # Already ingested (the upload is deleted last) or removed by its owner.
            return StageResult(asset_id, "skipped", error.reason, error.detail)
        publisher.record(rejection(asset_id, ACTOR, error, facts))
        if error.reason not in KEPT_ON_REJECTION:
            store.delete(bucket, key)
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
            requester=ticket.requester,
            visibility=ticket.visibility,
            source="upload",
            content_sha256=content_sha256,
            review_reasons=[],
        ),
        create_only=True,
    )
    store.delete(bucket, key)
    return StageResult(asset_id, "created")
