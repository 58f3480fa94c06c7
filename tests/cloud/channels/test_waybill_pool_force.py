"""A node that never answers a give-back (docs/channels.md "A node that never answers"): after
the wait a task opens on its own (once), a lead gives the numbers back by force (one domain
function behind the API, the CLI and the page), the courier cancels each once, and a late
print of one of them from that node is refused on ingest and becomes a task, never a silent
second use. Refusals (too early, nothing owed, another seller's node) change nothing.
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from cloud.channels import pool_force, waybill_pool
from cloud.db.engine import transaction
from cloud.db.models import Account, Task
from cloud.db.waybills import PoolWaybill, Waybill
from cloud.errors import ConflictError, NotFoundError
from protocol.messages import WaybillPoolReleasedPayload
from simulators.marketplace.cainiao import book
from tests.cloud.channels.harness import Shop
from tests.cloud.channels.test_waybill_pool import (
    Reporter,
    conflicts,
    pool_rows,
    provider,
    sent_down,
    set_target,
    with_node,
)
from tests.cloud.channels.test_waybill_pool_giveback import released_fact
from tests.cloud.channels.test_waybills import do_release, imported, order

DAY = 24 * 3600


def drain(shop: Shop) -> waybill_pool.Topped:
    return waybill_pool.drain(
        shop.hub.factory, lambda _shop: provider(shop), owner="hub-1", now=shop.now
    )


def snapshot(shop: Shop) -> list[tuple[str | None, str, object, object]]:
    return [(r.waybill_code, r.state, r.forced_at, r.overdue_at) for r in pool_rows(shop)]


def tasks_of(shop: Shop, kind: str) -> list[Task]:
    with shop.hub.factory() as s:
        return list(
            s.execute(
                select(Task).where(Task.account_id == shop.hub.account_id, Task.kind == kind)
            ).scalars()
        )


def force(shop: Shop, node: str) -> pool_force.Forced:
    with transaction(shop.hub.factory) as s:
        return pool_force.force(s, shop.hub.account_id, node, shop.now())


def asked_back(shop: Shop, node: str, target: int = 3) -> list[str]:
    """``target`` numbers on the node, then all asked back (the pool retired): ``releasing``."""
    set_target(shop, node, target)
    assert drain(shop).sent == target
    codes = sent_down(shop, node)
    with transaction(shop.hub.factory) as s:
        waybill_pool.retire(s, shop.hub.account_id, node, shop.now())
    assert drain(shop).released == target
    assert {r.state for r in pool_rows(shop)} == {"releasing"}
    return codes


def test_a_silent_node_is_given_back_by_force_once_and_a_late_print_is_refused(
    engine: Engine,
) -> None:
    shop, node = with_node(engine, 91, "f")
    (tid,) = imported(shop, 1)
    do_release(shop, tid)
    codes = asked_back(shop, node)
    asked_at = {r.asked_at for r in pool_rows(shop)}
    assert len(asked_at) == 1 and None not in asked_at

    # Too early: refused with the time it may be forced, nothing changed.
    before = snapshot(shop)
    with pytest.raises(ConflictError, match="less than 24 hours ago") as err:
        force(shop, node)
    assert err.value.status == 409
    assert snapshot(shop) == before and tasks_of(shop, pool_force.OVERDUE) == []
    # Not the seller's node (or none): 404, and another seller's pool is untouched.
    other, other_node = with_node(engine, 92, "g")
    asked_back(other, other_node, 1)
    other_before = snapshot(other)
    for name in (other_node, "wh1-no-such-node", "\x00", "x" * 5000):
        with pytest.raises(NotFoundError):
            force(shop, name)
    assert snapshot(shop) == before and snapshot(other) == other_before

    # The wait passes: one task opens on its own, once, naming the node and the count.
    shop.market.advance(DAY + 1)
    # (The drain is the hub's: the other seller's node is overdue too, in its own task.)
    assert drain(shop).overdue == 2
    assert len(tasks_of(other, pool_force.OVERDUE)) == 1
    (task,) = tasks_of(shop, pool_force.OVERDUE)
    assert task.node_id == node and "3 ZTO e-waybill numbers" in task.detail, task.detail
    assert drain(shop).overdue == 0 and len(tasks_of(shop, pool_force.OVERDUE)) == 1
    assert all(r.state == "releasing" for r in pool_rows(shop))  # a task, not a cancel

    done = force(shop, node)
    assert (done.carriers, done.count) == ({"ZTO": 3}, 3)
    assert {(r.state, r.forced_at is not None) for r in pool_rows(shop)} == {("cancel", True)}
    with pytest.raises(ConflictError, match="not giving any numbers back"):
        force(shop, node)  # forced twice: nothing more to do
    assert drain(shop).cancelled == 3
    assert drain(shop).cancelled == 0
    truth = book(shop.market)
    assert [truth.numbers[c]["state"] for c in codes] == ["cancelled"] * 3
    assert sum(e["action"] == "cancel" for e in truth.log) == 3  # each cancelled once
    with shop.hub.factory() as s:
        (level,) = waybill_pool.levels(s, shop.hub.account_id)
    assert (level["forced"], level["given_back"], level["giving_back"]) == (3, 3, 0)
    assert level["asked_since"] is None

    # The node comes back after all: its late answer changes nothing, and a print of one of
    # the forced numbers is refused: the order held, a task, the number bound to nothing.
    before = snapshot(shop)
    released_fact(
        shop, node, WaybillPoolReleasedPayload(carrier="ZTO", release="late", released=codes), 1
    )
    assert snapshot(shop) == before
    reporter = Reporter(shop, node)
    reporter.seq = 1  # the node's next event after its answer (seq 1)
    reporter.used(tid, codes[0])
    assert conflicts(shop) == [tid]
    (conflict,) = tasks_of(shop, "waybill_pool_conflict")
    assert "given back by force" in conflict.detail, conflict.detail
    o = order(shop, tid)
    assert o.on_hold and "given back by force" in (o.hold_reason or "")
    assert o.tracking_number != codes[0]
    assert snapshot(shop) == before  # still cancelled, on no order
    with shop.hub.factory() as s:
        bound = s.execute(select(Waybill).where(Waybill.waybill_code == codes[0])).scalars()
        assert list(bound) == []
    assert sum(e["action"] == "cancel" for e in book(shop.market).log) == 3


def test_only_numbers_past_the_wait_are_forced(engine: Engine) -> None:
    """Numbers asked back at two times: a force after the first's wait takes only those."""
    shop, node = with_node(engine, 93, "w")
    set_target(shop, node, 4)
    drain(shop)
    set_target(shop, node, 2)
    assert drain(shop).released == 2
    shop.market.advance(DAY - 60)
    with transaction(shop.hub.factory) as s:
        waybill_pool.retire(s, shop.hub.account_id, node, shop.now())
    assert drain(shop).released == 2
    shop.market.advance(120)
    assert force(shop, node).count == 2
    states = sorted(r.state for r in pool_rows(shop))
    assert states == ["cancel", "cancel", "releasing", "releasing"]


def test_cli_forces_and_refuses(engine: Engine, db_url: str) -> None:
    from cloud.cli import channels_app

    shop, node = with_node(engine, 94, "k")
    asked_back(shop, node, 2)
    with shop.hub.factory() as s:
        name = s.execute(select(Account.name).where(Account.id == shop.hub.account_id)).scalar_one()
    runner = CliRunner()
    common = ["--account", name, "--database-url", db_url]
    # Asked back just now (by the wall clock the CLI reads): too early.
    with transaction(shop.hub.factory) as s:
        s.execute(update(PoolWaybill).values(asked_at=datetime.now(UTC)))
    before = snapshot(shop)
    r = runner.invoke(channels_app, ["waybill-pool", "force", node, *common])
    assert r.exit_code == 1 and "less than 24 hours ago" in r.output, r.output
    r = runner.invoke(channels_app, ["waybill-pool", "force", "wh1-no-such", *common])
    assert r.exit_code == 1 and "no node wh1-no-such" in r.output, r.output
    assert snapshot(shop) == before
    with transaction(shop.hub.factory) as s:
        s.execute(update(PoolWaybill).values(asked_at=datetime.now(UTC) - timedelta(days=2)))
    r = runner.invoke(channels_app, ["waybill-pool", "force", node, *common])
    assert r.exit_code == 0 and "2 ZTO" in r.output, r.output
    assert {r.state for r in pool_rows(shop)} == {"cancel"}
    # retire: refused for a node retired already, with the sentence
    r = runner.invoke(channels_app, ["waybill-pool", "retire", node, *common])
    assert r.exit_code == 1 and "retired already" in r.output, r.output
