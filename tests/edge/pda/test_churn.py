"""Scan → feedback time and exactly-once delivery over many scans with the network cut and
restored at random points and page reloads (issue 14, "Numbers"; docs/benchmarks.md,
"PDA web view"). The driver is `guanjia bench pda`'s (edge/bench/pda.py).

The short form (123 scans) runs in ``make test``; ``--long -s`` runs 1,002 scans and prints
the figures. Built to hold on a loaded 2-core machine: every wait is for a condition, never
a sleep, and the per-call timeout is generous — a slow machine makes the run slower, not
wrong.
"""

from __future__ import annotations

from typing import Any

import pytest

from edge.bench.pda import SLOW_MS, churn, p99
from edge.pda import render
from tests.edge.api.conftest import SKUS
from tests.edge.pda.conftest import Node, big_wave, login, ready

pytestmark = pytest.mark.browser


def run(context: Any, page: Any, node: Node, units: int, seed: int) -> None:
    page.set_default_timeout(SLOW_MS)
    stops = big_wave(node, "W9", units)
    codes: list[str] = []
    for bin_code, sku, qty in stops:
        codes += [f"BIN-{bin_code}"] + [SKUS[sku]] * qty
    page.goto("/pda/waves")
    login(page)
    page.click("button[data-wave=W9]")
    page.wait_for_url("**/pda/pick")
    ready(page)
    page.wait_for_function("document.getElementById('t-bin').textContent === 'P4'")
    result = churn(context, page, codes, node.scans, seed)
    print("\n" + result.report())
    assert node.scans() == codes  # every scan once, in order
    assert result.lost == result.doubled == 0
    assert sorted(node.movements()) == [
        ("P2", "A", -units),
        ("P3", "B", -units),
        ("P4", "C", -units),
    ]
    keys = node.rows("SELECT COUNT(*), COUNT(DISTINCT key) FROM pick_request")
    assert keys[0][0] == keys[0][1]
    assert result.cuts and result.reloads
    assert p99(result.times[True]) <= 50
    assert p99(result.times[False]) <= 50


@pytest.fixture
def rapid(monkeypatch: pytest.MonkeyPatch) -> None:
    # The scans here are a test's, back to back: no double-read window on the page (the
    # queue still spaces equal codes past the station's 30 ms).
    monkeypatch.setattr(render, "DOUBLE_READ_MS", 0)


@pytest.mark.usefixtures("rapid")
def test_churn_short(context: Any, page: Any, node: Node) -> None:
    run(context, page, node, units=40, seed=7)


@pytest.mark.slow
@pytest.mark.usefixtures("rapid")
def test_churn_thousand_scans(context: Any, page: Any, node: Node) -> None:
    run(context, page, node, units=333, seed=11)
