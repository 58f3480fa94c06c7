"""/finance/statements: statements (对账单) per supplier and per buyer, as JSON (the page
/web/finance/statements gives them as CSV, XLSX and printable HTML; docs/finance.md
"Statements"); and /finance/periods: the months, why one cannot close,
and closing it (docs/finance.md "Period close").

Reading needs ``finance:read``; closing a month ``finance:write``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from cloud.api.deps import FinanceRead, FinanceWrite, SessionDep
from cloud.finance import closing, statements
from cloud.finance.poster import day_of
from cloud.finance.statements import Statement

router = APIRouter(prefix="/api/v1/finance", tags=["finance"])

Start = Annotated[date | None, Query(description="the first day (included); the 1st of this month")]
End = Annotated[date | None, Query(description="the last day (included); today")]


def span(start: date | None, end: date | None) -> tuple[date, date]:
    """The period asked for; this month up to today (China time) for what is left out."""
    today = day_of(datetime.now(UTC))
    return start or today.replace(day=1), end or today


class StatementLineOut(BaseModel):
    entry_id: int
    entry_date: date
    source_doc: str
    event_kind: str
    memo: str
    change: str
    balance: str


class StatementOut(BaseModel):
    kind: str
    party: str
    name: str
    start: date
    end: date
    opening: str
    increases: str
    decreases: str
    closing: str
    lines: list[StatementLineOut]


def statement_out(st: Statement) -> StatementOut:
    return StatementOut(
        kind=st.kind,
        party=st.party,
        name=st.name,
        start=st.start,
        end=st.end,
        opening=str(st.opening),
        increases=str(st.increases),
        decreases=str(st.decreases),
        closing=str(st.closing),
        lines=[
            StatementLineOut(
                entry_id=ln.entry_id,
                entry_date=ln.entry_date,
                source_doc=ln.source_doc,
                event_kind=ln.event_kind,
                memo=ln.memo,
                change=str(ln.change),
                balance=str(ln.balance),
            )
            for ln in st.lines
        ],
    )


@router.get("/statements/suppliers/{supplier}")
def supplier_statement(
    supplier: str,
    session: SessionDep,
    who: FinanceRead,
    start: Start = None,
    end: End = None,
) -> StatementOut:
    """Opening balance, each document with the running balance, closing (what is owed)."""
    first, last = span(start, end)
    st = statements.supplier_statement(session, who.account_id, supplier, first, last)
    return statement_out(st)


@router.get("/statements/buyers")
def buyer_statement(
    session: SessionDep,
    who: FinanceRead,
    buyer: Annotated[str, Query(min_length=1, max_length=120)],
    start: Start = None,
    end: End = None,
    shop: Annotated[str | None, Query(max_length=32)] = None,
) -> StatementOut:
    """The buyer's orders: paid, shipped, refunded, with the prepayment balance."""
    first, last = span(start, end)
    st = statements.buyer_statement(session, who.account_id, buyer, first, last, shop)
    return statement_out(st)


class MonthOut(BaseModel):
    period: str
    closed: bool
    closed_by: str | None
    closed_at: datetime | None
    #: Why it cannot close now (empty for a closed month, or one that can close).
    blockers: list[str]


@router.get("/periods")
def list_periods(session: SessionDep, who: FinanceRead) -> list[MonthOut]:
    """Every month from the first posting to this one, newest first, and what blocks it."""
    now = datetime.now(UTC)
    out = []
    for m in closing.months(session, who.account_id, now):
        found = [] if m.closed else closing.blockers(session, who.account_id, m.period, now)
        out.append(
            MonthOut(
                period=m.period,
                closed=m.closed,
                closed_by=m.closed_by,
                closed_at=m.closed_at,
                blockers=[str(b.error()) for b in found],
            )
        )
    return out


@router.post("/periods/{period}/close")
def close_period(period: str, session: SessionDep, who: FinanceWrite) -> MonthOut:
    """Close the month for good: 409 with the reason while it cannot (nothing written)."""
    now = datetime.now(UTC)
    closing.close(session, who.account_id, period, who.actor, now)
    return MonthOut(period=period, closed=True, closed_by=who.actor, closed_at=now, blockers=[])
