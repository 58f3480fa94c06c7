"""/finance/settlements: platform settlement bills imported, their rows, what is unmatched
(cloud/finance/settlements.py, docs/finance.md "Platform settlements").

Import: ``POST /api/v1/finance/settlements?name=<file name>`` with the file as the body
(the zip Alipay's download URL answers, or its 账务明细 CSV), scope ``finance:write``;
201 with the counts; 409 for a file or rows imported already; 422 with the line at fault
for a bill that cannot be read or does not add up (nothing stored). Reading needs
``finance:read``. Money leaves as strings with two decimals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel

from cloud.api.deps import FinanceRead, FinanceWrite, SessionDep
from cloud.api.uploads import import_body
from cloud.db.settlement import SettlementBill, SettlementRow
from cloud.finance import settlements
from cloud.orders.audit_rules import CHINA

router = APIRouter(prefix="/api/v1/finance/settlements", tags=["finance"])


class ImportedOut(BaseModel):
    bill: str
    rows: int
    posted: int
    suspense: int
    unmatched: int


class BillOut(BaseModel):
    id: str
    platform: str
    payment_account: str
    file_name: str
    period_from: str | None
    period_to: str | None
    opening: str
    closing: str
    total_in: str
    total_out: str
    rows: int
    posted: int
    unmatched: int
    imported_at: datetime
    imported_by: str


class RowOut(BaseModel):
    line: int
    flow_no: str
    business_no: str
    merchant_order_no: str
    item_name: str
    occurred_at: str
    counterparty: str
    amount_in: str
    amount_out: str
    balance: str
    business_type: str
    remark: str
    kind: str
    state: str
    order_no: str | None
    reason: str


class BillRowsOut(BaseModel):
    bill: BillOut
    rows: list[RowOut]


def bill_out(b: SettlementBill) -> BillOut:
    return BillOut(
        id=b.public_id,
        platform=b.platform,
        payment_account=b.payment_account,
        file_name=b.file_name,
        period_from=b.period_from.isoformat() if b.period_from else None,
        period_to=b.period_to.isoformat() if b.period_to else None,
        opening=str(b.opening),
        closing=str(b.closing),
        total_in=str(b.total_in),
        total_out=str(b.total_out),
        rows=b.rows,
        posted=b.posted,
        unmatched=b.unmatched,
        imported_at=b.imported_at,
        imported_by=b.imported_by,
    )


def row_out(r: SettlementRow) -> RowOut:
    return RowOut(
        line=r.line_no,
        flow_no=r.flow_no,
        business_no=r.business_no,
        merchant_order_no=r.merchant_order_no,
        item_name=r.item_name,
        # As the bill writes it: China time.
        occurred_at=r.occurred_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
        counterparty=r.counterparty,
        amount_in=str(r.amount_in),
        amount_out=str(r.amount_out),
        balance=str(r.balance),
        business_type=r.business_type,
        remark=r.remark,
        kind=r.kind,
        state=r.state,
        order_no=r.order_no,
        reason=settlements.reason_text(r.reason),
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def import_bill(
    request: Request,
    who: FinanceWrite,
    name: Annotated[str, Query(max_length=200, description="the file's name")] = "bill",
) -> ImportedOut:
    """Import a settlement bill: the body is the file (zip or GBK CSV)."""
    return imported_out(await import_body(request, who, settlements.import_bill, name))


def imported_out(got: settlements.Imported) -> ImportedOut:
    return ImportedOut(
        bill=got.public_id,
        rows=got.rows,
        posted=got.posted,
        suspense=got.suspense,
        unmatched=got.unmatched,
    )


@router.get("")
def list_bills(session: SessionDep, who: FinanceRead) -> list[BillOut]:
    """The bills imported, newest first."""
    return [bill_out(b) for b in settlements.bills(session, who.account_id)]


@router.get("/unmatched")
def unmatched_rows(session: SessionDep, who: FinanceRead) -> list[RowOut]:
    """Rows not posted (no order, settled already, another amount, no known kind)."""
    return [row_out(r) for r in settlements.unmatched(session, who.account_id)]


@router.post("/match-again")
def match_again(session: SessionDep, who: FinanceWrite) -> dict[str, int]:
    """Match the unmatched sale and refund rows again; post those whose order is here now."""
    return {"posted": settlements.match_again(session, who.account_id, datetime.now(UTC))}


@router.get("/{settlement_id}")
def get_bill(
    settlement_id: Annotated[str, Path(max_length=36)], session: SessionDep, who: FinanceRead
) -> BillRowsOut:
    """A bill and its rows, each with its kind, state, order and reason."""
    head, rows = settlements.bill(session, who.account_id, settlement_id)
    return BillRowsOut(bill=bill_out(head), rows=[row_out(r) for r in rows])
