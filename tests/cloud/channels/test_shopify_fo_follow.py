"""A fulfillment order Shopify moves back and forth, and a location mapped after an order was
held for it (cloud/channels/changes.py ``relocate``, cloud/channels/follow.py;
docs/channels.md "Where Shopify sold it", rule 6). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from cloud.channels import changes, remap, shops
from cloud.db.engine import transaction
from cloud.db.models import ChannelOrder, OrderLog, SalesOrder
from cloud.orders import workflow
from cloud.orders.release import release
from cloud.stock.ledger import receive
from cloud.stock.warehouses import WarehouseIn, create_warehouse
from tests.cloud.channels.harness import Shop, ship
from tests.cloud.channels.shopify_harness import SITE
from tests.cloud.channels.stock_harness import SKUS
from tests.cloud.channels.test_shopify_fo_moved import TOKEN, _changes, _reason, _shop, _where
from tests.cloud.channels.test_shopify_locations import SPARE, SZ, YW, located, put
from tests.cloud.channels.test_shopify_partial import _drain, _split_order
from tests.cloud.channels.test_shopify_partial import _fo as _one_fo

WH = {SZ: "WH1", YW: "WH2"}


def _fo(shop: Shop, tid: int) -> int:
    (fo,) = shop.http.get(  # type: ignore[attr-defined]
        f"{SITE}/orders/{tid}/fulfillment_orders.json", headers={TOKEN: f"shpat-{shop.code}"}
    ).json()["fulfillment_orders"]
    return int(fo["id"])


def _move_only(shop: Shop, fo: int, to: int) -> None:
    """The merchant's move in the Shopify admin (the order's ``updated_at`` stays)."""
    moved = shop.http.post(  # type: ignore[attr-defined]
        f"{SITE}/fulfillment_orders/{fo}/move.json",
        json={"fulfillment_order": {"new_location_id": to}},
        headers={TOKEN: f"shpat-{shop.code}"},
    )
    assert moved.status_code == 200, moved.text


def _followed(shop: Shop, tid: int) -> list[str]:
    """The order's history lines of moves it followed."""
    with shop.hub.factory() as s:
        return list(
            s.execute(
                select(OrderLog.reason)
                .join(SalesOrder, SalesOrder.id == OrderLog.order_id)
                .where(
                    SalesOrder.order_no == str(tid),
                    OrderLog.action == "edit",
                    OrderLog.reason.like("warehouse → %"),
                )
                .order_by(OrderLog.id)
            ).scalars()
        )


def test_a_fulfillment_order_moved_there_and_back_twice_is_followed_each_time(
    engine: object,
) -> None:
    """Yiwu → Shenzhen → Yiwu → Shenzhen, each seen by its ``fulfillment_orders/moved``
    webhook, the same event delivered again and the order polled again after each: after
    every move the order is at the warehouse mapped to where the fulfillment order is, its
    2 units reserved there and nowhere else, one history line and one change per move. On
    the code before, the second move to Shenzhen found the first's change key and the order
    stayed at WH2."""
    shop, tid = _shop(engine, 85)
    hooks = shop.app.shopify.webhooks  # type: ignore[attr-defined]
    fo = _fo(shop, tid)
    path = [SZ, YW, SZ]
    for n, to in enumerate(path, start=1):
        _move_only(shop, fo, to)
        (event,) = [e for e in hooks.queue if e.topic == "fulfillment_orders/moved"][-1:]
        shop.market.advance(1, 0.0)
        shop.hooks()  # type: ignore[attr-defined]
        assert _where(shop, tid) == (WH[to], {WH[to]: 2}, False), (n, to)
        # The same move again: the webhook delivered twice, the order polled again.
        assert shop.post(event.address, hooks.headers(event), event.body) == 200  # type: ignore[attr-defined]
        shop.hooks()  # type: ignore[attr-defined]
        with shop.market.lock:
            shop.market.change(tid, "modify", seller_memo=f"read again {n}")
        shop.market.advance(600, 0.0)
        shop.run()
        assert _where(shop, tid) == (WH[to], {WH[to]: 2}, False), (n, to)
        assert len(_followed(shop, tid)) == n, _followed(shop, tid)
        assert [o for _, o in _changes(shop)] == ["applied"] * n, _changes(shop)
    assert [k for k, _ in _changes(shop)] == [
        f"location:{fo}:{SZ}",
        f"location:{fo}:{YW}",
        f"location:{fo}:{SZ}#2",
    ]
    assert [w.split(" ")[2] for w in _followed(shop, tid)] == ["WH1", "WH2", "WH1"]


def _unmapped_shop(engine: object, seed: int) -> tuple[Shop, int, int]:
    """WH1 Shenzhen, WH2 Yiwu, the pop-up location mapped to nothing; an order sold from
    Yiwu (reserved at WH2) whose fulfillment order the merchant moved to the pop-up: held
    for it, reserved at WH2 still. Its id and the fulfillment order's."""
    shop, tid = _shop(engine, seed)
    fo = _fo(shop, tid)
    _move_only(shop, fo, SPARE)
    shop.market.advance(1, 0.0)
    shop.hooks()  # type: ignore[attr-defined]
    assert _where(shop, tid) == ("WH2", {"WH2": 2}, True)
    assert _reason(shop, tid).startswith(f"Shopify moved fulfillment order {fo} from location")
    return shop, tid, fo


def _map(shop: Shop, warehouse: str, location: int) -> None:
    """Save the mapping as the API and the page do (stock_locations.map_location)."""
    put(shop, warehouse, location)


def _pop_up(shop: Shop, units: int) -> None:
    with transaction(shop.hub.factory) as s:
        create_warehouse(
            s,
            shop.hub.account_id,
            WarehouseIn(code="WH4", name="pop-up", kind="main"),
            "t",
            datetime.now(UTC),
        )
    if units:
        with transaction(shop.hub.factory) as s:
            for code in SKUS:
                receive(s, shop.hub.account_id, "WH4", code, units, "t", datetime.now(UTC))


def test_mapping_the_location_moves_the_orders_held_for_it(engine: object) -> None:
    """The pop-up location is mapped to WH4 (which has the stock): the order held for the
    move there follows at once, in the mapping's transaction: at WH4 with its 2 units
    reserved there only, the hold lifted, one history line; saved again: nothing more. On
    the code before, the order stayed held at WH2."""
    shop, tid, _ = _unmapped_shop(engine, 86)
    _pop_up(shop, 5)
    _map(shop, "WH4", SPARE)
    assert _where(shop, tid) == ("WH4", {"WH4": 2}, False), _reason(shop, tid)
    assert len(_followed(shop, tid)) == 1
    _map(shop, "WH4", SPARE)
    shop.market.advance(600, 0.0)
    shop.run()
    assert _where(shop, tid) == ("WH4", {"WH4": 2}, False)
    assert len(_followed(shop, tid)) == 1
    assert [o for _, o in _changes(shop)] == ["held", "applied"], _changes(shop)


def test_an_order_that_cannot_follow_the_mapping_keeps_a_hold_saying_why(engine: object) -> None:
    """WH4 has none of the SKU: the order stays reserved at WH2, held with the stock
    check's reason (the unmapped location's hold replaced). Released to a node: held with
    "at its warehouse already"."""
    shop, tid, _ = _unmapped_shop(engine, 87)
    _pop_up(shop, 0)
    _map(shop, "WH4", SPARE)
    assert _where(shop, tid) == ("WH2", {"WH2": 2}, True)
    reason = _reason(shop, tid)
    assert "cannot reserve" in reason and "WH4" in reason, reason
    assert "which is not mapped" not in reason, reason

    shop2, tid2, _ = _unmapped_shop(engine, 88)
    held = _reason(shop2, tid2)
    with transaction(shop2.hub.factory) as s:
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == str(tid2))).scalar_one()
        acct, now = shop2.hub.account_id, shop2.now()
        workflow.set_hold(s, acct, o.order_no, False, None, "t", now)
        for step in (workflow.save, workflow.confirm, workflow.complete_audit):
            if o.status != "audited":
                step(s, acct, o.order_no, "t", now)
        release(s, acct, o.order_no, "t", now)
        workflow.set_hold(s, acct, o.order_no, True, held, "t", now)
    _pop_up(shop2, 5)
    _map(shop2, "WH4", SPARE)
    assert _where(shop2, tid2) == ("WH2", {"WH2": 2}, True)
    assert "at its warehouse already (released)" in _reason(shop2, tid2), _reason(shop2, tid2)


def test_held_orders_of_another_location_or_seller_are_untouched(engine: object) -> None:
    """Mapping the pop-up location of another seller's shop, or another location of this
    shop, moves nothing held for this shop's pop-up."""
    shop, tid, _ = _unmapped_shop(engine, 89)
    other = located(engine, 90)  # type: ignore[arg-type]
    _pop_up(other, 5)
    _map(other, "WH4", SPARE)
    _pop_up(shop, 5)
    _map(shop, "WH1", SZ)
    assert _where(shop, tid) == ("WH2", {"WH2": 2}, True)
    assert [o for _, o in _changes(shop)] == ["held"]


def test_one_move_read_by_two_at_once_acts_once(engine: object) -> None:
    """A poll and a webhook's hint read the same move at once: the second stores the same
    version with the version from before the move as its ``before`` (it read the row before
    the first committed). Its move is the one recorded last: the same change key, nothing
    done twice — and a real move back and there again still acts (the test above)."""
    shop, tid = _shop(engine, 91)
    fo = _fo(shop, tid)
    with shop.hub.factory() as s:
        before = s.execute(
            select(ChannelOrder.payload).where(ChannelOrder.external_id == str(tid))
        ).scalar_one()
    _move_only(shop, fo, SZ)
    shop.market.advance(1, 0.0)
    shop.hooks()  # type: ignore[attr-defined]
    assert _where(shop, tid) == ("WH1", {"WH1": 2}, False)
    with transaction(shop.hub.factory) as s:
        row = s.execute(
            select(ChannelOrder).where(ChannelOrder.external_id == str(tid))
        ).scalar_one()
        ch = shops.shop_by_code(s, shop.hub.account_id, shop.code)
        changes.on_trade(s, ch, row, before, remap._trade(row), shop.now())
    assert _where(shop, tid) == ("WH1", {"WH1": 2}, False)
    assert len(_followed(shop, tid)) == 1
    assert _changes(shop) == [(f"location:{fo}:{SZ}", "applied")]


def test_the_unfulfilled_rest_of_a_fulfillment_order_moved_takes_its_part_along(
    engine: object,
) -> None:
    """An order of 3 units sold from Yiwu, split by a person 2 + 1; the 1 ships (the
    fulfillment order ``in_progress``). The merchant moves the fulfillment order to
    Shenzhen: Shopify moves the 2 units left into a new fulfillment order there and keeps
    the one sent, closed, at Yiwu. The part holding the 2 units follows to WH1 with its
    reservation; the shipped part stays shipped at WH2; the 2 then ship from Shenzhen,
    against the new fulfillment order, once, and the order is fulfilled. On the code before
    the simulator refused the move (422, ``in_progress``) and the hub saw no move."""
    shop, tid, line, half = _split_order(engine, 92)  # type: ignore[arg-type]
    first = ship(shop.hub, half, shop.now())
    assert first and _drain(shop).done == 1
    fo = int(_one_fo(shop, tid)["id"])  # type: ignore[call-overload]
    _move_only(shop, fo, SZ)
    fos = shop.http.get(  # type: ignore[attr-defined]
        f"{SITE}/orders/{tid}/fulfillment_orders.json", headers={TOKEN: f"shpat-{shop.code}"}
    ).json()["fulfillment_orders"]
    shape = [
        (f["id"] == fo, f["status"], f["assigned_location_id"], f["line_items"][0]["quantity"])
        for f in fos
    ]
    assert shape == [(True, "closed", YW, 1), (False, "open", SZ, 2)], shape
    shop.market.advance(1, 0.0)
    shop.hooks()  # type: ignore[attr-defined]
    assert _where(shop, tid) == ("WH1", {"WH1": 2}, False), _reason(shop, tid)
    with shop.hub.factory() as s:
        shipped = s.execute(select(SalesOrder).where(SalesOrder.order_no == half)).scalar_one()
        assert shipped.status == "shipped"
    second = ship(shop.hub, str(tid), shop.now())
    assert second and _drain(shop).done == 1 and _drain(shop).done == 0
    truth = [(c["out_sid"], c["line_items"], c["location_id"]) for c in shop.market.confirmations]
    assert truth == [(first, {int(line): 1}, YW), (second, {int(line): 2}, SZ)], truth
    assert shop.market.trades[tid][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"
