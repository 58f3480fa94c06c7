"""A Shopify shop's locations on its page (docs/channels.md "Several Shopify locations"): the
mapping listed and saved through the same domain function as the API (the shop's locations
read from Shopify: a stand-in here), refusals said in the page's language with nothing
changed, a reader sees no form and is refused, another seller's shop is 404 and unchanged,
a Taobao shop has no such section. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.channels import runner, shops
from cloud.db.channel_stock import ChannelShopLocation, ChannelStockItem, ChannelStockLocation
from cloud.db.models import Account, ChannelShop
from tests.cloud.web.conftest import add_user
from tests.cloud.web.test_channel_pages import EN, XSS, seed_shop

SHOPIFY_LOCATIONS = {"71001": "Shenzhen", "71002": f"Yiwu {XSS}"}


@pytest.fixture(autouse=True)
def shopify_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shop's ``locations.json`` (cloud/channels/runner.py ``locations_of``)."""
    monkeypatch.setattr(runner, "locations_of", lambda _shop: dict(SHOPIFY_LOCATIONS))


def seed_shopify(app: TestClient, code: str = "sh1") -> None:
    now = datetime.now(UTC)
    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        acct = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        shops.add_shop(
            s,
            acct,
            shops.ShopIn(
                code=code,
                platform="shopify",
                api_url="http://127.0.0.1:9/admin/api/2024-10",
                app_key="demo.myshopify.com",
                app_secret="s",
                session_key="k",
                start_from=now - timedelta(days=1),
            ),
            now,
        )


def mapping(app: TestClient) -> list[tuple[str, str, str]]:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        rows = s.execute(select(ChannelShopLocation).order_by(ChannelShopLocation.warehouse))
        return [(r.warehouse, r.location_id, r.location_name) for r in rows.scalars()]


def test_map_a_warehouse_from_the_page_refusals_change_nothing(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shopify(demo_app)
    seed_shop(demo_app)  # a Taobao shop: no locations section
    a = browser_client()
    assert "Shopify locations" not in a.get("/web/channels/tb1", headers=EN).text
    html = a.get("/web/channels/sh1", headers=EN).text
    assert "Shopify locations" in html and "No warehouse mapped." in html
    assert "<option>WH1</option>" in html
    form = {"csrf": a.csrf, "warehouse": "WH1", "location_id": "71002"}  # type: ignore[attr-defined]
    r = a.post("/web/channels/sh1/locations", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/channels/sh1?located=1#locations"
    assert mapping(demo_app) == [("WH1", "71002", f"Yiwu {XSS}")]
    html = a.get("/web/channels/sh1?located=1", headers=EN).text
    assert "71002 Yiwu &lt;img src=x" in html and XSS not in html and "&lt;img src=x" in html
    # Refused, with the sentence, nothing changed: not the shop's location, not digits, a
    # warehouse the seller does not have; in Chinese on a Chinese page.
    for bad, said in (
        ({"location_id": "6500000001"}, "active locations on Shopify (71001 Shenzhen"),
        ({"location_id": "71a"}, "a Shopify location id is digits"),
        ({"warehouse": "WH-NOPE", "location_id": "71001"}, "no warehouse &#39;WH-NOPE&#39;"),
    ):
        r = a.post("/web/channels/sh1/locations", data={**form, **bad}, headers=EN)
        assert r.status_code == 422 and said in r.text, (bad, r.status_code, r.text[:300])
    zh = a.post("/web/channels/sh1/locations", data={**form, "location_id": "6500000001"})
    assert zh.status_code == 422 and "启用的地点" in zh.text
    assert mapping(demo_app) == [("WH1", "71002", f"Yiwu {XSS}")]
    assert "Shopify 地点" in a.get("/web/channels/sh1").text
    # Stop pushing WH1: gone; a second time 404.
    stop = {"csrf": a.csrf}  # type: ignore[attr-defined]
    r = a.post("/web/channels/sh1/locations/WH1/remove", data=stop, follow_redirects=False)
    assert r.status_code == 303 and mapping(demo_app) == []
    assert a.post("/web/channels/sh1/locations/WH1/remove", data=stop).status_code == 404


def test_a_reader_and_another_seller_are_refused_and_change_nothing(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    seed_shopify(demo_app)
    a = browser_client()
    form = {"csrf": a.csrf, "warehouse": "WH1", "location_id": "71001"}  # type: ignore[attr-defined]
    assert (
        a.post("/web/channels/sh1/locations", data=form, follow_redirects=False).status_code == 303
    )
    before = mapping(demo_app)
    add_user(demo_app, "demo", "reader", "readonly")
    reader = browser_client("demo", "reader")
    html = reader.get("/web/channels/sh1", headers=EN).text
    assert (
        "71001 Shenzhen" in html and 'name="location_id"' not in html and "Stop pushing" not in html
    )
    data = {**form, "csrf": reader.csrf}  # type: ignore[attr-defined]
    assert reader.post("/web/channels/sh1/locations", data=data).status_code == 403
    stop = {"csrf": reader.csrf}  # type: ignore[attr-defined]
    assert reader.post("/web/channels/sh1/locations/WH1/remove", data=stop).status_code == 403
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    data = {**form, "csrf": b.csrf}  # type: ignore[attr-defined]
    assert b.post("/web/channels/sh1/locations", data=data).status_code == 404
    stop = {"csrf": b.csrf}  # type: ignore[attr-defined]
    assert b.post("/web/channels/sh1/locations/WH1/remove", data=stop).status_code == 404
    assert mapping(demo_app) == before


def test_the_stock_table_shows_each_locations_quantities(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """The shop's stock table: per SKU, each mapped location's last figure shown and the
    shop's quantity there (``channel_stock_location``, as the push left them), in English
    and Chinese (the API's stock rows carry the same: test_shopify_locations_api.py)."""
    seed_shopify(demo_app)
    a = browser_client()
    form = {"csrf": a.csrf, "warehouse": "WH1", "location_id": "71002"}  # type: ignore[attr-defined]
    assert (
        a.post("/web/channels/sh1/locations", data=form, follow_redirects=False).status_code == 303
    )
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        shop = s.execute(select(ChannelShop).where(ChannelShop.code == "sh1")).scalar_one()
        # The mapping made every SKU owe the shop a push: the first row of the table.
        item = s.execute(
            select(ChannelStockItem)
            .where(ChannelStockItem.shop_id == shop.id)
            .order_by(ChannelStockItem.sku_code)
            .limit(1)
        ).scalar_one()
        code = item.sku_code
        # As a push leaves them: Yiwu (WH1) was shown 6 and answered 5 (a sale since).
        s.add(
            ChannelStockLocation(
                item_id=item.id, location_id="71002", base=6, target=6, channel_qty=5, seq=1
            )
        )
        # A location no longer mapped is not shown.
        s.add(
            ChannelStockLocation(
                item_id=item.id, location_id="71001", base=3, target=3, channel_qty=3, seq=1
            )
        )
    html = a.get("/web/channels/sh1", headers=EN).text
    assert "At each location" in html and code in html
    assert "71002 Yiwu &lt;img src=x" in html and "(WH1): last shown 6, shop's quantity 5" in html
    assert "71001 Shenzhen (" not in html
    zh = a.get("/web/channels/sh1").text
    assert "各地点" in zh and "上次同步数量 6" in zh and "店铺数量 5" in zh
