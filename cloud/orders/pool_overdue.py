"""The ``waybill_pool_overdue`` task closing by itself (docs/channels.md "A node that never
answers").

The pool drain opens one such task per node and courier whose numbers asked back
(``releasing``) went unanswered past the wait (cloud/channels/pool_force.py ``overdue``); each
number it counted points at it (``pool_waybill.overdue_task_id``, migration 0054). Once none
of a task's numbers is ``releasing`` any more — the node gave them back
(``waybill.pool_released``), reported them printed (``waybill.pool_used``), or a lead gave
them back by force — nobody has anything left to do, and a task left open would be noise that
hides the next real one. So the transaction that answers the last of them closes the task,
with a line saying what became of its numbers (a sentence: the tasks page says it in its
language). A later unanswered ask opens a new task; one still open takes in newly overdue
numbers of its node and courier instead of a second task beside it.

Serialised per node and courier by the ``waybill_pool`` row (``lock_pool``), always taken
before the ``pool_waybill`` rows (the order the drain's ``plan`` and ``give_back`` lock in), so
several hub workers answering, forcing and opening at once neither deadlock nor leave a task
open with nothing owed, nor close one while a number of it is still unanswered.

Here, in the orders layer, because ``cloud.facts`` applies the node's answers
(cloud/orders/waybill_pool.py) and the channels side (pool_force.py) sits above both.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.db.models import Task
from cloud.db.waybills import PoolWaybill, WaybillPool
from cloud.errors import N_

OVERDUE: Final = "waybill_pool_overdue"
#: Who closed a task that closed by itself.
HUB: Final = "hub"
#: The closing line: what became of the task's numbers (given back by the node, printed,
#: given back by force, in that order in the sentence).
CLOSED: Final = N_(
    "closed by the hub: every %(carrier)s number node %(node)s was asked back is answered "
    "(%(back)s given back by the node, %(used)s printed on labels, %(forced)s given back "
    "by force)"
)


def lock_pool(session: Session, account_id: int, node_id: str, carrier: str) -> None:
    """Hold the pool's row until the commit: the one lock everything that opens, joins or
    closes the node's overdue task of that courier takes first (PostgreSQL; SQLite's
    transactions are serialised by ``BEGIN IMMEDIATE``: cloud/db/engine.py)."""
    session.execute(
        select(WaybillPool.target)
        .where(
            WaybillPool.account_id == account_id,
            WaybillPool.node_id == node_id,
            WaybillPool.carrier == carrier,
        )
        .with_for_update()
    ).first()


def lock_pools(session: Session, account_id: int, node_id: str) -> None:
    """Every pool of the node, in one order (by courier), for a change across couriers."""
    session.execute(
        select(WaybillPool.carrier)
        .where(WaybillPool.account_id == account_id, WaybillPool.node_id == node_id)
        .order_by(WaybillPool.carrier)
        .with_for_update()
    ).all()


def open_task_of(session: Session, account_id: int, node_id: str, carrier: str) -> Task | None:
    """The node's open overdue task of that courier: the one its numbers point at."""
    return session.execute(
        select(Task)
        .join(PoolWaybill, PoolWaybill.overdue_task_id == Task.id)
        .where(
            PoolWaybill.account_id == account_id,
            PoolWaybill.node_id == node_id,
            PoolWaybill.carrier == carrier,
            Task.kind == OVERDUE,
            Task.status == "open",
        )
        .order_by(Task.id)
        .limit(1)
    ).scalar_one_or_none()


def settle(
    session: Session, account_id: int, node_id: str, carriers: Iterable[str], now: datetime
) -> int:
    """Close each open overdue task of the node and these couriers none of whose numbers is
    still ``releasing``, with the line saying what became of them. The caller holds the
    pools' locks (:func:`lock_pool`) and has flushed its changes. Returns how many closed."""
    closed = 0
    for carrier in sorted(set(carriers)):
        open_ids = session.execute(
            select(Task.id)
            .join(PoolWaybill, PoolWaybill.overdue_task_id == Task.id)
            .where(
                PoolWaybill.account_id == account_id,
                PoolWaybill.node_id == node_id,
                PoolWaybill.carrier == carrier,
                Task.kind == OVERDUE,
                Task.status == "open",
            )
            .distinct()
        ).scalars()
        for task_id in sorted(open_ids):
            counts = {"releasing": 0, "back": 0, "used": 0, "forced": 0}
            for state, forced, n in session.execute(
                select(PoolWaybill.state, PoolWaybill.forced_at.is_not(None), func.count())
                .where(PoolWaybill.overdue_task_id == task_id)
                .group_by(PoolWaybill.state, PoolWaybill.forced_at.is_not(None))
            ):
                if state == "releasing":
                    counts["releasing"] += n
                elif state == "used":
                    counts["used"] += n
                elif forced:
                    counts["forced"] += n
                else:  # cancel, cancelled, or a cancel the courier refused (failed)
                    counts["back"] += n
            if counts["releasing"]:
                continue
            task = session.execute(
                select(Task).where(Task.id == task_id).with_for_update()
            ).scalar_one()
            if task.status != "open":
                continue
            params = {
                "carrier": carrier,
                "node": node_id,
                "back": counts["back"],
                "used": counts["used"],
                "forced": counts["forced"],
            }
            task.status, task.resolved_by, task.resolved_at = "done", HUB, now
            task.resolution = tasks.say(CLOSED, params)[:2000]
            task.resolution_message, task.resolution_params = CLOSED, params
            closed += 1
    return closed
