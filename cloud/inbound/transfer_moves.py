"""A transfer's receipts at the receiver and its reversals (docs/inbound.md "Transfers").

* A **receipt** (调拨入库) takes units out of transit into the receiver's stock: QC pass to
  sellable (or the bucket of the bin given), QC fail to damaged with its reason. Booked once
  per receipt id, from the API or from a receiving station's ``transfer.received`` fact
  (cloud/facts/transfers.py): the same id with the same lines answers what was booked, with other
  lines it is refused. More than is still in transit is refused (409), whatever the
  tolerance of anything: only what was shipped can arrive.
* **取消入库** of a receipt: compensating movements at the receiver (each ``reverses_id``
  one of the receipt's), the units back in transit. Once per receipt.
* **冲销出库** of a shipment: compensating movements at the sender, the units back in its
  stock and nothing in transit; only while nothing of the shipment is received (cancel
  those receipts first, as the source's order of steps has it). The transfer is audited
  again: it may be shipped anew or cancelled.

A reversal has its own record (``transfer_reversal``) and is never reversed itself: the
ledger refuses to reverse a ``reversal`` movement, and a receipt or shipment already taken
back is refused by name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import StockMovement, Warehouse
from cloud.db.transfers import Transfer, TransferReceipt, TransferReversal
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError, Said, sentence
from cloud.inbound import transfer_release, transfers
from cloud.stock import ledger


@dataclass(frozen=True)
class ReceiptLine:
    sku_code: str
    qty: int
    verdict: Literal["pass", "fail"] = "pass"
    reason: str | None = None
    bin: str | None = None


def _normal(lines: list[ReceiptLine]) -> list[dict[str, Any]]:
    return [asdict(ln) for ln in lines]


def receive(
    session: Session,
    account_id: int,
    number: str,
    receipt_id: str,
    warehouse: str,
    lines: list[ReceiptLine],
    actor: str,
    now: datetime,
    *,
    source: str = "api",
) -> tuple[TransferReceipt, bool]:
    """Book a receipt of the transfer; return it and whether it is new. A serial that
    arrived already in another receipt does not stop it: the unit is here, and the serial
    trace flags it with a task (docs/inbound.md "Serials of a transfer's units",
    cloud/inbound/serial_conflicts.py)."""
    t = transfers.get(session, account_id, number, lock=True)
    before = session.execute(
        select(TransferReceipt).where(
            TransferReceipt.account_id == account_id, TransferReceipt.receipt_id == receipt_id
        )
    ).scalar_one_or_none()
    if before is not None:
        if before.transfer_id == t.id and before.lines == _normal(lines):
            return before, False
        raise ConflictError(
            N_(
                "receipt %(receipt_id)s was already booked with other lines or another "
                "document; a new receipt needs a new id"
            ),
            receipt_id=receipt_id,
        )
    if not lines:
        raise InvalidError(N_("a receipt needs at least one line"), "lines")
    wh = ledger.warehouse_of(session, account_id, warehouse)
    if wh.id != t.to_warehouse_id:
        raise ConflictError(
            N_("transfer %(number)s goes to warehouse %(home)s, not %(code)s"),
            number=t.number,
            home=session.get_one(Warehouse, t.to_warehouse_id).code,
            code=wh.code,
        )
    if t.status not in transfers.RECEIVING:
        raise ConflictError(
            N_(
                "transfer %(number)s is %(status)s; only a shipped transfer is received "
                "(nothing of it is in transit)"
            ),
            number=t.number,
            status=t.status,
        )
    for ln in lines:
        if ln.qty < 1:
            raise InvalidError(
                N_("quantity of %(sku_code)s must be at least 1"), "lines", sku_code=ln.sku_code
            )
        if ln.verdict == "fail" and not ln.reason:
            raise InvalidError(
                N_("QC fail of %(sku_code)s needs a reason"), "lines", sku_code=ln.sku_code
            )
    t_lines = {tl.sku_code: tl for tl in transfers.lines_of(session, t)}
    incoming: dict[str, int] = {}
    for ln in lines:
        if ln.sku_code not in t_lines:
            raise ConflictError(
                N_("%(sku_code)s is not on transfer %(number)s"),
                sku_code=ln.sku_code,
                number=t.number,
            )
        incoming[ln.sku_code] = incoming.get(ln.sku_code, 0) + ln.qty
    for sku, qty in incoming.items():
        tl = t_lines[sku]
        if qty > tl.shipped - tl.received:
            raise ConflictError(
                N_(
                    "%(sku)s on transfer %(number)s: shipped %(shipped)s, received %(received)s; "
                    "at most %(most)s more can arrive, this receipt brings %(qty)s"
                ),
                sku=sku,
                number=t.number,
                shipped=tl.shipped,
                received=tl.received,
                most=tl.shipped - tl.received,
                qty=qty,
            )
    moves = [
        ledger.Move(
            wh.id,
            ln.sku_code,
            "transfer",
            ledger.qc_fail(ln.reason)
            if ln.verdict == "fail"
            else sentence(N_("transfer receipt %(receipt)s"), receipt=receipt_id),
            transfers.document(t.number),
            actor,
            qty_delta=ln.qty,
            bucket=ledger.receipt_bucket(session, wh, bin_code, failed=ln.verdict == "fail"),
            bin_code=bin_code,
            bin_delta=ln.qty if bin_code else 0,
            event_key=f"trc:{account_id}:{receipt_id}:{n}",
        )
        for n, ln in enumerate(lines)
        for bin_code in [ln.bin or t.to_bin]
    ]
    ids = ledger.post(session, account_id, moves, now)
    for ln in lines:
        tl = t_lines[ln.sku_code]
        tl.received += ln.qty
        if ln.verdict == "fail":
            tl.rejected += ln.qty
    t.changed_by, t.changed_at = actor, now
    receipt = TransferReceipt(
        account_id=account_id,
        receipt_id=receipt_id,
        transfer_id=t.id,
        source=source,
        lines=_normal(lines),
        movement_ids=ids,
        actor=actor,
        created_at=now,
    )
    session.add(receipt)
    transfers.settle(session, t, now)
    return receipt, True


def _back(m: StockMovement, reason: Said, actor: str) -> ledger.Move:
    return ledger.Move(
        m.warehouse_id,
        m.sku_code,
        "reversal",
        reason,
        m.document,
        actor,
        qty_delta=-m.qty_delta,
        bucket=m.bucket,  # type: ignore[arg-type]
        bin_code=m.bin_code,
        bin_delta=-m.bin_delta,
        reverses_id=m.id,
        reverses_kind=m.kind,
    )


def _record(
    session: Session,
    t: Transfer,
    kind: str,
    reason: str,
    ids: list[str],
    actor: str,
    now: datetime,
    *,
    receipt_id: str | None = None,
    shipment: int | None = None,
) -> TransferReversal:
    rev = TransferReversal(
        account_id=t.account_id,
        transfer_id=t.id,
        kind=kind,
        receipt_id=receipt_id,
        shipment=shipment,
        reason=reason,
        movement_ids=ids,
        actor=actor,
        created_at=now,
    )
    session.add(rev)
    session.flush()
    return rev


def cancel_receipt(
    session: Session,
    account_id: int,
    number: str,
    receipt_id: str,
    reason: str,
    actor: str,
    now: datetime,
) -> TransferReversal:
    """取消入库: the receipt's units leave the receiver and are in transit again."""
    t = transfers.get(session, account_id, number, lock=True)
    r = session.execute(
        select(TransferReceipt).where(
            TransferReceipt.account_id == account_id,
            TransferReceipt.receipt_id == receipt_id,
            TransferReceipt.transfer_id == t.id,
        )
    ).scalar_one_or_none()
    if r is None:
        raise NotFoundError(
            N_("no receipt %(receipt_id)s of transfer %(number)s"),
            receipt_id=receipt_id,
            number=number,
        )
    if r.reversal_id is not None:
        raise ConflictError(
            N_(
                "receipt %(receipt_id)s was already cancelled (reversal #%(reversal)s); a "
                "reversal is not reversed: book a new receipt instead"
            ),
            receipt_id=receipt_id,
            reversal=r.reversal_id,
        )
    moved = list(
        session.execute(select(StockMovement).where(StockMovement.id.in_(r.movement_ids))).scalars()
    )
    ids = ledger.post(
        session,
        account_id,
        [
            _back(
                m,
                sentence(N_("取消入库 %(receipt)s: %(reason)s"), receipt=receipt_id, reason=reason),
                actor,
            )
            for m in moved
        ],
        now,
    )
    t_lines = {tl.sku_code: tl for tl in transfers.lines_of(session, t)}
    for ln in r.lines:
        tl = t_lines[ln["sku_code"]]
        tl.received -= ln["qty"]
        if ln["verdict"] == "fail":
            tl.rejected -= ln["qty"]
    rev = _record(session, t, "receipt", reason, ids, actor, now, receipt_id=receipt_id)
    r.reversal_id = rev.id
    t.changed_by, t.changed_at = actor, now
    transfers.settle(session, t, now)
    return rev


def _last_shipment(
    session: Session, account_id: int, t: Transfer
) -> tuple[int, list[StockMovement]]:
    """The newest shipment of the transfer not taken back, and its movements (``(0, [])``
    when there is none): a transfer may have several (the rest of a short pick,
    cloud/inbound/transfer_pick.py), each taken back on its own, newest first."""
    taken = {v.shipment for v in reversals_of(session, t) if v.kind == "shipment"}
    for n in range(t.shipments, 0, -1):
        if n in taken:
            continue
        moved = list(
            session.execute(
                select(StockMovement).where(
                    StockMovement.account_id == account_id,
                    StockMovement.document == transfers.document(t.number),
                    # Shipped from the hub: ``…:sN:LINE``; from a node: ``…:sN:LINE:I`` (one
                    # per bin picked from, cloud/inbound/transfer_ship.py).
                    StockMovement.event_key.startswith(
                        f"tr:{account_id}:{t.number}:s{n}:", autoescape=True
                    ),
                )
            ).scalars()
        )
        if moved:
            return n, moved
    return 0, []


def cancel_shipment(
    session: Session, account_id: int, number: str, reason: str, actor: str, now: datetime
) -> TransferReversal:
    """冲销出库 of the newest shipment: its units go back to the sender; they must all still
    be in transit (what arrived is cancelled first, 取消入库)."""
    t = transfers.get(session, account_id, number, lock=True)
    if t.status not in transfers.RECEIVING:
        raise ConflictError(
            N_(
                "transfer %(number)s is %(status)s; only a shipped transfer with nothing "
                "received has its shipment taken back (a reversal is not reversed)"
            ),
            number=number,
            status=t.status,
        )
    lines = transfers.lines_of(session, t)
    n, shipped = _last_shipment(session, account_id, t)
    back: dict[str, int] = {}
    for m in shipped:
        back[m.sku_code] = back.get(m.sku_code, 0) - m.qty_delta
    if any(ln.received > ln.shipped - back.get(ln.sku_code, 0) for ln in lines):
        raise ConflictError(
            N_(
                "transfer %(number)s has receipts at the receiver; cancel them first (取消入库), "
                "then take the shipment back (冲销出库)"
            ),
            number=number,
        )
    ids = ledger.post(
        session,
        account_id,
        [
            _back(
                m,
                sentence(N_("冲销出库 %(number)s: %(reason)s"), number=t.number, reason=reason),
                actor,
            )
            for m in shipped
        ],
        now,
    )
    for ln in lines:
        ln.shipped -= back.get(ln.sku_code, 0)
    rev = _record(session, t, "shipment", reason, ids, actor, now, shipment=n or t.shipments)
    # What is left to ship changed: a rest asked for before is asked for again if wanted.
    t.rest_asked_by = t.rest_asked_at = t.rest_overdue_at = None
    t.changed_by, t.changed_at = actor, now
    lines = transfers.settle(session, t, now)
    if t.status != "audited":  # settle told the sender's nodes already when audited
        transfer_release.push_outbound(session, t, lines, now)
    return rev


def receipts_of(session: Session, t: Transfer) -> list[TransferReceipt]:
    return list(
        session.execute(
            select(TransferReceipt)
            .where(TransferReceipt.transfer_id == t.id)
            .order_by(TransferReceipt.created_at, TransferReceipt.id)
        ).scalars()
    )


def reversals_of(session: Session, t: Transfer) -> list[TransferReversal]:
    return list(
        session.execute(
            select(TransferReversal)
            .where(TransferReversal.transfer_id == t.id)
            .order_by(TransferReversal.created_at, TransferReversal.id)
        ).scalars()
    )
