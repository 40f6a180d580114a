"""The distribution in template.yaml: behaviours, policies, origins, keys and the CloudFront Function.

Read through `delivery.distribution` (what the local edge plays), so the edge and these rules
cannot drift apart.
"""

from __future__ import annotations

import pytest

from imagepipe_tools.cloudfront.distribution import CachePolicy, KeyConfig, from_template
from imagepipe_tools.local import template as cfn
from tests.conftest import ROOT

TEMPLATE = cfn.load(ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
SPEC = from_template(TEMPLATE)
ASSET = "0190a4b2-0000-8000-8000-000000000000"


def props(logical_id: str) -> dict:
    return RESOURCES[logical_id]["Properties"]


def test_the_cloudfront_function_in_the_template_is_edge_normalize_js():
    """GIVEN the template's CloudFront Function THEN its code is edge/normalize.js byte for byte (the
    file the vectors test) on the cloudfront-js-2.0 runtime, published with the stack."""
    function = props("NormalizeImageRequestFunction")
    assert function["FunctionCode"] == (ROOT / "edge" / "normalize.js").read_text()
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0" and function["AutoPublish"] is True


@pytest.mark.parametrize(
    ("path", "pattern", "signed", "function", "target"),
    [
        (f"/t/{ASSET}?w=500", "t/*", False, "NormalizeImageRequestFunction", "VariantsThenTransform"),
        (f"/public/{ASSET}/640w.0123456789abcdef.avif", "public/*", False, None, "VariantsOrigin"),
        (f"/public/{ASSET}/t/640w.avif", "public/*", False, None, "VariantsOrigin"),
        (f"/private/{ASSET}/640w.0123456789abcdef.avif", "private/*", True, None, "VariantsOrigin"),
        ("/originals/x.png", None, True, None, "VariantsOrigin"),  # anything else: signed, never public
    ],
)
def test_behaviours(path, pattern, signed, function, target):
    """GIVEN a request path THEN the behaviour CloudFront picks needs a signature exactly for private
    content, runs the normalising function only on t/*, and reads the right origin."""
    behaviour = SPEC.behaviour_for(path.split("?")[0])
    assert behaviour.path_pattern == pattern
    assert bool(behaviour.trusted_key_groups) is signed
    assert behaviour.viewer_request_function == function
    assert behaviour.target == target
    assert behaviour.allowed_methods == {"GET", "HEAD"}


def test_on_demand_misses_go_to_s3_first_then_the_transform():
    """GIVEN the t/* origin group THEN S3 is asked first and the transform function URL only on a
    403/404 from it, so a rendered variant is a plain S3 hit afterwards."""
    group = SPEC.origin_groups["VariantsThenTransform"]
    assert group.members == ("VariantsOrigin", "TransformOrigin")
    assert group.failover_statuses == {403, 404}
    assert (SPEC.origins["VariantsOrigin"].kind, SPEC.origins["TransformOrigin"].kind) == ("s3", "lambda-url")
    assert SPEC.origins["TransformOrigin"].resource == "TransformFunction"


def test_cache_keys_hold_the_path_only_and_the_origin_request_policy_matches():
    """GIVEN every behaviour THEN its cache key has no header, cookie or query string (the t/*
    function folds width and format into the path), and the transform's origin request policy
    forwards nothing the cache key lacks."""
    for behaviour in SPEC.behaviours:
        policy = behaviour.cache_policy
        assert (policy.headers.behavior, policy.cookies.behavior, policy.query.behavior) == ("none", "none", "none")
    origin_policy = props("TransformOriginRequestPolicy")["OriginRequestPolicyConfig"]
    assert origin_policy["HeadersConfig"]["HeaderBehavior"] == "none"
    assert origin_policy["CookiesConfig"]["CookieBehavior"] == "none"
    assert origin_policy["QueryStringsConfig"]["QueryStringBehavior"] == "none"
    t = next(b for b in props("Distribution")["DistributionConfig"]["CacheBehaviors"] if b["PathPattern"] == "t/*")
    assert t["OriginRequestPolicyId"] == {"Ref": "TransformOriginRequestPolicy"}


def test_ttls_a_year_for_immutable_variants_and_origin_driven_for_on_demand():
    """GIVEN the cache policies THEN public variants stay a year, private ones at least a day (the
    signature is checked on every request anyway), and t/* follows the origin's Cache-Control."""
    public, private, on_demand = (SPEC.behaviour_for(p).cache_policy for p in ("/public/x", "/private/x", "/t/x"))
    assert public.ttl("public, max-age=31536000, immutable", 200) == 31536000
    assert private.ttl("private, max-age=31536000, immutable", 200) == 86400
    assert on_demand.ttl("public, max-age=31536000, immutable", 200) == 31536000
    assert on_demand.ttl("no-store", 307) == 0
    assert on_demand.ttl("public, max-age=60", 404) == 60
    assert on_demand.ttl(None, 403) == 10  # CloudFront's default error caching


def test_vary_only_where_the_bytes_depend_on_request_headers():
    """GIVEN the behaviours THEN only t/* adds Vary (Accept and the width hints it negotiates on);
    content-hashed public/private URLs get none."""
    varies = {b.path_pattern: [h for h in b.response_headers if h[0] == "Vary"] for b in SPEC.behaviours}
    assert varies["t/*"] == [("Vary", "Accept, Sec-CH-Width, Width, Sec-CH-DPR, DPR", True)]
    assert all(not v for pattern, v in varies.items() if pattern != "t/*")


def test_only_cloudfront_can_call_the_transform():
    """GIVEN the transform function THEN its URL takes IAM auth, CloudFront signs with a lambda OAC,
    and both Lambda permissions name CloudFront and this distribution only."""
    assert props("TransformFunction")["FunctionUrlConfig"]["AuthType"] == "AWS_IAM"
    oac = props("TransformOriginAccessControl")["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("lambda", "always")
    permissions = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::Lambda::Permission"
                   and r["Properties"]["FunctionName"] == {"Ref": "TransformFunction"}]
    assert {p["Action"] for p in permissions} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    for permission in permissions:
        assert permission["Principal"] == "cloudfront.amazonaws.com"
        assert "distribution/${Distribution}" in permission["SourceArn"]["Fn::Sub"]


def test_key_group_trusts_both_key_slots():
    """GIVEN the key group THEN it holds slot A and, when its parameter is set, slot B; both private
    behaviours trust this key group and nothing else."""
    items = props("CloudFrontKeyGroup")["KeyGroupConfig"]["Items"]
    assert items[0] == {"Ref": "CloudFrontPublicKey"}
    assert items[1] == {"Fn::If": ["HasSecondSigningKey", {"Ref": "CloudFrontSecondPublicKey"}, {"Ref": "AWS::NoValue"}]}
    assert RESOURCES["CloudFrontSecondPublicKey"]["Condition"] == "HasSecondSigningKey"
    assert {g for b in SPEC.behaviours for g in b.trusted_key_groups} == {"CloudFrontKeyGroup"}


def test_cache_policy_key_selection():
    """GIVEN whitelist/allExcept/all key settings THEN they select what CloudFront would key on."""
    items = {"a": "1", "b": "2"}
    assert KeyConfig("whitelist", frozenset({"a"})).select(items) == (("a", "1"),)
    assert KeyConfig("allExcept", frozenset({"a"})).select(items) == (("b", "2"),)
    assert KeyConfig("all").select(items) == (("a", "1"), ("b", "2"))
    policy = CachePolicy(5, 60, 100, KeyConfig("none"), KeyConfig("none"), KeyConfig("none"))
    assert (policy.ttl("max-age=1", 200), policy.ttl("max-age=999", 200), policy.ttl(None, 200)) == (5, 100, 60)
