"""Delivery, locally: what an app backend does with sign-url, and the demo's checks through the edge."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from imagepipe_tools.cloudfront.edge import LocalEdge
from imagepipe_tools.local.edge import edge_for
from imagepipe_tools.local.function_url import function_url_event
from imagepipe_tools.local.runtime import LocalRuntime
from imagepipe_tools.local.stack import LocalStack

BROWSER_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
GALLERY_TTL_SECONDS = 3600  # the demo page's private images stay viewable for an hour


def sign_asset(
    runtime: LocalRuntime,
    asset_id: str,
    *,
    requester: str | None = None,
    roles: Iterable[str] = (),
    **options: Any,
) -> tuple[int, dict[str, Any]]:
    """Call the sign-url handler as the app backend would (options: policy, ttl, ip, not_before, cookies)."""

    headers = {}
    if requester:
        headers["x-imagepipe-requester"] = requester
    if roles:
        headers["x-imagepipe-roles"] = ",".join(roles)
    event = function_url_event("GET", f"/assets/{asset_id}/urls", headers)
    query = {name: str(value).lower() if isinstance(value, bool) else str(value)
             for name, value in options.items() if value is not None}
    event["rawQueryString"] = urlencode(query)
    if query:
        event["queryStringParameters"] = query
    response = runtime.invoke(runtime.stack.function("sign_url"), event)
    return response["statusCode"], json.loads(response.get("body") or "{}")


def fetch(url: str, headers: Mapping[str, str] | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One HTTP request; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback only
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _tampered(url: str) -> str:
    head, _, signature = url.partition("Signature=")
    return f"{head}Signature={'B' if signature[:1] == 'A' else 'A'}{signature[1:]}"


def edge_checks(stack: LocalStack, runtime: LocalRuntime, summary: dict[str, Any], edge: LocalEdge) -> dict[str, Any]:
    """Serve the demo's assets through the edge and record what a viewer would get.

    Adds ``edge_url`` to every published variant, ``signed_paths`` (wildcard-signed, relative)
    to private assets for the gallery, and ``edge_check`` / ``transform_check`` results.
    """
    checks: list[bool] = []
    for asset in summary["assets"]:
        if asset["status"] == "published" and asset.get("visibility") == "private":
            status, urls = sign_asset(runtime, asset["asset_id"], requester=asset["requester"],
                                      policy="wildcard", ttl=GALLERY_TTL_SECONDS)
            if status != 200:
                asset["edge_check"] = {"sign_status": status}
                checks.append(False)
                continue
            signed = {urlsplit(v["url"]).path.lstrip("/"): v["url"] for v in urls["variants"]}
            asset["signed_paths"] = {key: f"{key}?{urlsplit(url).query}" for key, url in signed.items()}  # relative: disk and edge
            for variant in asset["variants"]:
                variant["edge_url"] = edge.localize(signed[variant["key"]])
            url = asset["variants"][0]["edge_url"]
            asset["edge_check"] = {
                "policy": urls["policy"],
                "signed": fetch(url)[0],
                "tampered": fetch(_tampered(url))[0],
                "unsigned": fetch(url.split("?")[0])[0],
            }
            checks.append(asset["edge_check"] == {"policy": "wildcard", "signed": 200, "tampered": 403, "unsigned": 403})
        elif asset["status"] == "published":
            for variant in asset["variants"]:
                variant["edge_url"] = f"{edge.url}/{variant['key']}"
        elif asset["status"] == "taken_down":
            status = fetch(f"{edge.url}/t/{asset['asset_id']}?w=640", {"Accept": BROWSER_ACCEPT})[0]
            asset["edge_check"] = {"on_demand": status}
            checks.append(status in (404, 410))
    public = next((a for a in summary["assets"] if a["status"] == "published" and a.get("visibility") == "public"), None)
    if public is not None:
        url = f"{edge.url}/t/{public['asset_id']}?w=700"  # 800w: not in the ladder, rendered
        seen = []
        for _ in range(2):
            status, headers, body = fetch(url, {"Accept": BROWSER_ACCEPT})
            seen.append({"status": status, "x_cache": headers.get("X-Cache"), "content_type": headers.get("Content-Type"),
                         "transform": headers.get("X-Imagepipe-Transform"), "bytes": len(body)})
        public["transform_check"] = {"url": url, "requests": seen}
        checks.append(
            [s["status"] for s in seen] == [200, 200]
            and seen[0]["content_type"] == "image/avif"
            and [s["x_cache"] for s in seen] == ["Miss from cloudfront", "Hit from cloudfront"]
        )
    return {"url": edge.url, "domain": edge.domain, "ok": bool(checks) and all(checks)}


def edge_lines(summary: Mapping[str, Any]) -> list[str]:
    """The demo table's lines about delivery through the edge."""
    edge = summary.get("edge")
    if not edge:
        return []
    lines = [f"edge {edge['url']} (plays {edge['domain']}): {'all checks passed' if edge['ok'] else 'CHECKS FAILED'}"]
    for asset in summary["assets"]:
        check, name = asset.get("edge_check"), asset["asset_id"][:8]
        if check and "signed" in check:
            lines.append(f"  {name} private, one {check['policy']} signature for all variants: signed {check['signed']}, "
                         f"tampered {check['tampered']}, unsigned {check['unsigned']}")
        elif check and "on_demand" in check:
            lines.append(f"  {name} taken down: /t/ on-demand request answered {check['on_demand']}")
        if asset.get("transform_check"):
            first, second = asset["transform_check"]["requests"]
            lines.append(f"  {name} /t/{name}…?w=700 (Accept: avif first): {first['status']} {first['content_type']} "
                         f"{first['x_cache']} ({first['transform']}), then {second['x_cache']}")
    return lines


def run_checks(stack: LocalStack, runtime: LocalRuntime, summary: dict[str, Any], out: Path,
               edge: LocalEdge | None = None) -> dict[str, Any]:
    """`edge_checks` through ``edge``, or through a temporary one (the one-shot demo)."""
    if edge is not None:
        return edge_checks(stack, runtime, summary, edge)
    with edge_for(stack, runtime, gallery=out) as temporary:
        result = edge_checks(stack, runtime, summary, temporary)
    return result | {"note": "the edge stopped with the demo; `imagepipe local up --demo` keeps one running"}
