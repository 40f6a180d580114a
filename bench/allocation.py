"""Per-image quality allocation: can choosing each image's quality beat one quality for all?

    make bench-allocation        # about 3 minutes on 2 cores
    BENCH_QUICK=1 make bench-allocation

The derivatives benchmark compares engines at equal *mean* SSIMULACRA2 at 640 px over the
corpus, and counts the bytes of whole sets (every width). This study encodes every image's
whole set with the shipped encoders at a grid of qualities, so that each image's curve
(score at 640 px against set bytes) is known exactly, and then compares allocation
policies at the same mean score (the default target, 70):

* ``one quality``: the same quality for every image (what sharp-tuned does); the baseline.
* ``shipped floor``: what the engine does (`imagepipe.imaging.engine`): the target's typical
  quality, lifted where the 320-px probe scores under ``target - floor_margin``.
* ``every image on the target``: each image's quality chosen so it scores the same.
* ``per image, bytes per point per pixel`` and ``per image, relative bytes per point``:
  each image on its own, at the quality where one more point costs a fixed number of bytes
  per source pixel (or a fixed fraction of its size), knowing its curve exactly: the best
  any per-image rule could do.
* ``corpus oracle``: equal marginal bytes per point across the whole corpus (Lagrangian),
  also with a floor 8 points under the mean. This is the true optimum for the benchmark's
  metric, but it trades quality between images, which a pipeline that sees one image at a
  time cannot do.

For each: bytes relative to one quality, and the lowest image score at 640 px.
Results: ``out/bench/allocation.json`` and ``allocation.md``.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imagepipe.imaging.probe import decode

from imagepipe.imaging.xmp import digital_source_type_xmp

from imagepipe.imaging import engine
from imagepipe.imaging.quality import Ssimulacra2Reference

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
import outputs  # noqa: E402

OUT = outputs.OUT
SCORE_WIDTH = 640
TARGET = 70.0
GRID = {"avif": (36, 42, 47, 52, 57, 62, 68), "webp": (55, 64, 70, 75, 80, 85, 90),
        "jpeg": (44, 52, 57, 62, 67, 72, 80)}
FINE = 400  # points per interpolated curve


def _score(reference: Ssimulacra2Reference, data: bytes) -> float:
    with Image.open(io.BytesIO(data)) as decoded:
        return reference.score(decoded.convert("RGB"))


def measure_image(path: Path, settings: engine.EngineSettings) -> dict[str, Any]:
    """Set bytes and scores (640 px, and the 320-px probe) per format and grid quality."""
    source = decode(path.read_bytes())
    widths = engine.plan_widths(source.width, settings.widths)
    sized = {w: engine._resize(source, (w, max(1, round(source.height * w / source.width)))) for w in widths}
    rgb = source.convert("RGB")
    references = {w: Ssimulacra2Reference(rgb.resize(sized[w].size, Image.Resampling.LANCZOS))
                  for w in (SCORE_WIDTH, settings.probe_width) if w in sized}
    xmp = digital_source_type_xmp()
    jobs = [(fmt, q, w) for fmt, grid in GRID.items() for q in grid for w in widths]
    with ThreadPoolExecutor(settings.threads) as pool:
        files = list(pool.map(lambda job: engine._encode(sized[job[2]], job[0], job[1], settings.avif_speed, xmp), jobs))
    curves: dict[str, dict[str, list[float]]] = {
        fmt: {"quality": list(grid), "bytes": [0.0] * len(grid), "score": [0.0] * len(grid),
              "probe_score": [0.0] * len(grid)} for fmt, grid in GRID.items()}
    for (fmt, q, w), data in zip(jobs, files):
        curve, i = curves[fmt], GRID[fmt].index(q)
        curve["bytes"][i] += len(data)
        if w == SCORE_WIDTH:
            curve["score"][i] = _score(references[w], data)
        if w == settings.probe_width:
            curve["probe_score"][i] = _score(references[w], data)
    return {"name": path.name, "pixels": source.width * source.height,
            "has_score_width": SCORE_WIDTH in sized, "curves": curves}


class Curve:
    """One image's set bytes and scores as functions of quality (log-linear in bytes)."""

    def __init__(self, curve: dict[str, list[float]], pixels: int) -> None:
        self.q = np.array(curve["quality"], float)
        self.pixels = pixels
        self.fine_q = np.linspace(self.q[0], self.q[-1], FINE)
        self.score = np.interp(self.fine_q, self.q, curve["score"])
        self.probe = np.interp(self.fine_q, self.q, curve["probe_score"])
        self.bytes = np.exp(np.interp(self.fine_q, self.q, np.log(curve["bytes"])))

    def at(self, quality: float) -> tuple[float, float]:
        """(score, bytes) at a quality."""
        i = int(np.argmin(np.abs(self.fine_q - quality)))
        return float(self.score[i]), float(self.bytes[i])


Rule = Callable[[Curve, float], float]  # (curve, knob) -> chosen quality


def _fixed(curve: Curve, quality: float) -> float:
    return quality


def _best(values: np.ndarray, allowed: np.ndarray, curve: Curve) -> float:
    return float(curve.fine_q[int(np.argmax(np.where(allowed, values, -np.inf)))])


def _per_pixel(curve: Curve, lam: float) -> float:
    return _best(lam * curve.pixels * curve.score - curve.bytes, np.ones(FINE, bool), curve)


def _relative(curve: Curve, mu: float) -> float:
    return _best(mu * curve.score - np.log(curve.bytes), np.ones(FINE, bool), curve)


def _on_target(curve: Curve, score: float) -> float:
    order = np.argsort(curve.score)
    return float(np.interp(score, curve.score[order], curve.fine_q[order]))


def _oracle(floor: float | None) -> Rule:
    def rule(curve: Curve, lam: float) -> float:
        allowed = curve.score >= min(floor, curve.score.max()) if floor is not None else np.ones(FINE, bool)
        return _best(lam * curve.score - curve.bytes, allowed, curve)
    return rule


def _shipped_floor(fmt: str, settings: engine.EngineSettings) -> Rule:
    """The engine's policy on exact curves: typical quality, lifted to the floor on the probe."""
    def rule(curve: Curve, target: float) -> float:
        start = settings.quality_for(fmt) + (target - engine._CALIBRATED_TARGET) * engine._QUALITY_PER_POINT[fmt]
        floor = target - settings.floor_margin - engine._SCORE_TOLERANCE
        if curve.probe[int(np.argmin(np.abs(curve.fine_q - start)))] >= floor:
            return start
        lifted = np.nonzero((curve.probe >= floor) & (curve.fine_q >= start))[0]
        return float(curve.fine_q[lifted[0]]) if lifted.size else float(curve.fine_q[-1])
    return rule


def at_mean(curves: list[Curve], rule: Rule, knobs: np.ndarray, mean: float) -> dict[str, float] | None:
    """Apply a rule at the knob where the mean score reaches ``mean`` (knobs ascending).

    Bytes are interpolated linearly between the last knob under the mean and the first at
    or over it, as rules that pick per image jump between qualities.
    """
    previous = None
    for knob in knobs:
        picks = [curve.at(rule(curve, knob)) for curve in curves]
        now = {"bytes": sum(b for _, b in picks), "mean_score": float(np.mean([s for s, _ in picks])),
               "min_score": min(s for s, _ in picks)}
        if now["mean_score"] >= mean:
            if previous is not None and now["mean_score"] > previous["mean_score"]:
                share = (mean - previous["mean_score"]) / (now["mean_score"] - previous["mean_score"])
                now["bytes"] = previous["bytes"] + share * (now["bytes"] - previous["bytes"])
            return now
        previous = now
    return None


def policies(fmt: str, curves: list[Curve], settings: engine.EngineSettings) -> dict[str, Any]:
    shipped = _shipped_floor(fmt, settings)
    shipped_mean = float(np.mean([c.at(shipped(c, TARGET))[0] for c in curves]))
    mean = shipped_mean  # compare everything at the mean score the shipped policy reaches
    quality_knobs = curves[0].fine_q
    rows = {
        "one quality": at_mean(curves, _fixed, quality_knobs, mean),
        "shipped floor": {"bytes": sum(c.at(shipped(c, TARGET))[1] for c in curves),
                          "min_score": min(c.at(shipped(c, TARGET))[0] for c in curves), "mean_score": mean},
        "every image on the target": at_mean(curves, _on_target, np.linspace(40, 95, 1100), mean),
        "per image, bytes per point per pixel": at_mean(curves, _per_pixel, np.geomspace(1e-5, 1, 1500), mean),
        "per image, relative bytes per point": at_mean(curves, _relative, np.geomspace(1e-3, 1, 1500), mean),
        "corpus oracle": at_mean(curves, _oracle(None), np.geomspace(1, 1e7, 2000), mean),
        "corpus oracle, floor mean - 8": at_mean(curves, _oracle(mean - 8), np.geomspace(1, 1e7, 2000), mean),
    }
    base = rows["one quality"]["bytes"]
    return {"mean_score": round(mean, 2), "policies": {
        name: None if r is None else {"bytes_vs_one_quality": round(r["bytes"] / base, 3),
                                      "min_score": round(r["min_score"], 1)} for name, r in rows.items()}}


def main() -> int:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    settings = engine.EngineSettings()
    OUT.mkdir(parents=True, exist_ok=True)
    paths = corpus.build(OUT / "corpus", quick=quick)
    images = []
    for path in paths:
        print(f"  {path.name}...", flush=True)
        images.append(measure_image(path, settings))
    images = [im for im in images if im["has_score_width"]]
    report: dict[str, Any] = {"target": TARGET, "images": [im["name"] for im in images], "formats": {}}
    for fmt in GRID:
        curves = [Curve(im["curves"][fmt], im["pixels"]) for im in images]
        report["formats"][fmt] = policies(fmt, curves, settings)
    outputs.publish("allocation", report, table(report))
    return 0


def table(report: dict[str, Any]) -> str:
    formats = list(report["formats"])
    names = list(report["formats"][formats[0]]["policies"])
    lines = [f"Set bytes at equal mean SSIMULACRA2 (640 px) vs one quality for all; lowest image score "
             f"({len(report['images'])} images; mean " + ", ".join(
                 f"{fmt} {report['formats'][fmt]['mean_score']:.1f}" for fmt in formats) + ")", "",
             "| policy | " + " | ".join(fmt.upper() for fmt in formats) + " |",
             "|---|" + "---:|" * len(formats)]
    for name in names:
        cells = []
        for fmt in formats:
            r = report["formats"][fmt]["policies"][name]
            cells.append("–" if r is None else f"{r['bytes_vs_one_quality']:.3f} (min {r['min_score']:.0f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
