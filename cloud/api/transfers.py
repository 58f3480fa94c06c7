"""/transfers: transfers (调拨单) as documents, their receipts and reversals
(docs/inbound.md "Transfers"). Reading needs stock:read, everything else stock:write, as
purchase orders and the stock routes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from cloud.api.deps import SessionDep, StockRead, StockWrite
from cloud.api.purchase_schemas import PoReceiptLineIn, Price, StrictQty, Text
from cloud.db.models import Warehouse
from cloud.db.transfers import Transfer, TransferReceipt, TransferReversal
from cloud.inbound import transfer_moves, transfer_pick, transfers
from protocol.messages import Code, NodeId, SkuCode

router = APIRouter(prefix="/api/v1", tags=["transfers"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Filter = Annotated[str | None, Query(max_length=120)]


class TransferLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku_code: SkuCode
    qty: StrictQty
    #: Fixed-cost transfers: the unit cost the receiver books (a string such as "12.50").
    unit_cost: Price | None = None


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: Code
    #: same_price (同价调拨) or fixed_cost (固定成本).
    kind: Literal["same_price", "fixed_cost"] = "same_price"
    from_warehouse: Code
    to_warehouse: Code
    #: A transfer within one warehouse goes from one bin to another.
    from_bin: Code | None = None
    to_bin: Code | None = None
    note: Annotated[str, StringConstraints(max_length=300)] | None = None
    lines: list[TransferLineIn] = Field(min_length=1, max_length=500)
    #: Audit at once (出库审核; skip the draft).
    audit: bool = False


class TransferLineOut(BaseModel):
    line_no: int
    sku_code: str
    qty: int
    unit_cost: Decimal | None
    shipped: int
    received: int
    rejected: int
    #: Shipped and not received: where these units are now.
    in_transit: int


class TransferOut(BaseModel):
    number: str
    kind: str
    from_warehouse: str
    to_warehouse: str
    from_bin: str | None
    to_bin: str | None
    status: str
    status_reason: str | None
    note: str | None
    #: Fixed-cost transfers: the lines' units times unit cost, to the cent.
    total_cost: Decimal | None
    audited_by: str | None
    audited_at: datetime | None
    shipped_by: str | None
    shipped_at: datetime | None
    #: The sending warehouse's pick node that picks and ships it (docs/inbound.md
    #: "Transfers"), chosen at the audit; ``None``: none known, it ships from the hub.
    pick_node: str | None
    #: A lead asked the pick node for the rest of a short shipment (``POST …/ship-rest``):
    #: who and when; the hub waits for that shipment. ``None``: it waits for none.
    rest_asked_by: str | None
    rest_asked_at: datetime | None
    #: When the hub opened the task for a rest not shipped in time (``None``: not yet).
    rest_overdue_at: datetime | None
    created_by: str
    created_at: datetime
    changed_by: str
    changed_at: datetime
    lines: list[TransferLineOut]


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text


class ShipRestIn(BaseModel):
    """Who ships the rest of a short transfer: its pick node (asked over the downlink), or
    the hub itself (booked at once; the node's late shipment is refused with a task)."""

    model_config = ConfigDict(extra="forbid")
    by: Literal["node", "hub"] = "node"


class PickNodeIn(BaseModel):
    """Move a transfer's pick to another pick node of the sending warehouse."""

    model_config = ConfigDict(extra="forbid")
    node: NodeId


class TransferReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The caller's id of this receipt: sent again, it books nothing more.
    receipt_id: Code
    warehouse: Code
    lines: list[PoReceiptLineIn] = Field(min_length=1, max_length=500)


class TransferReceiptOut(BaseModel):
    receipt_id: str
    transfer_number: str
    source: str
    lines: list[dict[str, Any]]
    movement_ids: list[str]
    #: The 取消入库 that took it back, if any.
    reversal_id: int | None
    actor: str
    created_at: datetime
    #: False when this receipt id was booked before and nothing was done now.
    new: bool


class TransferReversalOut(BaseModel):
    id: int
    transfer_number: str
    #: shipment (冲销出库) or receipt (取消入库).
    kind: str
    receipt_id: str | None
    shipment: int | None
    reason: str
    movement_ids: list[str]
    actor: str
    created_at: datetime


def transfer_out(session: Session, t: Transfer) -> TransferOut:
    lines = transfers.lines_of(session, t)
    total = (
        sum(
            (ln.unit_cost * ln.qty for ln in lines if ln.unit_cost is not None), Decimal(0)
        ).quantize(Decimal("0.01"))
        if t.kind == "fixed_cost"
        else None
    )
    return TransferOut(
        number=t.number,
        kind=t.kind,
        from_warehouse=session.get_one(Warehouse, t.from_warehouse_id).code,
        to_warehouse=session.get_one(Warehouse, t.to_warehouse_id).code,
        from_bin=t.from_bin,
        to_bin=t.to_bin,
        status=t.status,
        status_reason=t.status_reason,
        note=t.note,
        total_cost=total,
        audited_by=t.audited_by,
        audited_at=t.audited_at,
        shipped_by=t.shipped_by,
        shipped_at=t.shipped_at,
        pick_node=t.pick_node,
        rest_asked_by=t.rest_asked_by,
        rest_asked_at=t.rest_asked_at,
        rest_overdue_at=t.rest_overdue_at,
        created_by=t.created_by,
        created_at=t.created_at,
        changed_by=t.changed_by,
        changed_at=t.changed_at,
        lines=[
            TransferLineOut(
                line_no=ln.line_no,
                sku_code=ln.sku_code,
                qty=ln.qty,
                unit_cost=ln.unit_cost,
                shipped=ln.shipped,
                received=ln.received,
                rejected=ln.rejected,
                in_transit=ln.shipped - ln.received,
            )
            for ln in lines
        ],
    )


def receipt_out(r: TransferReceipt, number: str, new: bool) -> TransferReceiptOut:
    return TransferReceiptOut(
        receipt_id=r.receipt_id,
        transfer_number=number,
        source=r.source,
        lines=r.lines,
        movement_ids=r.movement_ids,
        reversal_id=r.reversal_id,
        actor=r.actor,
        created_at=r.created_at,
        new=new,
    )


def reversal_out(r: TransferReversal, number: str) -> TransferReversalOut:
    return TransferReversalOut(
        id=r.id,
        transfer_number=number,
        kind=r.kind,
        receipt_id=r.receipt_id,
        shipment=r.shipment,
        reason=r.reason,
        movement_ids=r.movement_ids,
        actor=r.actor,
        created_at=r.created_at,
    )


@router.get("/transfers")
def list_transfers(
    session: SessionDep,
    who: StockRead,
    status_: Annotated[str | None, Query(alias="status", max_length=24)] = None,
    warehouse: Filter = None,
    sku_code: Filter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[TransferOut]:
    return [
        transfer_out(session, t)
        for t in transfers.list_transfers(
            session,
            who.account_id,
            status=status_,
            warehouse=warehouse,
            sku_code=sku_code,
            limit=limit,
            offset=offset,
        )
    ]


@router.post("/transfers", status_code=status.HTTP_201_CREATED)
def create_transfer(body: TransferIn, session: SessionDep, who: StockWrite) -> TransferOut:
    """A transfer (调拨单), a draft unless ``audit``. Between two warehouses, or between
    two bins of one warehouse (``from_bin`` and ``to_bin`` required then)."""
    t = transfers.create(
        session,
        who.account_id,
        body.number,
        body.kind,
        body.from_warehouse,
        body.to_warehouse,
        [transfers.LineIn(ln.sku_code, ln.qty, ln.unit_cost) for ln in body.lines],
        who.actor,
        datetime.now(UTC),
        from_bin=body.from_bin,
        to_bin=body.to_bin,
        note=body.note,
        audit=body.audit,
    )
    return transfer_out(session, t)


@router.get("/transfers/{number}")
def get_transfer(number: str, session: SessionDep, who: StockRead) -> TransferOut:
    return transfer_out(session, transfers.get(session, who.account_id, number))


@router.post("/transfers/{number}/audit")
def audit_transfer(number: str, session: SessionDep, who: StockWrite) -> TransferOut:
    """出库审核: the draft may leave the sender."""
    t = transfers.audit_transfer(session, who.account_id, number, who.actor, datetime.now(UTC))
    return transfer_out(session, t)


@router.post("/transfers/{number}/ship")
def ship_transfer(number: str, session: SessionDep, who: StockWrite) -> TransferOut:
    """The sender's outbound: the goods leave its sellable stock and are in transit; the
    receiving warehouse's nodes get the transfer (``transfer.release``)."""
    t = transfers.ship(session, who.account_id, number, who.actor, datetime.now(UTC))
    return transfer_out(session, t)


@router.post("/transfers/{number}/ship-rest")
def ship_rest(
    number: str, session: SessionDep, who: StockWrite, body: ShipRestIn | None = None
) -> TransferOut:
    """补发: what is left of a transfer shipped short, as its next shipment: asked of the
    pick node (``transfer.outbound`` with only the rest), or ``{"by": "hub"}`` booked by the
    hub at once (docs/inbound.md "Transfers")."""
    now = datetime.now(UTC)
    if body is not None and body.by == "hub":
        t = transfer_pick.ship_rest_from_hub(session, who.account_id, number, who.actor, now)
    else:
        t = transfer_pick.ship_rest(session, who.account_id, number, who.actor, now)
    return transfer_out(session, t)


@router.post("/transfers/{number}/cancel-rest")
def cancel_rest(number: str, body: ReasonIn, session: SessionDep, who: StockWrite) -> TransferOut:
    """Wait for the rest asked of the pick node no more (the node stops offering it)."""
    t = transfer_pick.cancel_rest(
        session, who.account_id, number, body.reason, who.actor, datetime.now(UTC)
    )
    return transfer_out(session, t)


@router.put("/transfers/{number}/pick-node")
def move_pick(number: str, body: PickNodeIn, session: SessionDep, who: StockWrite) -> TransferOut:
    """Move the transfer's pick to another pick node of the sending warehouse (while it waits
    to be picked): the old node stops offering it, the new one offers it."""
    t = transfer_pick.move_pick(
        session, who.account_id, number, body.node, who.actor, datetime.now(UTC)
    )
    return transfer_out(session, t)


@router.post("/transfers/{number}/cancel")
def cancel_transfer(
    number: str, body: ReasonIn, session: SessionDep, who: StockWrite
) -> TransferOut:
    """作废: only a draft or audited transfer (nothing shipped)."""
    t = transfers.cancel(session, who.account_id, number, body.reason, who.actor, datetime.now(UTC))
    return transfer_out(session, t)


@router.get("/transfers/{number}/receipts")
def list_receipts(number: str, session: SessionDep, who: StockRead) -> list[TransferReceiptOut]:
    t = transfers.get(session, who.account_id, number)
    return [receipt_out(r, t.number, False) for r in transfer_moves.receipts_of(session, t)]


@router.post(
    "/transfers/{number}/receipts",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "this receipt id was booked before; nothing was done"}},
)
def book_receipt(
    number: str, body: TransferReceiptIn, session: SessionDep, who: StockWrite, response: Response
) -> TransferReceiptOut:
    """Goods in at the receiver, each line with its QC verdict. Booked once per
    ``receipt_id``; more than is in transit is refused (409)."""
    r, new = transfer_moves.receive(
        session,
        who.account_id,
        number,
        body.receipt_id,
        body.warehouse,
        [
            transfer_moves.ReceiptLine(ln.sku_code, ln.qty, ln.verdict, ln.reason, ln.bin)
            for ln in body.lines
        ],
        who.actor,
        datetime.now(UTC),
    )
    if not new:
        response.status_code = status.HTTP_200_OK
    return receipt_out(r, number, new)


@router.post("/transfers/{number}/receipts/{receipt_id}/cancel", status_code=201)
def cancel_receipt(
    number: str, receipt_id: str, body: ReasonIn, session: SessionDep, who: StockWrite
) -> TransferReversalOut:
    """取消入库: the receipt's units leave the receiver and are in transit again."""
    rev = transfer_moves.cancel_receipt(
        session, who.account_id, number, receipt_id, body.reason, who.actor, datetime.now(UTC)
    )
    return reversal_out(rev, number)


@router.post("/transfers/{number}/cancel-shipment", status_code=201)
def cancel_shipment(
    number: str, body: ReasonIn, session: SessionDep, who: StockWrite
) -> TransferReversalOut:
    """冲销出库: the shipment's units go back to the sender (nothing of it received)."""
    rev = transfer_moves.cancel_shipment(
        session, who.account_id, number, body.reason, who.actor, datetime.now(UTC)
    )
    return reversal_out(rev, number)


@router.get("/transfers/{number}/reversals")
def list_reversals(number: str, session: SessionDep, who: StockRead) -> list[TransferReversalOut]:
    t = transfers.get(session, who.account_id, number)
    return [reversal_out(r, t.number) for r in transfer_moves.reversals_of(session, t)]
