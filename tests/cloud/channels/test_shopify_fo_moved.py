"""A fulfillment order Shopify moves to another location after the import: the order's
reservation follows it to the warehouse mapped to the new location while nothing is picked,
once, all or nothing (cloud/channels/changes.py ``relocate``, cloud/orders/workflow.py
``move_warehouse``; docs/channels.md "Where Shopify sold it", rule 6). It is held with a
sentence, its reservation left where it was, when the location maps to no warehouse of ours,
when the new warehouse cannot reserve it, and when it is released to a node already.
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from cloud.channels import shipments
from cloud.db.channel_changes import ChannelChange
from cloud.db.engine import transaction
from cloud.db.models import SalesOrder, Warehouse
from cloud.orders import workflow
from cloud.orders.core import reserved_by
from cloud.orders.release import release
from cloud.stock.warehouses import WarehouseIn, create_warehouse
from tests.cloud.channels.harness import Shop, ship, stock_up
from tests.cloud.channels.shopify_harness import SITE
from tests.cloud.channels.test_shopify_locations import SPARE, SZ, YW, located, put
from tests.cloud.channels.test_shopify_split import sell

TOKEN = "X-Shopify-Access-Token"


def _shop(engine: object, seed: int) -> tuple[Shop, int]:
    """WH1 mapped to Shenzhen, WH2 to Yiwu; an order of 2 units sold from Yiwu only,
    downloaded: reserved at WH2."""
    shop = located(engine, seed)  # type: ignore[arg-type]
    stock_up(shop.hub)
    put(shop, "WH1", SZ)
    put(shop, "WH2", YW)
    tid = sell(shop, 2, {SZ: 0, YW: 5, SPARE: 0})
    shop.market.advance(600, 0.0)
    shop.run()
    with transaction(shop.hub.factory) as s:  # held by the audit (a random address): lifted
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == str(tid))).scalar_one()
        if o.on_hold:
            workflow.set_hold(s, shop.hub.account_id, o.order_no, False, None, "t", shop.now())
    assert _where(shop, tid) == ("WH2", {"WH2": 2}, False)
    return shop, tid


def _move(shop: Shop, tid: int, to: int) -> int:
    """The merchant moves the order's fulfillment order in the Shopify admin; the order is
    read again (a later change of it, as the webhook's hint reads it). Its id."""
    token = {TOKEN: f"shpat-{shop.code}"}
    (fo,) = shop.http.get(  # type: ignore[attr-defined]
        f"{SITE}/orders/{tid}/fulfillment_orders.json", headers=token
    ).json()["fulfillment_orders"]
    moved = shop.http.post(  # type: ignore[attr-defined]
        f"{SITE}/fulfillment_orders/{fo['id']}/move.json",
        json={"fulfillment_order": {"new_location_id": to}},
        headers=token,
    )
    assert moved.status_code == 200, moved.text
    _read_again(shop, tid, "moved")
    return int(fo["id"])


def _read_again(shop: Shop, tid: int, memo: str) -> None:
    with shop.market.lock:
        shop.market.change(tid, "modify", seller_memo=memo)
    shop.market.advance(600, 0.0)
    shop.run()


def _where(shop: Shop, tid: int) -> tuple[str, dict[str, int], bool]:
    """The order's warehouse, the units it holds reserved per warehouse, on hold."""
    with shop.hub.factory() as s:
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == str(tid))).scalar_one()
        codes = dict(s.execute(select(Warehouse.id, Warehouse.code)).all())
        held: dict[str, int] = {}
        for (w, _sku), q in reserved_by(s, o.order_no, o.account_id).items():
            held[codes[w]] = held.get(codes[w], 0) + q
        return codes[o.warehouse_id], held, o.on_hold


def _reason(shop: Shop, tid: int) -> str:
    with shop.hub.factory() as s:
        return (
            s.execute(
                select(SalesOrder.hold_reason).where(SalesOrder.order_no == str(tid))
            ).scalar_one()
            or ""
        )


def _changes(shop: Shop) -> list[tuple[str, str]]:
    with shop.hub.factory() as s:
        return [
            (k, o)
            for k, o in s.execute(
                select(ChannelChange.change_key, ChannelChange.outcome)
                .where(ChannelChange.kind == "location")
                .order_by(ChannelChange.id)
            ).all()
        ]


def test_the_reservation_follows_a_moved_fulfillment_order_once(engine: object) -> None:
    shop, tid = _shop(engine, 80)
    fo = _move(shop, tid, SZ)
    # Released at WH2, reserved at WH1 (mapped to Shenzhen): not held, nothing doubled.
    assert _where(shop, tid) == ("WH1", {"WH1": 2}, False)
    assert _changes(shop) == [(f"location:{fo}:{SZ}", "applied")]
    _read_again(shop, tid, "read again")  # the same move seen again: acted on once
    assert _where(shop, tid) == ("WH1", {"WH1": 2}, False)
    assert len(_changes(shop)) == 1
    # It ships from WH1: the fulfillment leaves from Shenzhen, where it is, once.
    with transaction(shop.hub.factory) as s:
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == str(tid))).scalar_one()
        acct, now = shop.hub.account_id, shop.now()
        if o.on_hold:
            workflow.set_hold(s, acct, o.order_no, False, None, "t", now)
        for step in (workflow.save, workflow.confirm, workflow.complete_audit):
            if o.status != "audited":
                step(s, acct, o.order_no, "t", now)
    tracking = ship(shop.hub, str(tid), shop.now())
    assert tracking
    for _ in range(2):
        shipments.drain(
            shop.hub.factory,
            lambda _shop: shop.confirmer(),  # type: ignore[attr-defined]
            owner="hub-1",
            now=shop.now,
        )
    mine = [c for c in shop.market.confirmations if c["tid"] == tid]
    assert [(c["out_sid"], c["location_id"]) for c in mine] == [(tracking, SZ)]


def test_a_move_to_an_unmapped_location_holds_the_order_where_it_is(engine: object) -> None:
    shop, tid = _shop(engine, 81)
    fo = _move(shop, tid, SPARE)
    assert _where(shop, tid) == ("WH2", {"WH2": 2}, True)
    said = (
        f"Shopify moved fulfillment order {fo} from location {YW} to {SPARE}, "
        "which is not mapped to a warehouse"
    )
    assert _reason(shop, tid).startswith(said), _reason(shop, tid)
    assert _changes(shop) == [(f"location:{fo}:{SPARE}", "held")]


def test_a_move_to_a_warehouse_without_the_stock_changes_nothing_and_holds(
    engine: object,
) -> None:
    """WH4 (mapped to the pop-up location) has none of the SKU: the order is not moved and
    not unreserved (all or nothing), it is held with the stock check's reason."""
    shop, tid = _shop(engine, 82)
    with transaction(shop.hub.factory) as s:
        create_warehouse(
            s,
            shop.hub.account_id,
            WarehouseIn(code="WH4", name="pop-up", kind="main"),
            "t",
            datetime.now(UTC),
        )
    put(shop, "WH4", SPARE)
    fo = _move(shop, tid, SPARE)
    assert _where(shop, tid) == ("WH2", {"WH2": 2}, True)
    reason = _reason(shop, tid)
    said = f"Shopify moved fulfillment order {fo} from location {YW} to {SPARE}, but warehouse WH4"
    assert reason.startswith(said) and "cannot reserve" in reason, reason
    assert _changes(shop) == [(f"location:{fo}:{SPARE}", "held")]


def test_an_order_released_to_a_node_is_held_not_moved(engine: object) -> None:
    shop, tid = _shop(engine, 83)
    with transaction(shop.hub.factory) as s:
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == str(tid))).scalar_one()
        acct, now = shop.hub.account_id, shop.now()
        if o.on_hold:
            workflow.set_hold(s, acct, o.order_no, False, None, "t", now)
        for step in (workflow.save, workflow.confirm, workflow.complete_audit):
            if o.status != "audited":
                step(s, acct, o.order_no, "t", now)
        release(s, acct, o.order_no, "t", now)
    fo = _move(shop, tid, SZ)
    assert _where(shop, tid) == ("WH2", {"WH2": 2}, True)
    reason = _reason(shop, tid)
    assert reason.startswith(
        f"Shopify moved fulfillment order {fo} from location {YW} to {SZ} (warehouse WH1), "
        "but the order is at its warehouse already (released)"
    ), reason
    assert _changes(shop) == [(f"location:{fo}:{SZ}", "held")]


def test_a_later_move_it_follows_lifts_the_hold_of_one_it_could_not(engine: object) -> None:
    """Moved to the unmapped pop-up location: held. Moved back to Yiwu (WH2, where it is):
    followed, so that hold is lifted, once; the reservation never moved."""
    shop, tid = _shop(engine, 84)
    fo = _move(shop, tid, SPARE)
    assert _where(shop, tid) == ("WH2", {"WH2": 2}, True)
    _move(shop, tid, YW)
    assert _where(shop, tid) == ("WH2", {"WH2": 2}, False)
    assert _changes(shop) == [
        (f"location:{fo}:{SPARE}", "held"),
        (f"location:{fo}:{YW}", "applied"),
    ]
