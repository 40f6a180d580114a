"""`imagepipe derive PATH... --out DIR [--json]`: the published variant set of local files.

For each input this runs the same engine with the same settings as the derivatives stage,
names every variant with `imagepipe.keys.variant_key` (content-hashed) and writes it under
``DIR/<key>``, then writes the asset's manifest (`imagepipe.models.Manifest`) under
``DIR/<manifest key>``: exactly the layout the variants bucket gets, without any AWS. The
asset id is derived from the file's content, so the same file always gets the same keys.

With ``--content-credentials`` every variant is signed as the derivatives stage signs it
(C2PA manifest with the input as ``parentOf`` ingredient; embedded, or a sidecar under
``c2pa/`` referenced by URL where the embedded manifest would cost more than 1 % of a
public variant), with the local certificate chain in ``.imagepipe/``: the bytes written
are then the bytes served, and the timings include signing. It does not blur faces or
check moderation.

With ``--json`` it prints one JSON document: per input, the asset id, the manifest, the
paths written, and the wall and CPU milliseconds spent deriving (decode to last encode;
file writes excluded), which is what the benchmark (``bench/derivatives.py``) times.

Runnable as ``python -m imagepipe_tools.derive_cli`` too, which skips the imports of the other
subcommands (boto3, moto): that is how the benchmark measures its time and memory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from imagepipe.errors import ImageRejectedError
from imagepipe.ids import derived_asset_id
from imagepipe.imaging.engine import DEFAULT_FORMATS, DEFAULT_TARGETS, DEFAULT_WIDTHS, EngineSettings, derive
from imagepipe.imaging.formats import OUTPUT_FORMATS
from imagepipe.keys import c2pa_sidecar_key, manifest_key, variant_key
from imagepipe.models import ContentCredentialsRef, Manifest, Variant, Visibility, utc_now

LOCAL_CDN = "https://cdn.example"  # where sidecar URLs point; a deployment uses its CloudFront domain

__all__ = ["add_arguments", "cmd_derive", "derive_file", "main"]


def derive_file(
    data: bytes, settings: EngineSettings, visibility: Visibility = "public", credentials: Any = None
) -> tuple[Manifest, dict[str, bytes], dict[str, float]]:
    """Derive one original as the pipeline publishes it.

    Parameters
    ----------
    data : bytes
        The original file.
    settings : EngineSettings
        Engine settings (the pipeline's defaults unless told otherwise).
    visibility : {"public", "private"}
        Key prefix, as for the asset's visibility.
    credentials : imagepipe.provenance.c2pa_signing.ContentCredentials, optional
        Sign every variant as the derivatives stage does (timed with the derivation).

    Returns
    -------
    tuple
        The manifest, the files to write keyed by their variants-bucket key (manifest and
        sidecars included), and timings ``{"ms": wall, "cpu_ms": process CPU}`` of the
        derivation and signing (file writes excluded).

    Raises
    ------
    ImageRejectedError
        If the engine refuses the image (not an image, too many pixels...).
    """
    asset_id = derived_asset_id("cli", hashlib.sha256(data).hexdigest())
    cpu, wall = time.process_time(), time.perf_counter()
    derived = derive(data, settings)
    served = [(v.data, None) for v in derived.variants]
    if credentials is not None:
        served = _signed(credentials, derived.variants, data, visibility, asset_id)
    timings = {"ms": (time.perf_counter() - wall) * 1000, "cpu_ms": (time.process_time() - cpu) * 1000}
    files: dict[str, bytes] = {}
    variants = []
    for encoded, (body, sidecar) in zip(derived.variants, served, strict=True):
        digest = hashlib.sha256(body).hexdigest()
        key = variant_key(visibility, asset_id, encoded.width, digest, encoded.extension)
        files[key] = body
        if sidecar is not None and sidecar.manifest_key:
            files[sidecar.manifest_key] = sidecar.manifest
        variants.append(
            Variant(
                key=key,
                width=encoded.width,
                height=encoded.height,
                format=encoded.format,  # type: ignore[arg-type]
                content_type=encoded.content_type,
                bytes=len(body),
                sha256=digest,
                quality=encoded.quality,
                score=encoded.score,
                content_credentials=sidecar.ref if sidecar is not None else None,
            )
        )
    manifest = Manifest(
        asset_id=asset_id,
        visibility=visibility,
        width=derived.width,
        height=derived.height,
        variants=tuple(variants),
        created_at=utc_now(),
    )
    files[manifest_key(visibility, asset_id)] = manifest.model_dump_json(indent=2).encode()
    return manifest, files, timings


class _Credentials:
    """How one signed variant is published: its reference, and a sidecar when remote."""

    def __init__(self, ref: ContentCredentialsRef, manifest_key: str, manifest: bytes) -> None:
        self.ref, self.manifest_key, self.manifest = ref, manifest_key, manifest


def _signed(credentials: Any, encoded: Any, parent: bytes, visibility: Visibility, asset_id: str) -> list[tuple[bytes, Any]]:
    from imagepipe.imaging.probe import inspect_image
    from imagepipe.provenance.c2pa_signing import sign_variants

    def sidecar_url(manifest_id: str) -> str:
        return f"{LOCAL_CDN}/{c2pa_sidecar_key(visibility, asset_id, manifest_id)}"

    signed = sign_variants(
        credentials,
        [(v.data, v.content_type, f"{asset_id}-{v.width}w.{v.extension}") for v in encoded],
        parent=parent,
        parent_content_type=inspect_image(parent).content_type,
        visibility=visibility,
        remote_url_for=sidecar_url,
    )
    result: list[tuple[bytes, Any]] = []
    for item in signed:
        if item.placement == "remote":
            key = c2pa_sidecar_key(visibility, asset_id, item.manifest_id)
            ref = ContentCredentialsRef(placement="remote", manifest_bytes=len(item.manifest), manifest_key=key,
                                        manifest_url=item.remote_url)
            result.append((item.data, _Credentials(ref, key, item.manifest)))
        else:
            ref = ContentCredentialsRef(placement=item.placement, manifest_bytes=item.added_bytes)
            result.append((item.data, _Credentials(ref, "", b"")))
    return result


def _settings(args: argparse.Namespace) -> EngineSettings:
    targets: dict[str, float | None] = dict(DEFAULT_TARGETS)
    for item in args.target or ():
        fmt, _, value = item.partition("=")
        if fmt not in targets or not value:
            raise SystemExit(f"--target expects FORMAT=SCORE or FORMAT=none, got {item!r}")
        targets[fmt] = None if value.lower() == "none" else float(value)
    qualities = {}
    for item in args.quality or ():
        fmt, _, value = item.partition("=")
        if fmt not in targets or not value.isdigit():
            raise SystemExit(f"--quality expects FORMAT=0..100, got {item!r}")
        qualities[f"{fmt}_quality"] = int(value)
        if not any(t.startswith(f"{fmt}=") for t in args.target or ()):
            targets[fmt] = None  # a fixed quality, unless a target was also given
    return EngineSettings(
        widths=tuple(args.widths) if args.widths else DEFAULT_WIDTHS,
        formats=tuple(args.formats) if args.formats else DEFAULT_FORMATS,
        avif_target=targets["avif"],
        webp_target=targets["webp"],
        jpeg_target=targets["jpeg"],
        score_all=args.score_all,
        threads=args.threads,
        **({"avif_speed": args.avif_speed} if args.avif_speed is not None else {}),
        **qualities,
    )


def cmd_derive(args: argparse.Namespace) -> int:
    """Run `derive_file` on every path; write the files; print a summary or JSON."""
    try:
        settings = _settings(args)
    except ValueError as exc:
        print(f"imagepipe derive: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    credentials = _local_credentials() if args.content_credentials else None
    results: list[dict[str, Any]] = []
    failed = 0
    for path in map(Path, args.paths):
        try:
            manifest, files, timings = derive_file(path.read_bytes(), settings, args.visibility, credentials)
        except (ImageRejectedError, OSError) as exc:
            failed += 1
            reason = getattr(exc, "reason", type(exc).__name__)
            results.append({"path": str(path), "error": reason, "detail": str(exc)})
            if not args.json:
                print(f"{path}: rejected ({exc})", file=sys.stderr)
            continue
        written = []
        for key, data in files.items():
            target = out / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(str(target))
        results.append({
            "path": str(path),
            "asset_id": manifest.asset_id,
            "manifest_key": manifest_key(args.visibility, manifest.asset_id),
            "ms": round(timings["ms"], 2),
            "cpu_ms": round(timings["cpu_ms"], 2),
            "manifest": manifest.model_dump(mode="json"),
            "files": written,
        })
        if not args.json:
            print(_summary(path, manifest, timings))
    if args.json:
        print(json.dumps({"results": results}, indent=2))
    return 1 if failed else 0


def _local_credentials() -> Any:
    """The local signing chain (the one the embedded stack uses), created on first use."""
    from imagepipe_tools.local.root import find_root
    from imagepipe.provenance.c2pa_signing import ContentCredentials
    from imagepipe.provenance.certificates import local_chain

    try:
        root = find_root()
    except FileNotFoundError:
        root = Path.cwd()
    return ContentCredentials(local_chain(root / ".imagepipe"))


def _summary(path: Path, manifest: Manifest, timings: dict[str, float]) -> str:
    lines = [f"{path}: {manifest.width}x{manifest.height} -> {len(manifest.variants)} variants in "
             f"{timings['ms']:.0f} ms (asset {manifest.asset_id})"]
    for v in manifest.variants:
        score = "" if v.score is None else f"  SSIMULACRA2 {v.score:.1f}"
        lines.append(f"  {v.format:4} {v.width:5}x{v.height:<5} q{v.quality:<3} {v.bytes:>8,} B  "
                     f"{v.key}{score}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``derive`` options to a parser (the ``imagepipe derive`` subcommand uses it)."""
    parser.add_argument("paths", nargs="+", help="original image files")
    parser.add_argument("--out", required=True, help="output folder (variants-bucket layout)")
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    parser.add_argument("--visibility", choices=["public", "private"], default="public")
    parser.add_argument("--widths", type=int, nargs="+", help="width ladder (default 320 640 960 1280 1920)")
    parser.add_argument("--formats", nargs="+", choices=list(OUTPUT_FORMATS),
                        help="derivative formats (default avif webp jpeg; png is lossless and opt-in)")
    parser.add_argument("--target", action="append", metavar="FORMAT=SCORE",
                        help="SSIMULACRA2 target of a format, or FORMAT=none (default 70 each)")
    parser.add_argument("--quality", action="append", metavar="FORMAT=Q",
                        help="fixed encoder quality of a format (turns its target off)")
    parser.add_argument("--avif-speed", type=int, help="libaom speed 0..10")
    parser.add_argument("--score-all", action="store_true",
                        help="score every variant, not only the probe width (slower)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--content-credentials", action="store_true",
                        help="sign every variant as the pipeline does (C2PA, local certificate chain)")
    parser.set_defaults(func=cmd_derive)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imagepipe derive", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    args = add_arguments(parser).parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
