"""Delivery: who may see what (access), the t/* negotiation rule (twin of edge/normalize.js),
responsive ``<picture>`` markup, the distribution as values, and a local CloudFront (edge).

Signing itself lives in `imagepipe.signed_urls`; the sign-url and transform stages in
`imagepipe.stages.sign` and `imagepipe.stages.transform`. Nothing here imports boto3: the
edge takes its S3 client and handler invoker from the caller (`imagepipe.local.edge`).
"""

from __future__ import annotations

from .access import READER_ROLES, Refusal, Viewer, refusal
from .negotiation import DEFAULT_WIDTH, WIDTH_STEPS, Normalized, normalize, snap
from .responsive import Picture, on_demand_url, picture

__all__ = [
    "DEFAULT_WIDTH",
    "READER_ROLES",
    "WIDTH_STEPS",
    "Normalized",
    "Picture",
    "Refusal",
    "Viewer",
    "normalize",
    "on_demand_url",
    "picture",
    "refusal",
    "snap",
]
