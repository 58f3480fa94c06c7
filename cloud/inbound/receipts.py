"""Receipts against purchase orders (入库), booked once per receipt id.

A receipt comes from the API (its caller names the receipt id) or from a receiving station's
``po.received`` fact (cloud/facts/receipts.py; the station names it). In one transaction it locks the
PO, checks every line against the PO and its tolerance, posts the receipt movements through
the stock ledger (QC pass: sellable, or the bin's bucket; QC fail: damaged), raises the lines'
received counts, stores the receipt under its id and sends the nodes the PO's new state.
The same receipt id again books nothing and answers with what was booked the first time;
the same id with other lines is refused (docs/inbound.md "Receipts").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import PurchaseOrder, PurchaseReceipt, Warehouse
from cloud.errors import N_, ConflictError, InvalidError, sentence
from cloud.inbound import orders, serial_conflicts
from cloud.inbound.tolerance import most_allowed
from cloud.stock import ledger


@dataclass(frozen=True)
class ReceiptLine:
    sku_code: str
    qty: int
    verdict: Literal["pass", "fail"] = "pass"
    reason: str | None = None
    bin: str | None = None
    #: The units' serials (API receipts; a station's fact carries its own, cloud/facts/):
    #: checked against every receipt of the hub (cloud/inbound/serial_conflicts.py).
    serials: tuple[str, ...] = ()


def _normal(lines: list[ReceiptLine]) -> list[dict[str, Any]]:
    """The lines as stored; ``serials`` only when given (receipts before them compare equal)."""
    out = []
    for ln in lines:
        d = asdict(ln)
        serials = d.pop("serials")
        out.append({**d, "serials": list(serials)} if serials else d)
    return out


def book(
    session: Session,
    account_id: int,
    po_number: str,
    receipt_id: str,
    warehouse: str,
    lines: list[ReceiptLine],
    actor: str,
    now: datetime,
    *,
    source: str = "api",
) -> tuple[PurchaseReceipt, bool]:
    """Book a receipt; return it and whether it is new (False: booked before, nothing done)."""
    po = orders.get(session, account_id, po_number, lock=True)
    before = session.execute(
        select(PurchaseReceipt).where(
            PurchaseReceipt.account_id == account_id, PurchaseReceipt.receipt_id == receipt_id
        )
    ).scalar_one_or_none()
    if before is not None:
        if before.po_id == po.id and before.lines == _normal(lines):
            return before, False
        raise ConflictError(
            N_(
                "receipt %(receipt_id)s was already booked with other lines or another PO; a new "
                "receipt needs a new id"
            ),
            receipt_id=receipt_id,
        )
    if not lines:
        raise InvalidError(N_("a receipt needs at least one line"), "lines")
    wh = ledger.warehouse_of(session, account_id, warehouse)
    if wh.id != po.warehouse_id:
        home = session.get_one(Warehouse, po.warehouse_id).code
        raise ConflictError(
            N_(
                "purchase order %(number)s is to be received at warehouse %(home)s, not %(code)s; "
                "receive it there or transfer the goods afterwards"
            ),
            number=po.number,
            home=home,
            code=wh.code,
        )
    _check_state(po)
    for ln in lines:
        if ln.qty < 1:
            raise InvalidError(
                N_("quantity of %(sku_code)s must be at least 1"), "lines", sku_code=ln.sku_code
            )
        if ln.verdict == "fail" and not ln.reason:
            raise InvalidError(
                N_("QC fail of %(sku_code)s needs a reason"), "lines", sku_code=ln.sku_code
            )
        if len(ln.serials) > ln.qty:
            raise InvalidError(
                N_("%(sku_code)s: %(n)s serials for %(qty)s units; one serial per unit"),
                "lines",
                sku_code=ln.sku_code,
                n=len(ln.serials),
                qty=ln.qty,
            )
    given = [s for ln in lines for s in ln.serials]
    twice = sorted({s for s in given if given.count(s) > 1}) if len(set(given)) < len(given) else []
    if twice:
        raise InvalidError(
            N_("serial(s) %(serials)s appear twice in this receipt; one serial per unit"),
            "lines",
            serials=", ".join(twice[:20]),
        )
    po_lines = {pl.sku_code: pl for pl in orders.lines_of(session, po)}
    incoming: dict[str, int] = {}
    for ln in lines:
        if ln.sku_code not in po_lines:
            raise ConflictError(
                N_("%(sku_code)s is not on purchase order %(number)s"),
                sku_code=ln.sku_code,
                number=po.number,
            )
        incoming[ln.sku_code] = incoming.get(ln.sku_code, 0) + ln.qty
    for sku, qty in incoming.items():
        pl = po_lines[sku]
        room = most_allowed(pl.qty, po.tolerance_pct) - pl.received
        if qty > room:
            raise ConflictError(
                N_(
                    "%(sku)s on purchase order %(number)s: ordered %(ordered)s, received "
                    "%(received)s; the tolerance of %(tolerance)s%% allows at most %(most)s more, "
                    "this receipt brings %(qty)s"
                ),
                sku=sku,
                number=po.number,
                ordered=pl.qty,
                received=pl.received,
                tolerance=format(po.tolerance_pct.normalize(), "f"),
                most=max(room, 0),
                qty=qty,
            )
    moves = [
        ledger.Move(
            wh.id,
            ln.sku_code,
            "receipt",
            ledger.qc_fail(ln.reason)
            if ln.verdict == "fail"
            else sentence(N_("PO receipt %(receipt)s"), receipt=receipt_id),
            f"po:{po.number}",
            actor,
            qty_delta=ln.qty,
            bucket=ledger.receipt_bucket(session, wh, ln.bin, failed=ln.verdict == "fail"),
            bin_code=ln.bin,
            bin_delta=ln.qty if ln.bin else 0,
            event_key=f"rc:{account_id}:{receipt_id}:{n}",
        )
        for n, ln in enumerate(lines)
    ]
    ids = ledger.post(session, account_id, moves, now)
    for ln in lines:
        pl = po_lines[ln.sku_code]
        pl.received += ln.qty
        if ln.verdict == "fail":
            pl.rejected += ln.qty
    po.changed_by, po.changed_at = actor, now
    receipt = PurchaseReceipt(
        account_id=account_id,
        receipt_id=receipt_id,
        po_id=po.id,
        source=source,
        lines=_normal(lines),
        movement_ids=ids,
        actor=actor,
        created_at=now,
    )
    session.add(receipt)
    # The release to the nodes first: documents, then nodes, then serials, the order an
    # ingest locks in (cloud/sync/locks.py), or a node's receipt of another PO deadlocks it.
    orders.settle(session, po, now)
    if given:
        serial_conflicts.record_receipt(
            session, account_id, po.number, receipt_id, wh.code, lines, actor, now
        )
    return receipt, True


def _check_state(po: PurchaseOrder) -> None:
    if po.status == "draft":
        raise ConflictError(
            N_("purchase order %(number)s is a draft; confirm it before receiving against it"),
            number=po.number,
        )
    if po.status not in orders.OPEN:
        raise ConflictError(
            N_("purchase order %(number)s is %(status)s; nothing more is received against it"),
            number=po.number,
            status=po.status,
        )


def receipts_of(session: Session, po: PurchaseOrder) -> list[PurchaseReceipt]:
    return list(
        session.execute(
            select(PurchaseReceipt)
            .where(PurchaseReceipt.po_id == po.id)
            .order_by(PurchaseReceipt.created_at, PurchaseReceipt.id)
        ).scalars()
    )
