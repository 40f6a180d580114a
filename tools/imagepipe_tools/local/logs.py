"""Where the embedded stack's functions log: out/local/functions.log."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO


def function_log(root: Path, mode: str = "a") -> TextIO:
    path = root / "out" / "local" / "functions.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open(mode)
