"""transform: on-demand variants, the second member of the ``t/*`` behaviour's origin group.

The CloudFront Function rewrites ``/t/{id}?w=500`` to ``/public/{id}/t/640w.avif``; CloudFront
asks S3 for that key first and comes here only when S3 does not have it (403/404). For a
published public asset whose record holds its approval, the variant is copied from the
ladder when the ladder already has that width and format, and otherwise rendered from the
asset's **public source** (the original with its faces blurred, as the ladder is: never the
raw original, which this function cannot even read) with the derivatives engine, at the
quality the ladder's search chose for that format (one encode, consistent with the widths
around it), and signed with C2PA, the public source as its ingredient. Either way it is
stored under the requested key (create-only), so every later miss anywhere is a plain S3
hit instead of another render, and returned with the headers S3 would send. The formats the
edge negotiates (AVIF, WebP, JPEG) are always rendered; PNG, which the edge passes on only
when asked for by name, only where the deployment's formats include it.

A takedown racing a render wins (see `stages.gate`): the render is stored *held* (CloudFront
may not read it), the record is read again, and only then is the hold lifted; if the asset
was withdrawn meanwhile the render is deleted and the answer is 410.

Lambda's 6 MB response limit holds by design: the output is capped at `MAX_OUTPUT_PIXELS`
(a few MB at worst for any lossy format at our qualities; a lossless PNG can be more), and a
variant over `INLINE_LIMIT` bytes is answered with a redirect to its own normalised URL,
which S3 serves now that it is stored.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any

from ..adapters.storage import ObjectStore
from ..delivery.negotiation import FORMAT_BY_EXTENSION, NEGOTIATED_FORMATS, WIDTH_STEPS
from ..errors import RejectedInputError
from ..imaging.engine import LOSSLESS_FORMATS, EngineSettings, derive
from ..imaging.formats import OUTPUT_FORMATS
from ..keys import IMMUTABLE_CACHE_CONTROL, parse_transform_key
from ..lifecycle import Publication, RecordSource, read_record
from ..provenance.c2pa_signing import ContentCredentials
from .gate import NotPublishable, NotYetApproved, approval, still_publishable

MAX_OUTPUT_PIXELS = 8_000_000
INLINE_LIMIT = 4_300_000  # 6 MB response, less base64's 4/3 and room for headers
ERROR_CACHE_CONTROL = "public, max-age=60"  # CloudFront keeps a refusal for a minute
VARIANT_CACHE_CONTROL = IMMUTABLE_CACHE_CONTROL["public"]
SERVABLE = frozenset({"published"})


@dataclass(frozen=True)
class TransformResponse:
    status: int
    headers: dict[str, str]
    body: bytes = field(default=b"", repr=False)
    outcome: str = ""  # rendered | ladder | stored | refused | redirect


def _refused(status: int, message: str) -> TransformResponse:
    return TransformResponse(
        status,
        {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": ERROR_CACHE_CONTROL},
        message.encode(),
        "refused",
    )


def output_width(width: int, source_width: int, source_height: int) -> int:
    """The width actually rendered: never wider than the source, never over `MAX_OUTPUT_PIXELS`."""
    target = min(width, source_width)
    if target * source_height / source_width > MAX_OUTPUT_PIXELS / target:
        target = math.floor(math.sqrt(MAX_OUTPUT_PIXELS * source_width / source_height))
    return max(1, target)


def serve_transform(
    path: str,
    *,
    provenance: RecordSource,
    objects: ObjectStore,
    originals_bucket: str,
    variants_bucket: str,
    max_source_bytes: int,
    engine: EngineSettings,
    content_credentials: ContentCredentials,
    inline_limit: int | None = None,
) -> TransformResponse:
    """Answer the origin request for ``path`` (``/public/{id}/t/{width}w.{ext}``).

    ``provenance`` is anything with ``asset(asset_id) -> META item | None``, read as the
    typed record (`lifecycle.read_record`). ``engine`` is the deployment's derivatives
    engine: its formats (beyond `NEGOTIATED_FORMATS`), pixel limit and quality targets apply
    here too. Public sources are read from ``originals_bucket``.
    """
    key = path.lstrip("/")
    parts = parse_transform_key(key)
    if parts is None:
        return _refused(404, "not an on-demand variant")
    asset_id, width, fmt = parts["asset_id"], int(parts["width"]), FORMAT_BY_EXTENSION[parts["ext"]]
    if width not in WIDTH_STEPS:  # the edge only ever asks for steps: anything else is not ours to render
        return _refused(404, "not an allowed width")
    if fmt not in NEGOTIATED_FORMATS and fmt not in engine.formats:
        return _refused(404, "not an offered format")
    asset = read_record(provenance, asset_id)
    if asset is None or asset.visibility != "public":
        return _refused(404, "no such image")  # private assets are never rendered here: no signature is checked
    if asset.status == "taken_down":  # 410 only for what was once out: else it never existed
        return _refused(410, "taken down") if asset.taken_down_after_publication else _refused(404, "no such image")
    try:
        approval(asset, asset_id, statuses=SERVABLE)
    except (NotPublishable, NotYetApproved):
        return _refused(404, "no such image")
    publication = asset.publication
    if publication is None or not (publication.variants and publication.public_source_key and publication.width
                                   and publication.height):
        return _refused(404, "no such image")

    target = output_width(width, publication.width, publication.height)
    ladder = next((v for v in publication.variants if v.width == target and v.format == fmt), None)
    try:
        if ladder is not None:
            data, outcome = objects.get(variants_bucket, ladder.key, max_bytes=max_source_bytes).data, "ladder"
        else:
            source = objects.get(originals_bucket, publication.public_source_key, max_bytes=max_source_bytes)
            one_width = _settings_like_the_ladder(engine, publication, target, fmt)
            rendered = derive(source.data, one_width).variants[0]
            data = content_credentials.sign_variant(
                rendered.data, rendered.content_type, parent=source.data, parent_content_type=source.content_type,
                title=f"{asset_id}-{rendered.width}w.{rendered.extension}",
            ).data
            outcome = "rendered"
    except RejectedInputError as error:  # withdrawn meanwhile (a takedown deletes first)
        if error.reason == "missing_object":
            return _refused(404, "no such image")
        raise
    content_type = OUTPUT_FORMATS[fmt].content_type
    stored = objects.put(
        variants_bucket,
        key,
        data,
        content_type=content_type,
        cache_control=VARIANT_CACHE_CONTROL,
        metadata={"asset-id": asset_id, "sha256": hashlib.sha256(data).hexdigest(), "source": outcome},
        create_only=True,
        held=True,
    )
    if not stored:  # a concurrent miss stored it first: one URL, one content
        try:
            data, outcome = objects.get(variants_bucket, key, max_bytes=max_source_bytes).data, "stored"
        except RejectedInputError:  # and a takedown removed it since
            return _refused(410, "taken down")
    if not still_publishable(provenance, asset_id, statuses=SERVABLE):
        if stored:
            objects.delete(variants_bucket, key)
        return _refused(410, "taken down")
    if stored and objects.release(variants_bucket, [key]):
        return _refused(410, "taken down")  # the takedown deleted it between our check and the release
    if len(data) > (INLINE_LIMIT if inline_limit is None else inline_limit):
        return TransformResponse(
            307,
            {"Location": f"/t/{asset_id}/{width}w.{parts['ext']}", "Cache-Control": "no-store"},
            b"",
            "redirect",
        )
    return TransformResponse(
        200,
        {
            "Content-Type": content_type,
            "Cache-Control": VARIANT_CACHE_CONTROL,
            "ETag": f'"{hashlib.md5(data).hexdigest()}"',  # noqa: S324 - the ETag S3 gives the stored copy
            "X-Imagepipe-Transform": outcome,
        },
        data,
        outcome,
    )


def _settings_like_the_ladder(engine: EngineSettings, publication: Publication, width: int, fmt: str) -> EngineSettings:
    """Engine settings for one on-demand width: the quality the ladder's search chose.

    The derivatives stage searched this asset's quality per format once; reusing it keeps an
    on-demand width consistent with the ladder around it and costs one encode instead of a
    search. A publication without recorded qualities gets the engine's own search, and a
    lossless format has no quality to reuse.
    """
    found = [v.quality for v in publication.variants if v.format == fmt and v.quality is not None]
    overrides: dict[str, Any] = {}
    if found and fmt not in LOSSLESS_FORMATS:
        overrides = {f"{fmt}_quality": max(found), f"{fmt}_target": None}
    return replace(engine, widths=(width,), formats=(fmt,), threads=1, **overrides)
