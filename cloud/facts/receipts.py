"""A receiving station's PO receipt (po.received), booked once under its receipt id
(docs/inbound.md "Receipts")."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from cloud import tasks
from cloud.errors import N_, DomainError
from cloud.facts.common import check_at
from cloud.inbound import receipts
from protocol.messages import PoReceived

RECEIPT_CONFLICT: Final = "receipt_conflict"


def po_received(
    session: Session, account_id: int, node: str, ev: PoReceived, now: datetime
) -> None:
    """A receipt made at a receiving station: booked once under its receipt id
    (cloud/inbound/receipts.py). Goods a station took in that the hub cannot book (the PO
    closed meanwhile, beyond tolerance, a warehouse the node is not at) are physically
    there: the fact is kept, nothing is booked, and a task asks a person to decide."""
    p = ev.payload
    try:
        check_at(session, account_id, node, p.warehouse)
        with session.begin_nested():
            receipts.book(
                session,
                account_id,
                p.po_number,
                p.receipt_id,
                p.warehouse,
                [
                    receipts.ReceiptLine(ln.sku_code, ln.qty, ln.verdict, ln.reason, ln.bin)
                    for ln in p.lines
                ],
                f"node:{node}",
                now,
                source=node,
            )
    except DomainError as e:
        tasks.open_task(
            session,
            account_id,
            RECEIPT_CONFLICT,
            N_(
                "receipt %(receipt)s from %(node)s for purchase order %(po)s was not booked:"
                " %(why)s. The goods are at the dock; book them by hand or return them."
            ),
            now,
            params={"receipt": p.receipt_id, "node": node, "po": p.po_number, "why": tasks.said(e)},
            node_id=node,
            event_id=str(ev.id),
        )
