"""Refunds of a Shopify shop (cloud/channels/shopify/refunds.py): the orders' ``refunds[]``
read by window of ``updated_at`` (paged by the ``Link`` cursor), each refunded line once, its
phase from ``restock_type``; a withdrawn request never appears (Shopify has only money given
back); a refund before fulfilment reaches the Guanjia order as Taobao's does. Against the
simulator's Shopify store, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

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
