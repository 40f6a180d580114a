"""One module per pipeline stage: the logic a handler calls, with its adapters passed in."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..models import AssetStatus


@dataclass(frozen=True)
class StageResult:
    """What a stage did with one message (JSON-able: the idempotency layer stores it)."""

    asset_id: str | None
    status: AssetStatus | str
    reason: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)
