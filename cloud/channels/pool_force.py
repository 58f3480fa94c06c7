"""A node that never answers a give-back (docs/channels.md "A node that never answers").

The hub cancels a pool number it asked back (``releasing``) only on the node's word
(``waybill.pool_released``), so the node never prints a number the courier took back. A node
that is destroyed, stolen or lost its store never gives that word, and its numbers would stay
"being given back" for good. Two things end that:

- ``overdue``: run by the pool drain (cloud/channels/waybill_pool.py ``plan``) on every
  scheduler tick: numbers asked back longer than the wait ago open one
  ``waybill_pool_overdue`` task per node and courier (once per number: ``overdue_at``), so a
  person hears of it without looking at the page.
- ``force``: a lead gives them back without the node's word, once the wait has passed (the
  one domain function behind the page's button, ``guanjia channels waybill-pool force`` and
  ``POST /api/v1/channels/waybill-pools/{node}/force-give-back``): each becomes ``cancel``
  with ``forced_at`` (the drain calls ``cainiao.waybill.ii.cancel`` once, as for a confirmed
  give-back). Should the node come back and report one of them printed after all, the
  ingest refuses it (cloud/orders/waybill_pool.py ``bind``): the order is held and a
  ``waybill_pool_conflict`` task asks for a new label, never a silent second use of a number
  the courier cancelled.

The wait (``GUANJIA_WAYBILL_POOL_FORCE_AFTER_H``, 24 h by default: cloud/settings.py) is how
long a node that is merely off for the night may take to answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.db.models import Node
from cloud.db.waybills import PoolWaybill
from cloud.errors import N_, ConflictError, NotFoundError
from cloud.nodes.ownership import owned_by
from cloud.orders import pool_overdue
from protocol.topics import NODE_ID_PATTERN

#: How long the hub waits for a node's answer before the task and the forced give-back.
DEFAULT_WAIT: Final = timedelta(hours=24)
OVERDUE: Final = pool_overdue.OVERDUE


@dataclass(frozen=True)
class Forced:
    node: str
    #: Numbers given back without the node's word, per courier.
    carriers: dict[str, int]

    @property
    def count(self) -> int:
        return sum(self.carriers.values())


def own_node(session: Session, account_id: int, node_id: str) -> None:
    """404 unless the seller owns the node. An id no node can have (NUL, a lone surrogate,
    too long: protocol/topics.py ``NODE_ID_PATTERN``) is not looked up at all: PostgreSQL
    refuses NUL in text, SQLite cannot encode a surrogate."""
    owned = None
    if re.fullmatch(NODE_ID_PATTERN, node_id):
        owned = session.execute(
            select(Node.node_id).where(Node.node_id == node_id, owned_by(account_id))
        ).scalar_one_or_none()
    if owned is None:
        raise NotFoundError(N_("no node %(node)s"), node=ascii(node_id)[1:-1][:80])


def _hours(wait: timedelta) -> str:
    return f"{wait.total_seconds() / 3600:g}"


def force(
    session: Session, account_id: int, node_id: str, now: datetime, wait: timedelta = DEFAULT_WAIT
) -> Forced:
    """Give back, without the node's word, every number asked back from it at least ``wait``
    ago. 404 for a node that is not the seller's (nothing changed); 409 when the node owes
    nothing, or when its numbers were asked back too recently (the sentence says when they
    can be forced). Numbers asked back later than the wait stay ``releasing``."""
    own_node(session, account_id, node_id)
    pool_overdue.lock_pools(session, account_id, node_id)
    rows = list(
        session.execute(
            select(PoolWaybill)
            .where(
                PoolWaybill.account_id == account_id,
                PoolWaybill.node_id == node_id,
                PoolWaybill.state == "releasing",
            )
            .order_by(PoolWaybill.id)
            .with_for_update()
        ).scalars()
    )
    if not rows:
        raise ConflictError(
            N_("node %(node)s is not giving any numbers back: nothing to force"), node=node_id
        )
    due = [r for r in rows if r.asked_at is not None and _aware(r.asked_at) <= now - wait]
    if not due:
        first = min(_aware(r.asked_at) if r.asked_at else now for r in rows)
        raise ConflictError(
            N_(
                "node %(node)s was asked for its numbers back less than %(hours)s hours ago: "
                "they can be given back by force from %(when)s (UTC)"
            ),
            node=node_id,
            hours=_hours(wait),
            when=(first + wait).strftime("%Y-%m-%d %H:%M"),
        )
    carriers: dict[str, int] = {}
    for row in due:
        row.state, row.forced_at = "cancel", now
        row.attempts, row.next_try_at, row.error = 0, now, None
        carriers[row.carrier] = carriers.get(row.carrier, 0) + 1
    session.flush()
    # Every number of its overdue task answered now (forced, or answered by the node before):
    # the task closes, saying so.
    pool_overdue.settle(session, account_id, node_id, carriers, now)
    return Forced(node_id, carriers)


def _aware(at: datetime) -> datetime:
    # SQLite hands timestamps back without their zone (cloud/db/engine.py stores UTC).
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def overdue(session: Session, now: datetime, wait: timedelta = DEFAULT_WAIT) -> int:
    """Numbers asked back at least ``wait`` ago and still unanswered, counted once each
    (``overdue_at``) in the node's ``waybill_pool_overdue`` task of that courier: a new task
    when none is open, else the open one (its count brought up to date), so a node and courier
    never have two open. The task closes by itself once every number of it is answered
    (cloud/orders/pool_overdue.py). Returns how many tasks were opened."""
    groups = session.execute(
        select(PoolWaybill.account_id, PoolWaybill.node_id, PoolWaybill.carrier)
        .where(*_unanswered(now, wait))
        .group_by(PoolWaybill.account_id, PoolWaybill.node_id, PoolWaybill.carrier)
        .order_by(PoolWaybill.account_id, PoolWaybill.node_id, PoolWaybill.carrier)
    ).all()
    opened = 0
    for account_id, node_id, carrier in groups:
        # The pool's lock first, then the rows again: another hub worker may have counted
        # them (or the node answered) between the query above and this lock.
        pool_overdue.lock_pool(session, account_id, node_id, carrier)
        rows = list(
            session.execute(
                select(PoolWaybill)
                .where(
                    PoolWaybill.account_id == account_id,
                    PoolWaybill.node_id == node_id,
                    PoolWaybill.carrier == carrier,
                    *_unanswered(now, wait),
                )
                .with_for_update()
            ).scalars()
        )
        if not rows:
            continue
        task = pool_overdue.open_task_of(session, account_id, node_id, carrier)
        # What is owed: these rows, and those the open task counted already and still owes.
        owed = list(rows)
        if task is not None:
            owed += session.execute(
                select(PoolWaybill).where(
                    PoolWaybill.overdue_task_id == task.id, PoolWaybill.state == "releasing"
                )
            ).scalars()
        first = min((_aware(r.asked_at) for r in owed if r.asked_at is not None), default=None)
        when = first.strftime("%Y-%m-%d %H:%M") if first else "?"
        if task is None:
            task = tasks.open_task(
                session,
                account_id,
                OVERDUE,
                N_(
                    "node %(node)s has not answered for %(hours)s hours the request to give "
                    "back %(count)s %(carrier)s e-waybill numbers (asked %(when)s UTC): if the "
                    "node is gone, give them back by force on the e-waybills page"
                ),
                now,
                params={
                    "node": node_id,
                    "hours": _hours(wait),
                    "count": len(owed),
                    "carrier": carrier,
                    "when": when,
                },
                node_id=node_id,
            )
            session.flush()
            opened += 1
        else:  # joined: the open task's count brought up to date, in its own sentence
            params = {**(task.params or {}), "count": len(owed), "when": when}
            task.params = params
            task.detail = tasks.say(task.message or "", params)[:4000]
        for row in rows:
            row.overdue_at, row.overdue_task_id = now, task.id
    return opened


def _unanswered(now: datetime, wait: timedelta) -> tuple[Any, ...]:
    return (
        PoolWaybill.state == "releasing",
        PoolWaybill.overdue_at.is_(None),
        PoolWaybill.asked_at <= now - wait,
    )
