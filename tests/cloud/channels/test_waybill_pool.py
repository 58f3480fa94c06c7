"""Each pack node's offline e-waybill pool on the hub (docs/channels.md "The offline pool"),
against the Cainiao-shaped simulator: topped up to its target and sent down, drawn once
through lost answers, a reported use bound to the order exactly once (a repeat is a no-op),
a number on two orders refused and the second order held, a number drawn meanwhile by the
hub given back, and the pool number given back when its order is cancelled. SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from cloud.channels import waybill_pool
from cloud.db.engine import transaction
from cloud.db.models import Downlink, Task
from cloud.db.waybills import PoolWaybill
from cloud.errors import InvalidError
from cloud.nodes import downlink, ownership
from cloud.orders import core, workflow
from cloud.sync.assignment import assign_node
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import CHANGE_ADAPTER, WaybillPoolToppedUp, WaybillPoolUsed
from protocol.messages import WaybillPoolUsedPayload as Used
from simulators.marketplace.cainiao import book
from tests.cloud.channels.harness import Shop
from tests.cloud.channels.test_waybills import (
    do_release,
    drain,
    imported,
    issued,
    order,
    provider,
    rows,
    set_up,
)


def with_node(engine: Engine, seed: int, name: str) -> tuple[Shop, str]:
    shop = set_up(engine, seed, name=name)
    node = f"wh1-pack-{name}"
    now = shop.now()
    with transaction(shop.hub.factory) as s:
        ownership.enroll(s, node, name, "t", now)
    with transaction(shop.hub.factory) as s:
        assign_node(s, shop.hub.account_id, node, "WH1", "t", now)
    return shop, node


def set_target(shop: Shop, node: str, target: int) -> None:
    with transaction(shop.hub.factory) as s:
        body = waybill_pool.PoolIn(target=target)
        waybill_pool.set_target(s, shop.hub.account_id, node, "ZTO", body, shop.now())


def top_up(shop: Shop, attempts: int = 3) -> waybill_pool.Topped:
    return waybill_pool.drain(
        shop.hub.factory, lambda _shop: provider(shop, attempts), owner="hub-1", now=shop.now
    )


def sent_down(shop: Shop, node: str, compacted: bool = False) -> list[str]:
    """Every pool number the node's downlink carries, in order (``compacted``: what a node
    that resyncs from the start gets after the hub compacts the log)."""
    if compacted:
        with transaction(shop.hub.factory) as s:
            downlink.compact(s, node)
    with shop.hub.factory() as s:
        changes = s.execute(
            select(Downlink)
            .where(Downlink.node_id == node, Downlink.type == "waybill.pool")
            .order_by(Downlink.seq)
        ).scalars()
        out: list[str] = []
        for row in changes:
            change = CHANGE_ADAPTER.validate_python(
                {"seq": row.seq, "type": row.type, "payload": row.payload}
            )
            assert isinstance(change, WaybillPoolToppedUp)
            out += change.payload.waybills
        return out


class Reporter:
    """The node's outbox: each report a new event with the next seq."""

    def __init__(self, shop: Shop, node: str) -> None:
        self.shop, self.node, self.seq = shop, node, 0

    def used(self, order_no: str, code: str, version: int = 1) -> WaybillPoolUsed:
        self.seq += 1
        payload = Used(
            order_id=order_no, version=version, station="pack-1", carrier="ZTO", waybill_code=code
        )
        ev = WaybillPoolUsed(
            node=self.node,
            epoch=1,
            seq=self.seq,
            id=uuid.uuid4(),
            hlc=pack(int(datetime.now(UTC).timestamp() * 1000), 0),
            payload=payload,
        )
        self.apply(ev)
        return ev

    def apply(self, ev: WaybillPoolUsed) -> None:
        with transaction(self.shop.hub.factory) as s:
            apply_batch(s, Batch(node=self.node, events=(ev,)), self.shop.now())


def conflicts(shop: Shop) -> list[str]:
    with shop.hub.factory() as s:
        return list(
            s.execute(
                select(Task.order_no).where(
                    Task.account_id == shop.hub.account_id, Task.kind == "waybill_pool_conflict"
                )
            ).scalars()
        )


def pool_rows(shop: Shop) -> list[PoolWaybill]:
    with shop.hub.factory() as s:
        mine = select(PoolWaybill).where(PoolWaybill.account_id == shop.hub.account_id)
        return list(s.execute(mine.order_by(PoolWaybill.id)).scalars())


def test_topped_up_bound_once_duplicates_refused(engine: Engine) -> None:
    shop, node = with_node(engine, 71, "a")
    set_target(shop, node, 4)
    done = top_up(shop)
    assert (done.asked, done.drawn, done.sent) == (4, 4, 4)
    numbers = sent_down(shop, node)
    assert len(numbers) == 4 and issued(shop) == Counter({n: 1 for n in numbers})
    # Drawn against the pool's own placeholder parcels (the courier has no ranges to give).
    keys = {book(shop.market).numbers[n]["key"][1][0] for n in numbers}
    assert all(k.startswith("pool_") for k in keys) and len(keys) == 4
    assert top_up(shop) == waybill_pool.Topped()  # full: nothing to do

    t1, t2, t3 = imported(shop, 3)
    for tid in (t1, t2, t3):
        do_release(shop, tid)  # the hub's own draws wait: the node is offline
    p1, p2 = numbers[:2]
    report = Reporter(shop, node)
    ev = report.used(t1, p1)
    o1 = order(shop, t1)
    assert o1.tracking_number == p1
    # The order's draw that was never called is void; the pool number is its waybill now.
    mine = [(r.state, r.waybill_code) for r in rows(shop) if r.order_id == o1.id]
    assert mine == [("void", None), ("drawn", p1)]
    with shop.hub.factory() as s:
        msg = core.release_message(s, s.get(type(o1), o1.id))  # type: ignore[arg-type]
    assert msg.waybill == p1
    # Reported again (the same event replayed, then a new event of the same use): no-op.
    report.apply(ev)
    report.used(t1, p1)
    assert conflicts(shop) == [] and order(shop, t1).tracking_number == p1
    assert [r.waybill_code for r in rows(shop) if r.state == "drawn"] == [p1]
    # A node resyncing from the compacted downlink (a replaced store) never gets p1 back.
    assert sent_down(shop, node, compacted=True) == numbers[1:]

    # The same number printed for another order: refused, that order held, t1 untouched.
    report.used(t2, p1)
    o2 = order(shop, t2)
    assert o2.on_hold and p1 in (o2.hold_reason or "") and o2.tracking_number is None
    assert conflicts(shop) == [t2] and order(shop, t1).tracking_number == p1
    # A number that is not this node's pool: refused the same way.
    report.used(t3, "75NOTOURS0001")
    o3 = order(shop, t3)
    assert o3.on_hold and o3.tracking_number is None and conflicts(shop) == [t2, t3]

    with shop.hub.factory() as s:
        (level,) = waybill_pool.levels(s, shop.hub.account_id)
    assert (level["node"], level["carrier"]) == (node, "ZTO")
    assert (level["target"], level["on_node"], level["used"], level["low"]) == (4, 3, 1, False)
    report.used(t2, p2)  # t2 is held: its report binds nothing new, but the number is used
    assert top_up(shop).asked == 2  # 2 left of 4: topped up to 4 again
    now_there = sent_down(shop, node, compacted=True)
    assert len(now_there) == 4 and now_there[:2] == numbers[2:] and p1 not in now_there


def test_a_number_drawn_meanwhile_and_a_cancelled_order_give_numbers_back(
    engine: Engine,
) -> None:
    shop, node = with_node(engine, 72, "b")
    set_target(shop, node, 2)
    shop.market.faults.waybill_timeout = 1.0  # drawn, the answer lost
    assert top_up(shop, attempts=1).retry == 2
    shop.market.faults.waybill_timeout = 0.0
    shop.market.advance(60)
    assert top_up(shop).sent == 2
    p1, p2 = sent_down(shop, node)
    assert issued(shop) == Counter({p1: 1, p2: 1})  # the lost answers gave the same numbers

    t1, t2 = imported(shop, 2)
    do_release(shop, t1)
    do_release(shop, t2)
    assert drain(shop).drawn == 2  # the hub drew both orders' numbers
    w1 = order(shop, t1).tracking_number
    assert w1 is not None
    report = Reporter(shop, node)
    report.used(t1, p1)  # but the node was offline and printed the pool's
    assert order(shop, t1).tracking_number == p1
    assert drain(shop).cancelled == 1  # the hub's number goes back to the courier
    assert book(shop.market).numbers[w1]["state"] == "cancelled"

    # Cancelled after the pool number went on it: the number goes back too.
    with transaction(shop.hub.factory) as s:
        workflow.cancel(s, shop.hub.account_id, t1, "buyer cancelled", "t", shop.now())
    assert drain(shop).cancelled == 1
    assert book(shop.market).numbers[p1]["state"] == "cancelled"
    # A use reported for an order already cancelled: the number is given back at once.
    with transaction(shop.hub.factory) as s:
        workflow.cancel(s, shop.hub.account_id, t2, "buyer cancelled", "t", shop.now())
    drain(shop)
    report.used(t2, p2)
    assert drain(shop).cancelled == 1
    assert book(shop.market).numbers[p2]["state"] == "cancelled"
    assert conflicts(shop) == []


def test_setting_a_pool_needs_the_sellers_node_and_a_source(engine: Engine) -> None:
    shop, node = with_node(engine, 73, "c")
    other, other_node = with_node(engine, 73, "d")
    body = waybill_pool.PoolIn(target=3)
    with shop.hub.factory() as s:
        with pytest.raises(InvalidError, match="no node"):
            waybill_pool.set_target(s, shop.hub.account_id, other_node, "ZTO", body, shop.now())
        with pytest.raises(InvalidError, match="no e-waybill source"):
            waybill_pool.set_target(s, shop.hub.account_id, node, "SF", body, shop.now())
    assert pool_rows(shop) == [] and pool_rows(other) == []


def test_hub_to_node_and_back_offline_print_reported_once(engine: Engine, tmp_path: Path) -> None:
    """The whole way but the broker: the hub's top-up applied by a real pack node (runtime,
    scanner port, scale, printer simulators) with its uplink down; the label prints a pool
    number; its outbox, encoded and decoded as the sync agent and the hub's ingest do, binds
    the number on the hub once, however often the batch is delivered."""
    import asyncio

    from cloud.channels import waybills
    from protocol import codec
    from tests.cloud.channels.test_waybills import SENDER
    from tests.edge.runtimes import harness

    shop, node = with_node(engine, 74, "1")  # node "wh1-pack-1": the rig's
    assert node == harness.NODE
    with transaction(shop.hub.factory) as s:  # the rig's printer is for courier SF
        body = waybills.WaybillSourceIn(shop="tb1", cp_code="SF", sender=SENDER)
        waybills.put_source(s, shop.hub.account_id, "SF", body, shop.now())
        waybill_pool.set_target(
            s, shop.hub.account_id, node, "SF", waybill_pool.PoolIn(target=2), shop.now()
        )
    assert top_up(shop).sent == 2
    (tid,) = imported(shop, 1)
    do_release(shop, tid)  # the hub's own draw waits: the node is offline
    with shop.hub.factory() as s:
        rows_ = s.execute(
            select(Downlink)
            .where(Downlink.node_id == node, Downlink.type == "waybill.pool")
            .order_by(Downlink.seq)
        ).scalars()
        changes = [
            CHANGE_ADAPTER.validate_python({"seq": r.seq, "type": r.type, "payload": r.payload})
            for r in rows_
        ]
    # The node packs the order (its own view of the lines) without a waybill.
    at_node = harness.release(tid, "X").model_copy(update={"waybill": None})

    async def main() -> list[bytes]:
        async with harness.pack_rig(tmp_path, [at_node]) as rig:
            harness.push(rig.store, changes)
            await rig.scan(tid, harness.RED, harness.BOOK)
            await asyncio.sleep(0.04)
            await rig.scan(harness.RED)
            rig.scale_sim.set_weight(harness.ORDER_WEIGHT)
            await harness.until(lambda: len(rig.printer_sim.printed) >= 1)
            await harness.until(lambda: "order.labelled" in rig.facts())
            return [body for _, body in rig.store.pending(0, 500, 1 << 20)]

    outbox = asyncio.run(main())
    pool_numbers = sent_down(shop, node)
    for _ in range(2):  # delivered twice (a lost ack): bound once
        batch = codec.decode_batch(codec.encode_batch(node, outbox), node)
        with transaction(shop.hub.factory) as s:
            apply_batch(s, batch, shop.now())
    o = order(shop, tid)
    assert o.tracking_number in pool_numbers and o.status == "labelled"
    drawn = [r for r in rows(shop) if r.order_id == o.id and r.state == "drawn"]
    assert [r.waybill_code for r in drawn] == [o.tracking_number]
    assert [r.state for r in pool_rows(shop)].count("used") == 1 and conflicts(shop) == []
