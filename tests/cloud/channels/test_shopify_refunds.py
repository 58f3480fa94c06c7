"""Refunds of a Shopify shop (cloud/channels/shopify/refunds.py): the orders' ``refunds[]``
read by window of ``updated_at`` (paged by the ``Link`` cursor), each refunded line once, its
phase from ``restock_type``; a withdrawn request never appears (Shopify has only money given
back); a refund before fulfilment reaches the Guanjia order as Taobao's does. Against the
simulator's Shopify store, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from cloud.channels import shipments
from cloud.channels.refunds import download_refunds
from cloud.channels.shopify.refunds import ShopifyRefunds
from cloud.db.channel_changes import ChannelChange
from cloud.db.channel_changes import ChannelRefund as RefundRow
from simulators.marketplace.market import Market
from simulators.marketplace.refunds import Refunds
from tests.cloud.channels.harness import make_hub, ship, stock_up
from tests.cloud.channels.shopify_harness import ShopifyShop, make_shopify_shop


def _paid(shop: ShopifyShop, count: int) -> list[int]:
    m = shop.market
    tids = [m.place() for _ in range(count)]
    m.advance(5)
    for tid in tids:
        m.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    m.advance(600)
    return tids


def test_shopify_refunds_are_read_once_each_with_their_phase(engine: Engine) -> None:
    hub = make_hub(engine)
    stock_up(hub)
    market = Market(seed=7)
    desk = Refunds.of(market)
    shop = make_shopify_shop(hub, market, "sp1")
    before, after, withdrawn = _paid(shop, 3)
    assert shop.run().outcome == "ok"
    # One order shipped (fulfilled on Shopify) before its refund.
    assert ship(hub, str(after), shop.now())
    sent = shipments.drain(hub.factory, lambda _s: shop.confirmer(), owner="hub-1", now=shop.now)
    assert sent.done == 1
    line = {
        t: market.trades[t][-1].trade["orders"]["order"][0]["oid"]
        for t in (before, after, withdrawn)
    }
    r1 = desk.request(market, before, line[before])
    r2 = desk.request(market, after, line[after])
    r3 = desk.request(market, withdrawn, line[withdrawn])
    market.advance(60)
    desk.settle(market, r1, "SUCCESS")
    desk.settle(market, r2, "SUCCESS")
    desk.settle(market, r3, "CLOSED")  # the buyer withdrew: no refund on Shopify
    market.advance(600)
    # The shape: the order carries the refund, restock_type by fulfilment.
    http = shop.http
    got = http.get(
        f"https://sp1.myshopify.com/admin/api/2024-10/orders/{before}.json",
        headers={"X-Shopify-Access-Token": "shpat-sp1"},
    )
    (refund,) = got.json()["order"]["refunds"]
    assert refund["id"] == r1 and refund["refund_line_items"][0]["restock_type"] == "cancel"
    assert refund["transactions"][0]["kind"] == "refund"

    source = ShopifyRefunds(shop.admin(), limit=1)  # a page per order: the cursor is followed
    run = download_refunds(hub.factory, shop.shop_id, source, owner="hub-1", now=shop.now)
    assert (run.outcome, run.new, run.error) == ("ok", 2, None) and run.pages >= 3
    with hub.factory() as s:
        rows = {r.refund_id: r for r in s.execute(select(RefundRow)).scalars()}
    assert set(rows) == {str(r1), str(r2)}
    assert (rows[str(r1)].phase, rows[str(r2)].phase) == ("onsale", "aftersale")
    truth = desk.final()
    for rid in (r1, r2):
        assert rows[str(rid)].refund_fee == Decimal(truth[rid]["refund_fee"])
        assert rows[str(rid)].status == "SUCCESS"
    again = download_refunds(hub.factory, shop.shop_id, source, owner="hub-1", now=shop.now)
    assert (again.outcome, again.new, again.changed) == ("ok", 0, 0)  # read again, once
    with hub.factory() as s:
        kinds = s.execute(
            select(ChannelChange.external_id, ChannelChange.kind).where(
                ChannelChange.kind == "refund"
            )
        ).all()
    assert sorted(k[0] for k in kinds) == sorted({str(before), str(after)})


def test_refunds_create_webhook_feeds_the_refund_path_once_per_refund(engine: Engine) -> None:
    """Shopify's ``refunds/create`` (HMAC-verified like the order topics): the refund in its
    body reaches the order through the refund path at once, once per refund id — a duplicate
    event, the same refund under a new event id and the refunds stream's later read change
    nothing. Bodies that cannot be read are kept as failed events with the reason, nothing of
    the refunds changed; a forged one is refused and counted. SQLite and PostgreSQL."""
    import orjson

    from cloud.channels.shopify import webhooks
    from cloud.db.engine import transaction
    from cloud.db.models import SalesOrder
    from cloud.db.shopify import ChannelWebhookEvent
    from simulators.marketplace.shopify.webhooks import Event, hmac_b64
    from tests.cloud.channels.shopify_harness import APP_SECRET

    hub = make_hub(engine)
    stock_up(hub)
    market = Market(seed=9)
    desk = Refunds.of(market)
    shop = make_shopify_shop(hub, market, "sp1")
    (tid,) = _paid(shop, 1)
    assert shop.run().outcome == "ok"
    hooks = shop.app.shopify.webhooks
    hooks.deliver(lambda *_: 200)  # the order's own events: not what this test is about
    line = market.trades[tid][-1].trade["orders"]["order"][0]["oid"]
    rid = desk.request(market, tid, line)
    market.advance(60)
    desk.settle(market, rid, "SUCCESS")
    market.advance(5)
    outcomes: list[str] = []

    def post(url: str, headers: dict[str, str], body: bytes) -> int:
        try:
            with transaction(hub.factory) as s:
                outcomes.append(webhooks.receive(s, "sp1", headers, body, shop.now()))
        except webhooks.WebhookRejected as err:
            with transaction(hub.factory) as s:
                webhooks.count(s, err.reason, url, shop.now())
            outcomes.append(err.reason)
            return 401
        return 200

    hooks.collect(hooks.secrets)
    (event,) = [e for e in hooks.queue if e.topic == "refunds/create"]
    refund = orjson.loads(event.body)
    assert refund["id"] == rid and refund["order_id"] == tid  # the Refund itself
    hooks.deliver(post)
    assert "refunded" in outcomes

    def state() -> tuple[Any, ...]:
        with hub.factory() as s:
            found = s.execute(select(RefundRow)).scalars()
            rows = [(r.refund_id, r.status, r.versions) for r in found]
            kinds = list(s.execute(select(ChannelChange.kind, ChannelChange.external_id)).all())
            held = s.execute(select(SalesOrder.on_hold).where(SalesOrder.order_no == str(tid)))
            return rows, sorted(kinds), held.scalar_one()

    after = state()
    rows, kinds, held = after
    assert rows == [(str(rid), "SUCCESS", 1)] and ("refund", str(tid)) in kinds
    assert held  # refunded before shipping: held, as the stream's refund does
    sent = (hooks.headers(event), event.body)
    post("/x", *sent)  # the same event again
    again = Event("e-new", "refunds/create", event.domain, tid, 0, event.body, market.now, 0.0)
    post("/x", hooks.headers(again), event.body)  # the same refund, another event id
    assert outcomes[-2:] == ["duplicate", "refunded"] and state() == after
    run = download_refunds(
        hub.factory, shop.shop_id, ShopifyRefunds(shop.admin()), owner="hub-1", now=shop.now
    )
    assert (run.outcome, run.new, run.changed) == ("ok", 0, 0) and state() == after

    def signed(n: int, body: bytes, secret: str = APP_SECRET) -> tuple[dict[str, str], bytes]:
        e = Event(f"bad-{n}", "refunds/create", event.domain, tid, 0, body, market.now, 0.0)
        headers = hooks.headers(e)
        headers["X-Shopify-Hmac-Sha256"] = hmac_b64(secret, body)
        return headers, body

    bad = [
        b"not json",
        b"[1, 2]",
        orjson.dumps({**refund, "order_id": "12\x00"}),
        orjson.dumps({**refund, "refund_line_items": []}),
        orjson.dumps(
            {**refund, "refund_line_items": [{**refund["refund_line_items"][0], "subtotal": "x"}]}
        ),
        orjson.dumps({**refund, "created_at": "yesterday"}),
    ]
    for n, body in enumerate(bad):
        post("/x", *signed(n, body))
    assert outcomes[-len(bad) :] == ["unusable"] * len(bad)
    post("/x", *signed(99, event.body, secret="forged"))
    assert outcomes[-1] == "bad_signature" and state() == after
    with hub.factory() as s:
        failed = s.execute(
            select(ChannelWebhookEvent.error).where(ChannelWebhookEvent.state == "failed")
        ).scalars()
        reasons = list(failed)
        assert webhooks.rejections(s) == {"bad_signature": 1}
    assert len(reasons) == len(bad) and all(r and r.startswith("refunds/create: ") for r in reasons)
    assert any("not JSON" in (r or "") for r in reasons)
