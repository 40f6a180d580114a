"""Uploads, locally: what an app backend and its user's browser do to put a file into the pipeline.

The backend asks upload-url for a ticket (a Function URL request carrying the backend's IAM
identity, as AWS delivers it); the browser POSTs the file to the presigned URL it got. The
POST goes to the embedded AWS on loopback, or to in-process moto in tests (moto serves the
``requests`` library there). Nothing else that lands under uploads/ is ingested.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from imagepipe.ids import derived_asset_id
from imagepipe.stages.ingest import ACTOR
from imagepipe_tools.local.function_url import function_url_event
from imagepipe_tools.local.runtime import LocalRuntime

ACCOUNT = "123456789012"
APP_BACKEND = f"arn:aws:sts::{ACCOUNT}:assumed-role/imagepipe-app-backend/local"
"""The IAM principal the local tools call upload-url as: the app backend of a real deployment."""


class UploadNotAccepted(Exception):
    """upload-url refused the ticket, or S3 refused the POST: ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Uploaded:
    """An upload S3 accepted, and the asset id the uploads function will give it."""

    upload_id: str
    key: str
    etag: str
    asset_id: str


def ticket_event(requester: str | None, request: dict[str, Any] | str) -> dict[str, Any]:
    """``POST /uploads`` as it reaches upload-url from the app backend (payload 2.0, IAM-authenticated)."""

    headers = {"content-type": "application/json", **({"x-imagepipe-requester": requester} if requester else {})}
    event = function_url_event("POST", "/uploads", headers, request if isinstance(request, str) else json.dumps(request))
    event["requestContext"]["authorizer"] = {
        "iam": {"accessKey": "ASIALOCALAPPBACKEND", "accountId": ACCOUNT, "callerId": "AROALOCALAPPBACKEND:local",
                "userArn": APP_BACKEND, "userId": "AROALOCALAPPBACKEND:local"}
    }
    return event


def request_ticket(runtime: LocalRuntime, requester: str | None, **request: Any) -> tuple[int, dict[str, Any]]:
    """Invoke upload-url in-process; ``request`` is its JSON body (content_type, visibility, ...)."""
    body = {name: value for name, value in request.items() if value is not None}
    response = runtime.invoke(runtime.stack.function("upload_url"), ticket_event(requester, body))
    return response["statusCode"], json.loads(response.get("body") or "{}")


def post_file(ticket: dict[str, Any], data: bytes, *, filename: str = "upload") -> str:
    """What the browser does with a ticket: a multipart/form-data POST, its fields then the file.

    Returns the stored object's ETag: S3's answer, or (moto leaves the header out) the MD5 that
    S3 uses as the ETag of a single-part upload with SSE-S3.
    """
    import requests  # local tooling only (moto's dependency); never in a function

    response = requests.post(ticket["url"], data=ticket["fields"], files={"file": (filename, data)}, timeout=60)
    if response.status_code not in (200, 201, 204):
        raise UploadNotAccepted(response.status_code, response.text[:300])
    return response.headers.get("ETag", "").strip('"') or hashlib.md5(data, usedforsecurity=False).hexdigest()


def upload(runtime: LocalRuntime, data: bytes, *, requester: str, content_type: str, visibility: str = "private",
           filename: str = "upload", **request: Any) -> Uploaded:
    """Ticket, then POST: one file into the pipeline as ``requester``.

    Raises
    ------
    UploadNotAccepted
        When upload-url refuses the ticket or S3 the POST.
    """
    status, ticket = request_ticket(runtime, requester, content_type=content_type, visibility=visibility, **request)
    if status != 201:
        raise UploadNotAccepted(status, ticket.get("message", ""))
    etag = post_file(ticket, data, filename=filename)
    bucket = runtime.stack.function("uploads").environment["ORIGINALS_BUCKET"]
    return Uploaded(ticket["upload_id"], ticket["key"], etag, derived_asset_id(ACTOR, bucket, ticket["key"], etag))
