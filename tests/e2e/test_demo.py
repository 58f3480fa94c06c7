"""`guanjia demo --once` is the main job: run it as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_demo_once_exits_zero_and_shows_the_stored_scan(tmp_path: Path) -> None:
    guanjia = Path(sys.executable).with_name("guanjia")
    t = time.monotonic()
    proc = subprocess.run(
        [str(guanjia), "demo", "--once", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    took = time.monotonic() - t
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "demo ok" in out
    assert "light GREEN" in out
    assert "cloud stored scan.recorded" in out
    assert "acked back through seq 2" in out
    assert "light RED" in out
    assert took < 60
