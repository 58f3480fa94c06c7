"""The Channels page in a real Chromium at 1366×768 against a hub whose own scheduler runs
and the marketplace simulator over a real socket: click "Download now", see the run appear
queued and then end ok by htmx (no reload), the orders it made; axe and screenshots."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud.app import create_app
from cloud.channels import shops
from cloud.orders.audit_rules import CHINA
from cloud.seed import seed_demo
from cloud.settings import Settings
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market
from tests.cloud.conftest import PASSWORD
from tests.cloud.web.conftest import NODE
from tests.cloud.web.test_browser import _check, _page
from tests.support.served import served

pytestmark = pytest.mark.browser

SKU = "MKING IPAD AIR2 金甲系列皮套-金色"  # in the demo seller's catalogue (cloud/seed.py)


@pytest.fixture
def hub(hub_and_sim: tuple[str, str]) -> str:
    return hub_and_sim[0]


@pytest.fixture
def hub_and_sim(tmp_path: Any) -> Iterator[tuple[str, str]]:
    """The hub's address and the simulator's TOP gateway (it serves a second seller,
    ``sim-session-2``, that no shop of the hub downloads yet)."""
    # The hub signs with the wall clock, so the simulator's clock is set to it.
    market = Market(seed=7, now=time.time() - 900, skus=(SKU,))
    market.add_shop("12345678", "sim-secret", "sim-session", "browser-shop")
    market.add_shop("12345678", "sim-secret", "sim-session-2", "browser-shop-2")
    market.advance(840, rate=0.05)
    server = serve(MarketplaceApp(market), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        mqtt_host="",
        warm_on_start=False,
        jwt_secret="test-secret-of-at-least-32-bytes-long",
        channels_poll_s=0.5,
    )
    app = create_app(settings, ingest=False)
    try:
        with served(app) as base:
            now = datetime.now(UTC)
            with app.state.sessions() as s, s.begin():
                seed = seed_demo(s, now, password=PASSWORD, node_ids=[NODE])
                shop = shops.add_shop(
                    s,
                    seed["account_id"],
                    shops.ShopIn(
                        code="tb-browser",
                        api_url=f"http://127.0.0.1:{server.server_port}/router/rest",
                        app_key="12345678",
                        app_secret="sim-secret",
                        session_key="sim-session",
                        start_from=now - timedelta(minutes=20),
                    ),
                    now,
                )
                shop.schedule_enabled = False  # only the button's "download now" runs it
            yield base, f"http://127.0.0.1:{server.server_port}/router/rest"
    finally:
        server.shutdown()
        server.server_close()


def test_download_now_and_see_the_run_end(browser: Any, hub: str) -> None:
    page = _page(browser, hub, "admin")
    page.click("nav >> text=渠道")
    page.wait_for_load_state()  # the click returns at the commit
    assert "tb-browser" in page.inner_text("main") and "尚未下载" in page.inner_text("main")
    _check(page, "channels")
    page.click("a:text-is('tb-browser')")
    page.click("button:text('立即下载')")
    page.wait_for_url(f"{hub}/web/channels/tb-browser?queued=1")
    runs = page.locator("#channel-runs")
    # queued or already running on the first view; the htmx poll shows it end, no reload
    runs.locator("td.run-outcome", has_text="正常").wait_for(timeout=30_000)
    row = runs.locator("tbody tr").first
    cells = row.locator("td").all_inner_texts()
    new = int(cells[6].split("/")[0])  # "new / changed / held"
    assert cells[1] == "下载" and new > 0, cells  # orders came in
    assert page.url == f"{hub}/web/channels/tb-browser?queued=1"
    _check(page, "channel-shop")
    page.goto(f"{hub}/web/channels")
    assert "正常" in page.inner_text("main") and "尚未下载" not in page.inner_text("main")
    page.context.close()


def test_add_a_shop_on_the_page_and_see_its_first_download(
    browser: Any, hub_and_sim: tuple[str, str]
) -> None:
    """A seller adds the second shop with the form, as a person types it; the hub's own
    scheduler downloads it at once (due on adding), and its orders come in; then the schedule
    is switched off on the shop's page."""
    hub, sim = hub_and_sim
    page = _page(browser, hub, "admin")
    page.goto(f"{hub}/web/channels")
    page.fill("#shop-code", "天猫二店")
    page.fill("#shop-url", sim)
    page.fill("#shop-key", "1234 5678")  # a space pasted in: refused, what was typed kept
    page.fill("#shop-secret", "sim-secret")
    page.fill("#shop-session", "sim-session-2")
    start = datetime.now(UTC).astimezone(CHINA) - timedelta(minutes=20)
    page.fill("#shop-start", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#shop-interval", "1")
    _check(page, "channels-add")
    page.click("button:text('添加店铺')")
    page.wait_for_load_state()  # the click returns at the commit
    assert "不含空格" in page.inner_text("#shop-app_key-err")
    assert page.input_value("#shop-code") == "天猫二店" and page.input_value("#shop-secret") == ""
    _check(page, "channels-add-refused")
    page.fill("#shop-key", "12345678")
    page.fill("#shop-secret", "sim-secret")
    page.fill("#shop-session", "sim-session-2")
    page.click("button:text('添加店铺')")
    page.wait_for_url("**?added=1")
    assert "店铺已添加" in page.inner_text("main")
    deadline = time.monotonic() + 30
    while "正常" not in page.locator("#channel-runs").inner_text():
        assert time.monotonic() < deadline, page.inner_text("main")
        time.sleep(0.5)
        page.reload()
    cells = page.locator("#channel-runs tbody tr").first.locator("td").all_inner_texts()
    assert int(cells[6].split("/")[0]) > 0, cells  # the second seller's orders came in
    page.uncheck("input[name=enabled]:near(:text('按计划下载'))")
    page.click("button:text('保存计划')")
    page.wait_for_url("**?scheduled=1")
    assert "关闭（仅立即下载）" in page.inner_text("dl.facts")
    _check(page, "channel-added")
    page.context.close()
