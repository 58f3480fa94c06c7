"""Which receipts hold a serial's units in stock (docs/inbound.md "Seen twice").

A unit received under a serial while another with it is in stock is flagged
(cloud/stock/serials.py). "In stock" is read from the serial's steps: every receipt since
the last step that took a unit out (a pack, a transfer's pick), less the receipts taken
back by 取消入库 (the movement of the unit's PO receipt line reversed,
cloud/orders/reversals.py ``cancel_receipt``; a transfer receipt cancelled on its document,
cloud/inbound/transfer_moves.py ``cancel_receipt``). Each such receipt is a unit of its own:
a third unit with the serial is checked against both earlier ones, a task for each pair,
so a decision on one receipt leaves the other pair flagged
(cloud/inbound/serial_conflicts.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import PurchaseReceipt, StockMovement
from cloud.db.serials import SerialSighting
from cloud.db.transfers import Transfer, TransferReceipt

#: Kinds after which the unit is in the hub's stock, and those after which it has left.
IN: Final = ("received", "transfer_received", "put_away", "counted", "returned")
OUT: Final = ("packed", "transfer_shipped")
RECEIVING: Final = ("received", "transfer_received")

#: A receipt's unit of a SKU: (kind, receipt id, SKU, line; None for rows before 0057).
Key = tuple[str, str | None, str, int | None]


def key(b: SerialSighting) -> Key:
    return (b.kind, b.receipt, b.sku_code, b.line)


def holder(rows: Sequence[SerialSighting]) -> SerialSighting | None:
    """The step that put the unit in the hub's stock, if its last step left it there (a
    pack or a transfer's pick took it out)."""
    for b in reversed(rows):
        if b.kind in OUT:
            return None
        if b.kind in IN and b.kind != "put_away":
            return b
    return None


def holders(rows: Sequence[SerialSighting], cancelled: set[Key]) -> list[SerialSighting]:
    """The units in stock under the serial: each receipt's step since the last step that
    took a unit out, less the cancelled receipts; without a receipt there, the unit a count
    or a return put in stock (:func:`holder`)."""
    out: list[SerialSighting] = []
    for b in reversed(rows):
        if b.kind in OUT:
            break
        if b.kind in RECEIVING and key(b) not in cancelled:
            out.append(b)
    if out:
        return out[::-1]
    last = holder(rows)
    return [] if last is None or last.kind in RECEIVING else [last]


def cancelled(session: Session, account_id: int, rows: Sequence[SerialSighting]) -> set[Key]:
    """The receiving steps among ``rows`` whose receipt was taken back: a PO receipt whose
    movement of the unit's line was reversed (取消入库 takes back one line at a time,
    cloud/orders/reversals.py ``cancel_receipt``; a row before 0057 names no line: then all
    the receipt's movements of that SKU), a transfer receipt cancelled."""
    steps = [b for b in rows if b.kind in RECEIVING and b.receipt is not None]
    out: set[Key] = set()
    po_ids = sorted({str(b.receipt) for b in steps if b.kind == "received"})
    if po_ids:
        moves: dict[tuple[str, str], list[str]] = {}
        line_move: dict[tuple[str, int], tuple[str, str]] = {}
        for rid, lines, ids in session.execute(
            select(
                PurchaseReceipt.receipt_id, PurchaseReceipt.lines, PurchaseReceipt.movement_ids
            ).where(
                PurchaseReceipt.account_id == account_id,
                PurchaseReceipt.receipt_id.in_(po_ids),
            )
        ):
            # One movement per line, in the lines' order (cloud/inbound/receipts.py).
            for n, (ln, mid) in enumerate(zip(lines or [], ids or [], strict=False)):
                moves.setdefault((rid, str(ln["sku_code"])), []).append(str(mid))
                line_move[(rid, n)] = (str(ln["sku_code"]), str(mid))
        wanted = sorted({m for ms in moves.values() for m in ms})
        reversed_ = set(
            session.execute(
                select(StockMovement.reverses_id).where(StockMovement.reverses_id.in_(wanted))
            ).scalars()
            if wanted
            else []
        )
        for b in steps:
            if b.kind != "received":
                continue
            rid = str(b.receipt)
            if b.line is None:
                ms = moves.get((rid, b.sku_code), [])
                taken = bool(ms) and all(m in reversed_ for m in ms)
            else:
                got = line_move.get((rid, b.line))
                taken = got is not None and got[0] == b.sku_code and got[1] in reversed_
            if taken:
                out.add(key(b))
    docs = sorted({b.doc for b in steps if b.kind == "transfer_received"})
    if docs:
        gone = set(
            session.execute(
                select(TransferReceipt.receipt_id)
                .join(Transfer, Transfer.id == TransferReceipt.transfer_id)
                .where(
                    Transfer.account_id == account_id,
                    Transfer.number.in_(docs),
                    TransferReceipt.reversal_id.is_not(None),
                )
            ).scalars()
        )
        out |= {key(b) for b in steps if b.kind == "transfer_received" and b.receipt in gone}
    return out
