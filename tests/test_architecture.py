"""The import rules hold, and the check that enforces them can fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_import_contracts_hold() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken" in result.stdout


def test_import_cloud_from_edge_breaks_the_suite(tmp_path: Path) -> None:
    for part in ("protocol", "edge", "cloud", "simulators"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    victim = tmp_path / "edge" / "devices" / "lights.py"
    victim.write_text(
        "import cloud  # noqa\n" + victim.read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "edge.devices.lights -> cloud" in result.stdout


def test_protocol_has_no_io_clock_or_randomness() -> None:
    banned = (
        "asyncio",
        "socket",
        "serial",
        "sqlite3",
        "sqlalchemy",
        "random",
        "time",
        "datetime",
        "os",
        "aiomqtt",
    )
    offenders = []
    for path in (ROOT / "protocol").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if (
                len(words) >= 2
                and words[0] in ("import", "from")
                and words[1].split(".")[0] in banned
            ):
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert offenders == []
