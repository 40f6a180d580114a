"""Encoder frontier: what each format's encoder could still save at equal quality, and its CPU.

    make bench-frontier          # about 8 minutes on 2 cores
    BENCH_QUICK=1 make bench-frontier

The derivatives benchmark compares imagepipe with sharp as shipped. This one asks the
question behind its bytes target: how much smaller could each format get, at equal mean
SSIMULACRA2, with the encoder libraries that exist here, and for how much CPU? For every
candidate setting (the shipped one first) it encodes the benchmark corpus at 640 px (the
width where the derivatives benchmark measures quality) at a grid of qualities, scores each
file against the resized source, and reports per candidate:

* ``bytes_at_equal_score``: mean bytes at the shipped setting's mean scores, interpolated
  log-linearly between the candidate's grid points, relative to the shipped setting
  (< 1 is smaller), at three scores around the default target (66 / 70 / 74 where the
  grids reach);
* ``cpu``: CPU seconds for the grid, relative to the shipped setting.

With ``out/bench/derivatives.json`` present (``make bench``), it then applies the smallest
ratio any candidate reached to imagepipe's measured bytes per format and prints the
smallest set these encoders could make at any CPU, against sharp-tuned at equal score: the
floor under the ``bytes <= 0.85x`` target.

Results go to ``out/bench/frontier.json`` and ``frontier.md``.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mozjpeg_lossless_optimization
import numpy as np
import pyjpegli
from PIL import Image

from imagepipe.imaging.probe import decode

from imagepipe.imaging.xmp import digital_source_type_xmp
from imagepipe.imaging import engine
from imagepipe.imaging.quality import Ssimulacra2Reference

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
import outputs  # noqa: E402

OUT = outputs.OUT
WIDTH = 640
SCORES = (66.0, 70.0, 74.0)
XMP = digital_source_type_xmp()

Encoder = Callable[[Image.Image, int], bytes]


def _pillow(fmt: str, **params: object) -> Encoder:
    def encode(image: Image.Image, quality: int) -> bytes:
        out = io.BytesIO()
        image.copy().save(out, fmt, quality=quality, xmp=XMP, **params)
        return out.getvalue()
    return encode


def _avif(speed: int, advanced: tuple[tuple[str, str], ...] = engine._AOM_OPTIONS) -> Encoder:
    return _pillow("AVIF", speed=speed, subsampling="4:2:0", codec="aom", max_threads=1,
                   autotiling=False, advanced=advanced)


def _shipped(fmt: str) -> Encoder:
    return lambda image, quality: engine._encode(image, fmt, quality, engine.EngineSettings().avif_speed, XMP)


def _jpegli_baseline(image: Image.Image, quality: int) -> bytes:
    return pyjpegli.encode(np.ascontiguousarray(np.asarray(image)), image.width, image.height, quality=quality)


def _turbo(subsampling: str) -> Encoder:
    return _pillow("JPEG", subsampling=subsampling, progressive=True, optimize=True)


def _turbo_rewritten(image: Image.Image, quality: int) -> bytes:
    return mozjpeg_lossless_optimization.optimize(_turbo("4:2:0")(image, quality))


# Wide enough that every candidate's mean scores bracket 66..74 on photographs and renders.
AVIF_GRID = (36, 42, 48, 54, 60, 66)
FAST_GRID = (50, 58, 66, 74, 82)  # faster presets lose points at equal quality: reach higher
WEBP_GRID = (55, 65, 72, 78, 84, 90)
JPEGLI_GRID = (38, 46, 54, 62, 70, 78)
TURBO_GRID = (50, 60, 68, 76, 84, 90)

# (format, name, encoder, quality grid); the first of each format is what the engine ships.
CANDIDATES: list[tuple[str, str, Encoder, tuple[int, ...]]] = [
    ("avif", "shipped: libaom speed 6, sharpness 2", _shipped("avif"), AVIF_GRID),
    ("avif", "libaom speed 5 (sharp's effort 4)", _avif(5), AVIF_GRID),
    ("avif", "libaom speed 4", _avif(4), AVIF_GRID),
    ("avif", "libaom speed 3", _avif(3), AVIF_GRID),
    ("avif", "libaom speed 5, no rectangular partitions", _avif(5, engine._AOM_OPTIONS + (("enable-rect-partitions", "0"),)), AVIF_GRID),
    ("avif", "libaom speed 8", _avif(8), FAST_GRID),
    ("avif", "libaom speed 6, tune=ssim", _avif(6, engine._AOM_OPTIONS + (("tune", "ssim"),)), AVIF_GRID),
    ("webp", "shipped: libwebp method 6", _shipped("webp"), WEBP_GRID),
    ("webp", "libwebp method 4 (sharp's effort 4)", _pillow("WEBP", method=4), WEBP_GRID),
    ("webp", "libwebp method 5", _pillow("WEBP", method=5), WEBP_GRID),
    ("jpeg", "shipped: jpegli 4:2:0 + jpegtran progressive", _shipped("jpeg"), JPEGLI_GRID),
    ("jpeg", "jpegli 4:2:0, no rewrite", _jpegli_baseline, JPEGLI_GRID),
    ("jpeg", "libjpeg-turbo 4:2:0 progressive (sharp's)", _turbo("4:2:0"), TURBO_GRID),
    ("jpeg", "libjpeg-turbo 4:2:0 + jpegtran", _turbo_rewritten, TURBO_GRID),
    ("jpeg", "libjpeg-turbo 4:4:4 progressive", _turbo("4:4:4"), TURBO_GRID),
]


def _sources(paths: list[Path]) -> list[tuple[Image.Image, Ssimulacra2Reference]]:
    sources = []
    for path in paths:
        image = decode(path.read_bytes()).convert("RGB")
        if image.width != WIDTH:
            image = engine._resize(image, (WIDTH, max(1, round(image.height * WIDTH / image.width))))
        sources.append((image, Ssimulacra2Reference(image)))
    return sources


def measure(encoder: Encoder, grid: tuple[int, ...],
            sources: list[tuple[Image.Image, Ssimulacra2Reference]]) -> dict[str, Any]:
    """Mean score and bytes per quality of the grid, and the CPU seconds spent encoding."""
    jobs = [(i, q) for i in range(len(sources)) for q in grid]
    started = time.process_time()
    with ThreadPoolExecutor(2) as pool:
        files = list(pool.map(lambda job: encoder(sources[job[0]][0], job[1]), jobs))
    cpu = time.process_time() - started
    scores: dict[int, list[float]] = {q: [] for q in grid}
    sizes: dict[int, list[int]] = {q: [] for q in grid}
    for (i, q), data in zip(jobs, files):
        with Image.open(io.BytesIO(data)) as decoded:
            scores[q].append(sources[i][1].score(decoded.convert("RGB")))
        sizes[q].append(len(data))
    return {"cpu_s": round(cpu, 2), "points": [
        {"quality": q, "score": round(float(np.mean(scores[q])), 2), "bytes": round(float(np.mean(sizes[q])))}
        for q in grid]}


def bytes_at(points: list[dict[str, Any]], score: float) -> float | None:
    """Mean bytes at a mean score, log-linear between grid points; None outside the grid."""
    ordered = sorted(points, key=lambda p: p["score"])
    xs = [p["score"] for p in ordered]
    if not xs[0] <= score <= xs[-1]:
        return None
    return float(np.exp(np.interp(score, xs, np.log([p["bytes"] for p in ordered]))))


def main() -> int:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    OUT.mkdir(parents=True, exist_ok=True)
    paths = corpus.build(OUT / "corpus", quick=quick)
    sources = _sources(paths)
    print(f"frontier: {len(paths)} images at {WIDTH} px, {len(CANDIDATES)} candidates", flush=True)
    results: dict[str, list[dict[str, Any]]] = {}
    for fmt, name, encoder, grid in CANDIDATES:
        print(f"  {fmt}: {name}...", flush=True)
        results.setdefault(fmt, []).append({"name": name, **measure(encoder, grid, sources)})
    for fmt, rows in results.items():
        shipped = rows[0]
        for row in rows:
            ratios = {}
            for score in SCORES:
                theirs, ours = bytes_at(row["points"], score), bytes_at(shipped["points"], score)
                ratios[f"{score:g}"] = round(theirs / ours, 3) if theirs and ours else None
            row["bytes_at_equal_score"] = ratios
            row["cpu"] = round(row["cpu_s"] / shipped["cpu_s"], 2)
    report = {"width": WIDTH, "images": len(paths), "quick": quick, "formats": results,
              "floor": floor_under_target(results)}
    outputs.publish("frontier", report, table(report))
    return 0


def _best_ratio(rows: list[dict[str, Any]]) -> tuple[float, str]:
    """The smallest bytes ratio at the default target (70) any candidate reached, and whose."""
    best = (1.0, rows[0]["name"])
    for row in rows:
        ratio = row["bytes_at_equal_score"].get("70")
        if ratio is not None and ratio < best[0]:
            best = (ratio, row["name"])
    return best


def floor_under_target(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """imagepipe's measured bytes per format times the best ratio, against sharp-tuned."""
    path = OUT / "derivatives.json"
    if not path.exists():
        return None
    bench = json.loads(path.read_text())
    ours = bench["engines"]["imagepipe"]["bytes_per_set_by_format"]
    sharp = bench["engines"]["sharp-tuned"].get("bytes_per_set_by_format_at_equal_score")
    if not sharp:
        return None
    best = {fmt: _best_ratio(rows) for fmt, rows in results.items()}
    smallest = {fmt: ours[fmt] * best[fmt][0] for fmt in ours if fmt in best}
    return {
        "derivatives_run": bench.get("when"),
        "best_by_format": {fmt: {"ratio": r, "setting": n} for fmt, (r, n) in best.items()},
        "bytes_per_set_now": sum(ours.values()),
        "smallest_bytes_per_set": round(sum(smallest.values())),
        "sharp_tuned_bytes_per_set": sum(sharp.values()),
        "ratio_now": round(sum(ours.values()) / sum(sharp.values()), 3),
        "smallest_ratio": round(sum(smallest.values()) / sum(sharp.values()), 3),
    }


def table(report: dict[str, Any]) -> str:
    lines = [f"Encoder frontier at {report['width']} px, {report['images']} images "
             f"(bytes at equal mean SSIMULACRA2 vs the shipped setting; CPU vs shipped)", "",
             "| format | setting | bytes @66 | @70 | @74 | CPU |", "|---|---|---:|---:|---:|---:|"]
    for fmt, rows in report["formats"].items():
        for row in rows:
            r = row["bytes_at_equal_score"]
            cells = " | ".join("–" if r[f"{s:g}"] is None else f"{r[f'{s:g}']:.3f}" for s in SCORES)
            lines.append(f"| {fmt} | {row['name']} | {cells} | {row['cpu']:.2f}x |")
    floor = report["floor"]
    if floor:
        best = ", ".join(f"{fmt} {b['ratio']:.3f} ({b['setting']})" for fmt, b in floor["best_by_format"].items())
        lines += ["", f"Best per format at 70: {best}.",
                  f"imagepipe now: {floor['bytes_per_set_now'] / 1000:.0f} kB/set = {floor['ratio_now']:.3f}x "
                  f"sharp-tuned; with the best of every format at any CPU: "
                  f"{floor['smallest_bytes_per_set'] / 1000:.0f} kB/set = {floor['smallest_ratio']:.3f}x "
                  f"(from {floor['derivatives_run']})."]
    else:
        lines += ["", "Run `make bench` first to see the floor under the bytes target."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
