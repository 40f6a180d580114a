"""`imagepipe local up` stops cleanly on SIGTERM, as on Ctrl-C.

Before, SIGTERM (a service manager, `kill`, a CI runner's timeout) killed the process in the
middle of whatever it did and left `.imagepipe/local.json` pointing at a dead endpoint, so
the next `imagepipe review` or `upload` tried to reuse a stack that was gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".imagepipe" / "local.json"
pytestmark = pytest.mark.e2e


def test_sigterm_stops_local_up_and_removes_its_state_file() -> None:
    """GIVEN `imagepipe local up` running and polling
    WHEN it receives SIGTERM
    THEN it exits 0 within seconds and removes the state file that pointed at its stack."""
    if STATE.exists():
        pytest.skip("a local stack is already running here")
    cli = Path(sys.executable).with_name("imagepipe")
    process = subprocess.Popen(
        [str(cli), "local", "up"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 120
        for line in process.stdout:
            if "Ctrl-C to stop" in line:
                break
            assert time.monotonic() < deadline, "local up did not come up"
        else:
            pytest.fail(f"local up ended early (rc {process.wait()})")
        assert STATE.exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not STATE.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        STATE.unlink(missing_ok=True)
