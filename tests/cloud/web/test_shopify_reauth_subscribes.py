"""Re-authorising a Shopify shop by the API or its page subscribes the hub's webhook topics
with the new token first, at ``GUANJIA_PUBLIC_URL`` (docs/channels.md "The Shopify shape"):
a token Shopify refuses is a 409 with the sentence and nothing is saved; saved twice, the
subscriptions are kept, not doubled. The simulator over a real socket."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.channels import shops
from cloud.channels.shopify.subscriptions import TOPICS
from cloud.db.models import Account, ChannelShop
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market
from tests.cloud.conftest import login

HUB = "https://hub.example.com"
ADDRESS = f"{HUB}/api/v1/channels/webhooks/shopify/shx"


def test_reauthorising_a_shopify_shop_subscribes_its_webhooks_first(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    market = Market(seed=14)
    sim = MarketplaceApp(market)
    sim.shopify.add_shop("re.myshopify.com", "shpat-old", "re-secret")
    server = serve(sim, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_port}/admin/api/2024-10"
    state = demo_app.app.state  # type: ignore[attr-defined]
    try:
        with state.sessions() as s, s.begin():
            account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
            shops.add_shop(
                s,
                account,
                shops.ShopIn(
                    code="shx",
                    api_url=site,
                    app_key="re.myshopify.com",
                    app_secret="re-secret",
                    session_key="shpat-old",
                    start_from=datetime.now(UTC),
                    platform="shopify",
                ),
                datetime.now(UTC),
            )
        state.settings.public_url = HUB
        with market.lock:
            sim.shopify.reauthorise("shpat-old", "shpat-new")

        def key() -> str:
            with state.sessions() as s:
                return str(
                    s.execute(
                        select(ChannelShop.session_key).where(ChannelShop.code == "shx")
                    ).scalar_one()
                )

        def subscribed() -> list[tuple[str, str]]:
            got = httpx.get(
                f"{site}/webhooks.json", headers={"X-Shopify-Access-Token": "shpat-new"}
            )
            return sorted((w["topic"], w["address"]) for w in got.json()["webhooks"])

        headers = login(demo_app, "admin", account="demo")
        url = "/api/v1/channels/shops/shx/authorisation"
        refused = demo_app.put(url, json={"session_key": "shpat-wrong"}, headers=headers)
        assert refused.status_code == 409, refused.text
        assert "could not subscribe shop shx's webhooks on Shopify" in refused.text
        assert key() == "shpat-old" and subscribed() == []  # nothing saved, nothing made
        ok = demo_app.put(url, json={"session_key": "shpat-new"}, headers=headers)
        assert ok.status_code == 200, ok.text
        assert key() == "shpat-new"
        assert subscribed() == sorted((t, ADDRESS) for t in TOPICS)
        page = browser_client()
        again = page.post(
            "/web/channels/shx/authorisation",
            data={"csrf": page.csrf, "session_key": "shpat-new"},  # type: ignore[attr-defined]
            follow_redirects=False,
        )
        assert again.status_code == 303, again.text
        assert subscribed() == sorted((t, ADDRESS) for t in TOPICS)  # kept, not doubled
        zh = page.post(
            "/web/channels/shx/authorisation",
            data={"csrf": page.csrf, "session_key": "shpat-wrong"},  # type: ignore[attr-defined]
        )
        assert zh.status_code == 409 and "无法在 Shopify 上为店铺 shx 订阅 webhook" in zh.text
        assert key() == "shpat-new"
    finally:
        state.settings.public_url = None
        server.shutdown()
        server.server_close()
