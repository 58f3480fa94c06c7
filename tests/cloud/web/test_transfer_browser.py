"""The transfer pages in a real Chromium (Playwright, Debian's chromium), in Chinese: the
list, one transfer, its audit and shipping from the page; a node's short shipment listed
and its rest asked for (补发); axe finds no serious or critical
violation; screenshots under test-artifacts/screenshots/. SQLite only (the pages' SQL runs on
both databases in test_transfer_pages.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from cloud.app import create_app
from cloud.inbound import transfer_ship, transfers
from cloud.seed import seed_demo
from cloud.settings import Settings
from protocol.messages import ShippedLine, TransferShippedPayload
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
            # Shipped short by the sending warehouse's node (cloud/inbound/transfer_ship.py).
            transfers.create(
                s,
                acct,
                "DB-2026-002",
                "same_price",
                "WH1",
                "BCP",
                [transfers.LineIn(LEATHER, 3)],
                "admin",
                now,
                audit=True,
            )
            transfer_ship.book(
                s,
                acct,
                NODE,
                TransferShippedPayload(
                    shipment_id=f"{NODE}:DB-2026-002:s1",
                    transfer_number="DB-2026-002",
                    shipment=1,
                    warehouse="WH1",
                    station=NODE,
                    lines=[ShippedLine(line_no=1, sku_code=LEATHER, qty=2, bin="A-02", short=True)],
                ),
                now,
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
    page.wait_for_load_state()  # the click returns at the commit
    assert "DB-2026-001" in page.inner_text("main")
    assert axe_violations(page) == []
    screenshot(page, "transfers-list")
    page.click("a:text-is('DB-2026-001')")
    page.wait_for_load_state()  # the click returns at the commit
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


def test_a_node_shipment_and_its_rest_on_the_transfer_page(browser: Any, hub: str) -> None:
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
    page.goto(f"{hub}/web/stock/transfers/DB-2026-002")
    shipments = page.inner_text("table:has(caption:text('节点出库记录'))")
    assert NODE in shipments and f"{LEATHER} × 2" in shipments and "第 1 行" in shipments
    assert axe_violations(page) == []
    page.click("button:text('由拣货节点补发余量（补发）')")
    page.wait_for_selector("text=已申请补发余量")
    assert "改派到此节点拣货" in page.inner_text("main")
    assert axe_violations(page) == []
    screenshot(page, "transfer-node-shipments")
    ctx.close()
