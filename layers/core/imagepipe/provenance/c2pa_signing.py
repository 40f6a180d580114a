"""C2PA Content Credentials: signing originals and variants, and reading them back (c2pa-python).

* An original gets a manifest whose first action is ``c2pa.created`` with the IPTC
  digital source type ``trainedAlgorithmicMedia``, the model as software agent and the
  prompt's SHA-256 (never the prompt: the manifest travels with every copy of the file).
* A variant gets its own manifest: re-encoding destroys the parent's, so the (signed)
  original is added as its ``parentOf`` ingredient, with ``c2pa.opened``,
  ``c2pa.resized`` and ``c2pa.transcoded`` actions. No claim thumbnail, ever.
* A manifest is embedded in the file, or stored beside it (a ``.c2pa`` sidecar) with only
  its URL written into the file: see `placement` for which.

Signing uses the key and chain from the C2PA signing secret (`SigningChain`), through
c2pa's own signer: it reserves ~2 KB for the signature. With ``kms_key_id`` in the secret
the key stays in AWS KMS and c2pa calls ``kms:Sign`` through a signer callback, which
reserves ~11 KB in every manifest (+9 KB per file that embeds it).
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any, Literal

import c2pa

from ..models import DIGITAL_SOURCE_TYPE
from .certificates import SigningChain

CLAIM_GENERATOR = {"name": "imagepipe", "version": "0.1.0"}
GENERATION_ASSERTION = "org.imagepipe.generation"
SIDECAR_CONTENT_TYPE = "application/c2pa"
# A manifest that would add more than this share of a public variant's served bytes goes
# beside it. Every viewer downloads the variant; only a verifier fetches the sidecar. A
# manifest is ~4 KB (certificate chain, parent ingredient, claim), so at 1 % only variants
# of ~400 KB and more embed it: the rest carry a reference of 0.2-0.7 KB.
MAX_EMBEDDED_SHARE = 0.01

ValidationState = Literal["Trusted", "Valid", "Invalid", "none"]
Placement = Literal["embedded", "remote"]

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"WEBP", 8, "image/webp"),
    (b"ftypavif", 4, "image/avif"),
    (b"ftypavis", 4, "image/avif"),
    (b"GIF8", 0, "image/gif"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
)
_REMOTE_URL = re.compile(r"remote manifests? from url (\S+)", re.IGNORECASE)


def sniff_content_type(data: bytes) -> str | None:
    """The image type from the first bytes, or None when it is not an image we know."""
    for magic, offset, content_type in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return content_type
    return None


def placement(visibility: str, variant_bytes: int, manifest_bytes: int) -> Placement:
    """Where a variant's manifest goes.

    Embedded unless it would be more than `MAX_EMBEDDED_SHARE` of the served bytes (a
    ~4 KB manifest is 2-3 % of a 1920-px AVIF and doubles a 320-px one). Private
    variants always embed: a sidecar URL without a CloudFront signature could not be
    fetched.
    """
    if visibility != "public":
        return "embedded"
    return "embedded" if manifest_bytes <= MAX_EMBEDDED_SHARE * (variant_bytes + manifest_bytes) else "remote"


@dataclass(frozen=True)
class GenerationClaim:
    """What the original's manifest says about how it was made (no prompt, no requester)."""

    asset_id: str
    model_id: str
    model_version: str
    prompt_sha256: str
    created_at: str


@dataclass(frozen=True)
class SignedAsset:
    """A file with its manifest: ``data`` is what is stored and served."""

    data: bytes = field(repr=False)
    manifest: bytes = field(repr=False)
    manifest_id: str
    placement: Placement
    remote_url: str | None
    added_bytes: int
    sign_ms: float


@dataclass(frozen=True)
class ValidationReport:
    """What a C2PA reader concluded about a file."""

    state: ValidationState
    placement: Placement | None = None
    remote_url: str | None = None
    active_manifest: str | None = None
    signer: dict[str, str] | None = None
    actions: tuple[str, ...] = ()
    digital_source_type: str | None = None
    software_agent: dict[str, Any] | None = None
    generation: dict[str, Any] | None = None
    ingredients: tuple[dict[str, Any], ...] = ()
    failures: tuple[str, ...] = ()
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ContentCredentials:
    """Signs and validates C2PA manifests with one signing chain.

    Parameters
    ----------
    chain : SigningChain
        Key, certificate chain and (for validation) the trust anchor.
    trust_anchor_pem : str, optional
        Root certificate(s) that make a manifest "Trusted"; defaults to the chain's own.
    kms_client : optional
        A boto3 KMS client, required when the chain's key lives in KMS (``kms_key_id``).
    """

    def __init__(self, chain: SigningChain, *, trust_anchor_pem: str | None = None, kms_client: Any = None) -> None:
        self.chain = chain
        anchors = chain.trust_anchor_pem if trust_anchor_pem is None else trust_anchor_pem
        self._context = reader_context(anchors)
        if chain.kms_key_id:
            if kms_client is None:
                raise ValueError("the C2PA key is in KMS: pass a kms_client")
            self._signer = c2pa.Signer.from_callback(
                kms_signer(kms_client, chain.kms_key_id), c2pa.C2paSigningAlg.ES256, chain.certificate_chain_pem
            )
        else:
            self._signer = c2pa.Signer.from_info(
                c2pa.C2paSignerInfo(chain.alg.encode(), chain.certificate_chain_pem.encode(),
                                    chain.private_key_pem.encode(), None)
            )
        self._lock = threading.Lock()  # one native signer; callers may share this object

    # -- signing ---------------------------------------------------------------------------

    def sign_original(self, data: bytes, content_type: str, claim: GenerationClaim) -> SignedAsset:
        """Embed a manifest into a freshly generated image.

        Normally ``c2pa.created`` (trainedAlgorithmicMedia, the model as software agent).
        A model whose output already carries Content Credentials (Bedrock's image models
        sign theirs) keeps them: its output becomes our ``parentOf`` ingredient under a
        ``c2pa.opened`` action, since signing over it would otherwise drop its manifest.
        """
        manifest_id = str(uuid.uuid4())
        agent = {"name": claim.model_id, "version": claim.model_version}
        ingredient = None
        if validate(data, content_type, context=self._context).state != "none":
            action: dict[str, Any] = {"action": "c2pa.opened", "softwareAgent": agent,
                                      "parameters": {"ingredientIds": ["model-output"]}}
            ingredient = ({"title": f"model output{_extension(content_type)}", "relationship": "parentOf",
                           "label": "model-output"}, content_type, data)
        else:
            action = {"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE, "softwareAgent": agent,
                      "when": claim.created_at}
        definition = {
            **_base_definition(manifest_id, f"{claim.asset_id}{_extension(content_type)}"),
            "assertions": [
                {"label": "c2pa.actions.v2", "data": {"actions": [action]}},
                {"label": GENERATION_ASSERTION, "data": asdict(claim)},
            ],
        }
        return self._sign(definition, manifest_id, data, content_type, remote_url=None, ingredient=ingredient)

    def sign_variant(
        self,
        data: bytes,
        content_type: str,
        *,
        parent: bytes,
        parent_content_type: str,
        title: str,
        remote_url_for: Callable[[str], str] | None = None,
        edits: Sequence[Mapping[str, Any]] = (),
        resized: bool = True,
    ) -> SignedAsset:
        """Give a derivative its own manifest, the original as ``parentOf`` ingredient.

        With ``remote_url_for``, the manifest is not embedded: only the URL
        ``remote_url_for(manifest_id)`` is written into the file, and the caller stores
        ``SignedAsset.manifest`` there. ``edits`` are further actions (a blur is
        ``c2pa.filtered``) recorded after resizing (unless not ``resized``) and transcoding.
        """
        manifest_id = str(uuid.uuid4())
        return self._sign_variant(
            data, content_type, parent, parent_content_type, title,
            (manifest_id, remote_url_for(manifest_id)) if remote_url_for else None, edits, resized,
        )

    def _sign_variant(
        self, data: bytes, content_type: str, parent: bytes, parent_content_type: str, title: str,
        remote: tuple[str, str] | None, edits: Sequence[Mapping[str, Any]] = (), resized: bool = True,
    ) -> SignedAsset:
        manifest_id = remote[0] if remote else str(uuid.uuid4())
        definition = {
            **_base_definition(manifest_id, title),
            "assertions": [
                {
                    "label": "c2pa.actions.v2",
                    "data": {
                        "actions": [
                            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["original"]}},
                            *([{"action": "c2pa.resized", "softwareAgent": CLAIM_GENERATOR}] if resized else []),
                            {"action": "c2pa.transcoded", "softwareAgent": CLAIM_GENERATOR},
                            *({"softwareAgent": CLAIM_GENERATOR, **edit} for edit in edits),
                        ]
                    },
                }
            ],
        }
        ingredient = {"title": f"original{_extension(parent_content_type)}", "relationship": "parentOf",
                      "label": "original"}
        return self._sign(definition, manifest_id, data, content_type, remote_url=remote[1] if remote else None,
                          ingredient=(ingredient, parent_content_type, parent))

    def _sign(
        self,
        definition: dict[str, Any],
        manifest_id: str,
        data: bytes,
        content_type: str,
        *,
        remote_url: str | None,
        ingredient: tuple[dict[str, Any], str, bytes] | None = None,
    ) -> SignedAsset:
        started = time.perf_counter()
        out = io.BytesIO()
        with self._lock, c2pa.Builder(definition, self._context) as builder:
            if ingredient is not None:
                builder.add_ingredient(ingredient[0], ingredient[1], io.BytesIO(ingredient[2]))
            if remote_url is not None:
                builder.set_no_embed()
                builder.set_remote_url(remote_url)
            manifest = builder.sign(self._signer, content_type, io.BytesIO(data), out)
        signed = out.getvalue()
        return SignedAsset(
            data=signed,
            manifest=bytes(manifest),
            manifest_id=manifest_id,
            placement="remote" if remote_url else "embedded",
            remote_url=remote_url,
            added_bytes=len(signed) - len(data),
            sign_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    # -- reading ---------------------------------------------------------------------------

    def validate(self, data: bytes, content_type: str | None = None, *, manifest: bytes | None = None) -> ValidationReport:
        """Validate ``data`` against this object's trust anchors (see `validate`)."""
        return validate(data, content_type, manifest=manifest, context=self._context)


def kms_signer(kms_client: Any, key_id: str) -> Callable[[bytes], bytes]:
    """ES256 through AWS KMS: the DER ECDSA signature of ``data`` by an ``ECC_NIST_P256`` key."""

    def sign(data: bytes) -> bytes:
        return kms_client.sign(KeyId=key_id, Message=data, MessageType="RAW",
                               SigningAlgorithm="ECDSA_SHA_256")["Signature"]

    return sign


def sign_variants(
    credentials: ContentCredentials,
    variants: Sequence[tuple[bytes, str, str]],
    *,
    parent: bytes,
    parent_content_type: str,
    visibility: str,
    remote_url_for: Callable[[str], str] | None,
    edits: Sequence[Mapping[str, Any]] = (),
) -> list[SignedAsset]:
    """Sign every variant of one original, each embedded or remote as `placement` says.

    Parameters
    ----------
    variants : sequence of (data, content_type, title)
        The encoded variants.
    remote_url_for : callable, optional
        Sidecar URL for a manifest id; None embeds every manifest.

    Returns
    -------
    list[SignedAsset]
        In the order of ``variants``.

    Notes
    -----
    Every manifest of one asset carries the same ingredient and certificate chain, so
    they differ by a few bytes: the largest variant is signed first (remote when sidecars
    are possible, its sidecar being the manifest it would embed) and that manifest's size
    decides for the rest. Only a largest variant big enough to embed is signed twice.
    """
    results: list[SignedAsset | None] = [None] * len(variants)
    manifest_bytes: int | None = None
    may_go_remote = remote_url_for is not None and visibility == "public"
    for index in sorted(range(len(variants)), key=lambda i: -len(variants[i][0])):
        data, content_type, title = variants[index]
        sign = partial(credentials.sign_variant, data, content_type, parent=parent,
                       parent_content_type=parent_content_type, title=title, edits=edits)
        if manifest_bytes is None:
            signed = sign(remote_url_for=remote_url_for if may_go_remote else None)
            manifest_bytes = len(signed.manifest) if may_go_remote else signed.added_bytes
            if may_go_remote and placement(visibility, len(data), manifest_bytes) == "embedded":
                again = sign(remote_url_for=None)
                signed = replace(again, sign_ms=round(signed.sign_ms + again.sign_ms, 2))
        else:
            remote = may_go_remote and placement(visibility, len(data), manifest_bytes) == "remote"
            signed = sign(remote_url_for=remote_url_for if remote else None)
        results[index] = signed
    return [r for r in results if r is not None]


def _base_definition(manifest_id: str, title: str) -> dict[str, Any]:
    return {"claim_generator_info": [CLAIM_GENERATOR], "label": f"urn:c2pa:{manifest_id}", "title": title}


def _extension(content_type: str) -> str:
    return {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/avif": ".avif"}.get(
        content_type, ""
    )


def reader_context(trust_anchor_pem: str | None) -> c2pa.Context:
    """Settings for signing and reading: no thumbnail, no network, our roots as trust anchors."""
    settings: dict[str, Any] = {
        "builder": {"thumbnail": {"enabled": False}},
        "verify": {"verify_trust": bool(trust_anchor_pem), "remote_manifest_fetch": False},
    }
    if trust_anchor_pem:
        settings["trust"] = {"trust_anchors": trust_anchor_pem}
    return c2pa.Context(c2pa.Settings.from_dict(settings))


def validate(
    data: bytes,
    content_type: str | None = None,
    *,
    manifest: bytes | None = None,
    trust_anchor_pem: str | None = None,
    context: c2pa.Context | None = None,
) -> ValidationReport:
    """Read and validate the C2PA manifest of a file.

    Parameters
    ----------
    data : bytes
        The file as served.
    content_type : str, optional
        Sniffed from the bytes when not given.
    manifest : bytes, optional
        The sidecar manifest of a file whose manifest is remote.
    trust_anchor_pem, context
        Roots that make the state "Trusted" (or a context made by `reader_context`).

    Returns
    -------
    ValidationReport
        ``state`` is "Trusted" (valid and signed under a trust anchor), "Valid" (intact,
        signer not anchored), "Invalid" (the file or manifest was altered, or the
        signature fails) or "none" (no manifest, or a remote one that was not supplied).
    """
    content_type = content_type or sniff_content_type(data)
    if content_type is None:
        return ValidationReport("none", detail="not an image format C2PA reads")
    context = context or reader_context(trust_anchor_pem)
    try:
        reader = c2pa.Reader(content_type, io.BytesIO(data), manifest, context=context)
    except c2pa.C2paError.ManifestNotFound:
        return ValidationReport("none", detail="no C2PA manifest")
    except c2pa.C2paError as error:
        # c2pa reports a remote manifest it may not fetch as a plain error; its URL is
        # only in the message. Anything else (a damaged manifest store) is Invalid.
        found = _REMOTE_URL.search(str(error))
        if found:
            return ValidationReport("none", placement="remote", remote_url=found[1],
                                    detail="remote manifest not supplied")
        return ValidationReport("Invalid", detail=str(error)[:300])
    with reader:
        return _report(reader, embedded=manifest is None)


def _report(reader: c2pa.Reader, *, embedded: bool) -> ValidationReport:
    parsed = json.loads(reader.json())
    label = parsed.get("active_manifest")
    active: Mapping[str, Any] = parsed.get("manifests", {}).get(label, {})
    results = parsed.get("validation_results", {}).get("activeManifest", {})
    actions: list[dict[str, Any]] = []
    generation = None
    for assertion in active.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            actions += assertion.get("data", {}).get("actions", [])
        elif assertion.get("label") == GENERATION_ASSERTION:
            generation = assertion.get("data")
    created = next((a for a in actions if a.get("action") == "c2pa.created"), {})
    signature = active.get("signature_info", {})
    state = parsed.get("validation_state") or "Invalid"
    return ValidationReport(
        state=state if state in {"Trusted", "Valid"} else "Invalid",
        placement="embedded" if embedded else "remote",
        active_manifest=label,
        signer={k: str(signature[k]) for k in ("issuer", "common_name", "alg") if k in signature} or None,
        actions=tuple(a.get("action", "") for a in actions),
        digital_source_type=created.get("digitalSourceType"),
        software_agent=created.get("softwareAgent"),
        generation=generation,
        ingredients=tuple(
            {k: i.get(k) for k in ("title", "format", "relationship", "active_manifest")}
            for i in active.get("ingredients", [])
        ),
        failures=tuple(f"{f.get('code')}: {f.get('explanation', '')}" for f in results.get("failure", [])),
    )
