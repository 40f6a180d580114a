"""CloudFront: invalidating the paths of an asset that was taken down."""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any


class Cdn:
    def __init__(self, cloudfront_client: Any, distribution_id: str) -> None:
        self._cloudfront = cloudfront_client
        self.distribution_id = distribution_id

    def invalidate(self, paths: Sequence[str], *, caller_reference: str) -> dict[str, Any]:
        """Ask CloudFront to drop ``paths`` from every edge cache; returns id, status and paths.

        ``caller_reference`` makes a retried request return the same invalidation.
        """
        response = self._cloudfront.create_invalidation(
            DistributionId=self.distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(paths), "Items": list(paths)},
                "CallerReference": caller_reference,
            },
        )
        invalidation = response["Invalidation"]
        return {"id": invalidation["Id"], "status": invalidation["Status"], "paths": list(paths)}

    def invalidations(self, known: Container[str] = ()) -> list[dict[str, Any]]:
        """Every invalidation of the distribution but those ``known`` (by id), with its paths.

        All pages: CloudFront lists 100 a page, and an edge that missed the newest would keep
        serving what a takedown invalidated.
        """
        found = []
        for page in self._cloudfront.get_paginator("list_invalidations").paginate(DistributionId=self.distribution_id):
            for item in page.get("InvalidationList", {}).get("Items", []):
                if item["Id"] in known:
                    continue
                detail = self._cloudfront.get_invalidation(DistributionId=self.distribution_id, Id=item["Id"])
                batch = detail["Invalidation"]["InvalidationBatch"]
                found.append({"id": item["Id"], "status": item["Status"], "paths": batch["Paths"].get("Items", [])})
        return found
