"""The purchase-order pages and a serial's trace in a real Chromium (Playwright, Debian's
chromium), in Chinese: a PO created through the form (a refusal first, shown on the form),
its detail page, and a serial's timeline found by the search box; axe finds no serious or
critical violation; screenshots under test-artifacts/screenshots/. SQLite only (the pages'
SQL runs on both databases in test_purchase_pages.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from cloud.app import create_app
from cloud.db.engine import transaction
from cloud.seed import seed_demo
from cloud.settings import Settings
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import PoReceived, PoReceivedPayload, ReceivedLine
from tests.cloud.conftest import PASSWORD
from tests.cloud.web.conftest import NODE
from tests.support.browser import axe_violations, screenshot
from tests.support.served import served

pytestmark = pytest.mark.browser
LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"
SERIAL = f"{NODE}-S0000042"  # issued by the node's receiving station: its label printed


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
            seed_demo(s, now, password=PASSWORD, node_ids=[NODE])
        fact = PoReceived(
            node=NODE,
            epoch=1,
            seq=1,
            id=uuid.uuid4(),
            hlc=pack(int(now.timestamp() * 1000), 0),
            payload=PoReceivedPayload(
                receipt_id="RC-B-1",
                po_number="PO-2026-001",
                warehouse="WH1",
                station=NODE,
                lines=[
                    ReceivedLine(
                        sku_code=LEATHER, qty=1, verdict="pass", bin="A-02", serials=[SERIAL]
                    )
                ],
            ),
        )
        with transaction(app.state.sessions) as s:
            apply_batch(s, Batch(node=NODE, events=(fact,)), now)
        yield base


def test_a_po_made_on_the_form_and_a_serials_timeline(browser: Any, hub: str) -> None:
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
    page.click("a:text-is('采购单')")
    page.wait_for_load_state()  # the click returns at the commit
    assert "PO-2026-001" in page.inner_text("main")
    assert axe_violations(page) == []
    screenshot(page, "purchase-orders")
    page.click("text=新建采购单")
    page.fill("#f-number", "PO-B-1")
    page.select_option("#f-supplier", "DG-LEATHER")
    page.fill("#f-lines", f"{LEATHER}*十@38.50")
    page.click("button:text('创建采购单')")
    page.wait_for_selector("[role=alert]")
    alert = page.inner_text("[role=alert]")
    assert "第 1 行：* 后面应是数量" in alert and "至少需要" not in alert
    assert page.input_value("#f-number") == "PO-B-1"  # what was typed is still there
    assert axe_violations(page) == []
    page.fill("#f-lines", f"{LEATHER}*10@38.50")
    page.check("#f-confirm")
    page.click("button:text('创建采购单')")
    page.wait_for_url(f"{hub}/web/stock/purchase-orders/PO-B-1?done=1")
    main = page.inner_text("main")
    assert "已确认（在途）" in main and "385.00" in main and "尚未收货" in main
    assert axe_violations(page) == []
    screenshot(page, "purchase-order")
    page.goto(f"{hub}/web/stock")
    page.click("text=序列号追踪")
    page.fill("#serial", SERIAL)
    page.click("button:text('追踪')")
    page.wait_for_selector("ol.timeline")
    steps = page.locator("ol.timeline li strong").all_inner_texts()
    assert steps == ["生成序列号并打印商品条码", "入库（采购单）", "上架"]
    assert "A-02" in page.inner_text("main") and "质检合格" in page.inner_text("main")
    assert axe_violations(page) == []
    screenshot(page, "serial-trace")
    ctx.close()
