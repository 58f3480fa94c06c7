"""An order Shopify split between two locations (two fulfillment orders) becomes two Guanjia
orders, each reserved at the warehouse mapped to its location and confirmed against its own
fulfillment order (cloud/channels/sold_at.py, docs/channels.md "Where Shopify sold it"):
read again, it is not doubled; shipped, each half is fulfilled once at its own location;
cancelled, both halves are cancelled; sold from an unmapped location, it is held.
SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Engine, select

from cloud.channels import shipments, sold_at, stock_figures, stock_locations
from cloud.channels.changes import REFUND_HOLD
from cloud.channels.refunds import download_refunds
from cloud.channels.shopify import webhooks
from cloud.channels.shopify.refunds import ShopifyRefunds
from cloud.channels.shopify.subscriptions import TOPICS, ShopifySubscriptions, address_of
from cloud.db.channel_changes import ChannelChange
from cloud.db.engine import transaction
from cloud.db.models import ChannelOrder, SalesOrder, Warehouse
from cloud.db.shopify import ChannelWebhookEvent
from cloud.orders.core import LineIn, OrderIn
from protocol.messages import Recipient
from simulators.marketplace.refunds import Refunds
from simulators.marketplace.shopify.webhooks import Event
from tests.cloud.channels.harness import Shop, ship, stock_up
from tests.cloud.channels.shopify_harness import SITE
from tests.cloud.channels.stock_harness import nick
from tests.cloud.channels.test_shopify_locations import SPARE, SZ, YW, located, put


def sell(
    shop: Shop,
    qty: int,
    at: dict[int, int],
    other: int = 0,
    fees: tuple[str, str] = ("0.00", "0.00"),
) -> int:
    """A buyer pays for ``qty`` of SKU-A (and ``other`` of SKU-B, on sale at Yiwu only) with
    ``at`` (location -> units of SKU-A) on sale: the world takes the units from the
    locations in priority order (Shenzhen first). ``fees``: the shipping fee and the
    discount (the payment is the lines + shipping - discount)."""
    market = shop.market
    with market.lock:
        for location, units in at.items():
            b = other if location == YW else 0
            market.stock.put_levels(market, nick(shop), {"SKU-A": units, "SKU-B": b}, location)
        seller = next(s for s in market.shops.values() if s.seller_nick == nick(shop))
        tid = market.place_for(seller, "SKU-A")
        trade = market.trades[tid][-1].trade
        first = trade["orders"]["order"][0]
        lines = [{**first, "num": qty}]
        if other:
            lines.append({**first, "oid": first["oid"] + 1, "outer_sku_id": "SKU-B", "num": other})
        paid = sum(Decimal(ln["price"]) * ln["num"] for ln in lines) + Decimal(fees[0])
        market.change(
            tid,
            "modify",
            orders={"order": lines},
            post_fee=fees[0],
            discount_fee=fees[1],
            payment=f"{paid - Decimal(fees[1]):.2f}",
        )
        assert market.stock.take(market, tid)
        market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    return tid


def halves(shop: Shop, tid: int) -> list[tuple[str, str, str, bool, int]]:
    with shop.hub.factory() as s:
        rows = s.execute(
            select(SalesOrder, Warehouse.code)
            .join(Warehouse, Warehouse.id == SalesOrder.warehouse_id)
            .where(SalesOrder.order_no.like(f"{tid}%"))
            .order_by(SalesOrder.order_no)
        ).all()
        return [(o.order_no, o.split_from or "", wh, o.reserved, o.total_cents) for o, wh in rows]


def statuses(shop: Shop, tid: int) -> dict[str, str]:
    with shop.hub.factory() as s:
        return dict(
            s.execute(
                select(SalesOrder.order_no, SalesOrder.status).where(
                    SalesOrder.order_no.like(f"{tid}%")
                )
            ).all()
        )


def test_an_order_sold_from_two_locations_is_two_orders_each_at_its_warehouse(
    engine: Engine,
) -> None:
    shop = located(engine, 66)
    stock_up(shop.hub)
    put(shop, "WH1", SZ)
    put(shop, "WH2", YW)
    tid = sell(shop, 3, {SZ: 1, YW: 5, SPARE: 0})
    shop.market.advance(600, 0.0)
    shop.run()
    got = halves(shop, tid)
    # One order per fulfillment order (which of them keeps the number: the lower FO id).
    assert [(no, frm) for no, frm, *_ in got] == [(str(tid), ""), (f"{tid}-S1", str(tid))]
    at = {wh: (reserved, total) for _, _, wh, reserved, total in got}
    assert set(at) == {"WH1", "WH2"}  # Shenzhen sold 1 (WH1), Yiwu 2 (WH2)
    assert at["WH1"][0] and at["WH2"][0]  # each reserved at its own warehouse
    assert at["WH2"][1] == 2 * at["WH1"][1] > 0  # each half's total from its own lines
    # D counts both halves: per warehouse (the push per location) and for the shop.
    with shop.hub.factory() as s:
        d_at = {wh: stock_locations.held_at(s, shop.shop_id, wh, "SKU-A") for wh in at}
        d_shop = stock_figures.held_units(s, shop.shop_id, ["SKU-A"])
    assert (d_at, d_shop) == ({"WH1": 1, "WH2": 2}, {"SKU-A": 3})
    # Read again after a change on Shopify: nothing doubled.
    with shop.market.lock:
        shop.market.change(tid, "modify", seller_memo="gift wrap")
    shop.market.advance(600, 0.0)
    shop.run()
    assert halves(shop, tid) == got
    # Both halves ship; each is confirmed against its own fulfillment order, once.
    tracking = {no: ship(shop.hub, no, shop.now()) for no, *_ in got}
    assert all(tracking.values()), tracking
    for _ in range(2):  # a confirmation sent twice is done once
        shipments.drain(
            shop.hub.factory,
            lambda _shop: shop.confirmer(),  # type: ignore[attr-defined]
            owner="hub-1",
            now=shop.now,
        )
    mine: list[dict[str, Any]] = [c for c in shop.market.confirmations if c["tid"] == tid]
    assert sorted((c["out_sid"], c["location_id"]) for c in mine) == sorted(
        [(tracking[no], {"WH1": SZ, "WH2": YW}[wh]) for no, _, wh, *_ in got]
    )
    assert len({c["fulfillment_order_id"] for c in mine}) == 2
    assert shop.market.trades[tid][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"


def test_the_shipping_fee_and_the_discount_are_in_the_first_half_only(engine: Engine) -> None:
    """An order of 3 units sold 1 from Shenzhen, 2 from Yiwu, with a 15.00 shipping fee and a
    7.50 discount: the first half (``{no}``) is its lines + 15.00 - 7.50, the other its own
    lines; together the Shopify order's ``total_price``, to the cent. Read again after a
    change: the same totals (nothing moved or doubled)."""
    shop = located(engine, 73)
    stock_up(shop.hub)
    put(shop, "WH1", SZ)
    put(shop, "WH2", YW)
    tid = sell(shop, 3, {SZ: 1, YW: 5, SPARE: 0}, fees=("15.00", "7.50"))
    shop.market.advance(600, 0.0)
    shop.run()
    token = {"X-Shopify-Access-Token": f"shpat-{shop.code}"}
    order = shop.http.get(f"{SITE}/orders/{tid}.json", headers=token).json()["order"]  # type: ignore[attr-defined]
    shipping = Decimal(order["total_shipping_price_set"]["shop_money"]["amount"])
    assert (shipping, Decimal(order["total_discounts"])) == (Decimal("15.00"), Decimal("7.50"))
    price = Decimal(order["line_items"][0]["price"])
    got = halves(shop, tid)
    totals = {no: total for no, _, _, _, total in got}
    own = {no: price * {"WH1": 1, "WH2": 2}[wh] for no, _, wh, _, _ in got}  # 1 SZ, 2 YW
    assert totals == {
        str(tid): int((own[str(tid)] + shipping - Decimal("7.50")) * 100),
        f"{tid}-S1": int(own[f"{tid}-S1"] * 100),
    }
    assert sum(totals.values()) == int(Decimal(order["total_price"]) * 100)
    with shop.market.lock:
        shop.market.change(tid, "modify", seller_memo="read again")
    shop.market.advance(600, 0.0)
    shop.run()
    assert halves(shop, tid) == got


def test_a_discount_beyond_the_first_half_takes_the_rest_from_the_next() -> None:
    """The rule's edge (sold_at._totals): a discount larger than the first half and the
    shipping leaves it at 0.00 and takes the rest from the next half; the sum holds."""
    body = OrderIn(
        order_no="T1",
        buyer_nick="b",
        recipient=Recipient(
            name="n", phone="13800000000", province="广东省", city="深圳市", address="路 1 号"
        ),
        lines=[
            LineIn(line_id="1", sku_code="A", qty=1, price_cents=1000),
            LineIn(line_id="2", sku_code="B", qty=1, price_cents=9000),
        ],
        total_cents=10000 + 500 - 3000,
    )
    parts = [
        sold_at.Part("1", "71001", "WH1", {"1": 1}),
        sold_at.Part("2", "71002", "WH2", {"2": 1}),
    ]
    got = [(b.order_no, b.total_cents) for b in sold_at.split_bodies(body, parts)]
    assert got == [("T1", 0), ("T1-S1", 7500)]


def test_a_split_order_cancelled_on_shopify_cancels_both_halves(engine: Engine) -> None:
    shop = located(engine, 67)
    stock_up(shop.hub)
    put(shop, "WH1", SZ)
    put(shop, "WH2", YW)
    tid = sell(shop, 2, {SZ: 1, YW: 1, SPARE: 0})
    shop.market.advance(600, 0.0)
    shop.run()
    assert len(halves(shop, tid)) == 2
    with shop.market.lock:
        shop.market.change(tid, "cancel", status="TRADE_CLOSED_BY_TAOBAO")
    shop.market.advance(600, 0.0)
    shop.run()
    assert statuses(shop, tid) == {str(tid): "cancelled", f"{tid}-S1": "cancelled"}
    assert [h[3] for h in halves(shop, tid)] == [False, False]  # reservations released


def test_an_order_sold_from_an_unmapped_location_is_held_until_it_is_mapped(
    engine: Engine,
) -> None:
    shop = located(engine, 68)
    put(shop, "WH1", SZ)
    tid = sell(shop, 2, {SZ: 1, YW: 3, SPARE: 0})  # one unit from Yiwu: no warehouse
    shop.market.advance(600, 0.0)
    shop.run()
    assert halves(shop, tid) == []
    with shop.hub.factory() as s:
        row = s.execute(
            select(ChannelOrder).where(ChannelOrder.external_id == str(tid))
        ).scalar_one()
    assert row.state == "held"
    assert row.hold_reason == f"{sold_at.UNMAPPED_LOCATION} {YW} is not mapped to a warehouse"
    # Yiwu mapped to WH2: the held order is imported at once, split, each half where sold.
    put(shop, "WH2", YW)
    assert {(no, wh) for no, _, wh, *_ in halves(shop, tid)} in (
        {(str(tid), "WH1"), (f"{tid}-S1", "WH2")},
        {(str(tid), "WH2"), (f"{tid}-S1", "WH1")},
    )
    put(shop, "WH2", YW)  # saved again: nothing doubled
    assert len(halves(shop, tid)) == 2


def test_a_refund_of_one_line_holds_only_the_half_that_holds_it(engine: Engine) -> None:
    """SKU-A from Shenzhen (WH1), SKU-B from Yiwu (WH2); the buyer is refunded SKU-A before
    shipping: the WH1 half (the split half, ``{no}-S1``) is held, the WH2 half ships on;
    read again, nothing changes."""
    shop = located(engine, 69)
    stock_up(shop.hub)
    desk = Refunds.of(shop.market)
    put(shop, "WH1", SZ)
    put(shop, "WH2", YW)
    tid = sell(shop, 1, {SZ: 1, YW: 0, SPARE: 0}, other=1)
    shop.market.advance(600, 0.0)
    shop.run()
    got = {wh: no for no, _, wh, *_ in halves(shop, tid)}
    assert set(got) == {"WH1", "WH2"}
    assert got["WH1"] == f"{tid}-S1"  # the refunded line is in the split half
    a_line = shop.market.trades[tid][-1].trade["orders"]["order"][0]["oid"]
    rid = desk.request(shop.market, tid, a_line)
    shop.market.advance(60)
    desk.settle(shop.market, rid, "SUCCESS")
    shop.market.advance(600)
    source = ShopifyRefunds(shop.admin())  # type: ignore[attr-defined]
    for _ in range(2):  # read twice: acted on once
        run = download_refunds(shop.hub.factory, shop.shop_id, source, owner="hub-1", now=shop.now)
        assert run.outcome == "ok", run.error
    with shop.hub.factory() as s:
        held = dict(
            s.execute(
                select(SalesOrder.order_no, SalesOrder.hold_reason).where(
                    SalesOrder.order_no.like(f"{tid}%")
                )
            ).all()
        )
        changed = s.execute(
            select(ChannelChange.change_key).where(ChannelChange.kind == "refund")
        ).scalars()
        keys = list(changed)
    refund_held = {no: (why or "").startswith(REFUND_HOLD) for no, why in held.items()}
    assert refund_held == {got["WH1"]: True, got["WH2"]: False}, held
    assert len(keys) == 1, keys


def test_a_fulfillment_order_moved_on_shopify_takes_its_half_along(engine: Engine) -> None:
    """The merchant moves the Yiwu half's fulfillment order to Shenzhen in the Shopify admin;
    the order is read again (a later change): that half and its reservation move to WH1
    (Shenzhen's warehouse), once, not held for it; the other half is untouched."""
    shop = located(engine, 70)
    stock_up(shop.hub)
    put(shop, "WH1", SZ)
    put(shop, "WH2", YW)
    tid = sell(shop, 1, {SZ: 1, YW: 0, SPARE: 0}, other=1)
    shop.market.advance(600, 0.0)
    shop.run()
    got = {wh: no for no, _, wh, *_ in halves(shop, tid)}
    token = {"X-Shopify-Access-Token": f"shpat-{shop.code}"}
    fos = shop.http.get(  # type: ignore[attr-defined]
        f"{SITE}/orders/{tid}/fulfillment_orders.json", headers=token
    ).json()["fulfillment_orders"]
    (yiwu,) = [fo for fo in fos if fo["assigned_location_id"] == YW]
    moved = shop.http.post(  # type: ignore[attr-defined]
        f"{SITE}/fulfillment_orders/{yiwu['id']}/move.json",
        json={"fulfillment_order": {"new_location_id": SZ}},
        headers=token,
    )
    assert moved.status_code == 200, moved.text
    for memo in ("moved", "moved again"):  # read twice: held once
        with shop.market.lock:
            shop.market.change(tid, "modify", seller_memo=memo)
        shop.market.advance(600, 0.0)
        shop.run()
    with shop.hub.factory() as s:
        why = dict(
            s.execute(
                select(SalesOrder.order_no, SalesOrder.hold_reason).where(
                    SalesOrder.order_no.like(f"{tid}%")
                )
            ).all()
        )
        kinds = list(
            s.execute(
                select(ChannelChange.change_key).where(ChannelChange.kind == "location")
            ).scalars()
        )
    said = f"Shopify moved fulfillment order {yiwu['id']} from location {YW} to {SZ}"
    assert not any(said in (w or "") for w in why.values()), why
    assert len(kinds) == 1, kinds
    now_at = {no: (wh, reserved) for no, _, wh, reserved, _ in halves(shop, tid)}
    assert now_at == {got["WH1"]: ("WH1", True), got["WH2"]: ("WH1", True)}, now_at


def test_a_move_in_the_shopify_admin_is_seen_by_its_webhook(engine: Engine) -> None:
    """The hub subscribes its topics through ``webhooks.json`` (twice: kept, not doubled);
    the merchant moves the Yiwu half's fulfillment order in the Shopify admin, which leaves
    the order's ``updated_at`` as it was: the ``fulfillment_orders/moved`` webhook (the real
    payload shape) is verified, and its hint reads the order again: that half follows its
    fulfillment order to WH1 at once (its reservation with it), not held, the other half
    untouched; the same event again is a duplicate and a forged one is refused and counted,
    nothing changed."""
    shop = located(engine, 71)
    stock_up(shop.hub)
    put(shop, "WH1", SZ)
    put(shop, "WH2", YW)
    hooks = shop.app.shopify.webhooks  # type: ignore[attr-defined]
    hooks.addresses.clear()  # no control-plane address: only what the hub subscribes
    address = address_of("http://hub", shop.code)
    subs = ShopifySubscriptions(shop.admin())  # type: ignore[attr-defined]
    assert subs.ensure(address) == dict.fromkeys(TOPICS, "made")
    assert subs.ensure(address) == dict.fromkeys(TOPICS, "kept")
    assert sorted(w["topic"] for w in subs.listed()) == sorted(TOPICS)
    tid = sell(shop, 1, {SZ: 1, YW: 0, SPARE: 0}, other=1)
    shop.market.advance(600, 0.0)
    shop.run()
    shop.hooks()  # type: ignore[attr-defined]
    got = {wh: no for no, _, wh, *_ in halves(shop, tid)}
    assert set(got) == {"WH1", "WH2"}
    updated = shop.market.trades[tid][-1].modified
    token = {"X-Shopify-Access-Token": f"shpat-{shop.code}"}
    fos = shop.http.get(  # type: ignore[attr-defined]
        f"{SITE}/orders/{tid}/fulfillment_orders.json", headers=token
    ).json()["fulfillment_orders"]
    (yiwu,) = [fo for fo in fos if fo["assigned_location_id"] == YW]
    moved = shop.http.post(  # type: ignore[attr-defined]
        f"{SITE}/fulfillment_orders/{yiwu['id']}/move.json",
        json={"fulfillment_order": {"new_location_id": SZ}},
        headers=token,
    )
    assert moved.status_code == 200, moved.text
    assert shop.market.trades[tid][-1].modified == updated  # the order's updated_at: as it was
    (event,) = [e for e in hooks.queue if e.topic == "fulfillment_orders/moved"]
    assert event.address == address
    body = orjson.loads(event.body)
    assert body["moved_fulfillment_order"]["id"] == f"gid://shopify/FulfillmentOrder/{yiwu['id']}"
    assert body["source_location"] == {"id": f"gid://shopify/Location/{YW}"}
    assert body["destination_location_id"] == f"gid://shopify/Location/{SZ}"
    assert body["fulfillment_order_line_items_requested"][0]["quantity"] == 1
    assert set(body) == {
        "original_fulfillment_order",
        "moved_fulfillment_order",
        "destination_location_id",
        "fulfillment_order_line_items_requested",
        "source_location",
    }
    headers = hooks.headers(event)
    shop.market.advance(1, 0.0)
    shop.hooks()  # type: ignore[attr-defined]

    def hold_reasons() -> dict[str, str]:
        with shop.hub.factory() as s:
            return {
                no: why or ""
                for no, why in s.execute(
                    select(SalesOrder.order_no, SalesOrder.hold_reason).where(
                        SalesOrder.order_no.like(f"{tid}%")
                    )
                ).all()
            }

    said = f"Shopify moved fulfillment order {yiwu['id']} from location {YW} to {SZ}"
    why = hold_reasons()
    assert not any(said in w for w in why.values()), why
    moved_to = {no: wh for no, _, wh, *_ in halves(shop, tid)}
    assert moved_to == {got["WH1"]: "WH1", got["WH2"]: "WH1"}, moved_to
    # The same event again: a duplicate; forged: refused and counted; nothing changes.
    assert shop.post(address, headers, event.body) == 200  # type: ignore[attr-defined]
    forged = {**headers, "X-Shopify-Event-Id": "forged-1", "X-Shopify-Hmac-Sha256": "AAAA"}
    assert shop.post(address, forged, event.body) == 401  # type: ignore[attr-defined]
    shop.hooks()  # type: ignore[attr-defined]
    shop.market.advance(600, 0.0)
    shop.run()
    with shop.hub.factory() as s:
        kinds = list(
            s.execute(
                select(ChannelChange.change_key).where(ChannelChange.kind == "location")
            ).scalars()
        )
        events = s.execute(
            select(ChannelWebhookEvent.state).where(
                ChannelWebhookEvent.topic == "fulfillment_orders/moved"
            )
        ).all()
        refused = webhooks.rejections(s)
    assert len(kinds) == 1, kinds
    assert [e for (e,) in events] == ["pulled"]
    assert refused == {"bad_signature": 1}
    assert hold_reasons() == why
    assert {no: wh for no, _, wh, *_ in halves(shop, tid)} == moved_to


def test_a_moved_webhook_without_a_fulfillment_order_is_kept_failed(engine: Engine) -> None:
    """A signed ``fulfillment_orders/moved`` body that names no fulfillment order: 200
    ``unusable``, the event kept ``failed`` with the reason, nothing pulled."""
    shop = located(engine, 72)
    hooks = shop.app.shopify.webhooks  # type: ignore[attr-defined]
    for n, raw in enumerate((b"not json", b"[]", b'{"moved_fulfillment_order": {"id": "x"}}')):
        event = Event(
            f"bad-{n}", "fulfillment_orders/moved", shop.domain, 0, 0, raw, shop.market.now, 0
        )  # type: ignore[attr-defined]
        with transaction(shop.hub.factory) as s:
            outcome = webhooks.receive(s, shop.code, hooks.headers(event), raw, shop.now())
        assert outcome == "unusable"
    with shop.hub.factory() as s:
        rows = s.execute(select(ChannelWebhookEvent.state, ChannelWebhookEvent.error)).all()
    assert [state for state, _ in rows] == ["failed"] * 3
    assert all("no moved_fulfillment_order id" in (err or "") for _, err in rows)
