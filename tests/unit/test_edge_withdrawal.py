"""The local edge plays CloudFront's side of a withdrawal: held objects are refused, and an
invalidation made while an origin was answering keeps that answer out of the cache."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from imagepipe.adapters.storage import HOLD_TAG, HOLD_VALUE, RELEASED_VALUE, ObjectStore
from imagepipe_tools.cloudfront.distribution import from_template
from imagepipe_tools.cloudfront.edge import LocalEdge, OriginResponse, S3Origin
from imagepipe.delivery.negotiation import normalize
from imagepipe_tools.local import template as cfn
from tests.conftest import ROOT

TEMPLATE = cfn.load(ROOT / "template.yaml")
PATH = "/public/0190a4b2-0000-8000-8000-000000000000/320w.0123456789abcdef.webp"
IMMUTABLE = {"Content-Type": "image/webp", "Cache-Control": "public, max-age=31536000, immutable"}


class TakedownDuringFetch:
    """An origin that answers 200 while, in the middle of answering, a takedown invalidates everything."""

    def __init__(self, invalidations: list[dict]) -> None:
        self.invalidations = invalidations
        self.fetches = 0

    def fetch(self, path, headers):
        self.fetches += 1
        if self.fetches == 1:
            self.invalidations.append({"id": "takedown-1", "paths": ["/public/0190a4b2-0000-8000-8000-000000000000/*"]})
        return OriginResponse(200, IMMUTABLE, b"variant")


def edge_with(origin, invalidations: list[dict]) -> LocalEdge:
    spec = from_template(TEMPLATE, "Distribution")
    origins = {origin_id: origin for origin_id in spec.origins}
    functions = {b.viewer_request_function: normalize for b in spec.behaviours if b.viewer_request_function}
    return LocalEdge(spec, domain="d111111abcdef8.cloudfront.net", origins=origins, trusted_keys=lambda groups: {},
                     functions=functions, invalidations=lambda known: [i for i in invalidations if i["id"] not in known])


def test_an_answer_fetched_across_an_invalidation_is_served_but_not_cached():
    """GIVEN a takedown's invalidation created while the origin was answering THEN that answer reaches
    its viewer but is not kept: the next request goes to the origin again (which now refuses)."""
    invalidations: list[dict] = []
    origin = TakedownDuringFetch(invalidations)
    edge = edge_with(origin, invalidations)
    first = edge.handle("GET", PATH, {}, "127.0.0.1")
    second = edge.handle("GET", PATH, {}, "127.0.0.1")
    assert first.status == second.status == 200
    assert second.headers["X-Cache"] == "Miss from cloudfront" and origin.fetches == 2
    third = edge.handle("GET", PATH, {}, "127.0.0.1")
    assert third.headers["X-Cache"] == "Hit from cloudfront" and origin.fetches == 2


@pytest.mark.parametrize(("tag", "status"), [(HOLD_VALUE, 403), (RELEASED_VALUE, 200), (None, 200)])
def test_the_s3_origin_refuses_held_objects_as_the_bucket_policy_does(tag, status):
    """GIVEN an object written held (not yet confirmed by its writer) THEN the S3 origin answers 403
    as S3 does under the template's deny; released or untagged objects are served."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="variants-bucket")
        ObjectStore(s3).put("variants-bucket", PATH.lstrip("/"), b"variant", content_type="image/webp",
                            held=tag is not None)
        if tag == RELEASED_VALUE:
            ObjectStore(s3).release("variants-bucket", [PATH.lstrip("/")])
        origin = S3Origin(s3, "variants-bucket", denied_tags={HOLD_TAG: frozenset({HOLD_VALUE})})
        assert origin.fetch(PATH, {}).status == status


def test_the_edge_sees_every_invalidation_not_only_the_first_page():
    """GIVEN more invalidations than CloudFront lists on one page (100) THEN `Cdn.invalidations`
    returns them all: an edge that missed the newest would keep serving what a takedown invalidated."""
    from imagepipe.adapters.cdn import Cdn

    with mock_aws():
        cloudfront = boto3.client("cloudfront", region_name="us-east-1")
        distribution = cloudfront.create_distribution(DistributionConfig={
            "CallerReference": "edge-test", "Comment": "", "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "variants-bucket.s3.amazonaws.com",
                                                  "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
            "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "https-only", "MinTTL": 0,
                                     "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                     "TrustedSigners": {"Enabled": False, "Quantity": 0}},
        })["Distribution"]["Id"]
        cdn = Cdn(cloudfront, distribution)
        made = {cdn.invalidate([f"/public/{i}/*"], caller_reference=f"takedown-{i}")["id"] for i in range(130)}
        assert {i["id"] for i in cdn.invalidations()} == made
        assert cdn.invalidations(known=made) == []
