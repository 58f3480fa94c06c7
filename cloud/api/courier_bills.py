"""/finance/couriers/{carrier}/rate-card and /bills, /finance/courier-bills: a courier's bill
reconciled against our shipments and the courier's rate card (cloud/finance/courier_bills.py, docs/finance.md).

Reading needs ``finance:read``; importing, accepting, resolving and setting a card
``finance:write``. Money leaves as strings with two decimals, weights as whole grams.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Path, Query, Request, status
from pydantic import BaseModel

from cloud.api.deps import FinanceRead, FinanceWrite, SessionDep, UnitsDep
from cloud.api.skus import MAX_IMPORT_BYTES, import_kind, too_large
from cloud.db.courier_bill import CourierBill, CourierBillLine
from cloud.errors import N_, NotFoundError
from cloud.finance import courier_bills, rate_cards
from cloud.finance.courier_bill_file import read

router = APIRouter(prefix="/api/v1/finance", tags=["finance"])

CarrierCode = Annotated[str, Path(min_length=1, max_length=64)]
BillId = Annotated[int, Path(ge=1, le=2**31 - 1)]
LineId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class BillOut(BaseModel):
    id: int
    carrier: str
    file_name: str
    state: str
    lines: int
    billed_total: str
    accepted_total: str
    disputed_total: str
    first_day: date
    last_day: date
    imported_by: str
    imported_at: datetime
    accepted_by: str | None
    accepted_at: datetime | None
    entry_id: int | None


class LineOut(BaseModel):
    id: int
    row_no: int
    tracking_number: str
    shipped_on: date
    destination: str
    billed_g: int
    fee: str
    sides_cm: list[str] | None
    order_no: str | None
    weighed_g: int | None
    charged_g: int | None
    expected_fee: str | None
    flags: list[str]
    disputed: str
    resolution: str | None
    credited: str | None


class UnbilledOut(BaseModel):
    order_no: str
    tracking_number: str
    shipped_at: datetime | None
    weighed_g: int | None


class BillDetailOut(BaseModel):
    bill: BillOut
    lines: list[LineOut]
    #: Shipped with this courier in the bill's days but on no bill (the first 500).
    unbilled: list[UnbilledOut]


class PostedOut(BaseModel):
    entry_id: int | None
    created: bool


class AcceptOut(BillOut):
    posted: PostedOut


class ResolveIn(BaseModel):
    #: What the courier credits of the disputed amount, as a decimal string ("3.50").
    credited: Any


class ResolvedOut(BaseModel):
    line: LineOut
    posted: PostedOut


def bill_out(b: CourierBill) -> BillOut:
    return BillOut(
        id=b.id,
        carrier=b.carrier,
        file_name=b.file_name,
        state=b.state,
        lines=b.lines,
        billed_total=str(b.billed_total),
        accepted_total=str(b.accepted_total),
        disputed_total=str(b.disputed_total),
        first_day=b.first_day,
        last_day=b.last_day,
        imported_by=b.imported_by,
        imported_at=b.imported_at,
        accepted_by=b.accepted_by,
        accepted_at=b.accepted_at,
        entry_id=b.entry_id,
    )


def line_out(ln: CourierBillLine) -> LineOut:
    sides = (ln.length_cm, ln.width_cm, ln.height_cm)
    return LineOut(
        id=ln.id,
        row_no=ln.row_no,
        tracking_number=ln.tracking_number,
        shipped_on=ln.shipped_on,
        destination=ln.destination,
        billed_g=ln.billed_g,
        fee=str(ln.fee),
        sides_cm=[str(s) for s in sides] if all(s is not None for s in sides) else None,
        order_no=ln.order_no,
        weighed_g=ln.weighed_g,
        charged_g=ln.charged_g,
        expected_fee=None if ln.expected_fee is None else str(ln.expected_fee),
        flags=list(ln.flags),
        disputed=str(ln.disputed),
        resolution=ln.resolution,
        credited=None if ln.credited is None else str(ln.credited),
    )


@router.get("/couriers/{carrier}/rate-card")
def get_rate_card(carrier: CarrierCode, session: SessionDep, who: FinanceRead) -> dict[str, Any]:
    """The courier's rate card (404 without one)."""
    card = rate_cards.get(session, who.account_id, carrier)
    if card is None:
        raise NotFoundError(N_("courier %(carrier)s has no rate card"), carrier=carrier)
    return rate_cards.as_json(card)


@router.put("/couriers/{carrier}/rate-card")
def put_rate_card(
    carrier: CarrierCode,
    session: SessionDep,
    who: FinanceWrite,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Set the courier's rate card: ``first_g`` (首重, grams), ``step_g`` (续重 step, rounded
    up), ``precision_g`` (rounded half up first), ``volumetric_divisor`` (cm³/kg or null),
    ``zones`` [{name, provinces, first_fee, per_kg}] with "*" for any other province."""
    card = rate_cards.parse(carrier, body)
    rate_cards.put(session, who.account_id, card, who.actor, datetime.now(UTC))
    return rate_cards.as_json(card)


@router.post(
    "/couriers/{carrier}/bills",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            }
        }
    },
)
async def import_bill(
    request: Request,
    units: UnitsDep,
    who: FinanceWrite,
    carrier: CarrierCode,
    file_name: Annotated[str, Query(max_length=200)] = "",
) -> BillDetailOut:
    """Import a courier's bill (CSV or .xlsx as the body) and reconcile it: 201 with its
    lines and flags; 409 for a file imported before (nothing imported); 422 listing every
    bad row by its number (nothing imported)."""
    fmt = import_kind(request.headers.get("content-type", ""), file_name)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:
            raise too_large()
        chunks.append(chunk)
    data = b"".join(chunks)
    # Read (an .xlsx may take seconds) off the event loop and outside the write.
    rows = await anyio.to_thread.run_sync(read, data, fmt)
    now = datetime.now(UTC)

    def work(s: Any) -> BillDetailOut:
        bill = courier_bills.import_bill(
            s, who.account_id, carrier, file_name, data, fmt, who.actor, now, rows
        )
        return _detail(s, bill)

    return await units.write(work)


@router.get("/courier-bills")
def list_bills(session: SessionDep, who: FinanceRead) -> list[BillOut]:
    """The account's courier bills, newest first (100)."""
    return [bill_out(b) for b in courier_bills.bills(session, who.account_id)]


@router.get("/courier-bills/{bill_id}")
def get_bill(bill_id: BillId, session: SessionDep, who: FinanceRead) -> BillDetailOut:
    """One bill: its lines with their flags, and what was shipped but not billed."""
    return _detail(session, courier_bills.get_bill(session, who.account_id, bill_id))


@router.post("/courier-bills/{bill_id}/accept")
def accept_bill(bill_id: BillId, session: SessionDep, who: FinanceWrite) -> AcceptOut:
    """Accept the bill into the books (once: again answers the same entry, created false)."""
    bill, posted = courier_bills.accept(
        session, who.account_id, bill_id, who.actor, datetime.now(UTC)
    )
    return AcceptOut(
        **bill_out(bill).model_dump(),
        posted=PostedOut(
            entry_id=None if posted is None else posted.entry_id,
            created=posted is not None and posted.created,
        ),
    )


@router.post("/courier-bills/{bill_id}/lines/{line_id}/resolve")
def resolve_line(
    bill_id: BillId, line_id: LineId, body: ResolveIn, session: SessionDep, who: FinanceWrite
) -> ResolvedOut:
    """Take a disputed line out of suspense: ``credited`` of it back from the courier, the
    rest paid after all (once; a different answer later is 409)."""
    ln, posted = courier_bills.resolve(
        session, who.account_id, bill_id, line_id, body.credited, who.actor, datetime.now(UTC)
    )
    return ResolvedOut(
        line=line_out(ln), posted=PostedOut(entry_id=posted.entry_id, created=posted.created)
    )


def _detail(session: Any, bill: CourierBill) -> BillDetailOut:
    return BillDetailOut(
        bill=bill_out(bill),
        lines=[line_out(ln) for ln in courier_bills.lines_of(session, bill)],
        unbilled=[
            UnbilledOut(
                order_no=u.order_no,
                tracking_number=u.tracking_number,
                shipped_at=u.shipped_at,
                weighed_g=u.weighed_g,
            )
            for u in courier_bills.unbilled(session, bill)
        ],
    )
