"""A picker with a handheld: the PDA pages in Chromium at 360×640 against a real node."""

from __future__ import annotations

from typing import Any

import pytest

from tests.edge.api.conftest import SKUS
from tests.edge.pda.conftest import (
    Node,
    feedback,
    login,
    ready,
    scan,
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
