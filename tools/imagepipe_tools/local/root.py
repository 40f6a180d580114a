"""Where the project is: light enough for commands that must not import moto or boto3."""

from __future__ import annotations

import os
from pathlib import Path


def find_root(start: Path | None = None) -> Path:
    """The project root: $IMAGEPIPE_ROOT, or the nearest directory above holding template.yaml."""
    if os.environ.get("IMAGEPIPE_ROOT"):
        return Path(os.environ["IMAGEPIPE_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "template.yaml").is_file():
            return candidate
    raise FileNotFoundError("no template.yaml here or above; run from the project or set IMAGEPIPE_ROOT")
