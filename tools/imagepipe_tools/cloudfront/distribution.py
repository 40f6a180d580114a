"""The CloudFront distribution of template.yaml as plain values: behaviours, origins, policies.

The local edge plays this distribution, and tests check its rules (which paths need a
signature, which function runs where, what is in each cache key) from the same reading, so
nothing about delivery is configured twice. Pure: it reads the parsed template (short-form
tags as ``{"Ref": ...}`` / ``{"Fn::GetAtt": ...}``) and names resources by logical id.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

DEFAULT_ERROR_CACHING_TTL = 10  # CloudFront's default "error caching minimum TTL"


@dataclass(frozen=True)
class KeyConfig:
    """One of a cache policy's header, cookie or query-string settings."""

    behavior: str  # none | whitelist | allExcept | all (CloudFront's names)
    names: frozenset[str] = frozenset()

    def select(self, items: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        if self.behavior == "none":
            return ()
        chosen = {
            "whitelist": lambda n: n in self.names,
            "allExcept": lambda n: n not in self.names,
            "all": lambda n: True,
        }[self.behavior]
        return tuple(sorted((n, v) for n, v in items.items() if chosen(n)))


@dataclass(frozen=True)
class CachePolicy:
    min_ttl: int
    default_ttl: int
    max_ttl: int
    headers: KeyConfig
    cookies: KeyConfig
    query: KeyConfig

    def ttl(self, cache_control: str | None, status: int) -> int:
        """How long CloudFront keeps a response, from the origin's Cache-Control and these TTLs."""
        directives = _directives(cache_control)
        if status >= 400:
            age = directives.get("s-maxage", directives.get("max-age"))
            return int(age) if age is not None and age.isdigit() else DEFAULT_ERROR_CACHING_TTL
        if {"no-store", "no-cache", "private"} & directives.keys():
            return self.min_ttl
        age = directives.get("s-maxage", directives.get("max-age"))
        if age is not None and age.isdigit():
            return max(self.min_ttl, min(self.max_ttl, int(age)))
        return self.default_ttl


@dataclass(frozen=True)
class Origin:
    id: str
    kind: str  # "s3" | "lambda-url"
    resource: str  # logical id of the bucket or of the function


@dataclass(frozen=True)
class OriginGroup:
    id: str
    members: tuple[str, ...]
    failover_statuses: frozenset[int]


@dataclass(frozen=True)
class Behaviour:
    path_pattern: str | None  # None: the default behaviour
    target: str  # an origin id or an origin group id
    cache_policy: CachePolicy
    trusted_key_groups: tuple[str, ...]  # logical ids; empty: no signature needed
    viewer_request_function: str | None  # logical id of an AWS::CloudFront::Function
    response_headers: tuple[tuple[str, str, bool], ...]  # (name, value, override)
    allowed_methods: frozenset[str]

    def matches(self, path: str) -> bool:
        """CloudFront path patterns: ``*`` any characters (``/`` too), ``?`` one, case-sensitive."""
        if self.path_pattern is None:
            return True
        return fnmatchcase(path.lstrip("/"), self.path_pattern.lstrip("/").replace("[", "[[]"))


@dataclass(frozen=True)
class DistributionSpec:
    logical_id: str
    origins: Mapping[str, Origin]
    origin_groups: Mapping[str, OriginGroup]
    behaviours: tuple[Behaviour, ...]  # in evaluation order, the default last

    def behaviour_for(self, path: str) -> Behaviour:
        return next(b for b in self.behaviours if b.matches(path))

    def members(self, target: str) -> tuple[str, ...]:
        group = self.origin_groups.get(target)
        return group.members if group else (target,)


def _directives(cache_control: str | None) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for part in (cache_control or "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            found[name.lower()] = value.strip('"') if value else None
    return found


def _refs(value: Any) -> Iterator[str]:
    """Logical ids a template value refers to (Ref, GetAtt, ${X} in Sub), depth first."""
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                yield arg
            elif key == "Fn::GetAtt":
                yield (arg.split(".", 1)[0] if isinstance(arg, str) else arg[0])
            else:
                yield from _refs(arg)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _ref(value: Any) -> str:
    found = list(_refs(value))
    if len(found) != 1:
        raise ValueError(f"expected one resource reference in {value!r}")
    return found[0]


def _key_config(config: Mapping[str, Any], kind: str) -> KeyConfig:
    behavior = config.get(f"{kind}Behavior", "none")
    items = config.get(f"{kind}s", {}).get("Items", []) if kind != "Header" else config.get("Headers", {}).get("Items", [])
    names = frozenset(n.lower() for n in items) if kind == "Header" else frozenset(items)
    return KeyConfig(behavior, names)


def _cache_policy(resources: Mapping[str, Any], ref: Any) -> CachePolicy:
    spec = resources[_ref(ref)]
    if spec["Type"] != "AWS::CloudFront::CachePolicy":
        raise ValueError(f"{_ref(ref)} is not a cache policy")
    config = spec["Properties"]["CachePolicyConfig"]
    params = config.get("ParametersInCacheKeyAndForwardedToOrigin", {})
    return CachePolicy(
        min_ttl=int(config["MinTTL"]),
        default_ttl=int(config.get("DefaultTTL", 86400)),
        max_ttl=int(config.get("MaxTTL", 31536000)),
        headers=_key_config(params.get("HeadersConfig", {}), "Header"),
        cookies=_key_config(params.get("CookiesConfig", {}), "Cookie"),
        query=_key_config(params.get("QueryStringsConfig", {}), "QueryString"),
    )


def _response_headers(resources: Mapping[str, Any], ref: Any) -> tuple[tuple[str, str, bool], ...]:
    if ref is None:
        return ()
    config = resources[_ref(ref)]["Properties"]["ResponseHeadersPolicyConfig"]
    return tuple(
        (item["Header"], str(item["Value"]), bool(item["Override"]))
        for item in config.get("CustomHeadersConfig", {}).get("Items", [])
    )


def _behaviour(resources: Mapping[str, Any], spec: Mapping[str, Any]) -> Behaviour:
    functions = [
        _ref(association["FunctionARN"])
        for association in spec.get("FunctionAssociations", [])
        if association.get("EventType") == "viewer-request"
    ]
    return Behaviour(
        path_pattern=spec.get("PathPattern"),
        target=spec["TargetOriginId"],
        cache_policy=_cache_policy(resources, spec["CachePolicyId"]),
        trusted_key_groups=tuple(_ref(group) for group in spec.get("TrustedKeyGroups", [])),
        viewer_request_function=functions[0] if functions else None,
        response_headers=_response_headers(resources, spec.get("ResponseHeadersPolicyId")),
        allowed_methods=frozenset(spec.get("AllowedMethods", ["GET", "HEAD"])),
    )


def _origin(resources: Mapping[str, Any], spec: Mapping[str, Any]) -> Origin:
    target = _ref(spec["DomainName"])
    if "S3OriginConfig" in spec:
        return Origin(spec["Id"], "s3", target)
    function = target.removesuffix("Url")  # SAM's {Function}Url for FunctionUrlConfig
    if resources.get(function, {}).get("Type") == "AWS::Serverless::Function":
        return Origin(spec["Id"], "lambda-url", function)
    raise ValueError(f"origin {spec['Id']} is neither an S3 bucket nor a function URL")


def from_template(template: Mapping[str, Any], logical_id: str = "Distribution") -> DistributionSpec:
    resources = template["Resources"]
    config = resources[logical_id]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: _origin(resources, o) for o in config["Origins"]}
    groups = {
        g["Id"]: OriginGroup(
            g["Id"],
            tuple(m["OriginId"] for m in g["Members"]["Items"]),
            frozenset(int(s) for s in g["FailoverCriteria"]["StatusCodes"]["Items"]),
        )
        for g in config.get("OriginGroups", {}).get("Items", [])
    }
    behaviours = tuple(_behaviour(resources, b) for b in config.get("CacheBehaviors", []))
    behaviours += (_behaviour(resources, config["DefaultCacheBehavior"]),)
    for behaviour in behaviours:
        if behaviour.target not in origins and behaviour.target not in groups:
            raise ValueError(f"behaviour {behaviour.path_pattern} targets unknown origin {behaviour.target}")
    return DistributionSpec(logical_id, origins, groups, behaviours)
