"""The Shopify adapter: orders in by ``updated_at`` windows, shipments out by fulfillment
orders, webhooks verified and de-duplicated (the domain function and the real route on a
running hub whose scheduler pulls the named order). SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from cloud.accounts import create_account
from cloud.app import create_app
from cloud.channels import shops
from cloud.channels.ports import Refused
from cloud.channels.shopify import webhooks
from cloud.db.engine import transaction
from cloud.db.models import ChannelOrder, ChannelShop, SalesOrder
from cloud.db.shopify import ChannelWebhookEvent
from cloud.settings import Settings
from simulators.marketplace.app import MarketplaceApp, serve
from simulators.marketplace.market import Market
from simulators.marketplace.shopify.webhooks import Event, hmac_b64
from tests.cloud.channels.harness import make_hub, ship, stock_up
from tests.cloud.channels.shopify_harness import APP_SECRET, ShopifyShop, make_shopify_shop


@pytest.fixture
def shop(engine: Engine) -> ShopifyShop:
    return make_shopify_shop(make_hub(engine), Market(seed=9), "sh1")


def paid(shop: ShopifyShop, count: int = 1) -> list[str]:
    tids = [shop.market.place() for _ in range(count)]
    shop.market.advance(5)
    for tid in tids:
        shop.market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    shop.market.advance(600)  # past the safety lag
    return [str(t) for t in tids]


def test_a_paid_shopify_order_becomes_a_guanjia_order_once(shop: ShopifyShop) -> None:
    tids = paid(shop, 7)
    result = shop.run(limit=3)  # three pages by page_info
    assert (result.outcome, result.new, result.error) == ("ok", 7, None)
    assert result.pages == 3
    row = shop.stored()[tids[0]]
    assert (row.state, row.channel_status, row.trade_type) == (
        "imported",
        "paid/unfulfilled",
        "shopify",
    )
    trade = shop.market.trades[int(tids[0])][-1].trade
    with shop.hub.factory() as s:
        order = s.execute(select(SalesOrder).where(SalesOrder.id == row.order_id)).scalar_one()
    assert (order.order_no, order.channel) == (tids[0], "shopify")
    assert order.recipient["province"] == trade["receiver_state"]
    assert order.recipient["district"] == trade["receiver_district"]
    again = shop.run()  # the overlap reads them again: nothing new, nothing doubled
    assert (again.new, again.changed) == (0, 0)
    with shop.hub.factory() as s:
        assert s.execute(select(func.count()).select_from(SalesOrder)).scalar_one() == 7


def test_a_revoked_token_parks_the_shop(shop: ShopifyShop) -> None:
    paid(shop)
    shop.market.shops["shpat-sh1"].revoked = True
    result = shop.run()
    assert result.outcome == "needs_reauth" and "401" in (result.error or "")
    with shop.hub.factory() as s:
        assert s.get(ChannelShop, shop.shop_id).status == "needs_reauth"  # type: ignore[union-attr]
    assert shop.stored() == {}


def test_the_call_bucket_is_waited_out_with_and_without_retry_after(shop: ShopifyShop) -> None:
    paid(shop, 30)
    shop.market.faults.rate_limit = 0.3  # another app spends the bucket now and then
    result = shop.run(limit=1)  # 30 pages and 30 reads: past the 40-call bucket
    assert (result.outcome, result.new) == ("ok", 30)
    assert result.calls > 60


def _event(
    shop: ShopifyShop, order_id: int, *, secret: str = APP_SECRET, **over: Any
) -> tuple[dict[str, str], bytes]:
    hooks = shop.app.shopify.webhooks
    body = over.pop("body", b'{"id": %d}' % order_id)
    event = Event(
        over.pop("event_id", "e-1"),
        "orders/updated",
        shop.domain,
        order_id,
        0,
        body,
        over.pop("triggered", shop.market.now),
        0.0,
    )
    headers = hooks.headers(event)
    headers["X-Shopify-Hmac-Sha256"] = hmac_b64(secret, body)
    return headers, body


def test_webhooks_verified_counted_and_de_duplicated(shop: ShopifyShop) -> None:
    (tid,) = paid(shop)
    factory, now = shop.hub.factory, shop.now()

    def receive(headers: dict[str, str], body: bytes) -> str:
        try:
            with transaction(factory) as s:
                return webhooks.receive(s, "sh1", headers, body, now)
        except webhooks.WebhookRejected as err:
            with transaction(factory) as s:
                webhooks.count(s, err.reason, "/x", now)
            return err.reason

    good = _event(shop, int(tid))
    assert receive(*good) == "accepted"
    assert receive(*good) == "duplicate"
    assert receive(*_event(shop, int(tid), secret="forged")) == "bad_signature"
    h, b = good
    assert receive({**h, "X-Shopify-Event-Id": "e-2"}, b + b" ") == "bad_signature"  # raw bytes
    stale = _event(shop, int(tid), event_id="e-3", triggered=shop.market.now - 3 * 86_400)
    assert receive(*stale) == "stale"
    assert receive({**h, "X-Shopify-Shop-Domain": "other.myshopify.com"}, b) == "wrong_shop"
    with factory() as s:
        assert webhooks.rejections(s) == {"bad_signature": 2, "stale": 1, "wrong_shop": 1}
        events = s.execute(select(ChannelWebhookEvent)).scalars().all()
    assert [(e.event_id, e.external_id, e.state) for e in events] == [("e-1", tid, "pending")]
    assert shop.stored() == {}  # a hint only: nothing of the order is taken from the body
    assert webhooks.pull_hinted(factory, shop.shop_id, shop.source(), owner="h", now=shop.now) == 1
    assert shop.stored()[tid].state == "imported"
    with factory() as s:
        assert s.execute(select(ChannelWebhookEvent.state)).scalar_one() == "pulled"


def test_shipments_confirmed_by_fulfillment_once_even_when_the_answer_is_lost(
    shop: ShopifyShop,
) -> None:
    stock_up(shop.hub)
    a, b, c = paid(shop, 3)
    shop.run()
    ta, tb = ship(shop.hub, a, shop.now()), ship(shop.hub, b, shop.now())
    assert ta and tb
    assert shop.confirmer().confirm(a, ta, "ZTO") == "sent"
    shop.market.faults.ship_timeout = 1.0  # the fulfillment is made; its answer is lost
    assert shop.confirmer().confirm(b, tb, "ZTO") == "already"
    assert shop.confirmer().confirm(a, ta, "ZTO") == "already"  # sent twice: done, once
    with pytest.raises(Refused, match="not OTHER"):
        shop.confirmer().confirm(a, "OTHER", "ZTO")
    shop.market.change(int(c), "cancel", status="TRADE_CLOSED_BY_TAOBAO")
    with pytest.raises(Refused, match="nothing left to fulfil"):
        shop.confirmer().confirm(c, "X1", "ZTO")
    assert [(x["tid"], x["out_sid"]) for x in shop.market.confirmations] == [
        (int(a), ta),
        (int(b), tb),
    ]


@pytest.fixture
def hub(db_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=db_url,
        mqtt_host="",
        jwt_secret="test-secret-of-at-least-32-bytes-long",
        channels_poll_s=0.2,
        warm_on_start=False,
    )
    with TestClient(create_app(settings, ingest=False)) as c:
        yield c


def test_the_webhook_route_on_a_running_hub_pulls_the_order(hub: TestClient) -> None:
    market = Market(seed=61, now=time.time() - 900)
    app = MarketplaceApp(market)
    app.shopify.add_shop("acme.myshopify.com", "shpat-acme", APP_SECRET)
    server = serve(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sessions = hub.app.state.sessions  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        with transaction(sessions) as s:  # no user: the route takes none
            account_id = create_account(s, "acme", now).id
            s.flush()
            body = shops.ShopIn(
                code="sh",
                api_url=f"http://127.0.0.1:{server.server_port}/admin/api/2024-10",
                app_key="acme.myshopify.com",
                app_secret=APP_SECRET,
                session_key="shpat-acme",
                start_from=now - timedelta(hours=1),
                platform="shopify",
            )
            row = shops.add_shop(s, account_id, body, now)
            # Scheduled downloads off: only the webhook's pull can bring the order in.
            row.schedule_enabled, row.next_run_at = False, now + timedelta(days=1)
        path = "/api/v1/channels/webhooks/shopify/sh"
        app.shopify.webhooks.addresses["acme.myshopify.com"] = path
        answers: list[Any] = []

        def post(url: str, headers: dict[str, str], body: bytes) -> int:
            r = hub.post(url, headers=headers, content=body)  # no user token
            answers.append(r.json())
            return r.status_code

        with market.lock:
            tid = market.place()
            market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
            market.advance(1)
            assert app.shopify.webhooks.deliver(post) == 2
        assert [a["outcome"] for a in answers] == ["accepted", "accepted"]

        def pulled() -> Any:
            with sessions() as s:
                return s.execute(
                    select(ChannelOrder.state).where(ChannelOrder.external_id == str(tid))
                ).scalar_one_or_none()

        end = time.monotonic() + 30
        while pulled() is None and time.monotonic() < end:
            time.sleep(0.1)
        assert pulled() in ("imported", "held")  # held: the account has no such SKU
        # A forged one: 401 with the reason, counted, nothing stored.
        event = app.shopify.webhooks
        forged = hub.post(
            path,
            content=b'{"id": 1}',
            headers={"X-Shopify-Hmac-Sha256": "AAAA", "Content-Type": "application/json"},
        )
        assert forged.status_code == 401 and forged.json()["reason"] == "bad_signature"
        with sessions() as s:
            assert webhooks.rejections(s) == {"bad_signature": 1}
            assert (
                s.execute(select(func.count()).select_from(ChannelWebhookEvent)).scalar_one() == 2
            )
        # NUL in the body is the marketplace's to send: verified by HMAC, not refused as 422.
        nul = b'{"id": %d, "note": "a\\u0000b"}' % tid
        ok = _raw_event(event, "acme.myshopify.com", tid, nul)
        r = hub.post(path, headers=ok, content=nul)
        assert r.status_code == 200 and r.json()["outcome"] == "accepted"
    finally:
        server.shutdown()
        server.server_close()


def _raw_event(hooks: Any, domain: str, tid: int, body: bytes) -> dict[str, str]:
    event = Event("nul-1", "orders/updated", domain, tid, 0, body, hooks.market.now, 0.0)
    headers: dict[str, str] = hooks.headers(event)
    return headers
