"""`imagepipe provenance FILE` on the local stack: the table, the variants bucket, the local root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagepipe_tools.local.stack import LocalStack
from imagepipe_tools.trace import trace_file


def trace_local_file(stack: LocalStack, data: bytes, near: Path | None = None) -> dict[str, Any]:
    """Trace ``data`` through the stack's provenance table and validate it against the local root.

    A remote manifest is read from the variants bucket, or else from a copy beside the
    file (``out/demo`` keeps the bucket's layout: ``{asset}/c2pa/{manifest_id}.c2pa``).
    """
    store = stack.provenance_store()
    s3 = stack.client("s3")
    bucket = stack.function("derivatives").environment["VARIANTS_BUCKET"]

    def fetch(key: str) -> bytes | None:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            pass
        if near is not None:
            beside = near.parent / "c2pa" / Path(key).name
            if beside.is_file():
                return beside.read_bytes()
        return None

    return trace_file(data, store=store, trust_anchor_pem=stack.c2pa_trust_anchor, fetch_manifest=fetch)


def tampered_copy(data: bytes) -> bytes:
    """``data`` with one byte of its image data flipped: the middle of the longest stretch
    outside the embedded C2PA manifest store (a JUMBF ``jumb`` superbox), if there is one.

    A flip inside the manifest's signature padding (unprotected by design) would leave the
    image untouched and the manifest Trusted; a flip in the image itself must read Invalid.
    """
    start = data.find(b"jumb") - 4
    end = start + int.from_bytes(data[start : start + 4], "big") if start >= 0 else -1
    head, tail = (0, start), (end, len(data))
    lo, hi = max((head, tail), key=lambda r: r[1] - r[0]) if start >= 0 else (0, len(data))
    damaged = bytearray(data)
    damaged[(lo + hi) // 2] ^= 0xFF
    return bytes(damaged)


def check_published(stack: LocalStack, out: Path, publication: dict[str, Any]) -> dict[str, Any]:
    """The demo's Content Credentials check of one published asset, on the files in ``out``.

    Every variant must validate Trusted against the local root (with its sidecar when
    the manifest is remote); a copy of one variant with one byte flipped must read
    Invalid; a public asset's provenance token must verify. Sidecars and the token are
    copied beside the variants, as the bucket has them.
    """
    from imagepipe.provenance.c2pa_signing import reader_context, validate
    from imagepipe.provenance.token import TokenError, verify_token

    s3 = stack.client("s3")
    bucket = stack.function("derivatives").environment["VARIANTS_BUCKET"]
    context = reader_context(stack.c2pa_trust_anchor)

    def download(key: str) -> bytes:
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        (out / key).parent.mkdir(parents=True, exist_ok=True)
        (out / key).write_bytes(data)
        return data

    states: dict[str, str] = {}
    for variant in publication["variants"]:
        data = (out / variant["key"]).read_bytes()
        sidecar = (variant.get("content_credentials") or {}).get("manifest_key")
        manifest = download(sidecar) if sidecar else None
        states[variant["key"]] = validate(data, manifest=manifest, context=context).state
        if len(states) == 1:
            tampered_state = validate(tampered_copy(data), manifest=manifest, context=context).state
            tampered_key = variant["key"]
    check: dict[str, Any] = {
        "variants": len(states),
        "trusted": sum(state == "Trusted" for state in states.values()),
        "states": states,
        "tampered": {"key": tampered_key, "state": tampered_state} if states else None,
    }
    token_key = publication.get("provenance_token_key")
    if token_key:
        try:
            claims = verify_token(download(token_key), stack.c2pa_trust_anchor)
            check["token"] = "valid" if claims.get("asset_id") in token_key else "wrong asset"
        except TokenError as error:
            check["token"] = f"invalid: {error}"
    return check


def check_passed(check: dict[str, Any] | None) -> bool:
    """All variants Trusted, the tampered copy Invalid, the token (if any) valid."""
    if not check:
        return False
    return (
        check["trusted"] == check["variants"] > 0
        and (check["tampered"] or {}).get("state") == "Invalid"
        and check.get("token", "valid") == "valid"
    )
