"""The naive Pillow baseline: what a first version of a derivative function looks like.

One variant at a time, each from a fresh decode of the original: open, exif_transpose,
convert to RGB, LANCZOS resize, save with Pillow's default options for the format (AVIF
q75 speed 6, WebP q80 method 4, JPEG q75), plus the same XMP packet as imagepipe.

    python bench/naive_pillow.py CONFIG.json

CONFIG: {"inputs": [...], "widths": [...], "out": dir | null}. Prints one JSON line per
input ({"path", "ms", "cpu_ms", "width", "height", "variants"}), like sharp_derive.js.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

from PIL import Image, ImageOps

from imagepipe.imaging.xmp import digital_source_type_xmp

from imagepipe.imaging.engine import plan_widths

FORMATS = {"avif": ("AVIF", "avif"), "webp": ("WEBP", "webp"), "jpeg": ("JPEG", "jpg")}


def main() -> int:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    xmp = digital_source_type_xmp()
    for name in cfg["inputs"]:
        data = Path(name).read_bytes()
        cpu, wall = time.process_time(), time.perf_counter()
        with Image.open(io.BytesIO(data)) as probe:
            width, height = ImageOps.exif_transpose(probe).size
        variants = []
        for fmt, (pillow_name, ext) in FORMATS.items():
            for w in plan_widths(width, cfg["widths"]):
                with Image.open(io.BytesIO(data)) as original:
                    image = ImageOps.exif_transpose(original).convert("RGB")
                resized = image.resize((w, max(1, round(height * w / width))), Image.Resampling.LANCZOS)
                out = io.BytesIO()
                resized.save(out, pillow_name, xmp=xmp)
                variants.append({"width": resized.width, "height": resized.height, "format": fmt,
                                 "bytes": out.tell(), "file": None, "_data": out.getvalue(), "ext": ext})
        ms = (time.perf_counter() - wall) * 1000
        cpu_ms = (time.process_time() - cpu) * 1000
        if cfg.get("out"):
            folder = Path(cfg["out"]) / Path(name).stem
            folder.mkdir(parents=True, exist_ok=True)
            for v in variants:
                v["file"] = str(folder / f"{v['width']}w.{v['ext']}")
                Path(v["file"]).write_bytes(v["_data"])
        for v in variants:
            del v["_data"], v["ext"]
        print(json.dumps({"path": name, "ms": ms, "cpu_ms": cpu_ms, "width": width, "height": height,
                          "variants": variants}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
