"""The Shopify-shaped store: Shopify's official Python library (``ShopifyAPI``), unchanged,
against the simulator over a real socket; then the shape's rules one by one in-process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import shopify  # type: ignore[import-untyped]
from pyactiveresource.connection import ResourceInvalid  # type: ignore[import-untyped]

from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market
from simulators.marketplace.shopify.inventory import set_locations
from simulators.marketplace.shopify.webhooks import hmac_b64

DOMAIN, TOKEN, SECRET, VERSION = "sim-shop.myshopify.com", "shpat_sim", "hush", "2024-10"


def world(seed: int = 3) -> tuple[Market, MarketplaceApp]:
    market = Market(seed=seed)
    app = MarketplaceApp(market)
    app.shopify.add_shop(DOMAIN, TOKEN, SECRET)
    return market, app


def paid_orders(market: Market, count: int) -> list[int]:
    tids = [market.place() for _ in range(count)]
    market.advance(2)
    for tid in tids:
        market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    market.advance(60)
    return tids


@pytest.fixture
def served() -> Iterator[tuple[Market, str]]:
    market, app = world()
    server = serve(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield market, f"http://127.0.0.1:{server.server_port}/admin/api/{VERSION}"
    server.shutdown()
    server.server_close()


def test_the_official_library_lists_pages_gets_one_and_fulfils(
    served: tuple[Market, str],
) -> None:
    market, site = served
    tids = paid_orders(market, 7)
    # The library as a private app uses it: a session for the token, the site set to ours.
    session = shopify.Session(DOMAIN, VERSION, TOKEN)
    shopify.ShopifyResource.activate_session(session)
    shopify.ShopifyResource.set_site(site)
    try:
        page = shopify.Order.find(status="any", limit=3)
        seen = [o.id for o in page]
        while page.has_next_page():
            page = page.next_page()
            seen.extend(o.id for o in page)
        assert seen == sorted(tids, reverse=True)  # every order once, newest first
        assert page.has_previous_page()
        one = shopify.Order.find(tids[0])
        assert (one.id, one.financial_status) == (tids[0], "paid")
        assert one.line_items[0].sku in market.skus
        (fo,) = shopify.FulfillmentOrders.find(order_id=tids[0])
        assert fo.status == "open"
        made = shopify.FulfillmentV2(
            {
                "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo.id}],
                "tracking_info": {"number": "ZT123", "company": "ZTO"},
                "notify_customer": False,
            }
        )
        assert made.save(), made.errors.full_messages()
        assert made.tracking_number == "ZT123"
        assert market.confirmations[-1]["tid"] == tids[0]
        assert market.confirmations[-1]["out_sid"] == "ZT123"
        assert shopify.Order.find(tids[0]).fulfillment_status == "fulfilled"
        # Fulfilled orders are archived: the default status=open no longer lists it.
        assert tids[0] not in [o.id for o in shopify.Order.find(limit=250)]
        again = shopify.FulfillmentV2(
            {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo.id}]}
        )
        assert not again.save()  # 422: closed
    finally:
        shopify.ShopifyResource.clear_session()


def test_the_official_library_sets_and_reads_stock_at_two_locations(
    served: tuple[Market, str],
) -> None:
    """A shop with two locations: ``ShopifyAPI``'s own ``Location`` and ``InventoryLevel``
    (``set``/``adjust``, Admin REST "InventoryLevel") write each location by its id, the
    levels read back per location, a purchase is taken from the first location in priority
    order, and the truth log names the location of every change."""
    market, site = served
    with market.lock:
        set_locations(
            market, DOMAIN, [{"id": 71001, "name": "Shenzhen"}, {"id": 71002, "name": "Yiwu"}]
        )
    session = shopify.Session(DOMAIN, VERSION, TOKEN)
    shopify.ShopifyResource.activate_session(session)
    shopify.ShopifyResource.set_site(site)
    try:
        assert sorted((loc.id, loc.name) for loc in shopify.Location.find()) == [
            (71001, "Shenzhen"),
            (71002, "Yiwu"),
        ]
        item = {
            p.variants[0].sku: p.variants[0].inventory_item_id
            for p in shopify.Product.find(limit=250)
        }["SKU-A"]
        assert shopify.InventoryLevel.set(71001, item, 2).available == 2
        assert shopify.InventoryLevel.set(71002, item, 5).available == 5
        assert shopify.InventoryLevel.adjust(71002, item, -1).available == 4
        levels = shopify.InventoryLevel.find(
            inventory_item_ids=str(item), location_ids="71001,71002"
        )
        assert sorted((lv.location_id, lv.available) for lv in levels) == [(71001, 2), (71002, 4)]
        # A location the shop does not have is refused, and nothing changes.
        with pytest.raises(ResourceInvalid):  # 422
            shopify.InventoryLevel.set(6_500_000_001, item, 9)
        # Buyers pay for 3 units: taken from Shenzhen (2) first, then Yiwu (1).
        with market.lock:
            for _ in range(3):
                market.stock.buy_now(market, DOMAIN, "SKU-A")
        levels = shopify.InventoryLevel.find(
            inventory_item_ids=str(item), location_ids="71001,71002"
        )
        assert sorted((lv.location_id, lv.available) for lv in levels) == [(71001, 0), (71002, 3)]
        truth = market.stock.state()
        at = {(r["location_id"], r["sku"]): r["quantity"] for r in truth["at"]}
        assert (at[(71001, "SKU-A")], at[(71002, "SKU-A")]) == (0, 3)
        mine = [e for e in truth["log"] if e["sku"] == "SKU-A" and e["seller_nick"] == DOMAIN]
        assert [(e["action"], e["location"], e["delta"]) for e in mine] == [
            ("set", 71001, 2),
            ("set", 71002, 5),
            ("add", 71002, -1),
            ("sale", 71001, -1),
            ("sale", 71001, -1),
            ("sale", 71002, -1),
        ]
    finally:
        shopify.ShopifyResource.clear_session()


@pytest.fixture
def api() -> tuple[Market, MarketplaceApp, httpx.Client]:
    market, app = world()
    client = httpx.Client(
        transport=httpx.WSGITransport(app=app),
        base_url=f"http://sim/admin/api/{VERSION}",
        headers={"X-Shopify-Access-Token": TOKEN},
    )
    return market, app, client


def test_page_info_refuses_filters_beside_it_and_limit_over_250(
    api: tuple[Market, MarketplaceApp, httpx.Client],
) -> None:
    market, _, client = api
    paid_orders(market, 3)
    first = client.get("/orders.json", params={"status": "any", "limit": 2})
    assert first.status_code == 200 and 'rel="next"' in first.headers["Link"]
    nxt = httpx.URL(first.headers["Link"].split(";")[0].strip("<>"))
    assert client.get(nxt).status_code == 200
    mixed = client.get(nxt.copy_merge_params({"status": "any"}))
    assert mixed.status_code == 400 and "page_info" in mixed.json()["errors"]
    assert client.get("/orders.json", params={"limit": 251}).status_code == 400
    assert client.get("/orders.json", params={"limit": 250}).status_code == 200
    assert first.headers["X-Shopify-Shop-Api-Call-Limit"].endswith("/40")


def test_default_status_is_open_and_updated_at_filters(
    api: tuple[Market, MarketplaceApp, httpx.Client],
) -> None:
    market, _, client = api
    a, b = paid_orders(market, 2)
    market.ship(a, "SF1", "SF")
    mid = market.now + 1  # the next whole second (updated_at has whole seconds)
    market.advance(10)
    market.change(b, "modify", buyer_message="later")
    market.advance(60)

    def ids(**params: Any) -> set[int]:
        return {o["id"] for o in client.get("/orders.json", params=params).json()["orders"]}

    assert ids() == {b}  # shipped = closed: not "open"
    assert ids(status="any") == {a, b}
    after = shopify_time(mid)
    assert ids(status="any", updated_at_min=after) == {b}
    assert ids(status="any", updated_at_max=after) == {a}


def shopify_time(epoch: float) -> str:
    from simulators.marketplace.shopify.shape import iso

    return iso(epoch)


def test_bad_or_revoked_token_is_401_and_the_bucket_429s(
    api: tuple[Market, MarketplaceApp, httpx.Client],
) -> None:
    market, _, client = api
    bad = client.get("/orders.json", headers={"X-Shopify-Access-Token": "nope"})
    assert bad.status_code == 401 and "Invalid API key or access token" in bad.json()["errors"]
    market.call_cost = 0.0  # calls faster than the bucket leaks
    answers = [client.get("/orders.json") for _ in range(45)]
    codes = [r.status_code for r in answers]
    assert codes[:40] == [200] * 40 and codes[40] == 429
    assert answers[39].headers["X-Shopify-Shop-Api-Call-Limit"] == "40/40"
    market.faults.rate_limit_silent = 0.0
    assert client.get("/orders.json").headers["Retry-After"] == "2.0"
    market.advance(2)
    assert client.get("/orders.json").status_code == 200  # leaked 4
    market.shops[TOKEN].revoked = True
    assert client.get("/orders.json").status_code == 401


def test_webhooks_are_signed_and_retried_with_the_original_payload(
    api: tuple[Market, MarketplaceApp, httpx.Client],
) -> None:
    market, app, _ = api
    hooks = app.shopify.webhooks
    hooks.addresses[DOMAIN] = "http://hub/hook"
    got: list[tuple[dict[str, str], bytes]] = []
    answers = iter([500, 200, 200, 200, 200, 200])

    def post(url: str, headers: dict[str, str], body: bytes) -> int:
        got.append((headers, body))
        return next(answers)

    tid = market.place()
    market.advance(1)
    assert hooks.deliver(post) == 1  # orders/create, answered 500
    market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    market.advance(1)
    hooks.deliver(post)  # orders/updated only: the retry waits 10 s
    market.advance(15)
    hooks.deliver(post)  # the retry
    topics = [h["X-Shopify-Topic"] for h, _ in got]
    assert topics == ["orders/create", "orders/updated", "orders/create"]
    (h0, b0), (_, b1), (h2, b2) = got
    assert b2 == b0 and h2["X-Shopify-Event-Id"] == h0["X-Shopify-Event-Id"]
    assert b1 != b0
    assert h0["X-Shopify-Hmac-Sha256"] == hmac_b64(SECRET, b0)
    assert h0["X-Shopify-Shop-Domain"] == DOMAIN
