"""Where did this file come from? The provenance chain of a file, found by its content hash.

variant -> original -> generation record -> moderation and review decisions -> takedown,
read from the provenance table through its ``by-content-hash`` index, together with
what the file's own C2PA manifest says (Trusted / Valid / Invalid / none).

This is an operator's view: it includes the private generation record (prompt,
requester). The public view is the provenance token (`provenance.token`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from imagepipe.adapters.provenance_store import ProvenanceStore
from imagepipe.lifecycle import AssetRecord, Section
from imagepipe.provenance.c2pa_signing import ValidationReport, validate

# The generation record, in the order it is printed (fields missing for uploads are skipped).
GENERATION_FIELDS = (
    "source", "model_id", "model_version", "model_name", "model_provider", "model_licence", "model_licence_url",
    "model_usage_restrictions", "prompt", "prompt_sha256", "negative_prompt", "seed", "parameters",
    "requested_size", "requester", "visibility", "client_request_id", "upload_key", "digital_source_type", "at",
)
EVENT_FIELDS = ("at", "kind", "actor", "status", "reason", "applied")

ManifestFetcher = Callable[[str], bytes | None]


def trace_hash(sha256: str, store: ProvenanceStore) -> list[dict[str, Any]]:
    """Every record whose content hash is ``sha256``: as an original or as a variant, with its chain."""
    chains = []
    for hit in store.find_by_content_hash(sha256):
        asset_id = hit["asset_id"]
        record = store.record(asset_id)
        is_variant = str(hit.get("sk", "")).startswith("VARIANT#")
        chain: dict[str, Any] = {
            "match": "variant" if is_variant else "original",
            "asset_id": asset_id,
            "status": record.status if record else None,
            "variant": (
                {k: hit.get(k) for k in ("key", "width", "height", "format", "content_type", "bytes",
                                         "content_credentials")} | {"sha256": sha256}
                if is_variant else None
            ),
            **_record_chain(record),
            "events": [{k: e.get(k) for k in EVENT_FIELDS} for e in store.history(asset_id)],
        }
        chains.append(chain)
    return chains


def _record_chain(record: AssetRecord | None) -> dict[str, Any]:
    """What the asset's current record says: its original, generation record and decisions."""
    creation = record.creation.recorded() if record and record.creation else {}
    publication = record.publication if record else None
    return {
        "original": {
            "key": (record.original_key if record else None) or creation.get("original_key"),
            "sha256": record.content_sha256 if record else None,
            **{k: creation.get(k) for k in ("content_type", "bytes", "width", "height", "content_credentials")},
        },
        "generation": {k: creation[k] for k in GENERATION_FIELDS if creation.get(k) is not None},
        "moderation": _recorded(record.moderation if record else None),
        "review": _recorded(record.review_decision if record else None),
        "takedown": _recorded(record.takedown if record else None),
        "rejection": _recorded(record.rejection if record else None),
        "publication": (
            {"at": publication.at, "manifest_key": publication.manifest_key,
             "provenance_token_key": publication.provenance_token_key}
            if publication else None
        ),
    }


def _recorded(section: Section | None) -> dict[str, Any] | None:
    """A decision as the record holds it (every field it has, none it lacks)."""
    return section.recorded() if section is not None else None


def trace_file(
    data: bytes,
    *,
    store: ProvenanceStore,
    trust_anchor_pem: str | None,
    fetch_manifest: ManifestFetcher | None = None,
) -> dict[str, Any]:
    """The chain of a file and its C2PA validation state.

    Parameters
    ----------
    data : bytes
        The file, exactly as served or stored.
    store : ProvenanceStore
        The provenance table (read only).
    trust_anchor_pem : str, optional
        Root(s) that make a valid manifest "Trusted".
    fetch_manifest : callable, optional
        Returns the bytes of a remote manifest from its variants-bucket key (or None), for
        files whose manifest is a sidecar.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    chains = trace_hash(sha256, store)
    report = validate(data, trust_anchor_pem=trust_anchor_pem)
    if report.placement == "remote" and report.active_manifest is None and fetch_manifest is not None:
        report = _validate_remote(data, report, chains, trust_anchor_pem, fetch_manifest)
    return {"sha256": sha256, "bytes": len(data), "c2pa": report.as_dict(), "chains": chains}


def _validate_remote(
    data: bytes,
    report: ValidationReport,
    chains: list[dict[str, Any]],
    trust_anchor_pem: str | None,
    fetch_manifest: ManifestFetcher,
) -> ValidationReport:
    """Validate against the sidecar: the one on record for this variant, else the one the file names."""
    recorded = [
        c["variant"]["content_credentials"]["manifest_key"]
        for c in chains
        if c["variant"] and (c["variant"].get("content_credentials") or {}).get("manifest_key")
    ]
    named = urlsplit(report.remote_url).path.lstrip("/") if report.remote_url else None
    for key in [*recorded, *([named] if named else [])]:
        manifest = fetch_manifest(key)
        if manifest is not None:
            found = validate(data, manifest=manifest, trust_anchor_pem=trust_anchor_pem)
            return ValidationReport(**{**found.as_dict(), "remote_url": report.remote_url})
    return report


def render_text(path: str, traced: dict[str, Any]) -> str:
    """The chain for people: one block per match, most specific first."""
    c2pa = traced["c2pa"]
    lines = [f"file        {path}", f"sha256      {traced['sha256']}  ({traced['bytes']:,} bytes)"]
    where = f", {c2pa['placement']} manifest" if c2pa.get("placement") else ""
    signer = f", signed by {c2pa['signer'].get('common_name')}" if c2pa.get("signer") else ""
    lines.append(f"C2PA        {c2pa['state']}{where}{signer}"
                 + (f" ({c2pa['detail']})" if c2pa.get("detail") else ""))
    if c2pa.get("remote_url"):
        lines.append(f"            manifest at {c2pa['remote_url']}")
    for failure in c2pa.get("failures", []):
        lines.append(f"            failure: {failure}")
    if not traced["chains"]:
        lines.append("provenance  no record with this content hash (not made here, or altered)")
    for chain in traced["chains"]:
        lines.append("")
        lines.append(f"asset       {chain['asset_id']}  status {chain['status']}")
        if chain["variant"]:
            v = chain["variant"]
            placement = (v.get("content_credentials") or {}).get("placement", "none")
            lines.append(f"variant     {v['key']}  {v['width']}x{v['height']} {v['format']}, "
                         f"{v['bytes']:,} bytes, C2PA {placement}")
        o = chain["original"]
        lines.append(f"original    {o['key']}  sha256 {o['sha256']}  {o.get('width')}x{o.get('height')} "
                     f"{o.get('content_type')}")
        g = chain["generation"]
        lines.append("generation")
        for name in GENERATION_FIELDS:
            if name in g:
                lines.append(f"  {name:<26}{_text(g[name])}")
        for title, section in (("moderation", chain["moderation"]), ("review", chain["review"]),
                               ("rejection", chain["rejection"]), ("takedown", chain["takedown"])):
            if section:
                lines.append(f"{title:<12}" + _summary(section))
            elif title in {"review", "takedown"}:
                lines.append(f"{title:<12}none")
        if chain["publication"]:
            p = chain["publication"]
            lines.append(f"published   {p.get('at')}  manifest {p.get('manifest_key')}"
                         + (f"  token {p['provenance_token_key']}" if p.get("provenance_token_key") else ""))
        lines.append("events      " + " -> ".join(f"{e['kind']}({e['actor']})" for e in chain["events"]))
    return "\n".join(lines)


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "; ".join(map(str, value))
    return str(value)


def _summary(section: dict[str, Any]) -> str:
    keys = ("verdict", "decision", "reason", "reasons", "note", "reviewer", "by", "previous_status", "backend",
            "model_version", "actor", "at")
    return ", ".join(f"{k} {_text(section[k])}" for k in keys if section.get(k) not in (None, "", [], ()))
