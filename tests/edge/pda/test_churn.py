"""Scan → feedback time and exactly-once delivery over many scans with the network cut and
restored at random points and page reloads (docs/benchmarks.md, "PDA web view").

The CI version scans a wave of ~100; ``--long`` runs ≥ 1,000 scans."""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import pytest

from edge.pda import render
from tests.edge.api.conftest import SKUS
from tests.edge.pda.conftest import Node, big_wave, login, p99, ready, scan, wait_sent
from tests.support.browser import screenshot

pytestmark = pytest.mark.browser


def run(context: Any, page: Any, node: Node, units: int, seed: int) -> None:
    rnd = random.Random(seed)
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

    online = True
    times: dict[bool, list[float]] = {True: [], False: []}
    cuts = reloads = 0

    def collect() -> None:
        time.sleep(0.03)  # the last scan's frame
        times[online] += [t["dom"] for t in page.evaluate("window.__pda.timings")]
        page.evaluate("window.__pda.timings = []")

    for code in codes:
        r = rnd.random()
        if r < 0.02:
            collect()
            online = not online
            context.set_offline(not online)
            cuts += 1
        elif r < 0.03 and online:
            collect()
            page.reload()
            ready(page)
            reloads += 1
        try:
            scan(page, code)
            time.sleep(0.01)  # a scanner's pace is far slower; this keeps the test's
        except Exception:
            screenshot(page, "pda-churn-fail")
            print(page.url, page.evaluate("window.__pda.shown.slice(-5)"), cuts, reloads, online)
            raise
    collect()
    if not online:
        context.set_offline(False)
    wait_sent(page, timeout=120_000)
    got = node.scans()
    lost = len(codes) - len(got)
    doubled = sum(1 for i, c in enumerate(got) if i >= len(codes) or c != codes[i])
    print(
        f"\nPDA churn: {len(codes)} scans, {cuts} network cuts/restores, {reloads} reloads: "
        f"lost {max(lost, 0)}, doubled or out of order {doubled}"
    )
    for state, label in ((True, "node reachable"), (False, "node unreachable")):
        ts = times[state]
        if ts:
            print(
                f"scan -> feedback ({label}): n={len(ts)} p50 {statistics.median(ts):.1f} ms, "
                f"p99 {p99(ts):.1f} ms, max {max(ts):.1f} ms"
            )
    assert got == codes  # every scan once, in order
    assert sorted(node.movements()) == [
        ("P2", "A", -units),
        ("P3", "B", -units),
        ("P4", "C", -units),
    ]
    assert p99(times[True]) <= 50
    if times[False]:
        assert p99(times[False]) <= 50


@pytest.fixture
def rapid(monkeypatch: pytest.MonkeyPatch) -> None:
    # The scans here are a test's, back to back: no double-read window on the page (the
    # queue still spaces equal codes past the station's 30 ms).
    monkeypatch.setattr(render, "DOUBLE_READ_MS", 0)


# Not yet in CI: on 2026-12-06 the machine ran at load 20-26 on 2 cores and page loads
# timed out (10 s) before the run finished; kept under --long until measured on a quiet one.
@pytest.mark.slow
@pytest.mark.usefixtures("rapid")
def test_churn_short(context: Any, page: Any, node: Node) -> None:
    run(context, page, node, units=40, seed=7)


@pytest.mark.slow
@pytest.mark.usefixtures("rapid")
def test_churn_thousand_scans(context: Any, page: Any, node: Node) -> None:
    run(context, page, node, units=333, seed=11)
