"""/finance/fundflow-bills: WeChat Pay fund-flow bills (资金账单) reconciled against the trade
bills posted; never posted themselves (cloud/finance/wechat_fundflow.py, docs/finance.md
"WeChat Pay bills fetched by the hub").

Import: ``POST /api/v1/finance/fundflow-bills?name=<file name>`` with the file as the body
(text or gzip), scope ``finance:write``; 201 with the counts and the task opened for the
movements that match no posted trade-bill row; 409 for a file or movements imported
already; 422 with the line at fault for a bill that cannot be read or does not add up
(nothing stored). ``GET`` lists the bills (``finance:read``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.api.deps import FinanceRead, FinanceWrite, SessionDep
from cloud.db.engine import transaction
from cloud.db.wechat_bills import FundflowBill
from cloud.finance import wechat_fundflow
from cloud.finance.bill_checks import MAX_BYTES

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


def _reconcile(
    factory: sessionmaker[Session], account_id: int, data: bytes, name: str, actor: str
) -> ReconciledOut:
    with transaction(factory) as s:
        got = wechat_fundflow.reconcile(s, account_id, data, name, actor, datetime.now(UTC))
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
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            # RFC 9110 §15.5.14: 413 Content Too Large.
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "bill larger than 20 MB")
        chunks.append(chunk)
    work = partial(
        _reconcile, request.app.state.sessions, who.account_id, b"".join(chunks), name, who.actor
    )
    return await anyio.to_thread.run_sync(work)


@router.get("")
def list_fundflow(session: SessionDep, who: FinanceRead) -> list[FundflowOut]:
    """The fund-flow bills reconciled, newest first (at most 200)."""
    rows = session.execute(
        select(FundflowBill)
        .where(FundflowBill.account_id == who.account_id)
        .order_by(FundflowBill.imported_at.desc(), FundflowBill.id.desc())
        .limit(200)
    ).scalars()
    return [
        FundflowOut(
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
        for b in rows
    ]
