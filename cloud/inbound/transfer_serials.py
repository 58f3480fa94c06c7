"""The serials of a transfer's units in transit (docs/inbound.md "Serials of a transfer's
units"): what the sender's pick scanned (``transfer.shipped`` lines' ``serials``, the node
shipments not taken back by 冲销出库) less what the receiver's stations received
(``transfer.received`` serials in receipts not cancelled by 取消入库, from the serial trace,
cloud/stock/serials.py). Sent to the receiving nodes with ``transfer.release``
(transfer_release.py) so the receiving station takes only those serials; sent for a line
only when every unit in transit on it has a known serial (a hub shipment scans none)."""

from __future__ import annotations

from typing import Final

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.serials import SerialSighting
from cloud.db.transfers import (
    Transfer,
    TransferLine,
    TransferReceipt,
    TransferReversal,
    TransferShipment,
)

#: The serials one ``transfer.release`` carries, in bytes as encoded (JSON, UTF-8: a serial
#: of CJK characters or with quotes is longer than its characters): a downlink batch is at
#: most 1 MiB (protocol/messages.py MAX_BATCH_BYTES) and the release must fit with room to
#: spare. A line whose serials would go beyond lists none, whole lines at a time: the
#: receiving station takes its units as for a hub shipment (docs/inbound.md).
MAX_RELEASE_SERIAL_BYTES: Final = 256 * 1024


def shipped(session: Session, t: Transfer) -> dict[int, list[str]]:
    """Per line, the serials of the node shipments not taken back, in order."""
    taken = set(
        session.execute(
            select(TransferReversal.shipment).where(
                TransferReversal.transfer_id == t.id, TransferReversal.kind == "shipment"
            )
        ).scalars()
    )
    out: dict[int, list[str]] = {}
    for lines, n in session.execute(
        select(TransferShipment.lines, TransferShipment.shipment)
        .where(TransferShipment.transfer_id == t.id, TransferShipment.shipment.is_not(None))
        .order_by(TransferShipment.id)
    ).all():
        if n in taken:
            continue
        for ln in lines:
            out.setdefault(int(ln["line_no"]), []).extend(ln.get("serials") or [])
    return out


def shipped_by_sku(session: Session, t: Transfer) -> dict[str, set[str]]:
    """Per SKU, the serials of the node shipments not taken back."""
    sku_of = {
        n: sku
        for n, sku in session.execute(
            select(TransferLine.line_no, TransferLine.sku_code).where(
                TransferLine.transfer_id == t.id
            )
        ).all()
    }
    out: dict[str, set[str]] = {}
    for line_no, serials in shipped(session, t).items():
        if serials and line_no in sku_of:
            out.setdefault(sku_of[line_no], set()).update(serials)
    return out


def arrived(session: Session, t: Transfer) -> set[str]:
    """The serials received at the receiver in receipts still booked."""
    kept = select(TransferReceipt.receipt_id).where(
        TransferReceipt.transfer_id == t.id, TransferReceipt.reversal_id.is_(None)
    )
    return set(
        session.execute(
            select(SerialSighting.serial).where(
                SerialSighting.account_id == t.account_id,
                SerialSighting.kind == "transfer_received",
                SerialSighting.doc == t.number,
                SerialSighting.receipt.in_(kept),
            )
        ).scalars()
    )


def in_transit(session: Session, t: Transfer, lines: list[TransferLine]) -> dict[int, list[str]]:
    """Per line, the serials in transit, for the lines whose every unit in transit has one."""
    left = shipped(session, t)
    if not any(left.values()):
        return {}
    came = arrived(session, t)
    out: dict[int, list[str]] = {}
    budget = MAX_RELEASE_SERIAL_BYTES
    for ln in lines:
        still = [s for s in left.get(ln.line_no, []) if s not in came]
        size = len(orjson.dumps(still))  # as the release encodes them
        if still and len(still) == ln.shipped - ln.received and size <= budget:
            out[ln.line_no] = still
            budget -= size
    return out
