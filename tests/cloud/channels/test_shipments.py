"""Shipment confirmation (taobao.logistics.offline.send) through the outbox: written with the
ship, sent once, retried through a lost answer, failures kept with their reason. SQLite and
PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, select

from cloud.channels import shipments
from cloud.db.engine import transaction
from cloud.db.models import ChannelShipment
from cloud.errors import ConflictError
from cloud.orders import workflow
from cloud.orders.release import release
from simulators.marketplace.market import Market
from tests.cloud.channels.harness import Shop, make_hub, make_shop, ship, stock_up
from tests.cloud.channels.test_download import paid


@pytest.fixture
def shop(engine: Engine) -> Shop:
    hub = make_hub(engine)
    stock_up(hub)
    return make_shop(hub, Market(seed=41), "tb1")


def _imported(shop: Shop, count: int = 1) -> list[str]:
    tids = paid(shop, count)
    assert shop.run().outcome == "ok"
    return tids


def _drain(shop: Shop, attempts: int = 3, **kw: object) -> shipments.Sent:
    return shipments.drain(
        shop.hub.factory,
        lambda _row: shop.confirmer(attempts=attempts),
        owner=str(kw.pop("owner", "hub-1")),
        now=shop.now,
        **kw,  # type: ignore[arg-type]
    )


def _rows(shop: Shop) -> list[ChannelShipment]:
    with shop.hub.factory() as s:
        return list(s.execute(select(ChannelShipment).order_by(ChannelShipment.id)).scalars())


def test_a_shipped_order_is_confirmed_once(shop: Shop) -> None:
    (tid,) = _imported(shop)
    tracking = ship(shop.hub, tid, shop.now())
    (row,) = _rows(shop)  # written by the ship itself
    assert (row.state, row.external_id, row.tracking_number) == ("pending", tid, tracking)
    assert row.idempotency_key.endswith(f":{tracking}")
    assert _drain(shop).done == 1
    (row,) = _rows(shop)
    assert row.state == "done" and row.error is None
    assert shop.market.confirmations == [
        {"tid": int(tid), "out_sid": tracking, "company_code": "ZTO", "at": row_at(shop)}
    ]
    assert _drain(shop) == shipments.Sent()  # nothing left to send
    assert shop.market.ship_calls == {int(tid): 1}
    # The download sees the trade shipped; the order stays as it is.
    shop.market.advance(600)
    assert shop.run().outcome == "ok"
    assert shop.stored()[tid].channel_status == "WAIT_BUYER_CONFIRM_GOODS"


def row_at(shop: Shop) -> float:
    return float(shop.market.confirmations[0]["at"])


def test_a_lost_answer_is_retried_and_already_shipped_counts_as_done(shop: Shop) -> None:
    (tid,) = _imported(shop)
    tracking = ship(shop.hub, tid, shop.now())
    shop.market.faults.ship_timeout = 1.0  # the write commits, the answer is a 504 page
    sent = _drain(shop, attempts=1)
    assert sent.retry == 1
    (row,) = _rows(shop)
    assert row.state == "pending" and "504" in (row.error or "") and row.attempts == 1
    shop.market.faults.ship_timeout = 0.0
    assert _drain(shop).retry == 0  # backing off: not due yet
    shop.market.advance(31)
    assert _drain(shop).done == 1  # B04 "shipped already", and with our number: done
    (row,) = _rows(shop)
    assert (row.state, row.error) == ("done", None)
    assert [c["out_sid"] for c in shop.market.confirmations] == [tracking]


def test_ablation_without_the_same_number_rule_a_lost_answer_fails_the_row(shop: Shop) -> None:
    (tid,) = _imported(shop)
    ship(shop.hub, tid, shop.now())
    shop.market.faults.ship_timeout = 1.0
    _drain(shop, attempts=1)
    shop.market.faults.ship_timeout = 0.0
    shop.market.advance(31)
    assert _drain(shop, same_tracking_is_done=False).failed == 1


def test_another_number_on_the_marketplace_fails_with_the_reason(shop: Shop) -> None:
    (tid,) = _imported(shop)
    assert shop.market.ship(int(tid), "YT9999999999999", "YTO")  # shipped outside Guanjia
    tracking = ship(shop.hub, tid, shop.now())
    assert _drain(shop).failed == 1
    with shop.hub.factory() as s:
        (row,) = shipments.of_order(s, shop.hub.account_id, tid)
    assert row.state == "failed"
    assert f"parcel number YT9999999999999, not {tracking}" in (row.error or "")
    assert len(shop.market.confirmations) == 1  # only the one made outside


def test_an_unknown_courier_code_fails_then_is_resent_after_mapping(shop: Shop) -> None:
    (tid,) = _imported(shop)
    with transaction(shop.hub.factory) as s:
        shipments.map_courier(s, shop.hub.account_id, "tb1", "ZTO", "ZTO-WRONG")
    ship(shop.hub, tid, shop.now())
    assert _drain(shop).failed == 1
    (row,) = _rows(shop)
    assert "unknown logistics company code 'ZTO-WRONG'" in (row.error or "")
    with transaction(shop.hub.factory) as s:
        shipments.map_courier(s, shop.hub.account_id, "tb1", "ZTO", "ZTO")
        shipments.retry(s, shop.hub.account_id, row.id, shop.now())
    with (
        pytest.raises(ConflictError, match="only a failed one"),  # pending now
        transaction(shop.hub.factory) as s,
    ):
        shipments.retry(s, shop.hub.account_id, row.id, shop.now())
    assert _drain(shop).done == 1
    assert [c["company_code"] for c in shop.market.confirmations] == ["ZTO"]


def test_a_ship_that_rolls_back_leaves_no_confirmation(shop: Shop) -> None:
    (tid,) = _imported(shop)
    with pytest.raises(RuntimeError), transaction(shop.hub.factory) as s:
        workflow.set_hold(s, shop.hub.account_id, tid, False, None, "t", shop.now())
        workflow.save(s, shop.hub.account_id, tid, "t", shop.now())
        workflow.confirm(s, shop.hub.account_id, tid, "t", shop.now())
        workflow.complete_audit(s, shop.hub.account_id, tid, "t", shop.now())
        release(s, shop.hub.account_id, tid, "t", shop.now())
        workflow.ship(s, shop.hub.account_id, tid, "t", shop.now())
        raise RuntimeError("the ship's transaction fails after the ship")
    assert _rows(shop) == []
    # An order not from a marketplace ships without an outbox row.
    assert _drain(shop) == shipments.Sent()


def test_two_senders_send_each_row_once(shop: Shop) -> None:
    tids = _imported(shop, 6)
    for tid in tids:
        ship(shop.hub, tid, shop.now())
    start = threading.Barrier(2)
    results: list[shipments.Sent] = []

    def go(owner: str) -> None:
        start.wait(10)
        results.append(_drain(shop, owner=owner))

    threads = [threading.Thread(target=go, args=(o,)) for o in ("hub-a", "hub-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.done for r in results) == 6
    # Each row leased to one sender: one call per trade, not one per sender.
    assert shop.market.ship_calls == {int(t): 1 for t in tids}
    assert len(shop.market.confirmations) == 6


def test_backoff_doubles_to_an_hour() -> None:
    assert [shipments.backoff(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [
        30,
        60,
        120,
        3600,
        3600,
    ]
