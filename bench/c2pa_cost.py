"""What C2PA Content Credentials cost per variant: signing time and bytes, embedded vs remote.

    .venv/bin/python bench/c2pa_cost.py [--repeat 5] [--json]

One generated 1024x1024 original (signed, as the generate stage stores it) is derived
with the production engine settings; every variant is then signed both ways with the
original as ``parentOf`` ingredient, as the derivatives stage does:

* embedded: the manifest inside the file (bytes added = the file's growth);
* remote: a ``.c2pa`` sidecar, the file only carries its URL (bytes added to the file,
  plus the sidecar a validator fetches once).

Times are medians of ``--repeat`` signings on this machine (shared: small numbers only).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time

from imagepipe.imaging.engine import EngineSettings, derive
from imagepipe_tools.procedural import render_png
from imagepipe.provenance.c2pa_signing import ContentCredentials, GenerationClaim, placement
from imagepipe.provenance.certificates import generate_chain

URL = "https://d111111abcdef8.cloudfront.net/public/0b6f0c2e-5d1e-8a4b-9c3d-2e1f0a9b8c7d/c2pa/{}.c2pa"


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--repeat", type=int, default=5)
    options.add_argument("--json", action="store_true")
    args = options.parse_args(argv)

    credentials = ContentCredentials(generate_chain(name="bench"))
    png = render_png("a calm mountain lake at sunrise, mist over the water", 7, 1024, 1024)
    claim = GenerationClaim("0b6f0c2e-5d1e-8a4b-9c3d-2e1f0a9b8c7d", "local", "procedural-1",
                            hashlib.sha256(b"prompt").hexdigest(), "2026-11-27T12:00:00+00:00")
    started = time.perf_counter()
    original = credentials.sign_original(png, "image/png", claim)
    original_ms = (time.perf_counter() - started) * 1000
    rows = []
    for variant in derive(original.data, EngineSettings()).variants:
        row = {"format": variant.format, "width": variant.width, "bytes": len(variant.data)}
        for mode in ("embedded", "remote"):
            timings, signed = [], None
            for _ in range(args.repeat):
                started = time.perf_counter()
                signed = credentials.sign_variant(
                    variant.data, variant.content_type, parent=original.data, parent_content_type="image/png",
                    title="bench", remote_url_for=URL.format if mode == "remote" else None,
                )
                timings.append((time.perf_counter() - started) * 1000)
            assert signed is not None
            row[f"{mode}_ms"] = round(statistics.median(timings), 1)
            row[f"{mode}_added"] = signed.added_bytes
            if mode == "remote":
                row["sidecar"] = len(signed.manifest)
        row["chosen"] = placement("public", len(variant.data), row["embedded_added"])
        rows.append(row)
    summary = {"original_png_bytes": len(png), "original_added": original.added_bytes,
               "original_sign_ms": round(original_ms, 1), "variants": rows}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"original PNG {len(png):,} B: manifest +{original.added_bytes:,} B, signed in {original_ms:.1f} ms")
    header = ("format", "width", "bytes", "embedded +B", "(+%)", "ms", "remote +B", "sidecar B", "ms", "public")
    print("{:<6} {:>5} {:>8} {:>11} {:>6} {:>5} {:>9} {:>9} {:>5} {:>8}".format(*header))
    for r in rows:
        print("{:<6} {:>5} {:>8,} {:>11,} {:>5.0f}% {:>5} {:>9,} {:>9,} {:>5} {:>8}".format(
            r["format"], r["width"], r["bytes"], r["embedded_added"], 100 * r["embedded_added"] / r["bytes"],
            r["embedded_ms"], r["remote_added"], r["sidecar"], r["remote_ms"], r["chosen"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
