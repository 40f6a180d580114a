"""out/demo/index.html: every asset of the demo with its variants and provenance."""

from __future__ import annotations

from html import escape
from typing import Any

FORMAT_ORDER = ("avif", "webp", "jpeg", "png")
MIME = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>imagepipe demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}}
.asset{{display:grid;grid-template-columns:minmax(0,1.3fr) minmax(0,1fr);gap:1.5rem;border-top:1px solid #ddd;padding:1.5rem 0}}
img{{width:100%;height:auto;background:#eee;border-radius:6px}}
.status{{font-weight:600;text-transform:uppercase;font-size:12px;padding:2px 6px;border-radius:4px}}
.published{{background:#d7f5dd}}.review{{background:#fdf0c4}}.rejected{{background:#f9d3d3}}
table{{border-collapse:collapse;font-size:13px}}td,th{{text-align:left;padding:2px 8px 2px 0;vertical-align:top}}
code{{font-size:12px;word-break:break-all}}
</style></head><body>
<h1>imagepipe demo</h1>
<p>{count} assets in {seconds}s. Published assets are shown with <code>&lt;picture&gt;</code>, AVIF first,
built from each asset's manifest; the browser picks the width from <code>srcset</code>/<code>sizes</code>.</p>
{assets}
</body></html>
"""


def picture(asset: dict[str, Any]) -> str:
    """Relative URLs, so the page works from disk and from the local edge (which serves it at /);
    a private asset's carry its wildcard signature (``signed_paths``), as a page would."""
    from imagepipe.delivery.responsive import picture as build

    signed = asset.get("signed_paths") or {}
    return build(
        asset["variants"], url=lambda v: signed.get(v["key"], v["key"]), sizes="(min-width: 72rem) 40rem, 55vw"
    ).to_html(alt=asset["label"])


def facts(asset: dict[str, Any]) -> str:
    rows = [
        ("asset id", asset["asset_id"]),
        ("source", asset["source"]),
        ("requester", asset.get("requester")),
        ("visibility", asset.get("visibility")),
        ("model", asset.get("model_id")),
        ("prompt", asset.get("prompt")),
        ("seed", asset.get("seed")),
        ("original sha-256", asset.get("content_sha256")),
        ("reason", asset.get("reason")),
        ("detail", asset.get("detail")),
    ]
    moderation = asset.get("moderation")
    if moderation:
        labels = ", ".join(f"{l['name']} {l['confidence']:.2f}" for l in moderation.get("labels", [])) or "none"
        rows.append(("moderation", f"{moderation.get('verdict')} by {moderation.get('backend')} "
                                   f"{moderation.get('model_version')}; labels: {labels}"))
    if asset.get("signed_url"):
        rows.append(("signed URL", asset["signed_url"]))
    body = "".join(f"<tr><th>{escape(k)}</th><td><code>{escape(str(v))}</code></td></tr>" for k, v in rows if v)
    variants = "".join(
        f"<tr><td>{v['format']}</td><td>{v['width']}×{v['height']}</td><td>{v['bytes']:,} B</td></tr>"
        for v in sorted(asset["variants"], key=lambda v: (FORMAT_ORDER.index(v["format"]), v["width"]))
    )
    return f"<table>{body}</table>" + (f"<table><tr><th>format</th><th>size</th><th>bytes</th></tr>{variants}</table>" if variants else "")


def render(summary: dict[str, Any]) -> str:
    blocks = []
    for asset in summary["assets"]:
        status = asset["status"]
        media = picture(asset) if asset["variants"] else f"<p>not published: {escape(str(asset.get('reason')))}</p>"
        blocks.append(
            f'<section class="asset" id="{asset["asset_id"]}"><div>{media}</div><div>'
            f'<h2>{escape(asset["label"])} <span class="status {status}">{status}</span></h2>{facts(asset)}</div></section>'
        )
    return PAGE.format(count=len(summary["assets"]), seconds=summary.get("seconds", "?"), assets="\n".join(blocks))
