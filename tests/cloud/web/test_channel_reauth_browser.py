"""A shop whose key stopped working, in a real Chromium against a hub whose scheduler runs and
the marketplace simulator over a socket: "Download now" meets the revoked key and parks the
shop; the page says so; the admin types the seller's new key and saves it; "Download now"
then runs to the end with the orders it made. The e-waybills page too. axe and screenshots."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud.app import create_app
from cloud.channels import shops
from cloud.seed import seed_demo
from cloud.settings import Settings
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market
from tests.cloud.conftest import PASSWORD
from tests.cloud.web.conftest import NODE
from tests.cloud.web.test_browser import _check, _page
from tests.cloud.web.test_channels_browser import SKU
from tests.support.served import served

pytestmark = pytest.mark.browser


@pytest.fixture
def world(tmp_path: Any) -> Iterator[tuple[str, Market]]:
    market = Market(seed=9, now=time.time() - 900, skus=(SKU,))
    market.add_shop("12345678", "sim-secret", "old-key", "browser-shop")
    market.advance(840, rate=0.05)
    market.shops["old-key"].revoked = True  # the seller withdrew the authorisation
    server = serve(MarketplaceApp(market), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
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
                        code="tb-key",
                        api_url=f"http://127.0.0.1:{server.server_port}/router/rest",
                        app_key="12345678",
                        app_secret="sim-secret",
                        session_key="old-key",
                        start_from=now - timedelta(minutes=20),
                    ),
                    now,
                )
                shop.schedule_enabled = False  # only the buttons run it
            yield base, market
    finally:
        server.shutdown()
        server.server_close()


def test_a_revoked_key_parks_the_shop_and_the_new_key_resumes_it(
    browser: Any, world: tuple[str, Market]
) -> None:
    hub, market = world
    page = _page(browser, hub, "admin")
    page.goto(f"{hub}/web/channels/tb-key")
    page.click("button:text('立即下载')")
    runs = page.locator("#channel-runs")
    runs.locator("td.run-outcome", has_text="需要重新授权").wait_for(timeout=30_000)
    page.reload()
    alarm = page.locator("[role=alert]")
    assert "此店铺需要重新授权" in alarm.inner_text() and "TOP error 27" in alarm.inner_text()
    _check(page, "channel-shop-reauth")
    market.reauthorise("old-key", "new-key")  # the seller authorises the app again
    page.fill("#session_key", "new-key")
    page.click("button:text('保存新的授权码')")
    page.wait_for_url(f"{hub}/web/channels/tb-key?reauthorised=1")
    assert page.locator("[role=alert]").count() == 0
    page.click("button:text('立即下载')")
    page.locator("#channel-runs td.run-outcome", has_text="正常").first.wait_for(timeout=30_000)
    cells = page.locator("#channel-runs tbody tr").first.locator("td").all_inner_texts()
    assert int(cells[6].split("/")[0]) > 0, cells  # the orders of the parked time came in
    page.goto(f"{hub}/web/waybills")
    assert "电子面单" in page.inner_text("h1")
    _check(page, "waybills")
    page.context.close()
