"""Domain models shared by every stage (pydantic v2, no AWS imports)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Visibility = Literal["public", "private"]
ImageFormat = Literal["avif", "webp", "jpeg", "png"]
AssetStatus = Literal[
    "created",  # original stored, awaiting moderation
    "review",  # waiting for a human decision
    "approved",  # moderation passed, derivatives pending
    "published",  # derivatives and manifest written
    "rejected",  # refused by a policy, a moderator or validation; never derived
    "taken_down",  # withdrawn after publication
]
EventKind = Literal["created", "moderated", "published", "rejected", "reviewed", "taken_down"]

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"

REQUESTER_PATTERN = r"^[A-Za-z0-9._@:+-]{1,128}$"


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Strict(BaseModel):
    # A validation error names the field and the rule, never the input: its message reaches
    # X-Ray (the exception's cause) and the logs, and inputs hold prompts and requesters.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class GenerationRequest(_Strict):
    """What a client drops onto the generate-requests queue."""

    prompt: str = Field(min_length=1, max_length=1024)
    negative_prompt: str | None = Field(default=None, max_length=1024)
    model_id: str = Field(default="local", min_length=1, max_length=128)
    width: int = Field(default=1024, ge=256, le=2048, multiple_of=16)
    height: int = Field(default=1024, ge=256, le=2048, multiple_of=16)
    seed: int = Field(default=0, ge=0, le=2_147_483_646)
    requester: str = Field(pattern=REQUESTER_PATTERN)
    visibility: Visibility = "private"
    client_request_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")


class OriginalInfo(_Strict):
    """The canonical original of an asset as stored in the originals bucket."""

    asset_id: str
    key: str
    content_type: str
    sha256: str
    bytes: int
    width: int
    height: int
    visibility: Visibility
    requester: str
    source: Literal["generated", "upload"]
    review_required: bool = False


class ContentCredentialsRef(_Strict):
    """Where a variant's C2PA manifest is: inside the file, or beside it at ``manifest_key``."""

    placement: Literal["embedded", "remote"]
    manifest_bytes: int
    manifest_key: str | None = None
    manifest_url: str | None = None


class Variant(_Strict):
    key: str
    width: int
    height: int
    format: ImageFormat
    content_type: str
    bytes: int  # as served, manifest included when embedded
    sha256: str  # of the served bytes
    quality: int | None = None
    score: float | None = None  # SSIMULACRA2 vs the resized source, where the engine measured it
    content_credentials: ContentCredentialsRef | None = None


class Manifest(_Strict):
    """Per-asset JSON a page reads to build <picture>/srcset without listing the bucket."""

    asset_id: str
    visibility: Visibility
    width: int
    height: int
    digital_source_type: str = DIGITAL_SOURCE_TYPE
    variants: tuple[Variant, ...]
    created_at: datetime
    provenance_token_key: str | None = None  # public assets: the signed provenance token


class BlurRegion(_Strict):
    """A box relative to the upright original (0..1) that public variants blur (face policy)."""

    left: float = Field(ge=0, le=1)
    top: float = Field(ge=0, le=1)
    width: float = Field(gt=0, le=1)
    height: float = Field(gt=0, le=1)


class DerivativesJob(_Strict):
    """Message on the derivatives queue: an approved original to derive."""

    asset_id: str
    original_key: str
    visibility: Visibility
    blur_regions: tuple[BlurRegion, ...] = ()


class ReviewTask(_Strict):
    """Message on the review queue: an original that needs a human decision."""

    asset_id: str
    original_key: str
    visibility: Visibility
    reasons: tuple[str, ...]


class ProvenanceEvent(_Strict):
    """One fact about an asset, sent by a stage to the provenance FIFO queue.

    ``event_id`` is deterministic for a given fact (asset + stage + attempt-independent data),
    so a redelivered message is recorded once.
    """

    event_id: str = Field(min_length=1, max_length=200)
    asset_id: str
    kind: EventKind
    actor: str
    at: datetime = Field(default_factory=utc_now)
    status: AssetStatus
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class UploadTicket(_Strict):
    """What upload-url vouched for before handing out a presigned POST: the one object
    ``uploads/{upload_id}`` may become, and whose it is.

    The uploads stage takes requester and visibility from here alone, never from the
    object's own metadata, and admits one object per ticket.
    """

    upload_id: str = Field(min_length=36, max_length=36)
    requester: str = Field(pattern=REQUESTER_PATTERN)
    visibility: Visibility
    content_type: str = Field(min_length=1, max_length=64)
    max_bytes: int = Field(gt=0)
    issued_at: datetime
    expires_at: datetime  # the presigned POST's expiry: S3 refuses it later, ingest refuses objects written later
    issued_by: str | None = Field(default=None, max_length=2048)  # the IAM principal of the app backend
    model_id: str | None = Field(default=None, max_length=128)
    licence: str | None = Field(default=None, max_length=128)
