"""Every page at 360×640: screenshot kept, axe-core without serious or critical violations,
Chinese by default and English on request, and the page-weight budget (docs/pda.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.edge.pda.conftest import Node, login, ready, scan
from tests.support.browser import axe_violations, screenshot

pytestmark = pytest.mark.browser

FIRST_LOAD_BUDGET = 100 * 1024
LATER_PAGE_BUDGET = 30 * 1024


def test_each_page_screenshot_and_axe(page: Any, node: Node) -> None:
    page.goto("/pda/login")
    ready(page)
    screenshot(page, "pda-login")
    assert axe_violations(page) == []
    login(page)
    page.wait_for_url("**/pda/waves")
    ready(page)
    page.locator("button[data-wave=W1]").wait_for()
    for name in ["waves", "home", "lookup", "count", "inbound", "receive", "returns", "commands"]:
        if name != "waves":
            page.goto(f"/pda/{name}" if name != "home" else "/pda")
            ready(page)
        if name == "lookup":
            scan(page, "BIN-P2")
            page.locator("#lookup-result table").wait_for()
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        screenshot(page, f"pda-{name}")
        assert axe_violations(page) == [], name
    page.goto("/pda/waves?lang=en")
    ready(page)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").text_content() == "Waves"
    screenshot(page, "pda-waves-en")


def test_page_weight_budget(page: Any, node: Node) -> None:
    sizes: list[tuple[str, int]] = []

    def record(response: Any) -> None:
        # Bytes on the wire (0 for what the browser took from its cache); a body the
        # server sent uncompressed (the HTML) counts as much as it would gzipped or more.
        s = response.request.sizes()
        sizes.append((response.url, s["responseBodySize"] + s["responseHeadersSize"]))

    page.on("response", record)
    page.goto("/pda/login")
    ready(page)
    login(page)
    page.wait_for_url("**/pda/waves")
    ready(page)
    page.locator("button[data-wave=W1]").wait_for()
    first = sum(n for _, n in sizes)
    sizes.clear()
    page.click("a.menu")  # a later page: the shell's files come from the cache
    ready(page)
    page.goto("/pda/lookup")
    ready(page)
    later = sum(n for _, n in sizes) / 2
    print(
        f"\nPDA page weight (gzipped): first load {first / 1024:.1f} KB, later pages {later / 1024:.1f} KB"
    )
    assert first <= FIRST_LOAD_BUDGET
    assert later <= LATER_PAGE_BUDGET
