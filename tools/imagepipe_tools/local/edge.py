"""The local edge (`imagepipe_tools.cloudfront.edge.LocalEdge`) wired to a local stack and runtime.

Origins, key groups, the CloudFront Function and invalidations all come from what the local
stack created from template.yaml: the S3 origin reads the variants bucket on the embedded
AWS, the function-URL origin invokes the real handler through `LocalRuntime.invoke`, trusted
keys are read from the key group through the CloudFront API (so a rotation shows at once),
and invalidations made through the CloudFront API (takedown) evict cached copies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from imagepipe.adapters.cdn import Cdn
from imagepipe.delivery.negotiation import normalize
from imagepipe_tools.cloudfront.distribution import from_template
from imagepipe_tools.cloudfront.edge import FunctionUrlOrigin, LocalEdge, Origin, S3Origin
from imagepipe_tools.local.function_url import function_url_event
from imagepipe_tools.local.runtime import LocalRuntime
from imagepipe_tools.local.stack import LocalStack

FUNCTION_SOURCE = Path("edge") / "normalize.js"  # the one CloudFront Function, and its Python twin
GALLERY_FILES = ("index.html", "summary.json")


class KeyGroupKeys:
    """Key id -> public PEM for the behaviour's key groups, as the CloudFront API has them now."""

    def __init__(self, cloudfront: Any, stack: LocalStack) -> None:
        self._cloudfront = cloudfront
        self._physical = stack.physical
        self._pems = dict(stack.public_keys)

    def __call__(self, key_groups: tuple[str, ...]) -> Mapping[str, str]:
        keys = {}
        for logical_id in key_groups:
            group = self._cloudfront.get_key_group(Id=self._physical[logical_id])["KeyGroup"]["KeyGroupConfig"]
            for key_id in group["Items"]:
                if key_id not in self._pems:
                    public_key = self._cloudfront.get_public_key(Id=key_id)["PublicKey"]
                    self._pems[key_id] = public_key["PublicKeyConfig"]["EncodedKey"]
                keys[key_id] = self._pems[key_id]
        return keys


def _viewer_functions(stack: LocalStack) -> dict[str, Any]:
    """The Python twin for each CloudFront Function of the template that is edge/normalize.js."""
    source = (stack.root / FUNCTION_SOURCE).read_text()
    twins = {}
    for logical_id, spec in stack.template["Resources"].items():
        if spec["Type"] == "AWS::CloudFront::Function":
            if spec["Properties"]["FunctionCode"] != source:
                raise ValueError(f"{logical_id}'s code in template.yaml differs from {FUNCTION_SOURCE}")
            twins[logical_id] = normalize
    return twins


def cloudfront_denied_tags(template: Mapping[str, Any], bucket: str) -> dict[str, frozenset[str]]:
    """Object tags on which ``bucket``'s policy in the template denies CloudFront ``s3:GetObject``."""
    denied: dict[str, set[str]] = {}
    for spec in template["Resources"].values():
        properties = spec.get("Properties", {})
        if spec["Type"] != "AWS::S3::BucketPolicy" or properties.get("Bucket") != {"Ref": bucket}:
            continue
        for statement in properties["PolicyDocument"]["Statement"]:
            principal = statement.get("Principal")
            actions = statement.get("Action")
            actions = [actions] if isinstance(actions, str) else actions or []
            cloudfront = principal == "*" or (isinstance(principal, dict) and principal.get("Service") == "cloudfront.amazonaws.com")
            if statement.get("Effect") != "Deny" or not cloudfront or not {"s3:GetObject", "s3:*"} & set(actions):
                continue
            for name, value in statement.get("Condition", {}).get("StringEquals", {}).items():
                if name.startswith("s3:ExistingObjectTag/"):
                    values = [value] if isinstance(value, str) else value
                    denied.setdefault(name.removeprefix("s3:ExistingObjectTag/"), set()).update(values)
    return {tag: frozenset(values) for tag, values in denied.items()}


def edge_for(
    stack: LocalStack,
    runtime: LocalRuntime,
    *,
    port: int = 0,
    gallery: Path | None = None,
    distribution: str = "Distribution",
    clock: Callable[[], float] = time.time,
) -> LocalEdge:
    """A (not yet started) edge for ``stack``'s distribution; ``gallery`` also serves the demo page at /."""

    spec = from_template(stack.template, distribution)
    origins: dict[str, Origin] = {}
    for origin in spec.origins.values():
        if origin.kind == "s3":
            origins[origin.id] = S3Origin(stack.client("s3"), stack.physical[origin.resource],
                                          denied_tags=cloudfront_denied_tags(stack.template, origin.resource))
        else:
            function = stack.function(origin.resource)
            origins[origin.id] = FunctionUrlOrigin(
                lambda method, path, headers, fn=function: runtime.invoke(fn, function_url_event(method, path, headers))
            )
    cloudfront = stack.client("cloudfront")
    cdn = Cdn(cloudfront, stack.physical[distribution])
    local_files = {}
    if gallery is not None:
        local_files = {f"/{name}": gallery / name for name in GALLERY_FILES} | {"/": gallery / "index.html"}
    # CDN_DOMAIN stays moto's fake distribution domain, as the template resolves it: the stack is
    # deployed before the edge has a port, every function must agree on CDN_DOMAIN (C2PA URLs use it
    # too), and a URL signed for 127.0.0.1:port would not be what AWS issues. The edge answers *as*
    # that distribution instead: it checks signatures against https://{domain}{path} as CloudFront
    # does, and `LocalEdge.localize` swaps only the scheme and host to fetch a signed URL locally.
    return LocalEdge(
        spec,
        domain=stack.attributes[distribution]["DomainName"],
        origins=origins,
        trusted_keys=KeyGroupKeys(cloudfront, stack),
        functions=_viewer_functions(stack),
        invalidations=cdn.invalidations,
        local_files=local_files,
        port=port,
        clock=clock,
    )
