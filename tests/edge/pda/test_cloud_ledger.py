"""The PDA page end to end (issue 14): a wave picked on the handheld's page in Chromium,
with the Wi-Fi lost mid-wave and a reload, reaches the cloud's stock ledger once per pick —
through the real pick node (a separate `guanjia edge run` process), real Mosquitto and the
real hub (the demo's harness, simulators/demo). Here beside the other PDA tests: one
Chromium per session (the conftest's ``browser``)."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from simulators.demo.run import Demo
from simulators.demo.warehouse import ORDERS, PICK_NODE, PICKER, PICKER_PIN, WAVE
from tests.edge.pda.conftest import login, pending, ready, scan, settle, wait_sent

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_picks_on_the_page_reach_the_cloud_ledger_once(browser: Any, tmp_path: Path) -> None:
    demo = Demo(tmp_path, Console(file=io.StringIO(), width=200))
    try:
        demo.start()
        wh = demo.warehouse
        assert wh is not None
        with demo.session.step("release orders to WH1") as det:
            wh._release(det)
        wh._has_released(PICK_NODE)
        # What the wave wants, as the page will be told it (a preview before the start).
        api = f"{wh.pick_api}/api/v1"
        token = httpx.post(
            f"{api}/login", json={"operator": PICKER, "pin": PICKER_PIN}, timeout=10
        ).json()["token"]
        h = {"Authorization": f"Bearer {token}"}
        stops = httpx.get(f"{api}/picks/{WAVE}", headers=h, timeout=10).json()["stops"]
        codes = httpx.get(
            f"{wh.pick_api}/pda/api/codes", params={"wave": WAVE}, headers=h, timeout=10
        ).json()
        barcode = {sku: code for code, sku in sorted(codes["items"].items(), reverse=True)}
        scans: list[str] = []
        for stop in stops:
            scans += [stop["bin_barcode"] or stop["bin"]] + [barcode[stop["sku_code"]]] * stop[
                "qty"
            ]
        want = Counter({(s["sku_code"], s["bin"]): -s["qty"] for s in stops})

        context = browser.new_context(
            viewport={"width": 360, "height": 640}, base_url=wh.pick_api, locale="zh-CN"
        )
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto("/pda/waves")
        login(page, PICKER, PICKER_PIN)
        page.click(f"button[data-wave='{WAVE}']")
        page.wait_for_url("**/pda/pick")
        ready(page)
        for code in scans[:2]:
            scan(page, code)
            settle()
        wait_sent(page)
        context.set_offline(True)  # the Wi-Fi drops for the rest of the wave
        for code in scans[2:]:
            scan(page, code)
            settle()
        page.wait_for_function("!window.__pda.busy")
        assert pending(page) == len(scans) - 2  # all on the handheld, none at the node
        context.route("**/api/v1/**", lambda route: route.abort())
        context.set_offline(False)
        page.reload()  # back on the Wi-Fi, the node not answering yet
        ready(page)
        context.unroute("**/api/v1/**")
        wait_sent(page, timeout=60_000)
        assert page.locator("#problems").is_hidden()

        # 60 s, not 30: on 2026-12-06 the machine ran at about half speed (the bench's fixed
        # loop 82-143 ms against 52-55) and one CI run timed out here at 30 s; the same code
        # passed 5 of 5 runs after. Lost facts would still fail it.
        wh.wait_cloud(
            lambda: all(wh.order(no)["status"] == "picked" for no in ORDERS), 60, "orders picked"
        )

        def picks() -> list[dict[str, Any]]:
            return [
                m
                for m in wh.http("GET", "/stock/movements", params={"limit": 500})
                if m["kind"] == "pick"
            ]

        wh.wait_cloud(lambda: sum(1 for _ in picks()) >= len(want), 30, "the pick movements")
        moves = picks()
        got = Counter()
        for m in moves:
            got[(m["sku_code"], m["bin_code"])] += m["bin_delta"]
        assert got == want  # each pick booked once: nothing lost, nothing doubled
        assert len({m["event_key"] for m in moves}) == len(moves)
        context.close()
    finally:
        demo.stop()
