"""The ``waybill_pool_overdue`` task closes by itself (docs/channels.md "A node that never
answers", cloud/orders/pool_overdue.py): when the node answers late (gives the numbers back,
reports them printed) or a lead gives them back by force, the task is done with a line saying
what became of them (translated); an answer to part of it leaves it open; a new unanswered ask
opens a new task, and numbers overdue while one is open join it. Several hub workers opening
and answering at once leave one task, closed exactly when nothing is owed. SQLite and
PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select

from cloud.channels import pool_force, waybill_pool
from cloud.db.engine import transaction
from cloud.db.models import Task
from cloud.errors import ConflictError
from cloud.orders import pool_overdue
from cloud.tasks import resolution_in
from cloud.web import i18n
from protocol.messages import WaybillPoolReleasedPayload
from tests.cloud.channels.harness import Shop
from tests.cloud.channels.test_waybill_pool import Reporter, pool_rows, with_node
from tests.cloud.channels.test_waybill_pool_force import DAY, asked_back, drain, force
from tests.cloud.channels.test_waybill_pool_giveback import released_fact
from tests.cloud.channels.test_waybills import do_release, imported


def overdue_tasks(shop: Shop) -> list[Task]:
    with shop.hub.factory() as s:
        return list(
            s.execute(
                select(Task)
                .where(Task.account_id == shop.hub.account_id, Task.kind == pool_force.OVERDUE)
                .order_by(Task.id)
            ).scalars()
        )


def give_back(shop: Shop, node: str, codes: list[str], seq: int) -> None:
    """The node's late answer: these numbers removed from its pool (``seq``: the next of the
    node's outbox; one past the next would wait for the gap to be resent)."""
    payload = WaybillPoolReleasedPayload(carrier="ZTO", release=f"late-{seq}", released=codes)
    released_fact(shop, node, payload, seq)


def closing_line(task: Task) -> dict[str, Any]:
    assert task.status == "done" and task.resolved_by == "hub", (task.status, task.resolution)
    assert task.resolution_message == pool_overdue.CLOSED
    assert task.resolution and "closed by the hub" in task.resolution
    return dict(task.resolution_params or {})


def test_the_task_closes_when_the_node_answers_late_and_only_then(engine: Engine) -> None:
    shop, node = with_node(engine, 101, "o")
    (tid,) = imported(shop, 1)
    do_release(shop, tid)
    codes = asked_back(shop, node)
    shop.market.advance(DAY + 1)
    assert drain(shop).overdue == 1
    (task,) = overdue_tasks(shop)
    assert task.status == "open"

    # Part of it answered: two given back; the third is still owed, the task stays open.
    give_back(shop, node, codes[:2], 1)
    (task,) = overdue_tasks(shop)
    assert task.status == "open" and task.resolution is None
    # A repeated answer, or one for a number not asked back, closes nothing either.
    give_back(shop, node, codes[:2], 2)
    give_back(shop, node, ["ZTO-not-ours"], 3)
    assert [t.status for t in overdue_tasks(shop)] == ["open"]

    # The node reports the third printed (a label made offline before it went dark): nothing
    # is owed any more, so the task closes in that same transaction, saying what happened.
    reporter = Reporter(shop, node)
    reporter.seq = 3  # the node's outbox numbers every event, answers and uses alike
    reporter.used(tid, codes[2])
    (task,) = overdue_tasks(shop)
    assert closing_line(task) == {"carrier": "ZTO", "node": node, "back": 2, "used": 1, "forced": 0}
    assert task.resolved_at is not None
    # Said in the page's language: the hub's words translated, not the English.
    zh = resolution_in(task, i18n.translations("zh_CN").gettext)
    assert "已由中心自动关闭" in zh and "交回 2 个" in zh, zh
    assert resolution_in(task, i18n.translations("en").gettext) == task.resolution
    # Later drains open nothing: nothing is unanswered.
    shop.market.advance(DAY)
    assert drain(shop).overdue == 0 and len(overdue_tasks(shop)) == 1


def test_force_closes_it_and_a_new_ask_opens_a_new_task(engine: Engine) -> None:
    shop, node = with_node(engine, 102, "p")
    asked_back(shop, node, 2)
    shop.market.advance(DAY + 1)
    assert drain(shop).overdue == 1
    assert force(shop, node).count == 2
    (first,) = overdue_tasks(shop)
    assert closing_line(first) == {
        "carrier": "ZTO",
        "node": node,
        "back": 0,
        "used": 0,
        "forced": 2,
    }
    # A late answer of the forced numbers changes nothing (the task is closed, stays so).
    give_back(shop, node, [r.waybill_code or "" for r in pool_rows(shop)], 1)
    (first,) = overdue_tasks(shop)
    assert first.status == "done" and first.resolved_at is not None

    # The node back in service, then retired again and silent again: a new task, the old one
    # left as it was.
    with transaction(shop.hub.factory) as s:
        waybill_pool.set_target(
            s, shop.hub.account_id, node, "ZTO", waybill_pool.PoolIn(target=3), shop.now()
        )
    assert drain(shop).sent == 3
    with transaction(shop.hub.factory) as s:
        waybill_pool.retire(s, shop.hub.account_id, node, shop.now())
    assert drain(shop).released == 3
    assert drain(shop).overdue == 0  # not overdue yet
    shop.market.advance(DAY + 1)
    assert drain(shop).overdue == 1
    old, new = overdue_tasks(shop)
    assert old.id == first.id and old.resolved_at == first.resolved_at
    assert new.status == "open" and "3 ZTO e-waybill numbers" in new.detail, new.detail


def test_numbers_overdue_while_a_task_is_open_join_it(engine: Engine) -> None:
    """Asked back at two times: the second lot's wait ends while the first's task is open. One
    task, its count brought up to date; it closes once both lots are answered."""
    shop, node = with_node(engine, 103, "q")
    with transaction(shop.hub.factory) as s:
        waybill_pool.set_target(
            s, shop.hub.account_id, node, "ZTO", waybill_pool.PoolIn(target=4), shop.now()
        )
    assert drain(shop).sent == 4
    with transaction(shop.hub.factory) as s:
        waybill_pool.set_target(
            s, shop.hub.account_id, node, "ZTO", waybill_pool.PoolIn(target=2), shop.now()
        )
    assert drain(shop).released == 2
    shop.market.advance(DAY + 1)
    assert drain(shop).overdue == 1
    with transaction(shop.hub.factory) as s:
        waybill_pool.retire(s, shop.hub.account_id, node, shop.now())
    assert drain(shop).released == 2
    shop.market.advance(DAY + 1)
    assert drain(shop).overdue == 0  # joined the open task, none opened
    (task,) = overdue_tasks(shop)
    assert task.status == "open" and "4 ZTO e-waybill numbers" in task.detail, task.detail
    assert task.params and task.params["count"] == 4
    codes = [r.waybill_code or "" for r in pool_rows(shop)]
    give_back(shop, node, codes[:3], 1)
    assert overdue_tasks(shop)[0].status == "open"
    give_back(shop, node, codes[3:], 2)
    (task,) = overdue_tasks(shop)
    assert closing_line(task)["back"] == 4


def race(*jobs: Callable[[], object]) -> None:
    start = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def go(job: Callable[[], object]) -> None:
        start.wait()
        try:
            job()
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=go, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_hub_workers_racing_open_one_task_and_close_it_exactly_when_nothing_is_owed(
    engine: Engine,
) -> None:
    """Three hub workers' ticks at once open one task (not three); the node's answer racing
    two more ticks and a lead's force leaves no task open with nothing owed, and no number
    counted in a closed task while still unanswered. Repeated rounds, each ordering the
    workers' commits as the database lets them."""
    shop, node = with_node(engine, 104, "r")

    def tick() -> None:
        with transaction(shop.hub.factory) as s:
            pool_force.overdue(s, shop.now())

    for round_ in range(3):
        with transaction(shop.hub.factory) as s:
            waybill_pool.set_target(
                s, shop.hub.account_id, node, "ZTO", waybill_pool.PoolIn(target=3), shop.now()
            )
        assert drain(shop).sent == 3
        with transaction(shop.hub.factory) as s:
            waybill_pool.retire(s, shop.hub.account_id, node, shop.now())
        assert drain(shop).released == 3
        shop.market.advance(DAY + 1)
        race(tick, tick, tick)
        tasks = overdue_tasks(shop)
        assert [t.status for t in tasks] == ["done"] * round_ + ["open"], [t.status for t in tasks]
        owed = [r.waybill_code or "" for r in pool_rows(shop) if r.state == "releasing"]
        assert len(owed) == 3

        # The node answers two while two workers tick and a lead forces: whichever commits
        # first, at the end nothing is owed and the task is closed, once.
        def answer(codes: list[str] = owed[:2], seq: int = round_ + 1) -> None:
            give_back(shop, node, codes, seq)

        def lead() -> None:
            # The node's answer may take them all first: nothing to force, a 409.
            with contextlib.suppress(ConflictError):
                force(shop, node)

        race(answer, tick, tick, lead)
        assert not [r for r in pool_rows(shop) if r.state == "releasing"]
        tasks = overdue_tasks(shop)
        assert [t.status for t in tasks] == ["done"] * (round_ + 1), [t.status for t in tasks]
        counted = closing_line(tasks[-1])
        assert counted["back"] + counted["forced"] == 3 and counted["used"] == 0, counted
        # Every number asked back this round is counted in this round's task.
        linked = {r.overdue_task_id for r in pool_rows(shop) if r.overdue_at is not None}
        assert tasks[-1].id in linked
