"""The transfer pages in a real Chromium (Playwright, Debian's chromium), in Chinese: the
list, one transfer, its audit and shipping from the page; axe finds no serious or critical
violation; screenshots under test-artifacts/screenshots/. SQLite only (the pages' SQL runs on
both databases in test_transfer_pages.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from cloud.app import create_app
from cloud.inbound import transfers
from cloud.seed import seed_demo
from cloud.settings import Settings
from tests.cloud.conftest import PASSWORD
from tests.cloud.web.conftest import NODE
from tests.support.browser import axe_violations, screenshot
from tests.support.served import served

pytestmark = pytest.mark.browser
LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("web") / "hub.db"
    settings = Settings(
        database_url=f"sqlite:///{db}",
        mqtt_host="",
        warm_on_start=False,
        jwt_secret="test-secret-of-at-least-32-bytes-long",
    )
    app = create_app(settings, ingest=False)
    with served(app) as base:
        now = datetime.now(UTC)
        with app.state.sessions() as s, s.begin():
            made = seed_demo(s, now, password=PASSWORD, node_ids=[NODE])
            acct = int(made["account_id"])
            transfers.create(
                s,
                acct,
                "DB-2026-001",
                "fixed_cost",
                "WH1",
                "BCP",
                [transfers.LineIn(LEATHER, 3, Decimal("12.5"))],
                "admin",
                now,
                note="半成品仓补货",
            )
        yield base


def test_the_transfer_pages_audit_and_ship(browser: Any, hub: str) -> None:
    ctx = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", bypass_csp=True
    )
    page = ctx.new_page()
    page.goto(f"{hub}/web/login")
    page.fill("#account", "demo")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub}/web/")
    page.goto(f"{hub}/web/stock")
    page.click("text=调拨单")
    assert "DB-2026-001" in page.inner_text("main")
    assert axe_violations(page) == []
    screenshot(page, "transfers-list")
    page.click("a:text-is('DB-2026-001')")
    assert "固定成本" in page.inner_text("main") and "37.50" in page.inner_text("main")
    page.click("button:text('出库审核')")
    page.wait_for_selector("text=调出仓出库")
    page.click("button:text('调出仓出库')")
    page.wait_for_selector("text=冲销出库")
    main = page.inner_text("main")
    assert "已出库（在途）" in main and "在途数量" in main
    assert axe_violations(page) == []
    screenshot(page, "transfer")
    ctx.close()
