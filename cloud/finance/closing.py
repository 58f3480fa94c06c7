"""Period close (月结): a month closed for good, once nothing of it can still arrive
(docs/finance.md "Period close").

``ledger.close_period`` writes the ``fin_period`` row (the database then refuses any entry
dated into the month). Before it, :func:`blockers` says why a month cannot close yet, each a
sentence a person can act on; :func:`close` refuses (409) while there is one:

* the month has not ended (China time, the day entries are dated by);
* an earlier month with postings, or after the first one, is still open: months close in
  order, so a closed month never has an open one before it;
* a poster stream stopped (``fin_cursor.error``): a fact it refused may belong to the month;
* facts dated before the month's end that the poster has not posted yet (after its cursor):
  order history (``order_log``) and purchase receipts.

The poster's cursor rows are locked while checking and closing (PostgreSQL ``FOR UPDATE``:
a poster's batch in flight finishes first), so no fact of the month is posted between the
check and the close.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.finance import FinCursor, FinEntry, FinPeriod
from cloud.db.models import OrderLog, PurchaseReceipt, SalesOrder
from cloud.errors import N_, ConflictError
from cloud.finance import ledger, reports, returns
from cloud.finance.poster import ORDER_ACTIONS, STREAMS, day_of, log_seller
from cloud.orders.audit_rules import CHINA

#: The poster's streams (cloud/finance/poster.py STREAMS) as words the catalogue knows: a
#: refusal naming one says it in the page's language (cloud/errors.py ``translate``).
STREAM_WORDS = (N_("receipts"), N_("orders"), N_("aftersales"))


@dataclass(frozen=True)
class Blocker:
    """Why a month cannot close: a message id and its parameters (translated by the page)."""

    message: str
    params: dict[str, object]

    def error(self) -> ConflictError:
        return ConflictError(self.message, **self.params)


@dataclass(frozen=True)
class Month:
    period: str
    closed: bool
    closed_by: str | None
    closed_at: datetime | None


def _end_utc(period: str) -> datetime:
    """The first instant after ``period`` (China time), in UTC."""
    _, nxt = reports.month_bounds(period)
    return datetime.combine(nxt, time(0), CHINA).astimezone(UTC)


def _next(period: str) -> str:
    y, m = int(period[:4]), int(period[5:])
    return f"{y + 1:04d}-01" if m == 12 else f"{y:04d}-{m + 1:02d}"


def first_period(session: Session, account_id: int) -> str | None:
    """The month of the seller's first entry (None before any): months close in order
    from it; a month closed before it (nothing posted then) binds nothing."""
    first = session.execute(
        select(func.min(FinEntry.entry_date)).where(FinEntry.account_id == account_id)
    ).scalar_one()
    return ledger.period_of(first) if first else None


def months(session: Session, account_id: int, now: datetime) -> list[Month]:
    """Every month from the first with postings to this one, newest first, with its state."""
    closed = {
        p.period: p
        for p in session.execute(
            select(FinPeriod).where(FinPeriod.account_id == account_id)
        ).scalars()
    }
    this = ledger.period_of(day_of(now))
    start = min(this, first_period(session, account_id) or this)
    wanted = sorted({p for p in closed if p < start})  # closed before the first posting
    p = start
    while p <= this:
        wanted.append(p)
        p = _next(p)
    out = []
    for p in wanted:
        row = closed.get(p)
        out.append(
            Month(
                p, row is not None, row.closed_by if row else None, row.closed_at if row else None
            )
        )
    return out[::-1]


def blockers(
    session: Session, account_id: int, period: str, now: datetime, *, lock: bool = False
) -> list[Blocker]:
    """Why ``period`` cannot close now (empty: it can). ``lock``: hold the poster's cursor
    rows until the transaction ends (closing does; a page listing the months does not)."""
    end = _end_utc(period)  # 422 for no month
    out: list[Blocker] = []
    if session.get(FinPeriod, (account_id, period)) is not None:
        return [Blocker(N_("period %(period)s is closed already"), {"period": period})]
    if now < end:
        out.append(
            Blocker(
                N_("%(period)s has not ended yet: close it after its last day"),
                {"period": period},
            )
        )
    first = first_period(session, account_id)
    if first is not None and first < period:
        closed = set(
            session.execute(
                select(FinPeriod.period).where(
                    FinPeriod.account_id == account_id,
                    FinPeriod.period >= first,
                    FinPeriod.period < period,
                )
            ).scalars()
        )
        p = first
        while p < period:
            if p not in closed:
                out.append(
                    Blocker(
                        N_("%(open)s is still open: close the months in order, %(open)s first"),
                        {"open": p},
                    )
                )
                break
            p = _next(p)
    q = select(FinCursor).where(FinCursor.account_id == account_id)
    cursors = {c.stream: c for c in session.execute(q.with_for_update() if lock else q).scalars()}
    for stream in STREAMS:
        c = cursors.get(stream)
        if c is not None and c.error:
            out.append(
                Blocker(
                    N_("the poster's stream %(stream)s stopped: %(error)s"),
                    {"stream": stream, "error": c.error},
                )
            )
    waiting = _unposted(session, account_id, cursors, end)
    for stream, n in waiting.items():
        if n:
            out.append(
                Blocker(
                    N_(
                        "%(n)s facts of stream %(stream)s before the end of %(period)s are not "
                        "in the books yet: wait for the poster"
                    ),
                    {"n": n, "stream": stream, "period": period},
                )
            )
    return out


def _unposted(
    session: Session, account_id: int, cursors: dict[str, FinCursor], end: datetime
) -> dict[str, int]:
    def position(stream: str) -> int:
        c = cursors.get(stream)
        return 0 if c is None else c.position

    receipts = session.execute(
        select(func.count())
        .select_from(PurchaseReceipt)
        .where(
            PurchaseReceipt.account_id == account_id,
            PurchaseReceipt.id > position("receipts"),
            PurchaseReceipt.created_at < end,
        )
    ).scalar_one()
    orders = session.execute(
        select(func.count())
        .select_from(OrderLog)
        .join(SalesOrder, SalesOrder.id == OrderLog.order_id)
        .where(
            # From the poster's cursor on (its plan: see log_seller), 592 ms a month on the
            # periods page at 100,000 orders on SQLite before.
            log_seller(session) == account_id,
            OrderLog.id > position("orders"),
            OrderLog.action.in_(ORDER_ACTIONS),
            OrderLog.at < end,
        )
    ).scalar_one()
    aftersales = returns.unposted(session, account_id, position("aftersales"), end)
    return {"receipts": int(receipts), "orders": int(orders), "aftersales": aftersales}


def close(session: Session, account_id: int, period: str, actor: str, now: datetime) -> None:
    """Close ``period`` (409 with the first reason it cannot, nothing written)."""
    found = blockers(session, account_id, period, now, lock=True)
    if found:
        raise found[0].error()
    ledger.close_period(session, account_id, period, actor, now)
