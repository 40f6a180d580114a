"""Where the benchmarks write: ``out/bench/{name}.json`` (everything) and ``{name}.md`` (the table)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"


def publish(name: str, report: dict[str, Any], table: str) -> None:
    """Write the report and its table, and print the table."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(report, indent=2))
    (OUT / f"{name}.md").write_text(table)
    print()
    print(table)
