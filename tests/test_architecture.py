"""The import rules hold, and each rule's check can fail.

The rules are import-linter contracts in pyproject.toml: who may import whom
between the parts, the layers inside each part, purity of ``protocol`` and the
stations (enforced on the import graph, so ``import json, os`` cannot slip past
a text match), and no import cycles. For every contract a test plants an import
that breaks it in a copy of the tree and expects the linter to say so: a rule
that cannot fail would not be a rule.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")
PARTS = ("protocol", "edge", "cloud", "simulators")


def lint(cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--config", str(cwd / "pyproject.toml"), "--no-cache", *extra],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def contracts() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c["name"] for c in config["tool"]["importlinter"]["contracts"]}


def test_every_contract_holds() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken" in result.stdout


#: contract id -> (module file, the import planted at its top)
BREAKERS: dict[str, tuple[str, str]] = {
    "protocol-alone": ("protocol/topics.py", "import edge"),
    "parts-independent": ("edge/devices/lights.py", "import cloud"),
    "pure": ("protocol/codec.py", "import json, os"),
    "stations-alone": ("edge/stations/common.py", "from edge import config"),
    "edge-layers": ("edge/store/store.py", "import edge.runtimes.pack"),
    "cloud-layers": ("cloud/db/models.py", "import cloud.orders.core"),
    "cloud-domain-web-free": ("cloud/orders/core.py", "from fastapi import HTTPException"),
    "simulators-layers": ("simulators/net.py", "import simulators.cli"),
    # protocol has no layers contract: only the cycle rule can catch this one.
    "acyclic": ("protocol/errors.py", "import protocol.codec"),
}


def test_every_contract_has_a_breaker() -> None:
    assert set(BREAKERS) == set(contracts())


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    for part in PARTS:
        shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root)
    return root


@pytest.mark.parametrize("contract", sorted(BREAKERS))
def test_the_contract_can_fail(contract: str, tree: Path) -> None:
    path, line = BREAKERS[contract]
    victim = tree / path
    before = victim.read_text(encoding="utf-8")
    victim.write_text(f"{line}  # noqa\n{before}", encoding="utf-8")
    try:
        result = lint(tree, "--contract", contract)
    finally:
        victim.write_text(before, encoding="utf-8")
    assert result.returncode != 0, result.stdout
    name = contracts()[contract]
    assert "BROKEN" in result.stdout
    assert "Contracts: 0 kept, 1 broken" in result.stdout, (name, result.stdout)
