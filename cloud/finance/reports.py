"""What the books show a person: a period's trial balance and an account's ledger lines.

Read by ``GET /api/v1/finance/trial-balance`` and the page ``/web/finance`` alike (one
domain function each). A trial balance per period: for each account the debits and
credits posted in the month, and its balance at the month's end; the totals of a correct
book balance (debits = credits, balances sum to zero), which the page shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cloud.db.finance import FinAccount, FinBalance, FinEntry, FinLeg
from cloud.errors import N_, InvalidError, NotFoundError

ZERO = Decimal("0.00")
_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class TrialRow:
    code: str
    name: str
    type: str
    debit: Decimal
    credit: Decimal
    #: At the end of the period: debit positive, credit negative.
    balance: Decimal


@dataclass(frozen=True)
class TrialBalance:
    period: str
    rows: list[TrialRow]
    debit: Decimal
    credit: Decimal
    balance: Decimal

    @property
    def balanced(self) -> bool:
        return self.debit == self.credit and self.balance == 0


@dataclass(frozen=True)
class LedgerLine:
    entry_id: int
    entry_date: date
    source_doc: str
    event_kind: str
    memo: str
    amount: Decimal


def month_bounds(period: str) -> tuple[date, date]:
    """First day of ``period`` and first day of the month after (422 for no month)."""
    if not _PERIOD.fullmatch(period or ""):
        raise InvalidError(N_("%(period)r is not a month like 2026-12"), "period", period=period)
    y, m = int(period[:4]), int(period[5:])
    return date(y, m, 1), date(y + m // 12, m % 12 + 1, 1)


def trial_balance(session: Session, account_id: int, period: str) -> TrialBalance:
    start, end = month_bounds(period)
    legs = (
        select(
            FinLeg.fin_account_id.label("fa"),
            func.sum(case((FinLeg.amount > 0, FinLeg.amount), else_=0)).label("debit"),
            func.sum(case((FinLeg.amount < 0, -FinLeg.amount), else_=0)).label("credit"),
        )
        .join(FinEntry, FinEntry.id == FinLeg.entry_id)
        .where(
            FinLeg.account_id == account_id,
            FinEntry.posted.is_(True),
            FinEntry.entry_date >= start,
            FinEntry.entry_date < end,
        )
        .group_by(FinLeg.fin_account_id)
        .subquery()
    )
    # Balances at the month's end from the per-month sums (cloud/finance/ledger.py).
    balances = (
        select(FinBalance.fin_account_id.label("fa"), func.sum(FinBalance.amount).label("bal"))
        .where(FinBalance.account_id == account_id, FinBalance.period <= period)
        .group_by(FinBalance.fin_account_id)
        .subquery()
    )
    q = (
        select(
            FinAccount.code,
            FinAccount.name,
            FinAccount.type,
            legs.c.debit,
            legs.c.credit,
            balances.c.bal,
        )
        .outerjoin(legs, legs.c.fa == FinAccount.id)
        .outerjoin(balances, balances.c.fa == FinAccount.id)
        .where(
            FinAccount.account_id == account_id,
            (legs.c.fa.is_not(None)) | (balances.c.bal.is_not(None)),
        )
        .order_by(FinAccount.code)
    )
    rows = [
        TrialRow(code, name, type_, _d(debit), _d(credit), _d(bal))
        for code, name, type_, debit, credit, bal in session.execute(q)
    ]
    rows = [r for r in rows if r.debit or r.credit or r.balance]
    return TrialBalance(
        period,
        rows,
        sum((r.debit for r in rows), ZERO),
        sum((r.credit for r in rows), ZERO),
        sum((r.balance for r in rows), ZERO),
    )


def ledger_lines(
    session: Session, account_id: int, code: str, period: str, limit: int = 500
) -> list[LedgerLine]:
    """The legs on account ``code`` in ``period``, oldest first (404 for no such account)."""
    start, end = month_bounds(period)
    fa = session.execute(
        select(FinAccount.id).where(FinAccount.account_id == account_id, FinAccount.code == code)
    ).scalar_one_or_none()
    if fa is None:
        raise NotFoundError(N_("no account %(code)s in the chart"), code=code)
    q = (
        select(
            FinEntry.id,
            FinEntry.entry_date,
            FinEntry.source_doc,
            FinEntry.event_kind,
            FinEntry.memo,
            FinLeg.amount,
        )
        .join(FinLeg, FinLeg.entry_id == FinEntry.id)
        .where(
            FinLeg.account_id == account_id,
            FinLeg.fin_account_id == fa,
            FinEntry.posted.is_(True),
            FinEntry.entry_date >= start,
            FinEntry.entry_date < end,
        )
        .order_by(FinEntry.entry_date, FinEntry.id, FinLeg.id)
        .limit(limit)
    )
    return [LedgerLine(i, d, s, k, m, _d(a)) for i, d, s, k, m, a in session.execute(q)]


def _d(value: object) -> Decimal:
    """A sum as the database gives it (Decimal, or on SQLite int/None) to cents."""
    if value is None:
        return ZERO
    return Decimal(str(value)).quantize(Decimal("0.01"))
