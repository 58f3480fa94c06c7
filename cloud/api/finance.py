"""/finance: the books as a person reads them (docs/finance.md); scope ``finance:read``.

Money leaves as strings with two decimals (Decimal, never float: a JSON number would be
read back as a binary double by most clients).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from cloud.api.deps import FinanceRead, SessionDep
from cloud.finance import reports
from cloud.finance.ledger import period_of
from cloud.finance.poster import day_of

router = APIRouter(prefix="/api/v1/finance", tags=["finance"])

Period = Annotated[str | None, Query(max_length=7, description="a month like 2026-12")]


class TrialRowOut(BaseModel):
    code: str
    name: str
    type: str
    debit: str
    credit: str
    balance: str


class TrialBalanceOut(BaseModel):
    period: str
    rows: list[TrialRowOut]
    debit: str
    credit: str
    balance: str
    balanced: bool


def current_period() -> str:
    """This month, in China time (the day entries are dated by: cloud/finance/poster.py)."""
    return period_of(day_of(datetime.now(UTC)))


@router.get("/trial-balance")
def trial_balance(session: SessionDep, who: FinanceRead, period: Period = None) -> TrialBalanceOut:
    """Per account: debits and credits of the month, balance at its end; 422 for no month."""
    tb = reports.trial_balance(session, who.account_id, period or current_period())
    return TrialBalanceOut(
        period=tb.period,
        rows=[
            TrialRowOut(
                code=r.code,
                name=r.name,
                type=r.type,
                debit=str(r.debit),
                credit=str(r.credit),
                balance=str(r.balance),
            )
            for r in tb.rows
        ],
        debit=str(tb.debit),
        credit=str(tb.credit),
        balance=str(tb.balance),
        balanced=tb.balanced,
    )
