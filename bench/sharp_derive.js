#!/usr/bin/env node
// The sharp (libvips) anchor of the derivatives benchmark.
//
//   node bench/sharp_derive.js CONFIG.json
//
// CONFIG: {"mode": "tuned" | "sih", "inputs": [paths], "widths": [...], "out": dir | null,
//          "quality": {"avif": q, "webp": q, "jpeg": q}, "effort": {"avif": e, "webp": e},
//          "xmp": "<x:xmpmeta ...>", "concurrency": n}
//
// mode "tuned": what a careful engineer does with sharp for a derivative set: the input is
//   decoded once (auto-oriented, sRGB, raw pixels in memory) and every (width, format) output
//   is a pipeline on those pixels, all in flight at once; 4:2:0 everywhere; progressive
//   JPEG with optimised Huffman tables; the same XMP packet as imagepipe; qualities and
//   efforts from CONFIG (the benchmark calibrates qualities to equal SSIMULACRA2).
// mode "sih": what AWS's Serverless Image Handler does per request, one request per
//   variant, one after another: metadata(), then sharp(original, {failOn: 'none'})
//   .withMetadata({orientation}).resize({width, fit: 'inside'}).toFormat(fmt) with sharp's
//   default options (JPEG q80, WebP q80, AVIF q50 effort 4 4:4:4).
//
// Prints one JSON line per input: {"path", "ms", "cpu_ms", "width", "height", "variants"},
// then {"peak_rss_bytes": n, "cpu_s": s}.
"use strict";

const fs = require("fs");
const path = require("path");
const sharp = require("sharp");

const EXT = { avif: "avif", webp: "webp", jpeg: "jpg" };

function planWidths(sourceWidth, ladder) {
  const steps = [...new Set(ladder.filter((w) => w > 0))].sort((a, b) => a - b);
  const planned = new Set(steps.filter((w) => w <= sourceWidth));
  if (!steps.length || sourceWidth < steps[steps.length - 1]) planned.add(sourceWidth);
  return [...planned].sort((a, b) => a - b);
}

function encoder(pipeline, fmt, cfg) {
  const q = cfg.quality[fmt];
  if (fmt === "avif") {
    return pipeline.avif({ quality: q, effort: cfg.effort.avif, chromaSubsampling: "4:2:0" });
  }
  if (fmt === "webp") return pipeline.webp({ quality: q, effort: cfg.effort.webp });
  return pipeline.jpeg({ quality: q, progressive: true, optimiseCoding: true, chromaSubsampling: "4:2:0" });
}

async function tunedSet(input, cfg) {
  const { data, info } = await sharp(input, { failOn: "error" })
    .autoOrient()
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
  const hasAlpha = info.channels === 4;
  const widths = planWidths(info.width, cfg.widths);
  const jobs = [];
  for (const fmt of cfg.formats) {
    for (const w of widths) {
      let p = sharp(data, raw);
      if (w !== info.width) p = p.resize({ width: w, kernel: "lanczos3" });
      if (fmt === "jpeg" && hasAlpha) p = p.flatten({ background: "#ffffff" });
      if (cfg.xmp) p = p.withXmp(cfg.xmp);
      jobs.push(encoder(p, fmt, cfg).toBuffer({ resolveWithObject: true }).then((r) => ({ fmt, ...r })));
    }
  }
  return { width: info.width, height: info.height, outputs: await Promise.all(jobs) };
}

async function sihSet(input, cfg) {
  // One Lambda request per variant, as the solution serves them.
  const outputs = [];
  const meta = await sharp(input).metadata();
  const upright = meta.autoOrient || { width: meta.width, height: meta.height };
  const widths = planWidths(upright.width, cfg.widths);
  for (const fmt of cfg.formats) {
    for (const w of widths) {
      const options = { failOn: "none", animated: false };
      const m = await sharp(input, options).metadata();
      let p = m.orientation
        ? sharp(input, options).withMetadata({ orientation: m.orientation })
        : sharp(input, options).withMetadata();
      p = p.resize({ width: w, fit: "inside" }).toFormat(fmt === "jpeg" ? "jpeg" : fmt);
      const r = await p.toBuffer({ resolveWithObject: true });
      outputs.push({ fmt, ...r });
    }
  }
  return { width: upright.width, height: upright.height, outputs };
}

async function main() {
  const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  cfg.formats = cfg.formats || ["avif", "webp", "jpeg"];
  if (cfg.concurrency) sharp.concurrency(cfg.concurrency);
  sharp.cache(false);
  const run = cfg.mode === "sih" ? sihSet : tunedSet;
  for (const file of cfg.inputs) {
    const input = fs.readFileSync(file);
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const set = await run(input, cfg);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    const variants = [];
    const stem = path.basename(file).replace(/\.[^.]+$/, "");
    for (const o of set.outputs) {
      let written = null;
      if (cfg.out) {
        fs.mkdirSync(path.join(cfg.out, stem), { recursive: true });
        written = path.join(cfg.out, stem, `${o.info.width}w.${EXT[o.fmt]}`);
        fs.writeFileSync(written, o.data);
      }
      variants.push({ width: o.info.width, height: o.info.height, format: o.fmt, bytes: o.data.length, file: written });
    }
    process.stdout.write(JSON.stringify({
      path: file, ms, cpu_ms: (cpu.user + cpu.system) / 1000, width: set.width, height: set.height, variants,
    }) + "\n");
  }
  const usage = process.resourceUsage();
  process.stdout.write(JSON.stringify({
    peak_rss_bytes: usage.maxRSS * 1024, cpu_s: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
  }) + "\n");
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
