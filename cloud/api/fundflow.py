"""/finance/fundflow-bills: WeChat Pay fund-flow bills (资金账单) reconciled against the trade
bills posted; never posted themselves (cloud/finance/wechat_fundflow.py, docs/finance.md
"WeChat Pay bills fetched by the hub").

Import: ``POST /api/v1/finance/fundflow-bills?name=<file name>`` with the file as the body
(text or gzip), scope ``finance:write``; 201 with the counts and the task opened for the
movements that match no posted trade-bill row; 409 for a file or movements imported
already; 422 with the line at fault for a bill that cannot be read or does not add up
(nothing stored). ``GET`` lists the bills, ``GET …/{id}`` one bill with its movements —
each matched one with the trade-bill row it is, each unmatched one with why
(``finance:read``; another seller's bill is a 404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel

from cloud.api.deps import FinanceRead, FinanceWrite, SessionDep
from cloud.api.uploads import import_body
from cloud.db.wechat_bills import FundflowBill, FundflowRow
from cloud.finance import settlements, wechat_admin, wechat_fundflow
from cloud.orders.audit_rules import CHINA

router = APIRouter(prefix="/api/v1/finance/fundflow-bills", tags=["finance"])


class ReconciledOut(BaseModel):
    bill: str
    rows: int
    matched: int
    unmatched: int
    #: The task listing the unmatched movements (None: every movement matched).
    task: str | None


class FundflowOut(BaseModel):
    id: str
    file_name: str
    period_from: str | None
    period_to: str | None
    opening: str
    closing: str
    rows: int
    matched: int
    unmatched: int
    imported_at: datetime
    imported_by: str


class MovementOut(BaseModel):
    line: int
    flow_no: str
    business_no: str
    business_type: str
    occurred_at: str
    amount_in: str
    amount_out: str
    balance: str
    #: matched or unmatched.
    state: str
    #: The trade-bill row it is (``wx:<业务单号>[:fee]``) and that bill's id; None unmatched.
    trade_row: str | None
    trade_bill: str | None
    #: Why it matched no posted trade-bill row ("" when matched).
    reason: str


class FundflowRowsOut(BaseModel):
    bill: FundflowOut
    #: The ``fundflow`` task listing the unmatched movements (None: every one matched).
    task: str | None
    rows: list[MovementOut]


def fundflow_out(b: FundflowBill) -> FundflowOut:
    return FundflowOut(
        id=b.public_id,
        file_name=b.file_name,
        period_from=b.period_from.isoformat() if b.period_from else None,
        period_to=b.period_to.isoformat() if b.period_to else None,
        opening=str(b.opening),
        closing=str(b.closing),
        rows=b.rows,
        matched=b.matched,
        unmatched=b.unmatched,
        imported_at=b.imported_at,
        imported_by=b.imported_by,
    )


def movement_out(r: FundflowRow, matched: dict[int, tuple[str, str]]) -> MovementOut:
    trade = matched.get(r.settlement_row_id) if r.settlement_row_id is not None else None
    return MovementOut(
        line=r.line_no,
        flow_no=r.flow_no,
        business_no=r.business_no,
        business_type=r.business_type,
        # As the bill writes it: China time.
        occurred_at=r.occurred_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
        amount_in=str(r.amount_in),
        amount_out=str(r.amount_out),
        balance=str(r.balance),
        state=r.state,
        trade_row=trade[0] if trade else None,
        trade_bill=trade[1] if trade else None,
        reason=settlements.reason_text(r.reason),
    )


def reconciled_out(got: wechat_fundflow.Reconciled) -> ReconciledOut:
    return ReconciledOut(
        bill=got.public_id,
        rows=got.rows,
        matched=got.matched,
        unmatched=got.unmatched,
        task=got.task,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def import_fundflow(
    request: Request,
    who: FinanceWrite,
    name: Annotated[str, Query(max_length=200, description="the file's name")] = "fundflow",
) -> ReconciledOut:
    """Reconcile a fund-flow bill: the body is the file (text or gzip). Posts nothing."""
    return reconciled_out(await import_body(request, who, wechat_fundflow.reconcile, name))


@router.get("")
def list_fundflow(session: SessionDep, who: FinanceRead) -> list[FundflowOut]:
    """The fund-flow bills reconciled, newest first (at most 200)."""
    return [fundflow_out(b) for b in wechat_admin.fundflow_bills(session, who.account_id)]


@router.get("/{fundflow_id}")
def get_fundflow(
    fundflow_id: Annotated[str, Path(max_length=36)], session: SessionDep, who: FinanceRead
) -> FundflowRowsOut:
    """A fund-flow bill and its movements: matched to which trade-bill row, or why not."""
    view = wechat_admin.fundflow_bill(session, who.account_id, fundflow_id)
    return FundflowRowsOut(
        bill=fundflow_out(view.bill),
        task=view.task.public_id if view.task else None,
        rows=[movement_out(r, view.matched) for r in view.rows],
    )
