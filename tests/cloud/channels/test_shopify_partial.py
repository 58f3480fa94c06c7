"""Some units of one fulfillment order (docs/channels.md "Where Shopify sold it", rule 3;
cloud/channels/shopify/shipments.py): a Shopify order of 3 units in one fulfillment order
that a person splits in two ships as two parcels; each confirmation creates a fulfillment of
exactly its own units (``fulfillment_order_line_items`` with their quantity), the second the
rest; a confirmation drained twice, or sent again after Shopify's answer was lost, is done
once, never fulfilling the other parcel's units. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine, select

from cloud.channels import shipments
from cloud.db.engine import transaction
from cloud.db.models import ChannelShipment, SalesOrder
from cloud.orders import reversals, split_merge, workflow
from tests.cloud.channels.harness import Shop, ship, stock_up
from tests.cloud.channels.shopify_harness import SITE
from tests.cloud.channels.test_shopify_locations import SPARE, SZ, YW, located, put
from tests.cloud.channels.test_shopify_split import sell


def _audited(shop: Shop, order_no: str) -> None:
    """Take the order through the audit as a person would."""
    with transaction(shop.hub.factory) as s:
        acct, now = shop.hub.account_id, shop.now()
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == order_no)).scalar_one()
        if o.on_hold:
            workflow.set_hold(s, acct, order_no, False, None, "t", now)
        steps = {
            "new": workflow.save,
            "saved": workflow.confirm,
            "confirmed": workflow.complete_audit,
        }
        while o.status in steps:
            steps[o.status](s, acct, order_no, "t", now)


def _drain(shop: Shop) -> shipments.Sent:
    return shipments.drain(
        shop.hub.factory,
        lambda _shop: shop.confirmer(),  # type: ignore[attr-defined]
        owner="hub-1",
        now=shop.now,
    )


def _split_order(engine: Engine, seed: int) -> tuple[Shop, int, str, str]:
    """An order of 3 units sold from Yiwu (one fulfillment order), split by a person: the
    order keeps 2 units, its half ``-S1`` has 1. (shop, tid, line item id, the half's no)."""
    shop = located(engine, seed)
    stock_up(shop.hub)
    put(shop, "WH1", SZ)
    put(shop, "WH2", YW)
    tid = sell(shop, 3, {SZ: 0, YW: 5, SPARE: 0})
    shop.market.advance(600, 0.0)
    shop.run()
    line = str(shop.market.trades[tid][-1].trade["orders"]["order"][0]["oid"])
    with transaction(shop.hub.factory) as s:
        acct, now = shop.hub.account_id, shop.now()
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == str(tid))).scalar_one()
        if o.status == "audited":
            reversals.reject(s, acct, o.order_no, "ship one now", "lead", now)
        half = split_merge.split(s, acct, o.order_no, {line: 1}, "lead", now).order_no
    for no in (str(tid), half):
        _audited(shop, no)
    return shop, tid, line, half


def _fo(shop: Shop, tid: int) -> dict[str, object]:
    token = {"X-Shopify-Access-Token": f"shpat-{shop.code}"}
    (fo,) = shop.http.get(  # type: ignore[attr-defined]
        f"{SITE}/orders/{tid}/fulfillment_orders.json", headers=token
    ).json()["fulfillment_orders"]
    return dict(fo)


def test_each_parcel_fulfils_its_own_units_of_one_fulfillment_order(engine: Engine) -> None:
    shop, tid, line, half = _split_order(engine, 90)
    first = ship(shop.hub, half, shop.now())
    assert first
    assert _drain(shop).done == 1 and _drain(shop).done == 0  # drained twice: sent once
    fo = _fo(shop, tid)
    assert fo["status"] == "in_progress"
    assert [li["fulfillable_quantity"] for li in fo["line_items"]] == [2]  # type: ignore[attr-defined]
    assert shop.market.trades[tid][-1].trade["status"] == "WAIT_SELLER_SEND_GOODS"
    second = ship(shop.hub, str(tid), shop.now())
    assert second and second != first
    assert _drain(shop).done == 1 and _drain(shop).done == 0
    truth = [(c["out_sid"], c["line_items"], c["location_id"]) for c in shop.market.confirmations]
    assert truth == [(first, {int(line): 1}, YW), (second, {int(line): 2}, YW)]
    assert _fo(shop, tid)["status"] == "closed"
    assert shop.market.trades[tid][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    with shop.hub.factory() as s:
        states = list(
            s.execute(select(ChannelShipment.state).order_by(ChannelShipment.id)).scalars()
        )
    assert states == ["done", "done"]


def test_a_part_whose_answer_was_lost_is_not_fulfilled_twice(engine: Engine) -> None:
    """The first parcel's fulfillment is stored on Shopify and its answer lost (504): the
    row is sent again, finds our number among the order's fulfillments and is done; the
    units left are the second parcel's, which it then sends."""
    shop, tid, line, half = _split_order(engine, 91)
    first = ship(shop.hub, half, shop.now())
    assert first
    shop.market.faults.ship_timeout = 1.0
    assert _drain(shop).retry == 1
    shop.market.faults.ship_timeout = 0.0
    shop.market.advance(120, 0.0)
    assert _drain(shop).done == 1
    assert [c["out_sid"] for c in shop.market.confirmations] == [first]
    assert [li["fulfillable_quantity"] for li in _fo(shop, tid)["line_items"]] == [2]  # type: ignore[attr-defined]
    second = ship(shop.hub, str(tid), shop.now())
    assert _drain(shop).done == 1
    truth = [(c["out_sid"], c["line_items"]) for c in shop.market.confirmations]
    assert truth == [(first, {int(line): 1}), (second, {int(line): 2})]
