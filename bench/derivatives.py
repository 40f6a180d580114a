"""Derivatives benchmark: imagepipe against sharp (libvips) and a naive Pillow, on one corpus.

    make bench                  # about 8 minutes on 2 cores
    BENCH_QUICK=1 make bench    # 3 images, 1 round: a smoke run of about a minute
    BENCH_ROUNDS=2 make bench   # rounds of the fast engines (default 3)
    BENCH_IMAGEPIPE_ARGS="--avif-speed 8" make bench   # try other `imagepipe derive` options
    BENCH_NO_C2PA=1 make bench  # imagepipe without its C2PA Content Credentials

Engines, each a separate process that reads the originals and produces every variant of
every set (the ladder 320/640/960/1280/1920 capped at the source width, x AVIF, WebP, JPEG):

* ``imagepipe``: ``python -m imagepipe_tools.derive_cli --content-credentials`` (what ``imagepipe
  derive`` runs), the pipeline's engine and settings, each variant signed as served (C2PA
  manifest embedded, or a sidecar referenced by URL for small public variants): its time
  and bytes include provenance, as the pipeline publishes it.
* ``sharp-tuned``: sharp 0.35.5 (``bench/sharp_derive.js``, mode ``tuned``): decode once,
  every output in flight at once, 4:2:0, progressive JPEG, sharp's default efforts, the
  same XMP packet; its per-format qualities are calibrated here so that its mean
  SSIMULACRA2 at 640 px equals imagepipe's (within half a point where integer qualities
  allow).
* ``sharp-sih``: sharp as AWS's Serverless Image Handler calls it, one request per variant
  with its default options.
* ``naive-pillow``: ``bench/naive_pillow.py``.

Engines run interleaved (round-robin order rotating every round) so that load from other
processes on a shared machine spreads over all of them. Reported per engine: median wall
ms per set, median CPU ms per set, process CPU seconds, peak RSS of a process deriving the
2048 x 2048 source alone, bytes per format per set, mean SSIMULACRA2 per format at 640 px
(every engine's 640-px variant against the same exact Lanczos reference of the decoded
original), written to ``out/bench/derivatives.json``, ``derivatives.md`` and
``derivatives.png``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imagepipe.imaging.engine import DEFAULT_WIDTHS

from imagepipe.imaging.probe import decode

from imagepipe.imaging.xmp import digital_source_type_xmp
from imagepipe.imaging.quality import Ssimulacra2Reference

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = ROOT / "out" / "bench"
FORMATS = ("avif", "webp", "jpeg")
ENGINES = ("imagepipe", "sharp-tuned", "sharp-sih", "naive-pillow")
SCORE_WIDTH = 640
CORES = os.cpu_count() or 1
TARGETS = {"wall_vs_sharp_tuned": 0.5, "bytes_vs_sharp_tuned": 0.85, "speedup_vs_sih": 10.0,
           "rss_vs_sharp_tuned": 0.4, "wall_over_cpu_per_core": 1.15}


# -- running engines -------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path | None = None) -> tuple[str, dict[str, float]]:
    """Run a process to completion; return its stdout, CPU seconds and peak RSS.

    Peak RSS is the process's own high-water mark (``VmHWM`` in /proc, sampled every 2 ms
    until it exits): ``ru_maxrss`` would not do, as Linux carries the parent's high-water
    mark across fork and exec.
    """
    peak = 0

    def watch(pid: int) -> None:
        nonlocal peak
        status = Path(f"/proc/{pid}/status")
        while True:
            try:
                text = status.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
                    break
            else:
                return  # a zombie: the process has exited
            time.sleep(0.002)

    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=err)
        watcher = threading.Thread(target=watch, args=(proc.pid,), daemon=True)
        watcher.start()
        assert proc.stdout is not None
        stdout = proc.stdout.read().decode()
        watcher.join()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {err.read().decode()[-2000:]}")
    return stdout, {"cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_bytes": peak}


def _node_config(mode: str, paths: list[Path], out: Path, widths: tuple[int, ...],
                 quality: dict[str, int] | None = None, formats: tuple[str, ...] = FORMATS) -> Path:
    config = {
        "mode": mode, "inputs": [str(p) for p in paths], "widths": list(widths),
        "out": str(out), "formats": list(formats),
        "quality": quality or {}, "effort": {"avif": 4, "webp": 4},
        "xmp": digital_source_type_xmp().decode(),
    }
    handle, name = tempfile.mkstemp(suffix=".json", prefix="sharp-", dir=OUT)
    with os.fdopen(handle, "w") as f:
        json.dump(config, f)
    return Path(name)


def run_engine(engine: str, paths: list[Path], out: Path, *,
               sharp_quality: dict[str, int] | None = None,
               widths: tuple[int, ...] = DEFAULT_WIDTHS,
               formats: tuple[str, ...] = FORMATS) -> dict[str, Any]:
    """Run one engine over ``paths``; return per-set records and the process's rusage.

    Each record: path, ms, cpu_ms, variants [{width, height, format, bytes, file}].
    """
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if engine == "imagepipe":
        cmd = [sys.executable, "-m", "imagepipe_tools.derive_cli", *map(str, paths),
               "--out", str(out), "--json",
               "--widths", *map(str, widths), "--formats", *formats,
               # as served: every variant carries its C2PA Content Credentials (BENCH_NO_C2PA=1: without)
               *([] if os.environ.get("BENCH_NO_C2PA") == "1" else ["--content-credentials"]),
               *os.environ.get("BENCH_IMAGEPIPE_ARGS", "").split()]
        stdout, usage = _run(cmd, cwd=ROOT)
        sets = []
        for r in json.loads(stdout)["results"]:
            root = Path(r["files"][0]).parents[len(Path(r["manifest_key"]).parts) - 1]
            sets.append({"path": r["path"], "ms": r["ms"], "cpu_ms": r["cpu_ms"], "variants": [
                {"width": v["width"], "height": v["height"], "format": v["format"], "bytes": v["bytes"],
                 "file": str(root / v["key"]), "quality": v["quality"], "score": v["score"]}
                for v in r["manifest"]["variants"]]})
        return {"sets": sets, **usage}
    if engine == "naive-pillow":
        config = _node_config("naive", paths, out, widths)
        try:
            stdout, usage = _run([sys.executable, str(BENCH / "naive_pillow.py"), str(config)], cwd=ROOT)
        finally:
            config.unlink()
        return {"sets": [json.loads(line) for line in stdout.splitlines()], **usage}
    mode = {"sharp-tuned": "tuned", "sharp-sih": "sih"}[engine]
    config = _node_config(mode, paths, out, widths, sharp_quality, formats)
    try:
        stdout, usage = _run(["node", str(BENCH / "sharp_derive.js"), str(config)], cwd=BENCH)
    finally:
        config.unlink()
    lines = [json.loads(line) for line in stdout.splitlines()]
    return {"sets": [line for line in lines if "path" in line], **usage}


# -- quality ---------------------------------------------------------------------------------


class References:
    """Exact Lanczos references of each decoded original, per output size (cached)."""

    def __init__(self) -> None:
        self._sources: dict[str, Image.Image] = {}
        self._refs: dict[tuple[str, tuple[int, int]], Ssimulacra2Reference] = {}

    def score(self, original: str, variant_file: str) -> float:
        with Image.open(variant_file) as im:
            im.load()
            distorted = im.convert("RGB")
        key = (original, distorted.size)
        if key not in self._refs:
            if original not in self._sources:
                self._sources[original] = decode(Path(original).read_bytes()).convert("RGB")
            exact = self._sources[original].resize(distorted.size, Image.Resampling.LANCZOS)
            self._refs[key] = Ssimulacra2Reference(exact)
        return self._refs[key].score(distorted)

    def exact(self, original: str, size: tuple[int, int]) -> Image.Image:
        if original not in self._sources:
            self._sources[original] = decode(Path(original).read_bytes()).convert("RGB")
        return self._sources[original].resize(size, Image.Resampling.LANCZOS)


def mean_scores_at(sets: list[dict[str, Any]], refs: References, width: int = SCORE_WIDTH) -> dict[str, float]:
    scores: dict[str, list[float]] = defaultdict(list)
    for s in sets:
        for v in s["variants"]:
            if v["width"] == width:
                scores[v["format"]].append(refs.score(s["path"], v["file"]))
    return {fmt: float(np.mean(vals)) for fmt, vals in scores.items()}


def calibrate_sharp(paths: list[Path], goal: dict[str, float], refs: References) -> tuple[dict[str, int], dict]:
    """Find sharp qualities whose mean SSIMULACRA2 at 640 px matches ``goal``, per format.

    Secant steps on the corpus mean (sharp at 640 px only), integer qualities; keeps the
    tried quality nearest the goal.
    """
    start = {"avif": 50, "webp": 75, "jpeg": 72}
    tried: dict[str, dict[int, float]] = {fmt: {} for fmt in FORMATS}
    sizes: dict[str, dict[int, float]] = {fmt: {} for fmt in FORMATS}  # mean bytes at 640 px
    quality = dict(start)
    for _ in range(5):
        pending = {fmt: q for fmt, q in quality.items() if q not in tried[fmt]}
        if not pending:
            break
        out = OUT / "calibrate"
        run = run_engine("sharp-tuned", paths, out, widths=(SCORE_WIDTH,),
                         sharp_quality={**quality}, formats=tuple(pending))
        for fmt, score in mean_scores_at(run["sets"], refs).items():
            tried[fmt][pending[fmt]] = score
            sizes[fmt][pending[fmt]] = float(np.mean([v["bytes"] for st in run["sets"]
                                                      for v in st["variants"] if v["format"] == fmt]))
        for fmt in FORMATS:
            pts = sorted(tried[fmt].items())
            best = min(pts, key=lambda p: abs(p[1] - goal[fmt]))
            if abs(best[1] - goal[fmt]) <= 0.35:
                quality[fmt] = best[0]
                continue
            below = [p for p in pts if p[1] < goal[fmt]]
            above = [p for p in pts if p[1] >= goal[fmt]]
            if below and above:
                (q0, s0), (q1, s1) = max(below), min(above)
                if q1 - q0 <= 1:
                    quality[fmt] = best[0]
                    continue
                guess = q0 + (goal[fmt] - s0) * (q1 - q0) / max(s1 - s0, 1e-6)
                quality[fmt] = min(max(round(guess), q0 + 1), q1 - 1)
            else:
                q, s = best
                quality[fmt] = int(min(max(round(q + (goal[fmt] - s) * 1.8), 5), 98))
    chosen = {fmt: min(tried[fmt].items(), key=lambda p: abs(p[1] - goal[fmt]))[0] for fmt in FORMATS}
    return chosen, {fmt: {str(q): {"ssimulacra2_640": round(s, 2), "bytes_640": round(sizes[fmt][q])}
                          for q, s in sorted(t.items())} for fmt, t in tried.items()}


def bytes_at_equal_score(calibration: dict, chosen: dict[str, int], goal: dict[str, float],
                         measured: dict[str, float]) -> dict[str, float]:
    """Sharp's bytes per set per format, moved from its integer quality to exactly ``goal``.

    Integer qualities leave sharp's mean score up to ~0.5 point off imagepipe's. The
    calibration runs give sharp's mean 640-px bytes against mean score at several
    qualities; the per-set bytes measured at the chosen quality are scaled by the ratio of
    the (log-linearly) interpolated 640-px bytes at the goal score to those at the chosen
    quality. Outside the calibrated range the measured value is kept.
    """
    out = {}
    for fmt in FORMATS:
        points = sorted((p["ssimulacra2_640"], p["bytes_640"]) for p in calibration[fmt].values())
        scores = [p[0] for p in points]
        here = calibration[fmt][str(chosen[fmt])]
        if len(points) < 2 or not scores[0] <= goal[fmt] <= scores[-1]:
            out[fmt] = measured[fmt]
            continue
        at_goal = float(np.exp(np.interp(goal[fmt], scores, np.log([p[1] for p in points]))))
        out[fmt] = measured[fmt] * at_goal / here["bytes_640"]
    return out


def cross_check(sets: list[dict[str, Any]], refs: References, limit: int) -> dict[str, Any]:
    """Compare imagepipe's SSIMULACRA2 with the ``ssimulacra2`` package on a few 640-px files."""
    try:
        import ssimulacra2 as reference_impl
    except ImportError:
        return {"skipped": "the ssimulacra2 package is not installed"}
    pairs = []
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        for s in sets[:limit]:
            for v in s["variants"]:
                if v["width"] != SCORE_WIDTH:
                    continue
                with Image.open(v["file"]) as im:
                    distorted = im.convert("RGB")
                ref_path, dist_path = Path(tmp) / "ref.png", Path(tmp) / "dist.png"
                refs.exact(s["path"], distorted.size).save(ref_path)
                distorted.save(dist_path)
                theirs = float(reference_impl.compute_ssimulacra2(str(ref_path), str(dist_path)))
                ours = refs.score(s["path"], v["file"])
                pairs.append((ours, theirs))
    diffs = [a - b for a, b in pairs]
    return {"pairs": len(pairs), "mean_difference": round(float(np.mean(diffs)), 2),
            "max_abs_difference": round(float(np.max(np.abs(diffs))), 2),
            "correlation": round(float(np.corrcoef(np.array(pairs).T)[0, 1]), 4) if len(pairs) > 2 else None}


# -- the run ---------------------------------------------------------------------------------


def summarise(engine: str, rounds: list[dict[str, Any]], refs: References,
              rss: dict[str, float] | None) -> dict[str, Any]:
    first = rounds[0]["sets"]
    per_set_ms = [statistics.median(r["sets"][i]["ms"] for r in rounds) for i in range(len(first))]
    per_set_cpu = [statistics.median(r["sets"][i]["cpu_ms"] for r in rounds) for i in range(len(first))]
    bytes_by_format = {fmt: sum(v["bytes"] for s in first for v in s["variants"] if v["format"] == fmt)
                       / len(first) for fmt in FORMATS}
    return {
        "median_ms_per_set": round(statistics.median(per_set_ms), 1),
        "median_cpu_ms_per_set": round(statistics.median(per_set_cpu), 1),
        "total_ms": round(sum(per_set_ms), 1),
        "total_cpu_ms": round(sum(per_set_cpu), 1),
        "process_cpu_s": round(statistics.median(r["cpu_s"] for r in rounds), 2),
        "peak_rss_2048_bytes": rss["peak_rss_bytes"] if rss else None,
        "bytes_per_set": round(sum(bytes_by_format.values())),
        "bytes_per_set_by_format": {k: round(v) for k, v in bytes_by_format.items()},
        "ssimulacra2_640_by_format": {k: round(v, 2) for k, v in mean_scores_at(first, refs).items()},
        "rounds": len(rounds),
        "per_set_ms": {Path(s["path"]).name: round(ms, 1) for s, ms in zip(first, per_set_ms)},
    }


def main() -> int:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    rounds = int(os.environ.get("BENCH_ROUNDS", "1" if quick else "3"))
    slow_rounds = 1  # sharp-sih and naive-pillow take seconds per set; one round is enough
    OUT.mkdir(parents=True, exist_ok=True)
    if not (BENCH / "node_modules" / "sharp").exists():
        print("sharp is not installed: run `make bench` (npm ci in bench/)", file=sys.stderr)
        return 2
    started = time.monotonic()
    paths = corpus.build(OUT / "corpus", quick=quick)
    refs = References()
    print(f"corpus: {len(paths)} sets ({'quick' if quick else 'full'}), {rounds} round(s), {CORES} cores")

    print("imagepipe: first run (sets the quality to match)...", flush=True)
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    runs["imagepipe"].append(run_engine("imagepipe", paths, OUT / "imagepipe"))
    goal = mean_scores_at(runs["imagepipe"][0]["sets"], refs)
    print("  imagepipe mean SSIMULACRA2 at 640: " + ", ".join(f"{k} {v:.2f}" for k, v in goal.items()))
    print("calibrating sharp-tuned qualities to the same scores...", flush=True)
    sharp_quality, calibration = calibrate_sharp(paths, goal, refs)
    print(f"  sharp-tuned qualities: {sharp_quality}")

    order = list(ENGINES)
    for r in range(rounds):
        for engine in order[r % len(order):] + order[: r % len(order)]:
            if engine == "imagepipe" and r == 0:
                continue  # the calibration run above is round 0
            if engine in ("sharp-sih", "naive-pillow") and r >= slow_rounds:
                continue
            # Round 0 keeps its files (bytes and scores come from them); later rounds only time.
            out = OUT / engine if r == 0 else OUT / "scratch" / engine
            print(f"round {r + 1}: {engine}...", flush=True)
            runs[engine].append(run_engine(engine, paths, out, sharp_quality=sharp_quality))
    mosaic = [p for p in paths if p.stem == "mosaic-2048"]
    rss: dict[str, dict[str, float]] = {}
    if mosaic:
        for engine in ("imagepipe", "sharp-tuned"):
            rss[engine] = run_engine(engine, mosaic, OUT / "scratch" / f"{engine}-2048",
                                     sharp_quality=sharp_quality)
    shutil.rmtree(OUT / "scratch", ignore_errors=True)
    shutil.rmtree(OUT / "calibrate", ignore_errors=True)
    results = {e: summarise(e, runs[e], refs, rss.get(e)) for e in ENGINES}
    ip, st, sih = results["imagepipe"], results["sharp-tuned"], results["sharp-sih"]
    equal = bytes_at_equal_score(calibration, sharp_quality, goal, st["bytes_per_set_by_format"])
    st["bytes_per_set_at_equal_score"] = round(sum(equal.values()))
    st["bytes_per_set_by_format_at_equal_score"] = {k: round(v) for k, v in equal.items()}
    ratios = {
        "wall_vs_sharp_tuned": ip["median_ms_per_set"] / st["median_ms_per_set"],
        "bytes_vs_sharp_tuned": ip["bytes_per_set"] / st["bytes_per_set_at_equal_score"],
        "bytes_vs_sharp_tuned_as_run": ip["bytes_per_set"] / st["bytes_per_set"],
        "bytes_by_format_vs_sharp_tuned": {
            fmt: round(ip["bytes_per_set_by_format"][fmt] / equal[fmt], 3) for fmt in FORMATS},
        "speedup_vs_sih": sih["median_ms_per_set"] / ip["median_ms_per_set"],
        "rss_vs_sharp_tuned": (ip["peak_rss_2048_bytes"] / st["peak_rss_2048_bytes"]
                               if mosaic else None),
        "wall_over_cpu_per_core": ip["total_ms"] / (ip["total_cpu_ms"] / CORES),
        "score_gap_640": {fmt: round(ip["ssimulacra2_640_by_format"][fmt]
                                     - st["ssimulacra2_640_by_format"][fmt], 2) for fmt in FORMATS},
    }
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cores": CORES, "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_at_end": os.getloadavg()},
        "quick": quick, "rounds": rounds, "corpus": [p.name for p in paths],
        "imagepipe_args": os.environ.get("BENCH_IMAGEPIPE_ARGS", ""),
        "sharp_tuned_quality": sharp_quality, "sharp_calibration": calibration,
        "ssimulacra2_cross_check": cross_check(runs["imagepipe"][0]["sets"], refs, 2 if quick else 4),
        "engines": results, "ratios": ratios, "targets": TARGETS,
        "seconds": round(time.monotonic() - started, 1),
    }
    (OUT / "derivatives.json").write_text(json.dumps(report, indent=2))
    (OUT / "derivatives.md").write_text(table(report))
    chart(report, OUT / "derivatives.png")
    print()
    print(table(report))
    print(verdict(ratios))
    print(f"\nwrote {OUT / 'derivatives.json'}, derivatives.md and derivatives.png "
          f"in {report['seconds']:.0f} s")
    return 0


def table(report: dict[str, Any]) -> str:
    rows = ["| engine | median ms/set | CPU ms/set | peak RSS 2048² | bytes/set | AVIF | WebP | JPEG "
            "| SSIMULACRA2 @640 AVIF / WebP / JPEG |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in report["engines"].items():
        rss = f"{r['peak_rss_2048_bytes'] / 2**20:.0f} MB" if r["peak_rss_2048_bytes"] else "–"
        b = r["bytes_per_set_by_format"]
        s = r["ssimulacra2_640_by_format"]
        rows.append(f"| {name} | {r['median_ms_per_set']:.0f} | {r['median_cpu_ms_per_set']:.0f} | {rss} "
                    f"| {r['bytes_per_set'] / 1000:.0f} kB | {b['avif'] / 1000:.0f} kB | {b['webp'] / 1000:.0f} kB "
                    f"| {b['jpeg'] / 1000:.0f} kB | {s['avif']:.1f} / {s['webp']:.1f} / {s['jpeg']:.1f} |")
    return "\n".join(rows) + "\n"


def verdict(ratios: dict[str, Any]) -> str:
    lines = ["", "ratios (imagepipe vs anchors):"]
    checks = [
        ("wall / sharp-tuned", ratios["wall_vs_sharp_tuned"], "<=", TARGETS["wall_vs_sharp_tuned"]),
        ("bytes / sharp-tuned", ratios["bytes_vs_sharp_tuned"], "<=", TARGETS["bytes_vs_sharp_tuned"]),
        ("speed-up vs sharp-sih", ratios["speedup_vs_sih"], ">=", TARGETS["speedup_vs_sih"]),
        ("peak RSS / sharp-tuned (2048²)", ratios["rss_vs_sharp_tuned"], "<=", TARGETS["rss_vs_sharp_tuned"]),
        ("wall / (CPU / cores)", ratios["wall_over_cpu_per_core"], "<=", TARGETS["wall_over_cpu_per_core"]),
    ]
    for name, value, op, target in checks:
        if value is None:
            lines.append(f"  {name:32} n/a")
            continue
        ok = value <= target if op == "<=" else value >= target
        lines.append(f"  {name:32} {value:6.2f}  (target {op} {target})  {'PASS' if ok else 'MISS'}")
    per_format = ", ".join(f"{k} {v:.2f}" for k, v in ratios["bytes_by_format_vs_sharp_tuned"].items())
    lines.append(f"  bytes by format (at equal score): {per_format}; as run (integer qualities): "
                 f"{ratios['bytes_vs_sharp_tuned_as_run']:.2f}")
    gap = ", ".join(f"{k} {v:+.2f}" for k, v in ratios["score_gap_640"].items())
    lines.append(f"  SSIMULACRA2 gap at 640 (imagepipe - sharp-tuned): {gap} (equal quality: within 1)")
    return "\n".join(lines)


def chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["engines"])
    engines = report["engines"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    times = [engines[n]["median_ms_per_set"] for n in names]
    left.barh(names, times, color=["#2a7" if n == "imagepipe" else "#888" for n in names])
    left.set_xscale("log")
    left.set_xlabel("median wall ms per set (log scale)")
    for y, t in enumerate(times):
        left.text(t, y, f" {t:.0f}", va="center", fontsize=9)
    bottom = np.zeros(len(names))
    for fmt, colour in zip(FORMATS, ("#36c", "#e93", "#b44")):
        kb = np.array([engines[n]["bytes_per_set_by_format"][fmt] / 1000 for n in names])
        right.barh(names, kb, left=bottom, color=colour, label=fmt.upper())
        bottom += kb
    right.set_xlabel("kB per set (as served)")
    right.legend(loc="lower right", fontsize=8)
    right.set_yticks([])
    fig.suptitle(f"Derivative sets: {len(report['corpus'])} images, {report['machine']['cores']} cores; "
                 "sharp-tuned at equal SSIMULACRA2 (640 px)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
