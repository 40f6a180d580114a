"""S3 objects: the originals and variants buckets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..errors import RejectedInputError


@dataclass(frozen=True)
class StoredObject:
    key: str
    data: bytes = field(repr=False)
    content_type: str
    metadata: Mapping[str, str]
    etag: str


class ObjectStore:
    """Typed access to the buckets; raises ``RejectedInputError`` for objects that cannot be used."""

    def __init__(self, s3_client: Any) -> None:
        self._s3 = s3_client

    def get(self, bucket: str, key: str, *, max_bytes: int) -> StoredObject:
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in {"NoSuchKey", "404"}:
                raise RejectedInputError("missing_object", f"s3://{bucket}/{key} does not exist") from error
            raise
        length = int(response.get("ContentLength", 0))
        body = response["Body"]
        if length > max_bytes:
            body.close()
            raise RejectedInputError("too_large", f"{length:,} bytes exceeds the limit of {max_bytes:,}")
        data = body.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise RejectedInputError("too_large", f"more than {max_bytes:,} bytes")
        return StoredObject(
            key=key,
            data=data,
            content_type=response.get("ContentType", "application/octet-stream"),
            metadata=response.get("Metadata", {}),
            etag=response.get("ETag", "").strip('"'),
        )

    def head_metadata(self, bucket: str, key: str) -> Mapping[str, str] | None:
        try:
            return self._s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
        except ClientError as error:
            if error.response["Error"]["Code"] in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        create_only: bool = False,
    ) -> bool:
        """Write an object; with ``create_only`` an existing key is left as it is (returns False)."""
        extra: dict[str, Any] = {}
        if cache_control:
            extra["CacheControl"] = cache_control
        if create_only:
            extra["IfNoneMatch"] = "*"
        try:
            self._s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ContentLength=len(data),
                Metadata=dict(metadata or {}),
                **extra,
            )
        except ClientError as error:
            if create_only and error.response["Error"]["Code"] in {"PreconditionFailed", "412"}:
                return False
            raise
        return True

    def delete(self, bucket: str, key: str) -> None:
        self._s3.delete_object(Bucket=bucket, Key=key)
