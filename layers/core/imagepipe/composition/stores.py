"""The thin AWS adapters: objects in S3, the provenance queue, upload tickets, the CDN."""

from __future__ import annotations

from functools import cache

from ..adapters.aws import client
from ..adapters.cdn import Cdn
from ..adapters.queues import Publisher
from ..adapters.storage import ObjectStore
from ..adapters.upload_tickets import UploadTickets
from ..config import settings


@cache
def object_store() -> ObjectStore:
    return ObjectStore(client("s3"))


@cache
def publisher() -> Publisher:
    settings().require("provenance_queue_url")
    return Publisher(client("sqs"), settings().provenance_queue_url)


@cache
def upload_tickets() -> UploadTickets:
    settings().require("upload_tickets_table")
    return UploadTickets(client("dynamodb"), settings().upload_tickets_table)


@cache
def cdn() -> Cdn:
    settings().require("distribution_id")
    return Cdn(client("cloudfront"), settings().distribution_id)


def reset() -> None:
    for factory in (object_store, publisher, upload_tickets, cdn):
        factory.cache_clear()
