"""A picker with a handheld: the PDA pages in Chromium at 360×640 against a real node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from edge.api.operators import Operator
from tests.edge.api.conftest import SKUS
from tests.edge.pda.conftest import (
    Node,
    feedback,
    login,
    ready,
    scan,
    serve,
    settle,
    wait_sent,
)
from tests.support.browser import axe_violations, screenshot

pytestmark = pytest.mark.browser

# The wave W1 in route order (tests/edge/api/test_pick_flow.py): bin, SKU, quantity.
ROUTE = [("P4", "C", 2), ("P3", "B", 1), ("P2", "A", 3)]


def wave_scans() -> list[str]:
    out: list[str] = []
    for bin_code, sku, qty in ROUTE:
        out += [f"BIN-{bin_code}"] + [SKUS[sku]] * qty
    return out


def start_w1(page: Any) -> None:
    page.goto("/pda/waves")
    login(page)
    page.click("button[data-wave=W1]")
    page.wait_for_url("**/pda/pick")
    ready(page)
    page.wait_for_function("document.getElementById('t-bin').textContent === 'P4'")


@pytest.mark.parametrize("mode", ["keys", "ime"])
def test_a_whole_wave_by_scanner(page: Any, node: Node, mode: str) -> None:
    start_w1(page)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("#progress").text_content() == "0/3"
    field = page.locator("#scan")
    assert (field.get_attribute("type"), field.get_attribute("inputmode")) == ("text", "none")
    assert field.evaluate("el => document.activeElement === el")
    for i, code in enumerate(wave_scans()):
        scan(page, code, mode)
        kind, text = feedback(page)
        assert "error" not in kind, (i, code, text)
        settle()
    kind, text = feedback(page)
    assert "done" in kind and "W1" in text
    assert page.locator("body").get_attribute("data-tone") == "done"
    wait_sent(page)
    assert node.scans() == wave_scans()  # each scan reached the node once, in order
    facts = node.picked_facts()
    assert sorted(f["payload"]["order_id"] for f in facts) == ["O1", "O2"]
    assert sorted(node.movements()) == [("P2", "A", -3), ("P3", "B", -1), ("P4", "C", -2)]
    assert page.locator("#progress").text_content() == "3/3"


def test_wrong_bin_and_double_read(page: Any, node: Node) -> None:
    start_w1(page)
    scan(page, "BIN-P2")  # a bin of the table, not this stop's
    kind, text = feedback(page)
    assert "error" in kind and "P4" in text
    assert page.locator("body").get_attribute("data-tone") == "error"
    settle()
    scan(page, "BIN-P4")
    settle()
    # The scanner reads it twice within 100 ms: two IME injections in one go (two calls
    # from here may be further apart than that on a loaded machine).
    page.evaluate(
        """code => { const el = document.getElementById('scan');
          for (let i = 0; i < 2; i++) {
            el.value = code;
            el.dispatchEvent(new InputEvent('input', {inputType: 'insertText', data: code}));
          } }""",
        SKUS["C"],
    )
    kind, text = feedback(page)
    assert "notice" in kind
    assert page.locator("#t-qty").text_content() == "1 / 2"
    wait_sent(page)
    assert node.scans() == ["BIN-P2", "BIN-P4", SKUS["C"]]
    screenshot(page, "pda-pick")
    assert axe_violations(page) == []


@pytest.fixture
def wh1(node_db: Path, pda_operators: list[Operator]) -> Iterator[Node]:
    """The node picking for WH1 (a transfer leaves from there), serving the PDA pages."""
    yield from serve(node_db, pda_operators, warehouse="WH1")


def test_a_transfers_units_are_picked_by_serial_and_a_serial_twice_is_red(
    browser: Any, wh1: Node
) -> None:
    """A serial-tracked SKU on a transfer's pick (docs/inbound.md "Serials of a transfer's
    units"): the item, then the serial on its label, as a keyboard-wedge scanner types
    them; a serial picked already is red at once and counts nothing, on the page and at
    the node, and still after a reload (the node's list, GET /api/v1/picks/current)."""
    from protocol.messages import CatalogueUpsert, CatalogueUpserted, TransferOutboundLine
    from tests.edge.api.test_pick_transfer import outbound

    item = CatalogueUpsert(sku_code="A", name="item A", barcodes=[SKUS["A"]], serial_tracked=True)
    wh1.feed(CatalogueUpserted(seq=1, payload=item))
    wh1.feed(outbound(lines=[TransferOutboundLine(line_no=1, sku_code="A", qty=2)]))
    ctx = browser.new_context(
        viewport={"width": 360, "height": 640}, base_url=wh1.url, locale="zh-CN"
    )
    try:
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        page.goto("/pda/waves")
        login(page)
        page.click("button[data-wave=TR-1]")
        page.wait_for_url("**/pda/pick")
        ready(page)
        page.wait_for_function("document.getElementById('t-bin').textContent !== ''")
        bin_code = f"BIN-{page.locator('#t-bin').text_content()}"
        task = page.locator("#task")
        for code in (bin_code, SKUS["A"]):
            scan(page, code)
            settle()
        assert task.get_attribute("data-expect") == "serial"
        assert page.locator("#expect").text_content() == "扫描商品序列号"
        scan(page, "SER-1")
        kind, _ = feedback(page)
        assert "ok" in kind and page.locator("#t-qty").text_content() == "1 / 2"
        settle()
        scan(page, SKUS["A"])
        settle()
        scan(page, "SER-1")
        kind, text = feedback(page)
        assert "error" in kind and "序列号 SER-1 已在此调拨单中拣过" in text, text
        assert page.locator("body").get_attribute("data-tone") == "error"
        assert page.locator("#t-qty").text_content() == "1 / 2"
        wait_sent(page)
        # The node refused it too (the page's verdict agreed: no problem shown).
        assert page.locator("#problems").is_hidden()
        refused = wh1.rows("SELECT text FROM journal WHERE kind = 'item.serial_twice'")
        assert len(refused) == 1 and "SER-1" in refused[0][0]
        page.reload()
        ready(page)
        page.wait_for_function("document.getElementById('task').dataset.expect === 'serial'")
        assert page.locator("#t-qty").text_content() == "1 / 2"
        scan(page, "SER-1")  # after the reload too: the node's list names it
        assert "error" in feedback(page)[0]
        settle()
        scan(page, "SER-2")
        assert "done" in feedback(page)[0]
        wait_sent(page)
        (fact,) = [
            orjson.loads(b)
            for (b,) in wh1.rows("SELECT body FROM outbox ORDER BY seq")
            if orjson.loads(b)["type"] == "transfer.shipped"
        ]
        assert fact["payload"]["lines"][0]["serials"] == ["SER-1", "SER-2"]
    finally:
        ctx.close()
