"""The offline pool's later half (docs/channels.md "Giving numbers back", "The courier's record
of a used number"): a lowered target or a retired node gives unused numbers back only after
the node (a real edge store) confirms it removed them, so it never prints one the courier took
back; a used number's courier record is corrected to the order's recipient
(``cainiao.waybill.ii.update``), retried through a lost answer; what a drain commits for the
nodes is handed to ``publish`` at once (and the hub's MQTT client takes it from any thread).
Hostile answers change nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cloud.channels import waybill_pool
from cloud.channels.ports import Refused, WaybillRequest
from cloud.db.engine import transaction
from cloud.db.models import Downlink, Node
from cloud.db.waybills import WaybillPool
from cloud.nodes import downlink
from cloud.sync.ingest import apply_batch
from edge.store import waybill_pool as edge_pool
from edge.store.store import Store
from protocol import codec
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import WaybillPoolReleased, WaybillPoolReleasedPayload
from simulators.marketplace.cainiao import book
from tests.cloud.channels.harness import Shop, scheduler
from tests.cloud.channels.test_waybill_pool import (
    Reporter,
    pool_rows,
    provider,
    sent_down,
    set_target,
    with_node,
)
from tests.cloud.channels.test_waybills import SENDER, do_release, imported, order


def drain(shop: Shop, published: list[dict[str, int]], attempts: int = 3) -> waybill_pool.Topped:
    return waybill_pool.drain(
        shop.hub.factory,
        lambda _shop: provider(shop, attempts),
        owner="hub-1",
        now=shop.now,
        publish=published.append,
    )


def states(shop: Shop) -> dict[str, str]:
    return {r.waybill_code or f"#{r.id}": r.state for r in pool_rows(shop)}


def pool_seqs(shop: Shop, node: str) -> list[int]:
    with shop.hub.factory() as s:
        return list(
            s.execute(
                select(Downlink.seq)
                .where(Downlink.node_id == node, Downlink.type == "waybill.pool")
                .order_by(Downlink.seq)
            ).scalars()
        )


def sync_down(shop: Shop, node: str, store: Store) -> int:
    """The node pulls its downlink after its cursor and applies it (as its sync agent does)."""
    with shop.hub.factory() as s:
        n = s.get(Node, node)
        assert n is not None
        batch = downlink.downlink_after(s, n, store.down_applied)
    return store.apply_down(batch)


def sync_up(shop: Shop, node: str, store: Store) -> None:
    """The node's whole outbox, encoded and decoded as the sync agent and the ingest do."""
    bodies = [body for _, body in store.pending(0, 500, 1 << 20)]
    with transaction(shop.hub.factory) as s:
        apply_batch(s, codec.decode_batch(codec.encode_batch(node, bodies), node), shop.now())


def released_fact(shop: Shop, node: str, payload: WaybillPoolReleasedPayload, seq: int) -> None:
    ev = WaybillPoolReleased(
        node=node,
        epoch=9,
        seq=seq,
        id=uuid.uuid4(),
        hlc=pack(int(time.time() * 1000), 0),
        payload=payload,
    )
    with transaction(shop.hub.factory) as s:
        apply_batch(s, Batch(node=node, events=(ev,)), shop.now())


def test_lowered_target_and_retired_node_give_back_after_the_node_confirms(
    engine: Engine, tmp_path: Path
) -> None:
    shop, node = with_node(engine, 81, "g")
    published: list[dict[str, int]] = []
    set_target(shop, node, 4)
    assert drain(shop, published).sent == 4
    codes = sent_down(shop, node)
    # The top-up was handed over for pushing at once, from the seq before it.
    assert published == [{node: pool_seqs(shop, node)[0] - 1}]
    store = Store(tmp_path / "edge.db", node)
    store.start_epoch("test", "pack")
    assert sync_down(shop, node, store) >= 1 and edge_pool.free(store.conn, "ZTO") == 4
    with store.atomic() as conn:  # printed offline, its report not yet up
        edge_pool.use(conn, codes[3], "ORDER-X", 1)

    set_target(shop, node, 1)
    published.clear()
    done = drain(shop, published)
    assert (done.released, done.cancelled, done.asked) == (3, 0, 0)
    assert states(shop) == {codes[0]: "sent", **{c: "releasing" for c in codes[1:]}}
    assert published and node in published[0]
    # Nothing cancelled at the courier before the node's answer.
    assert all(book(shop.market).numbers[c]["state"] == "issued" for c in codes)
    # A node resyncing from the compacted log gets none of them back as free.
    assert sent_down(shop, node, compacted=True) == [codes[0]]

    assert sync_down(shop, node, store) >= 1
    assert edge_pool.free(store.conn, "ZTO") == 1
    assert edge_pool.next_free(store.conn, "ZTO") == codes[0]
    for gone in codes[1:3]:  # the node can no longer print them
        with pytest.raises(sqlite3.IntegrityError), store.atomic() as conn:
            edge_pool.use(conn, gone, "ORDER-Y", 2)
    assert edge_pool.order_of(store.conn, codes[3]) == "ORDER-X"  # the printed one stays
    for _ in range(2):  # delivered twice (a lost ack): applied once
        sync_up(shop, node, store)
    assert states(shop) == {
        codes[0]: "sent",
        codes[1]: "cancel",
        codes[2]: "cancel",
        codes[3]: "releasing",  # the node printed it: its own pool_used binds it
    }
    done = drain(shop, published)
    assert done.cancelled == 2
    truth = book(shop.market).numbers
    assert [truth[c]["state"] for c in codes] == ["issued", "cancelled", "cancelled", "issued"]
    assert sum(e["action"] == "cancel" for e in book(shop.market).log) == 2
    with shop.hub.factory() as s:
        (level,) = waybill_pool.levels(s, shop.hub.account_id)
    assert (level["on_node"], level["giving_back"], level["given_back"]) == (1, 1, 2)

    # Hostile answers: a number not asked back, another node's, one already cancelled, an
    # empty answer: nothing changes, nothing is called.
    before = (states(shop), len(book(shop.market).log))
    released_fact(
        shop, node, WaybillPoolReleasedPayload(carrier="ZTO", release="x", released=[codes[0]]), 900
    )
    _, other_node = with_node(engine, 81, "h")
    released_fact(
        shop,
        other_node,
        WaybillPoolReleasedPayload(carrier="ZTO", release="x", released=[codes[0], codes[3]]),
        1,
    )
    released_fact(
        shop, node, WaybillPoolReleasedPayload(carrier="ZTO", release="x", released=codes), 901
    )
    released_fact(
        shop, node, WaybillPoolReleasedPayload(carrier="ZTO", release="x", released=[]), 902
    )
    drain(shop, published)
    assert (states(shop), len(book(shop.market).log)) == before

    # The node retired: its last number asked back and, once confirmed, cancelled.
    with transaction(shop.hub.factory) as s:
        (pool,) = waybill_pool.retire(s, shop.hub.account_id, node, shop.now())
        assert pool.target == 0
    assert drain(shop, published).released == 1
    sync_down(shop, node, store)
    assert edge_pool.free(store.conn, "ZTO") == 0
    sync_up(shop, node, store)
    assert drain(shop, published).cancelled == 1
    assert book(shop.market).numbers[codes[0]]["state"] == "cancelled"
    assert drain(shop, published) == waybill_pool.Topped()  # target 0: nothing drawn again
    store.close()


def test_a_used_number_gets_the_orders_recipient_at_the_courier(engine: Engine) -> None:
    shop, node = with_node(engine, 82, "u")
    published: list[dict[str, int]] = []
    set_target(shop, node, 2)
    drain(shop, published)
    p1, _ = sent_down(shop, node)
    assert book(shop.market).numbers[p1]["recipient"]["name"] == SENDER.name  # placeholder
    (tid,) = imported(shop, 1)
    do_release(shop, tid)
    Reporter(shop, node).used(tid, p1)
    (row,) = [r for r in pool_rows(shop) if r.waybill_code == p1]
    assert (row.state, row.recipient_state) == ("used", "pending")
    recipient = order(shop, tid).recipient

    shop.market.faults.waybill_timeout = 1.0  # the update commits, its answer is lost
    done = drain(shop, published, attempts=1)
    assert done.corrected == 0 and done.retry >= 1  # (a top-up draw timed out too)
    (row,) = [r for r in pool_rows(shop) if r.waybill_code == p1]
    assert row.recipient_state == "pending" and row.error
    shop.market.faults.waybill_timeout = 0.0
    shop.market.advance(60)
    assert drain(shop, published).corrected == 1
    (row,) = [r for r in pool_rows(shop) if r.waybill_code == p1]
    assert (row.recipient_state, row.error) == ("done", None)
    record = book(shop.market).numbers[p1]
    assert record["recipient"]["name"] == recipient["name"] != SENDER.name
    assert record["recipient"]["address"]["detail"] == recipient["address"]
    assert record["state"] == "issued"  # corrected, not a new number
    assert drain(shop, published).corrected == 0  # done once
    with shop.hub.factory() as s:
        (level,) = waybill_pool.levels(s, shop.hub.account_id)
    assert (level["used"], level["fixing"], level["fix_failed"]) == (1, 0, 0)


def test_the_simulator_refuses_bad_updates(engine: Engine) -> None:
    """``cainiao.waybill.ii.update`` for a number that is not the seller's, a cancelled one,
    or without a recipient's address: refused (``isv.*``), the record unchanged."""
    shop, node = with_node(engine, 83, "v")
    set_target(shop, node, 1)
    drain(shop, [])
    (p1,) = sent_down(shop, node)
    cainiao = provider(shop)
    good = {"name": "张三", "phone": "13800000000", "province": "浙江省", "city": "杭州市"}
    req = WaybillRequest(
        cp_code="ZTO",
        object_id="o1",
        package_id="o1",
        trade_orders=("t",),
        channel_type="OTHERS",
        sender=dict(SENDER.model_dump()),
        recipient={**good, "address": "文一西路 1 号"},
        items=(("SKU-A", 1),),
    )
    before = dict(book(shop.market).numbers[p1])
    with pytest.raises(Refused):
        cainiao.update(req, "75NOSUCH0000")
    with pytest.raises(Refused):
        cainiao.update(WaybillRequest(**{**req.__dict__, "recipient": good}), p1)  # no detail
    with pytest.raises(Refused):
        cainiao.update(WaybillRequest(**{**req.__dict__, "cp_code": "YTO"}), p1)
    assert book(shop.market).numbers[p1] == before
    cainiao.cancel("ZTO", p1)
    with pytest.raises(Refused):
        cainiao.update(req, p1)
    assert book(shop.market).numbers[p1]["recipient"] == before["recipient"]


def test_the_scheduler_publishes_what_a_tick_committed(engine: Engine) -> None:
    shop, node = with_node(engine, 84, "s")
    set_target(shop, node, 2)
    published: list[dict[str, int]] = []
    sch = scheduler(
        shop.hub,
        [shop],
        "hub-1",
        waybill_providers=lambda _row: provider(shop),
        publish=published.append,
    )
    sch.tick()
    (seq,) = pool_seqs(shop, node)
    assert published == [{node: seq - 1}]


def test_pushes_from_another_thread_reach_the_sender_at_once() -> None:
    """The scheduler's thread hands pushes to the MQTT client's loop (an asyncio queue is not
    thread-safe: a put from another thread never woke the waiting sender)."""
    from cloud.sync.worker import IngestWorker

    async def main() -> float:
        worker = IngestWorker(Any, Any)  # type: ignore[arg-type]
        worker._loop = asyncio.get_running_loop()

        def later() -> None:  # while the loop sleeps, waiting for the sender's queue
            time.sleep(0.2)
            worker.push_downlink({"wh1-pack-1": 7})

        t = threading.Thread(target=later)
        start = time.monotonic()
        t.start()
        try:
            got = await asyncio.wait_for(worker._pushes.get(), 3.0)
        except TimeoutError:
            got = None
        elapsed = time.monotonic() - start
        t.join()
        assert got == ("wh1-pack-1", 7)
        return elapsed

    assert asyncio.run(main()) < 1.0


def test_cli_sets_lists_and_retires(engine: Engine, db_url: str) -> None:
    from cloud.cli import channels_app
    from cloud.db.models import Account

    shop, node = with_node(engine, 85, "c")
    with shop.hub.factory() as s:
        name = s.execute(select(Account.name).where(Account.id == shop.hub.account_id)).scalar_one()
    runner = CliRunner()
    common = ["--account", name, "--database-url", db_url]
    for args, said in (
        ([node, "ZTO", "-1"], "whole number from 0 to 500"),
        ([node, "ZTO", "501"], "whole number from 0 to 500"),
        (["wh1-no-such", "ZTO", "3"], "no node wh1-no-such"),
        ([node, "SF", "3"], "no e-waybill source"),
    ):
        # ``--``: a negative target is an argument, not an option.
        r = runner.invoke(channels_app, ["waybill-pool", "set", *common, "--", *args])
        assert r.exit_code == 1 and said in r.output, (args, r.output)
    r = runner.invoke(channels_app, ["waybill-pool", "set", node, "ZTO", "x", *common])
    assert r.exit_code == 2  # not a number: the option parser's refusal
    assert [p.target for p in _pools(shop)] == []
    r = runner.invoke(channels_app, ["waybill-pool", "set", node, "ZTO", "3", *common])
    assert r.exit_code == 0, r.output
    r = runner.invoke(channels_app, ["waybill-pool", "list", *common])
    assert r.exit_code == 0 and f'"node": "{node}"' in r.output and '"target": 3' in r.output
    r = runner.invoke(channels_app, ["waybill-pool", "retire", "wh1-no-such", *common])
    assert r.exit_code == 1 and [p.target for p in _pools(shop)] == [3]
    r = runner.invoke(channels_app, ["waybill-pool", "retire", node, *common])
    assert r.exit_code == 0 and [p.target for p in _pools(shop)] == [0]


def _pools(shop: Shop) -> list[WaybillPool]:
    with shop.hub.factory() as s:
        return list(s.execute(select(WaybillPool)).scalars())
