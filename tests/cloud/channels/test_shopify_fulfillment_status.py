"""A Shopify order partly fulfilled (Admin REST "Order" ``fulfillment_status`` ``partial``,
line items' ``fulfillable_quantity``) downloaded against the simulator
(cloud/channels/shopify/orders.py): neither imported again as new nor taken as shipped, and
what is not yet sent is still to ship. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from cloud.channels.intake import Unusable, to_order
from cloud.channels.shopify.orders import to_trade
from cloud.db.models import SalesOrder, SalesOrderLine
from simulators.marketplace.market import Market
from tests.cloud.channels.harness import make_hub, ship, stock_up
from tests.cloud.channels.shopify_harness import SITE, ShopifyShop, make_shopify_shop
from tests.cloud.channels.test_shopify_partial import _drain, _split_order


def _orders(shop: ShopifyShop, tid: int) -> dict[str, tuple[str, dict[str, int]]]:
    """Our orders of the trade: order no -> (status, {line id: qty})."""
    with shop.hub.factory() as s:
        out: dict[str, tuple[str, dict[str, int]]] = {}
        for o in s.execute(select(SalesOrder).where(SalesOrder.order_no.like(f"{tid}%"))).scalars():
            lines = s.execute(
                select(SalesOrderLine.line_id, SalesOrderLine.qty).where(
                    SalesOrderLine.order_id == o.id
                )
            ).all()
            out[o.order_no] = (o.status, {str(lid): int(q) for lid, q in lines})
        return out


def _fulfil(shop: ShopifyShop, tid: int, number: str, units: dict[int, int]) -> None:
    """A parcel sent from the Shopify admin (not by us): these units of these lines."""
    token = {"X-Shopify-Access-Token": f"shpat-{shop.code}"}
    (fo,) = shop.http.get(f"{SITE}/orders/{tid}/fulfillment_orders.json", headers=token).json()[
        "fulfillment_orders"
    ]
    items = [
        {"id": li["id"], "quantity": units[li["line_item_id"]]}
        for li in fo["line_items"]
        if units.get(li["line_item_id"])
    ]
    body: dict[str, Any] = {
        "fulfillment": {
            "line_items_by_fulfillment_order": [
                {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": items}
            ],
            "tracking_info": {"number": number, "company": "SF"},
        }
    }
    made = shop.http.post(f"{SITE}/fulfillments.json", json=body, headers=token)
    assert made.status_code == 201, made.text


def test_an_order_partly_fulfilled_before_our_first_download_imports_what_is_left(
    engine: Engine,
) -> None:
    shop = make_shopify_shop(make_hub(engine), Market(seed=9), "pf1")
    stock_up(shop.hub)
    m = shop.market
    tid = m.place()
    one = m.trades[tid][-1].trade["orders"]["order"][0]
    a, b = int(one["oid"]), int(one["oid"]) + 1
    m.change(tid, "modify", orders={"order": [{**one, "num": 3}, {**one, "oid": b, "num": 1}]})
    m.advance(5)
    m.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    m.advance(5)
    # Before we read it: one unit of line A and all of line B sent from the Shopify admin.
    _fulfil(shop, tid, "SF-ADMIN", {a: 1, b: 1})
    m.advance(600)
    assert shop.run().outcome == "ok"
    row = shop.stored()[str(tid)]
    assert (row.state, row.channel_status) == ("imported", "paid/partial")
    # What is left to send, and only that: 2 of A; B is sent already.
    assert _orders(shop, tid) == {str(tid): ("audited", {str(a): 2})}
    # Read again after another change: not imported again, not taken as shipped.
    m.change(tid, "modify", seller_memo="gift wrap")
    m.advance(600)
    assert shop.run().outcome == "ok"
    again = shop.stored()[str(tid)]
    assert (again.order_id, again.channel_status) == (row.order_id, "paid/partial")
    assert again.versions > row.versions
    assert _orders(shop, tid) == {str(tid): ("audited", {str(a): 2})}
    # We ship it: our parcel fulfils the 2 units left; the order is fulfilled on Shopify.
    number = ship(shop.hub, str(tid), shop.now())
    assert number
    assert _drain(shop).done == 1
    sent = [(c["out_sid"], c["line_items"]) for c in m.confirmations]
    assert sent == [("SF-ADMIN", {a: 1, b: 1}), (number, {a: 2})]
    assert m.trades[tid][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    m.advance(600)
    assert shop.run().outcome == "ok"
    assert shop.stored()[str(tid)].channel_status == "paid/fulfilled"
    assert _orders(shop, tid) == {str(tid): ("shipped", {str(a): 2})}


def test_our_first_parcel_of_a_split_order_leaves_the_rest_to_ship(engine: Engine) -> None:
    """Imported whole, split by a person, one parcel sent by us: Shopify says ``partial``;
    downloaded again the trade is not imported again and its other order is still to ship."""
    shop, tid, line, half = _split_order(engine, 92)
    before = _orders(shop, tid)
    assert before == {str(tid): ("audited", {line: 2}), half: ("audited", {line: 1})}
    row = shop.stored()[str(tid)]
    first = ship(shop.hub, half, shop.now())
    assert first and _drain(shop).done == 1
    shop.market.advance(600, 0.0)
    assert shop.run().outcome == "ok"
    again = shop.stored()[str(tid)]
    assert (again.order_id, again.channel_status) == (row.order_id, "paid/partial")
    assert _orders(shop, tid) == {
        str(tid): ("audited", {line: 2}),
        half: ("shipped", {line: 1}),
    }


def test_what_a_partial_order_imports_line_by_line() -> None:
    """``to_trade`` then ``intake.to_order`` (no database): a partial order's lines are
    their ``fulfillable_quantity`` (never above the quantity), a line with none left is
    left out, one with nothing left at all is held with a reason; fulfilled is not ours."""

    def order(status: str | None, lines: list[tuple[int, int, Any]]) -> dict[str, Any]:
        return {
            "id": 501,
            "updated_at": "2026-11-11T10:24:36+08:00",
            "financial_status": "paid",
            "fulfillment_status": status,
            "cancelled_at": None,
            "total_price": "30.00",
            "customer": {"first_name": "buyer"},
            "shipping_address": {
                "name": "王五",
                "province": "浙江省",
                "city": "杭州市",
                "address2": "西湖区",
                "address1": "文三路 1 号",
                "phone": "13800000000",
            },
            "line_items": [
                {
                    "id": i,
                    "sku": "SKU-A",
                    "quantity": q,
                    "fulfillable_quantity": left,
                    "price": "10.00",
                }
                for i, q, left in lines
            ],
        }

    def imported(o: dict[str, Any]) -> dict[str, int]:
        t = to_trade(o)
        assert t.paid
        return {ln.line_id: ln.qty for ln in to_order(t, {"SKU-A"}).lines}

    assert imported(order(None, [(1, 2, 2), (2, 1, 1)])) == {"1": 2, "2": 1}
    assert imported(order("partial", [(1, 2, 1), (2, 1, 0)])) == {"1": 1}
    assert imported(order("partial", [(1, 2, 9)])) == {"1": 2}  # never above the quantity
    assert imported(order("partial", [(1, 2, None)])) == {"1": 2}  # none given: the quantity
    with pytest.raises(Unusable, match=r"^every line of the trade is sent already$"):
        imported(order("partial", [(1, 2, 0)]))
    assert not to_trade(order("fulfilled", [(1, 2, 0)])).paid
