"""S3 objects: the originals and variants buckets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from ..errors import RejectedInputError

# Objects a publishing stage has written but not yet confirmed (template.yaml: VariantsBucketPolicy).
HOLD_TAG = "imagepipe-hold"
HOLD_VALUE = "unconfirmed"
RELEASED_VALUE = "released"


@dataclass(frozen=True)
class StoredObject:
    key: str
    data: bytes = field(repr=False)
    content_type: str
    metadata: Mapping[str, str]
    etag: str
    last_modified: datetime | None = None  # when S3 stored it (its clock, not the writer's)


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
            last_modified=response.get("LastModified"),
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
        held: bool = False,
    ) -> bool:
        """Write an object; with ``create_only`` an existing key is left as it is (returns False).

        ``held`` creates it with the `HOLD_TAG`: the variants bucket policy denies CloudFront
        reading it until the writer has checked it may publish and calls `release`.
        """
        extra: dict[str, Any] = {}
        if cache_control:
            extra["CacheControl"] = cache_control
        if create_only:
            extra["IfNoneMatch"] = "*"
        if held:
            extra["Tagging"] = urlencode({HOLD_TAG: HOLD_VALUE})
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

    def release(self, bucket: str, keys: list[str]) -> list[str]:
        """Lift the hold of ``keys`` (CloudFront may read them now); returns the keys that were gone."""
        gone = []
        for key in keys:
            try:
                self._s3.put_object_tagging(  # a tag that says so, rather than none: the writer confirmed it
                    Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": HOLD_TAG, "Value": RELEASED_VALUE}]}
                )
            except ClientError as error:
                if error.response["Error"]["Code"] not in {"NoSuchKey", "404"}:
                    raise
                gone.append(key)
        return gone

    def keys(self, bucket: str, prefix: str) -> list[str]:
        """Every key under ``prefix`` (all pages)."""
        found: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found += [item["Key"] for item in page.get("Contents", [])]
        return found

    def delete_keys(self, bucket: str, keys: list[str]) -> None:
        """Delete ``keys`` in batches of 1,000; raises if S3 reports any key it could not delete."""
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            errors = self._s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True}).get("Errors", [])
            if errors:
                raise RuntimeError(f"S3 could not delete {len(errors)} objects, e.g. {errors[0]}")

    def tag(self, bucket: str, key: str, tags: Mapping[str, str]) -> None:
        """Replace the object's tags (the quarantine mark the originals bucket policy denies reads on)."""
        self._s3.put_object_tagging(
            Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
        )

    def tags(self, bucket: str, key: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self._s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}

    def presigned_get(self, bucket: str, key: str, *, expires_in: int) -> str:
        """A GET URL for one object, valid ``expires_in`` seconds (at most the signer's session)."""
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )

    def presigned_post(
        self, bucket: str, key: str, *, content_type: str, max_bytes: int, expires_in: int
    ) -> dict[str, Any]:
        """A browser-style POST that S3 accepts only for exactly ``key``, ``content_type`` and
        1 to ``max_bytes`` bytes, until ``expires_in`` seconds from now (``url`` and form ``fields``;
        the file goes last, as field ``file``). It writes with the signer's rights: sign only with
        a role that may put nothing but uploads."""
        return self._s3.generate_presigned_post(
            bucket,
            key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
