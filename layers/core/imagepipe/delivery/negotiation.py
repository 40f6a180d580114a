"""Format and width negotiation for on-demand variants: the Python twin of edge/normalize.js.

The CloudFront Function on the ``t/*`` behaviour turns a viewer request
``/t/{asset_id}?w=&f=&dpr=`` (plus ``Accept`` and client hints), or the explicit form
``/t/{asset_id}/{width}w.{ext}``, into the normalised path
``/public/{asset_id}/t/{width}w.{avif|webp|jpg|png}`` with no query string. CloudFront's cache
key is then the asset id plus normalised parameters and nothing else, and the path is the
variants-bucket key (`keys.transform_key`) where the transform origin stores what it renders,
so the origin group's S3 member answers every later miss. The local edge runs this module
instead of the JavaScript; both pass the vectors in ``edge/vectors.json``.

Rules
-----
* Format: ``f``/``format`` in the query if it names one (``jpg`` = ``jpeg``); otherwise AVIF
  when ``Accept`` lists ``image/avif`` with q > 0, then WebP likewise, then JPEG. AVIF comes
  first whatever the q-values say (browsers that decode it are the ones that ask for it);
  ``image/*`` and ``*/*`` promise neither. PNG (lossless, opt-in per deployment) is only
  ever served when asked for by name (``f=png`` or an explicit ``.png`` path), never from
  ``Accept``: every browser lists ``image/png``, and a lossless file is many times larger.
* Width: ``w`` (pixels, times ``dpr`` from the query when given); otherwise ``Sec-CH-Width``
  (or the legacy ``Width``), which browsers send in physical pixels; otherwise
  ``DEFAULT_WIDTH`` times ``Sec-CH-DPR`` (or ``DPR``). DPR is clamped to 1..3. The result is
  snapped up to the next of `WIDTH_STEPS` (the largest at most): a handful of cache entries
  per asset and format, however many widths viewers ask for.
* An already-normalised path is kept (re-snapped), so normalising twice changes nothing.
  Any other ``/t/`` path gets a 404 from the function itself, without an origin trip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..ids import ASSET_ID_REGEX
from ..keys import transform_key

WIDTH_STEPS: tuple[int, ...] = (160, 320, 480, 640, 800, 960, 1280, 1600, 1920, 2560)
DEFAULT_WIDTH = 640
MAX_DPR = 3
EXTENSIONS = {"avif": "avif", "webp": "webp", "jpeg": "jpg", "png": "png"}
FORMAT_BY_EXTENSION = {ext: fmt for fmt, ext in EXTENSIONS.items()}
NEGOTIATED_FORMATS = ("avif", "webp", "jpeg")
"""What `negotiate_format` may pick without being asked by name, in its order of preference."""

_BARE = re.compile(rf"^/t/({ASSET_ID_REGEX})/?$")
_EXPLICIT = re.compile(rf"^/t/({ASSET_ID_REGEX})/([1-9][0-9]{{0,4}})w\.({'|'.join(EXTENSIONS.values())})$")
_WIDTH = re.compile(r"^[1-9][0-9]{0,4}$")
_DPR = re.compile(r"^[0-9]{1,2}(\.[0-9]{1,3})?$")
_QVALUE = re.compile(r"^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$")


@dataclass(frozen=True)
class Normalized:
    """The function's outcome: a rewritten request, or a response it generates itself."""

    uri: str | None = None
    status: int | None = None
    asset_id: str | None = None
    width: int | None = None
    format: str | None = None


def snap(target: int) -> int:
    return next((step for step in WIDTH_STEPS if step >= target), WIDTH_STEPS[-1])


def _value(entries: Mapping[str, Any] | None, name: str) -> str | None:
    entry = (entries or {}).get(name)
    return entry.get("value") if isinstance(entry, Mapping) else None


def _match(pattern: re.Pattern[str], text: str | None) -> bool:
    # JavaScript's RegExp.test has no $-before-newline quirk; make Python's match alike.
    return text is not None and "\n" not in text and pattern.match(text) is not None


def _dpr(text: str | None) -> float:
    if not _match(_DPR, text):
        return 1.0
    return min(MAX_DPR, max(1.0, float(text)))  # type: ignore[arg-type]


def target_width(query: Mapping[str, Any], headers: Mapping[str, Any]) -> int:
    w = _value(query, "w")
    if _match(_WIDTH, w):
        return math.ceil(int(w) * _dpr(_value(query, "dpr")) - 1e-6)  # type: ignore[arg-type]
    hinted = _value(headers, "sec-ch-width")
    if hinted is None:
        hinted = _value(headers, "width")
    if _match(_WIDTH, hinted):
        return int(hinted)  # type: ignore[arg-type]
    ratio = _value(headers, "sec-ch-dpr")
    if ratio is None:
        ratio = _value(headers, "dpr")
    return math.ceil(DEFAULT_WIDTH * _dpr(ratio) - 1e-6)


def _accepted(accept: str | None) -> dict[str, str]:
    seen: dict[str, str] = {}
    for part in (accept or "").split(","):
        pieces = part.split(";")
        media = pieces[0].strip().lower()
        q = 1.0
        for piece in pieces[1:]:
            param = piece.split("=")
            if param[0].strip().lower() == "q":
                text = param[1].strip() if len(param) > 1 else ""
                q = float(text) if _match(_QVALUE, text) else 0.0
        if q == 0:
            seen[media] = "refused"
        elif seen.get(media) != "refused":
            seen[media] = "ok"
    return seen


def negotiate_format(query: Mapping[str, Any], headers: Mapping[str, Any]) -> str:
    asked = (_value(query, "f") or _value(query, "format") or "").lower()
    if asked == "jpg":
        asked = "jpeg"
    if asked in EXTENSIONS:
        return asked
    types = _accepted(_value(headers, "accept"))
    if types.get("image/avif") == "ok":
        return "avif"
    if types.get("image/webp") == "ok":
        return "webp"
    return "jpeg"


def normalize(request: Mapping[str, Any]) -> Normalized:
    """Apply the rule to a CloudFront Functions request object (``uri``, ``querystring``, ``headers``)."""
    uri = request["uri"]
    if not uri.startswith("/t/"):
        return Normalized(uri=uri)
    if "\n" not in uri and (match := _EXPLICIT.match(uri)):
        asset_id, width, fmt = match[1], snap(int(match[2])), FORMAT_BY_EXTENSION[match[3]]
    elif "\n" not in uri and (match := _BARE.match(uri)):
        query, headers = request.get("querystring") or {}, request.get("headers") or {}
        asset_id, width, fmt = match[1], snap(target_width(query, headers)), negotiate_format(query, headers)
    else:
        return Normalized(status=404)
    return Normalized(
        uri=f"/{transform_key(asset_id, width, EXTENSIONS[fmt])}", asset_id=asset_id, width=width, format=fmt
    )


def cf_request(uri: str, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> dict[str, Any]:
    """An HTTP request in the shape CloudFront Functions see (lower-case header names, first value)."""
    return {
        "uri": uri,
        "querystring": {
            name: {"value": values[0], **({"multiValue": [{"value": v} for v in values]} if len(values) > 1 else {})}
            for name, values in query.items()
        },
        "headers": {name.lower(): {"value": value} for name, value in headers.items()},
    }
