"""A pool waybill's fact and a hold of its order at the same moment, and two nodes' pool
waybills of one order (issue 17; cloud/sync/locks.py: ``waybill.pool_used`` locks its order
with the documents).

A hold (or its release) locks the order, then sends its ``order.release`` to the warehouse's
nodes, locking their rows (cloud/orders/workflow.py). Binding a pool waybill locks the order
too and sends the order's release with its new waybill (cloud/orders/waybill_pool.py). An
ingest that locked its node first and the order only while binding would hold the node and
wait for the order while the hold held the order and waited for the node: PostgreSQL breaks
that deadlock by failing one of them. So the ingest locks the order before its nodes.

Run :data:`ROUNDS` times with two threads released by a barrier and no retry, the ingest
slowed right after it locked its nodes. Whichever commits first, the outcome is one: the
order on hold with the hold's reason, bound to the node's number (one drawn waybill), the
number used, no pool conflict. On SQLite one writer runs at a time, so the race passes
there trivially; the outcome is checked all the same."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine

from cloud.db.engine import transaction
from cloud.nodes import ownership
from cloud.nodes.registry import lock_cursors
from cloud.orders.workflow import set_hold
from cloud.sync import ingest
from cloud.sync.assignment import assign_node
from tests.cloud.channels.test_waybill_pool import (
    Reporter,
    conflicts,
    pool_rows,
    sent_down,
    set_target,
    top_up,
    with_node,
)
from tests.cloud.channels.test_waybills import do_release, imported, order, rows
from tests.cloud.inbound.test_ingest_locks import ROUNDS, _at_once

REASON = "买家要求暂停发货"


def _slow_ingest(monkeypatch: pytest.MonkeyPatch) -> None:
    locked = lock_cursors

    def slow(*args: Any, **kwargs: Any) -> Any:
        got = locked(*args, **kwargs)
        time.sleep(0.15)
        return got

    monkeypatch.setattr(ingest, "lock_cursors", slow)


def test_a_pool_waybills_fact_and_a_hold_of_its_order_at_once_never_deadlock(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop, node = with_node(engine, 73, "lk")
    set_target(shop, node, ROUNDS)
    assert top_up(shop).sent == ROUNDS
    numbers = sent_down(shop, node)
    trades = imported(shop, ROUNDS)
    for tid in trades:
        do_release(shop, tid)
        assert not order(shop, tid).on_hold
    report = Reporter(shop, node)
    _slow_ingest(monkeypatch)
    account = shop.hub.account_id

    def work(tid: str, code: str, i: int) -> None:
        if i == 0:
            report.used(tid, code)  # the node's next event, ingested
        else:
            with transaction(shop.hub.factory) as s:
                set_hold(s, account, tid, True, REASON, "user:t", datetime.now(UTC))

    for r, (tid, code) in enumerate(zip(trades, numbers, strict=True)):
        errors = _at_once(partial(work, tid, code))
        assert errors == [], f"round {r}: {errors}"
        o = order(shop, tid)
        assert o.on_hold and o.hold_reason == REASON, f"round {r}: {o.hold_reason}"
        assert o.tracking_number == code, f"round {r}"
        drawn = [w.waybill_code for w in rows(shop) if w.order_id == o.id and w.state == "drawn"]
        assert drawn == [code], f"round {r}: {drawn}"
        (used,) = [p for p in pool_rows(shop) if p.waybill_code == code]
        assert used.state == "used" and used.order_id == o.id, f"round {r}"
    assert conflicts(shop) == []


def test_two_nodes_pool_waybills_for_one_order_at_once_never_deadlock(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pack nodes of WH1 each print one order's parcel with a number of their own pool
    (a wrong release, or a rescan at the other bench) and report it at the same moment.
    Each bind locks the order and sends its release to both nodes: an ingest that locked its
    own node first held A and waited for the order while B held the order and waited for A.
    Whichever commits first, the order ends bound to one number (the later report's), the
    other is given back to the courier, both are used, nothing doubled, no pool conflict."""
    shop, a = with_node(engine, 74, "lk2")
    b = "wh1-pack-lk2-b"
    now = shop.now()
    with transaction(shop.hub.factory) as s:
        ownership.enroll(s, b, "lk2", "t", now)
    with transaction(shop.hub.factory) as s:
        assign_node(s, shop.hub.account_id, b, "WH1", "t", now)
    for n in (a, b):
        set_target(shop, n, ROUNDS)
    assert top_up(shop).sent == 2 * ROUNDS
    numbers = {n: sent_down(shop, n) for n in (a, b)}
    trades = imported(shop, ROUNDS)
    for tid in trades:
        do_release(shop, tid)
    reports = {n: Reporter(shop, n) for n in (a, b)}
    _slow_ingest(monkeypatch)

    def work(tid: str, r: int, i: int) -> None:
        n = (a, b)[i]
        reports[n].used(tid, numbers[n][r])

    for r, tid in enumerate(trades):
        errors = _at_once(partial(work, tid, r))
        assert errors == [], f"round {r}: {errors}"
        codes = {numbers[a][r], numbers[b][r]}
        o = order(shop, tid)
        assert o.tracking_number in codes, f"round {r}"
        mine = {w.waybill_code: w.state for w in rows(shop) if w.order_id == o.id}
        drawn = [c for c, st in mine.items() if st == "drawn"]
        assert drawn == [o.tracking_number], f"round {r}: {mine}"
        (other,) = codes - {o.tracking_number}
        assert mine[other] == "cancel", f"round {r}: {mine}"  # given back to the courier
        used = [p for p in pool_rows(shop) if p.waybill_code in codes]
        assert [(p.state, p.order_id) for p in used] == [("used", o.id)] * 2, f"round {r}"
    assert conflicts(shop) == []
