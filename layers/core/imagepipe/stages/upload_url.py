"""upload-url: the one way in for uploads, and the ticket the uploads stage trusts.

The caller is the application's backend, authenticated by IAM on the Function URL (as for
sign-url); it names the uploader. This stage checks what it asks for, records an
`UploadTicket` and only then returns a presigned POST that S3 accepts for exactly
``uploads/{upload_id}``, the declared content type and 1 to ``max_bytes`` bytes, until the
ticket expires. The uploads stage takes requester and visibility from the ticket alone and
admits one object per ticket; an object's own ``x-amz-meta-*`` headers are never trusted.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..errors import RequestRefused
from ..adapters.storage import ObjectStore
from ..adapters.upload_tickets import UploadTickets
from ..keys import upload_key
from ..models import REQUESTER_PATTERN, UploadTicket

UPLOAD_CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/avif", "image/gif", "image/tiff"})
"""Content types a ticket may declare: those of `imaging.formats.UPLOAD_FORMATS` (a test keeps
them equal; the issuer stays free of the imaging package and its encoders)."""
TICKET_RETENTION = timedelta(days=7)
"""How long a ticket outlives its POST: as long as an object may stay under uploads/ (the
bucket's lifecycle rule), so a late or second object meets a claimed ticket, not no ticket."""
MIN_EXPIRES_IN_SECONDS = 1
_REQUESTER = re.compile(REQUESTER_PATTERN)
_LABEL = re.compile(r"^[\w .:/@+-]{1,128}$")


class UploadRefused(RequestRefused):
    """upload-url refuses a ticket request (400, 413, 415)."""


@dataclass(frozen=True)
class UploadRequest:
    """What the app backend asks for on the uploader's behalf (the JSON body of ``POST /uploads``).

    Attributes
    ----------
    content_type : str
        The type the file will be sent as; one of `UPLOAD_CONTENT_TYPES`.
    visibility : {"private", "public"}
        Who may see the asset once published; private unless asked otherwise.
    max_bytes : int or None
        The most bytes the file may have; at most (and by default) the deployment's limit.
    expires_in : int or None
        Seconds the POST stays usable; at most (and by default) the deployment's TTL.
    model_id, licence : str or None
        What the uploader says made the image and under which licence (recorded as theirs).
    """

    content_type: str
    visibility: str = "private"
    max_bytes: int | None = None
    expires_in: int | None = None
    model_id: str | None = None
    licence: str | None = None

    @classmethod
    def parse(cls, body: str | None) -> UploadRequest:
        """The request in a JSON body; anything invalid is a 400 (415 for a type we do not take)."""
        try:
            values = json.loads(body) if body else {}
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            raise UploadRefused(400, "the body is not JSON") from None
        if not isinstance(values, dict):
            raise UploadRefused(400, "the body must be a JSON object")
        unknown = set(values) - {"content_type", "visibility", "max_bytes", "expires_in", "model_id", "licence"}
        if unknown:
            raise UploadRefused(400, f"unknown fields: {', '.join(sorted(unknown))}")
        content_type = values.get("content_type")
        if not isinstance(content_type, str) or not content_type:
            raise UploadRefused(400, "content_type is required, e.g. image/jpeg")
        if content_type.lower() not in UPLOAD_CONTENT_TYPES:
            raise UploadRefused(415, f"content_type must be one of {', '.join(sorted(UPLOAD_CONTENT_TYPES))}")
        visibility = values.get("visibility", "private")
        if visibility not in ("private", "public"):
            raise UploadRefused(400, "visibility must be 'private' or 'public'")
        labels = {name: values.get(name) for name in ("model_id", "licence")}
        for name, value in labels.items():
            if value is not None and not (isinstance(value, str) and _LABEL.match(value)):
                raise UploadRefused(400, f"{name} must be up to 128 letters, digits and .:/@+- ")
        return cls(content_type.lower(), visibility, _seconds_or_bytes(values, "max_bytes"),
                   _seconds_or_bytes(values, "expires_in"), **labels)


def _seconds_or_bytes(values: dict[str, Any], name: str) -> int | None:
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UploadRefused(400, f"{name} must be a positive whole number")
    return value


def issue_upload(
    requester: str | None,
    request: UploadRequest,
    *,
    issued_by: str | None,
    tickets: UploadTickets,
    store: ObjectStore,
    bucket: str,
    max_bytes: int,
    ttl_seconds: int,
    now: datetime,
) -> dict[str, Any]:
    """Record a ticket for one upload by ``requester`` and return its presigned POST.

    Parameters
    ----------
    requester : str or None
        The uploader, as the authenticated caller names them (``X-Imagepipe-Requester``).
    request : UploadRequest
        What is to be uploaded.
    issued_by : str or None
        The IAM principal that called (recorded with the ticket).
    tickets, store : UploadTickets, ObjectStore
        Where the ticket goes, and the S3 access that signs the POST.
    bucket : str
        The originals bucket.
    max_bytes, ttl_seconds : int
        The deployment's limits: largest upload, longest-lived POST.
    now : datetime
        The issuing time (timezone-aware).

    Returns
    -------
    dict
        ``upload_id``, ``key``, ``url`` and ``fields`` (POST them as multipart/form-data with
        the file last, as ``file``), ``content_type``, ``max_bytes``, ``visibility`` and
        ``expires_at`` (ISO 8601).

    Raises
    ------
    UploadRefused
        400 for a missing or malformed requester or a limit above the deployment's.
    """
    if not requester:
        raise UploadRefused(400, "name the uploader in X-Imagepipe-Requester")
    if not _REQUESTER.match(requester):
        raise UploadRefused(400, "X-Imagepipe-Requester must be 1-128 letters, digits and ._@:+-")
    size = request.max_bytes or max_bytes
    if size > max_bytes:
        raise UploadRefused(400, f"max_bytes may be at most {max_bytes}")
    expires_in = request.expires_in or ttl_seconds
    if not MIN_EXPIRES_IN_SECONDS <= expires_in <= ttl_seconds:
        raise UploadRefused(400, f"expires_in may be at most {ttl_seconds} seconds")
    issued_at = now.replace(microsecond=0)
    ticket = UploadTicket(
        upload_id=str(uuid.uuid4()),  # random, never derived: only its holder can name the key
        requester=requester,
        visibility=request.visibility,  # type: ignore[arg-type]
        content_type=request.content_type,
        max_bytes=size,
        issued_at=issued_at,
        expires_at=issued_at + timedelta(seconds=expires_in),
        issued_by=issued_by,
        model_id=request.model_id,
        licence=request.licence,
    )
    tickets.issue(ticket, keep_until=ticket.expires_at + TICKET_RETENTION)  # before S3 can accept anything
    key = upload_key(ticket.upload_id)
    post = store.presigned_post(bucket, key, content_type=ticket.content_type, max_bytes=size, expires_in=expires_in)
    return {
        "upload_id": ticket.upload_id,
        "key": key,
        "url": post["url"],
        "fields": post["fields"],
        "content_type": ticket.content_type,
        "max_bytes": size,
        "visibility": ticket.visibility,
        "expires_at": ticket.expires_at.isoformat(),
    }
