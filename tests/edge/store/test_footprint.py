"""What a node loads: a new store and the ``guanjia edge`` command take in no more than they use.

Each check runs in a fresh interpreter (this test process has imported everything already).
The edge's memory target is 120 MB resident (``guanjia bench sync``); on 2026-12-07 a node
stood at 105–129 MB because a new store's first migration took in pandas and numpy through
sqlite-utils (~50 MB; the venv has pandas for the cloud's address parser) and every
``edge`` command imported the pick API's FastAPI app and numpy (~38 MB, ~1.9 s).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest


def _run(code: str, cwd: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("pandas") is None or importlib.util.find_spec("numpy") is None,
    reason="needs pandas and numpy installed, as with the cloud extra",
)
def test_a_new_store_migrates_without_pandas_or_numpy(tmp_path: Path) -> None:
    out = _run(
        "import sys\n"
        "from pathlib import Path\n"
        "from edge.store.store import Store\n"
        "s = Store(Path('edge.db'), 'n1')\n"
        "assert s.conn.execute('SELECT count(*) FROM sqlite_master').fetchone()[0] > 10\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'sqlite_utils') if m in sys.modules))\n"
        # The block is lifted once sqlite-utils is in: both still import afterwards.
        "import pandas, numpy\n"
        "print('imported')\n",
        tmp_path,
    )
    assert out.splitlines() == ["['sqlite_utils']", "imported"]


def test_the_edge_command_loads_no_web_stack_or_numpy(tmp_path: Path) -> None:
    out = _run(
        "import sys\n"
        "import edge.cli\n"
        "print(sorted(m for m in ('fastapi', 'numpy', 'pandas', 'uvicorn') if m in sys.modules))\n"
        "print(sorted(c.name or c.callback.__name__ for c in edge.cli.app.registered_commands))\n",
        tmp_path,
    )
    loaded, commands = out.splitlines()
    assert loaded == "[]"
    assert "'pick-api'" in commands and "'run'" in commands
