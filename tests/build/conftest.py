"""Shows test_sam_build.py's size table (out/build-sizes.txt) in pytest's closing summary."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

SIZES_REPORT = Path(__file__).resolve().parents[2] / "out" / "build-sizes.txt"
_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Read back from the file, so that the table shows under pytest-xdist too (a worker wrote it).
    if SIZES_REPORT.exists() and SIZES_REPORT.stat().st_mtime >= _STARTED:
        terminalreporter.section("sam build: each function + its layers, unzipped")
        terminalreporter.write(SIZES_REPORT.read_text())
