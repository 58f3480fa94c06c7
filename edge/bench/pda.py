"""``guanjia bench pda``: the PDA pick page in Chromium — scan → feedback time with the node
reachable and unreachable, and exactly-once delivery over many scans with the network cut
and restored at random points and page reloads (issue 14, "Numbers"; docs/benchmarks.md).

:func:`churn` is the driver: tests/edge/pda/test_churn.py runs it against its own node
(123 scans in ``make test``, 1,002 with ``--long``); :func:`bench_pda` sets up a node of
its own (a temporary store, the pick API under uvicorn) and Debian's Chromium (never
``playwright install``: it downloads from outside). Playwright is a dev dependency.

Every wait is for a condition (the page ready, its scan handlers done — ``window.__pda.busy``
— the queue empty), never a sleep: a loaded machine makes the run slower, not wrong.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

#: A loaded machine (load 20+ on 2 cores was seen) takes seconds to load a page.
SLOW_MS = 60_000
CUT_P = 0.03  # per scan: the network is cut (or restored)
RELOAD_P = 0.015  # per scan while online: the page is reloaded


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


@dataclass
class Churn:
    scans: int = 0
    cuts: int = 0
    reloads: int = 0
    seconds: float = 0.0
    #: scan (Enter) -> feedback in the DOM, by network state (True: node reachable)
    times: dict[bool, list[float]] = field(default_factory=lambda: {True: [], False: []})
    #: scan -> the next animation frame after the feedback
    frames: dict[bool, list[float]] = field(default_factory=lambda: {True: [], False: []})
    lost: int = 0
    doubled: int = 0

    def report(self) -> str:
        lines = [
            f"PDA churn: {self.scans} scans in {self.seconds:.0f} s, {self.cuts} network cuts/"
            f"restores, {self.reloads} reloads: lost {self.lost}, doubled or out of order "
            f"{self.doubled}"
        ]
        for state, label in ((True, "node reachable"), (False, "node unreachable")):
            ts, fs = self.times[state], self.frames[state]
            if ts:
                lines.append(
                    f"scan -> feedback ({label}): n={len(ts)} p50 "
                    f"{statistics.median(ts):.1f} ms, p99 {p99(ts):.1f} ms, max {max(ts):.1f} ms"
                    f"; to the next frame p50 {statistics.median(fs):.1f} ms, "
                    f"p99 {p99(fs):.1f} ms"
                )
        return "\n".join(lines)

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {
            "scans": self.scans,
            "network cuts/restores": self.cuts,
            "reloads": self.reloads,
            "lost": self.lost,
            "doubled or out of order": self.doubled,
            "seconds": self.seconds,
        }
        for state, label in ((True, "reachable"), (False, "unreachable")):
            if self.times[state]:
                out[f"feedback p50 ms, {label}"] = statistics.median(self.times[state])
                out[f"feedback p99 ms, {label}"] = p99(self.times[state])
                out[f"next frame p99 ms, {label}"] = p99(self.frames[state])
        return out


def scan(page: Page, code: str, ime: bool) -> None:
    """A scanner in keystroke-wedge mode (keys, then Enter) or IME mode (one injection)."""
    field_ = page.locator("#scan")
    if ime:
        field_.focus()
        page.keyboard.insert_text(code)
    else:
        field_.press_sequentially(code, delay=0)
        field_.press("Enter")


def churn(
    context: BrowserContext,
    page: Page,
    codes: list[str],
    node_scans: Callable[[], list[str]],
    seed: int,
) -> Churn:
    """Scan ``codes`` on the pick page (the wave started, the page ready), cutting and
    restoring the network and reloading at random; then wait for the queue to empty and
    compare what the node received (``node_scans``) with what was scanned."""
    rnd = random.Random(seed)
    result = Churn(scans=len(codes))
    online = True
    expected = 0
    began = time.monotonic()

    def collect() -> None:
        nonlocal expected
        # One timing per scan, pushed in the frame after its feedback.
        page.wait_for_function(
            "n => window.__pda.timings.length >= n", arg=expected, timeout=SLOW_MS
        )
        got = page.evaluate(
            "() => { const t = window.__pda.timings; window.__pda.timings = []; return t }"
        )
        result.times[online] += [float(t["dom"]) for t in got]
        result.frames[online] += [float(t["frame"]) for t in got]
        expected = 0

    for code in codes:
        r = rnd.random()
        if r < CUT_P:
            collect()
            online = not online
            context.set_offline(not online)
            result.cuts += 1
        elif r < CUT_P + RELOAD_P and online:
            collect()
            page.wait_for_function("!window.__pda.busy", timeout=SLOW_MS)  # writes on disk
            page.reload()
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=SLOW_MS)
            result.reloads += 1
        scan(page, code, ime=rnd.random() < 0.5)
        expected += 1
    collect()
    if not online:
        context.set_offline(False)
    page.wait_for_function(
        "!window.__pda.busy && document.getElementById('pending').dataset.count === '0'",
        timeout=3 * SLOW_MS,
    )
    result.seconds = time.monotonic() - began
    got = node_scans()
    result.lost = max(len(codes) - len(got), 0)
    result.doubled = sum(1 for i, c in enumerate(got) if i >= len(codes) or c != codes[i])
    return result


def bench_pda(units: int, seed: int, chromium: Path) -> Churn:
    """A node of its own (three bins, three SKUs, one order of ``units`` of each in wave W1)
    and a Chromium at 360×640 picking it through the churn."""
    import orjson
    import uvicorn
    from playwright.sync_api import sync_playwright

    from edge.api.app import create_pick_app
    from edge.api.operators import Operator
    from edge.pda import render
    from edge.pins import hash_pin
    from edge.store.store import Store
    from protocol.messages import (
        BinInfo,
        BinsUpsert,
        BinsUpserted,
        CatalogueUpsert,
        CatalogueUpserted,
        DownBatch,
        OrderLine,
        OrderRelease,
        OrderReleased,
        Recipient,
        StockExpected,
        StockExpectedSet,
        StockLevel,
    )

    node, pin = "bench-pick-1", "246810"
    skus = {"A": "6900000000011", "B": "6900000000028", "C": "6900000000035"}
    bins = [
        BinInfo(code=f"P{i}", zone="pick", x=0.0, y=float(i), walk_order=i, barcode=f"BIN-P{i}")
        for i in (1, 2, 3)
    ]
    stock = [
        StockLevel(bin=f"P{i}", sku_code=s, qty=units) for i, s in ((1, "A"), (2, "B"), (3, "C"))
    ]
    order = OrderRelease(
        order_id="O1",
        version=1,
        status="released",
        carrier="ZTO",
        recipient=Recipient(
            name="张三", phone="13800138000", province="湖南省", city="长沙市", address="1 号"
        ),
        lines=[OrderLine(line_id=f"O1-{s}", sku_code=s, qty=units) for s in skus],
        wave="W1",
        pick_node=node,
    )
    changes = [
        *[
            CatalogueUpserted(
                seq=i + 1, payload=CatalogueUpsert(sku_code=c, name=f"item {c}", barcodes=[b])
            )
            for i, (c, b) in enumerate(skus.items())
        ],
        BinsUpserted(seq=4, payload=BinsUpsert(warehouse="WH1", bins=bins)),
        StockExpectedSet(
            seq=5, payload=StockExpected(warehouse="WH1", bins=[b.code for b in bins], levels=stock)
        ),
        OrderReleased(seq=6, payload=order),
    ]
    with tempfile.TemporaryDirectory(prefix="guanjia-bench-pda-") as tmp:
        db = Path(tmp) / "edge.db"
        store = Store(db, node)
        store.apply_down(DownBatch(node=node, changes=changes, head=len(changes)))
        store.close()
        # Scans here come back to back, faster than a hand: no double-read window on the
        # page (the queue still spaces equal codes past the station's 30 ms).
        saved, render.DOUBLE_READ_MS = render.DOUBLE_READ_MS, 0
        app = create_pick_app(
            db, node, [Operator(id="bench", name="bench", pin_hash=hash_pin(pin))], station="pick-1"
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while not server.started:
                if time.monotonic() > deadline:
                    raise RuntimeError("the pick API did not start within 30 s")
                time.sleep(0.05)
            port = server.servers[0].sockets[0].getsockname()[1]
            url = f"http://127.0.0.1:{port}"

            def node_scans() -> list[str]:
                import sqlite3

                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                try:
                    rows = conn.execute("SELECT body FROM pick_input ORDER BY rowid").fetchall()
                finally:
                    conn.close()
                bodies = [orjson.loads(b) for (b,) in rows]
                return [str(b["barcode"]) for b in bodies if b.get("barcode") is not None]

            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=str(chromium),
                    args=["--disable-gpu", "--no-sandbox", "--disable-background-networking"],
                    headless=True,
                )
                context = browser.new_context(
                    viewport={"width": 360, "height": 640}, base_url=url, locale="zh-CN"
                )
                page = context.new_page()
                page.set_default_timeout(SLOW_MS)
                page.goto("/pda/waves")
                page.fill("#login-operator", "bench")
                page.fill("#login-pin", pin)
                page.click("#login-form button[type=submit]")
                page.click("button[data-wave=W1]")
                page.wait_for_url("**/pda/pick")
                page.wait_for_function("document.body.dataset.ready === '1'")
                # The stops in the node's route order, as the page was told them.
                stops = page.evaluate(
                    """async () => {
                      const s = JSON.parse(localStorage.getItem('guanjia-pda.session'));
                      const r = await fetch('/api/v1/picks/W1',
                        { headers: { authorization: 'Bearer ' + s.token } });
                      return (await r.json()).stops; }"""
                )
                codes: list[str] = []
                for st in stops:
                    codes += [str(st["bin_barcode"] or st["bin"])]
                    codes += [skus[str(st["sku_code"])]] * int(st["qty"])
                return_value = churn(context, page, codes, node_scans, seed)
                browser.close()
            return return_value
        finally:
            render.DOUBLE_READ_MS = saved
            server.should_exit = True
            thread.join(10)
