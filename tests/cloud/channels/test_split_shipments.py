"""A Taobao trade a person split into two orders ships as two parcels, each confirmed with
``is_split=1`` and the sub-orders it carries (拆单发货, cloud/channels/split_shipments.py):
the trade is ``SELLER_CONSIGNED_PART`` after the first and shipped after the second; a
sub-order split between the two is confirmed by the last to ship; a lost answer is sent
again and counted once. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from cloud.channels import shipments
from cloud.db.engine import transaction
from cloud.db.models import ChannelShipment, SalesOrder
from cloud.orders import split_merge, workflow
from cloud.orders.release import release
from simulators.marketplace.market import Market
from tests.cloud.channels.harness import Shop, make_hub, make_shop, stock_up


@pytest.fixture
def shop(engine: Engine) -> Shop:
    hub = make_hub(engine)
    stock_up(hub)
    return make_shop(hub, Market(seed=43), "tb1")


def _trade(shop: Shop, *, shared_num: int = 2) -> tuple[str, list[dict[str, Any]]]:
    """A paid trade of two mapped sub-orders, the first of ``shared_num`` units or more, with
    a buyer's remark (so a person reads it and may split it), downloaded: (tid, lines)."""
    m = shop.market
    for _ in range(500):
        tid = m.place()
        lines = m.trades[tid][-1].trade["orders"]["order"]
        if (
            len(lines) == 2
            and lines[0]["num"] >= shared_num
            and not any(str(ln["outer_sku_id"]).startswith("UNMAPPED") for ln in lines)
        ):
            break
    else:
        raise AssertionError("no two-line trade drawn")
    m.advance(5)
    m.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS", buyer_message="请分两个包裹发")
    m.advance(600)
    assert shop.run().outcome == "ok"
    return str(tid), lines


def _ship(shop: Shop, order_no: str) -> str:
    """Take the order through the audit as a person would, release and ship it."""
    now = shop.now()
    acct = shop.hub.account_id
    with transaction(shop.hub.factory) as s:
        o = s.execute(
            select(SalesOrder).where(SalesOrder.account_id == acct, SalesOrder.order_no == order_no)
        ).scalar_one()
        if o.on_hold:
            workflow.set_hold(s, acct, order_no, False, None, "t", now)
        if o.status == "new":
            workflow.save(s, acct, order_no, "t", now)
        if o.status == "saved":
            workflow.confirm(s, acct, order_no, "t", now)
        if o.status == "confirmed":
            workflow.complete_audit(s, acct, order_no, "t", now)
        release(s, acct, order_no, "t", now)
        workflow.ship(s, acct, order_no, "t", now)
        assert o.tracking_number
        return o.tracking_number


def _split(shop: Shop, order_no: str, take: dict[str, int]) -> str:
    with transaction(shop.hub.factory) as s:
        child = split_merge.split(s, shop.hub.account_id, order_no, take, "t", shop.now())
        return child.order_no


def _drain(shop: Shop, attempts: int = 3) -> shipments.Sent:
    return shipments.drain(
        shop.hub.factory, lambda _row: shop.confirmer(attempts), owner="hub-1", now=shop.now
    )


def _rows(shop: Shop) -> list[ChannelShipment]:
    with shop.hub.factory() as s:
        return list(s.execute(select(ChannelShipment).order_by(ChannelShipment.id)).scalars())


def test_each_half_confirms_its_own_sub_orders(shop: Shop) -> None:
    tid, lines = _trade(shop)
    a, b = (str(ln["oid"]) for ln in lines)
    child = _split(shop, tid, {b: lines[1]["num"]})  # the second sub-order whole to the half
    first = _ship(shop, child)
    assert _drain(shop).done == 1
    trade = shop.market.trades[int(tid)][-1].trade
    assert trade["status"] == "SELLER_CONSIGNED_PART"
    assert shop.market.confirmations[-1]["sub_tids"] == [int(b)]
    assert shop.market.confirmations[-1]["out_sid"] == first

    # The trade read again in its partly shipped state changes nothing of ours.
    shop.market.advance(600)
    assert shop.run().outcome == "ok"
    with shop.hub.factory() as s:
        kept = s.execute(select(SalesOrder).where(SalesOrder.order_no == tid)).scalar_one()
        assert kept.status not in ("cancelled", "shipped")

    second = _ship(shop, tid)
    assert _drain(shop).done == 1 and _drain(shop).done == 0  # drained twice: sent once
    assert shop.market.trades[int(tid)][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    parts = [(c["out_sid"], c.get("sub_tids")) for c in shop.market.confirmations]
    assert parts == [(first, [int(b)]), (second, [int(a)])]
    assert [r.state for r in _rows(shop)] == ["done", "done"]


def test_a_sub_order_in_both_halves_is_confirmed_by_the_last_to_ship(shop: Shop) -> None:
    tid, lines = _trade(shop)
    a, b = (str(ln["oid"]) for ln in lines)
    child = _split(shop, tid, {a: 1})  # some units of the first sub-order to the half
    first = _ship(shop, tid)  # the order that kept the number ships first: b, not a
    assert _drain(shop).done == 1
    assert shop.market.confirmations[-1]["sub_tids"] == [int(b)]
    assert shop.market.trades[int(tid)][-1].trade["status"] == "SELLER_CONSIGNED_PART"
    second = _ship(shop, child)
    assert _drain(shop).done == 1
    assert [(c["out_sid"], c["sub_tids"]) for c in shop.market.confirmations] == [
        (first, [int(b)]),
        (second, [int(a)]),
    ]
    assert shop.market.trades[int(tid)][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"


def test_a_half_that_carries_only_a_shared_sub_order_and_ships_first_sends_nothing(
    shop: Shop,
) -> None:
    tid, lines = _trade(shop)
    a, b = (str(ln["oid"]) for ln in lines)
    child = _split(shop, tid, {a: 1})
    _ship(shop, child)  # carries part of a only, and the order holding the rest is to ship
    assert _drain(shop).done == 1
    (row,) = _rows(shop)
    assert row.state == "done" and "later parcel" in (row.error or "")
    assert shop.market.confirmations == []
    last = _ship(shop, tid)
    assert _drain(shop).done == 1
    confirmed = shop.market.confirmations
    assert [(c["out_sid"], c["sub_tids"]) for c in confirmed] == [(last, sorted([int(a), int(b)]))]
    assert shop.market.trades[int(tid)][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"


def test_a_lost_answer_is_sent_again_and_counted_once(shop: Shop) -> None:
    tid, lines = _trade(shop)
    b = str(lines[1]["oid"])
    child = _split(shop, tid, {b: lines[1]["num"]})
    parcel = _ship(shop, child)
    shop.market.faults.ship_timeout = 1.0  # the write commits, its answer is lost
    sent = _drain(shop, attempts=1)
    assert sent.done == 0 and sent.retry == 1
    (row,) = _rows(shop)
    assert row.state == "pending" and row.sub_tids == b  # the part is kept for the retry
    shop.market.faults.ship_timeout = 0.0
    shop.market.advance(3600)  # past the retry's backoff
    assert _drain(shop).done == 1
    (row,) = _rows(shop)
    assert row.state == "done" and row.error is None
    assert [(c["out_sid"], c["sub_tids"]) for c in shop.market.confirmations] == [
        (parcel, [int(b)])
    ]


def test_the_simulator_refuses_a_part_that_is_not_the_trades(shop: Shop) -> None:
    tid, lines = _trade(shop)
    client = shop.confirmer().client
    from cloud.channels.ports import Refused

    for params in (
        {"is_split": "1", "sub_tid": "123"},  # not a sub-order of the trade
        {"is_split": "1", "sub_tid": ""},
        {"sub_tid": str(lines[0]["oid"])},  # without is_split
        {"is_split": "2", "sub_tid": str(lines[0]["oid"])},
    ):
        with pytest.raises(Refused) as err:
            client.call(
                "taobao.logistics.offline.send",
                {"tid": tid, "out_sid": "ZT1", "company_code": "ZTO", **params},
            )
        assert err.value.sub_code and "invalid-parameter" in err.value.sub_code, params
    assert shop.market.confirmations == []
    assert shop.market.trades[int(tid)][-1].trade["status"] == "WAIT_SELLER_SEND_GOODS"


def _cancel(shop: Shop, order_no: str) -> None:
    with transaction(shop.hub.factory) as s:
        workflow.cancel(s, shop.hub.account_id, order_no, "buyer asked", "t", shop.now())


def test_a_shared_sub_order_is_confirmed_once_when_its_other_holder_is_cancelled_later(
    shop: Shop,
) -> None:
    """The order that kept the number ships first and is confirmed without the shared
    sub-order (its half still holds some of it); then the half is cancelled: the shared
    sub-order is confirmed then, with the shipped parcel's number, exactly once."""
    tid, lines = _trade(shop)
    a, b = (str(ln["oid"]) for ln in lines)
    child = _split(shop, tid, {a: 1})
    first = _ship(shop, tid)
    assert _drain(shop).done == 1
    assert [(c["out_sid"], c["sub_tids"]) for c in shop.market.confirmations] == [
        (first, [int(b)])
    ]  # not before: the half may still ship it
    _cancel(shop, child)
    assert _drain(shop).done == 1 and _drain(shop).done == 0
    assert [(c["out_sid"], c["sub_tids"]) for c in shop.market.confirmations] == [
        (first, [int(b)]),
        (first, [int(a)]),
    ]
    assert shop.market.trades[int(tid)][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    assert [r.state for r in _rows(shop)] == ["done", "done"]


def test_a_half_that_shipped_only_the_shared_sub_order_confirms_it_when_the_rest_is_cancelled(
    shop: Shop,
) -> None:
    """The half holding part of the shared sub-order ships first (nothing to send yet); the
    order holding the rest and the other sub-order is cancelled: the half's parcel confirms
    the shared sub-order, once; the cancelled one's own sub-order is confirmed by nobody."""
    tid, lines = _trade(shop)
    a = str(lines[0]["oid"])
    child = _split(shop, tid, {a: 1})
    parcel = _ship(shop, child)
    assert _drain(shop).done == 1
    assert shop.market.confirmations == []
    _cancel(shop, tid)
    assert _drain(shop).done == 1 and _drain(shop).done == 0
    assert [(c["out_sid"], c["sub_tids"]) for c in shop.market.confirmations] == [
        (parcel, [int(a)])
    ]


def test_a_holder_cancelled_before_the_other_ships_leaves_the_shared_sub_order_to_it(
    shop: Shop,
) -> None:
    tid, lines = _trade(shop)
    a, b = (str(ln["oid"]) for ln in lines)
    child = _split(shop, tid, {a: 1})
    _cancel(shop, child)
    assert _drain(shop).done == 0  # nothing shipped: nothing to confirm
    parcel = _ship(shop, tid)
    assert _drain(shop).done == 1 and _drain(shop).done == 0
    assert [(c["out_sid"], c["sub_tids"]) for c in shop.market.confirmations] == [
        (parcel, sorted([int(a), int(b)]))
    ]
    assert shop.market.trades[int(tid)][-1].trade["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    assert len(_rows(shop)) == 1
