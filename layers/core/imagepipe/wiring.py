"""Every cached adapter by name, and ``reset()``: for tests, tools and the local runtime.

The handlers do not import this module: each function's ``app.py`` imports the composition
modules (``imagepipe.composition.*``) of the adapters it uses, so its cold start loads only
those (bench/coldstart.py). Here each factory is looked up in its module on first access
(``wiring.object_store()`` is ``composition.stores.object_store()``, the same cached
instance), and ``reset()`` clears the caches of whichever of those modules are loaded,
importing none.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from . import config
from .adapters import aws

_COMPOSITION = "imagepipe.composition"
FACTORIES = {
    "object_store": "stores",
    "publisher": "stores",
    "upload_tickets": "stores",
    "cdn": "stores",
    "provenance_store": "records",
    "generation_quota": "generation",
    "prompt_moderation": "generation",
    "image_model": "generation",
    "moderation_backend": "moderation",
    "moderation_policy": "moderation",
    "url_signer": "signing",
    "content_credentials": "credentials",
    "provenance_token_signer": "credentials",
}
"""Each factory's composition module (``imagepipe.composition.<module>``)."""
MODULES = ("stores", "records", "secrets", "signing", "credentials", "generation", "moderation")


def __getattr__(name: str) -> Any:
    module = FACTORIES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{_COMPOSITION}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *FACTORIES])


def reset() -> None:
    """Forget every cached adapter, the settings and the clients (tests and the local runtime between stacks)."""
    for name in MODULES:
        module = sys.modules.get(f"{_COMPOSITION}.{name}")
        if module is not None:
            module.reset()
    config.settings.cache_clear()
    aws.reset()
