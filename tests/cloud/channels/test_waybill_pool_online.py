"""A pool number printed with the uplink up because the hub's draw was failing (a courier
outage: docs/channels.md "The pool with the uplink up"): the node's report binds it to the
order as an offline print would; the hub's own draw, which may have reached the courier, is
drawn once the courier is back and given back (cancelled once); the order keeps the pool
number, whose courier record is corrected to the order's recipient
(``cainiao.waybill.ii.update``). No number is on two orders. SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Engine

from simulators.marketplace.cainiao import book
from tests.cloud.channels.test_waybill_pool import (
    Reporter,
    conflicts,
    pool_rows,
    sent_down,
    set_target,
    top_up,
    with_node,
)
from tests.cloud.channels.test_waybills import do_release, drain, imported, issued, order, rows


def test_a_pool_number_printed_during_a_courier_outage_wins_and_the_hubs_draw_goes_back(
    engine: Engine,
) -> None:
    shop, node = with_node(engine, 95, "o")
    set_target(shop, node, 2)
    top_up(shop)
    p1, _p2 = sent_down(shop, node)
    (tid,) = imported(shop, 1)
    do_release(shop, tid)

    # The courier's answers are lost: the hub's draw is retried, the order has no number.
    shop.market.faults.waybill_timeout = 1.0
    assert drain(shop, attempts=1).retry == 1
    (hub_row,) = rows(shop)
    assert (hub_row.state, hub_row.attempts >= 1) == ("pending", True)
    assert order(shop, tid).tracking_number is None
    # The packer, uplink up, prints the pool's number; the report arrives at once.
    Reporter(shop, node).used(tid, p1)
    assert order(shop, tid).tracking_number == p1

    # The courier is back: the hub's draw gets its number (the same package id: the one the
    # lost answer carried) and gives it back, once; the order keeps the pool number.
    shop.market.faults.waybill_timeout = 0.0
    shop.market.advance(3600)
    drain(shop)
    drain(shop)
    by_key = {r.idempotency_key: r for r in rows(shop)}
    hub_row = by_key[hub_row.idempotency_key]
    assert hub_row.state == "cancelled" and hub_row.waybill_code not in (None, p1)
    pooled = [r for k, r in by_key.items() if k.startswith("pool:")]
    assert [(r.state, r.waybill_code) for r in pooled] == [("drawn", p1)]
    assert order(shop, tid).tracking_number == p1
    truth = book(shop.market)
    assert truth.numbers[hub_row.waybill_code]["state"] == "cancelled"
    cancels = Counter(e["waybill_code"] for e in truth.log if e["action"] == "cancel")
    assert cancels == Counter({hub_row.waybill_code: 1})
    assert issued(shop)[hub_row.waybill_code] == 1  # drawn once, through the lost answers
    # The pool number's courier record names the order's recipient, corrected once.
    top_up(shop)
    (used,) = [r for r in pool_rows(shop) if r.waybill_code == p1]
    assert (used.state, used.order_id is not None, used.recipient_state) == ("used", True, "done")
    assert truth.numbers[p1]["recipient"]["name"] == order(shop, tid).recipient["name"]
    assert conflicts(shop) == []
