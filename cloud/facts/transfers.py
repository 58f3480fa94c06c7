"""A transfer's facts: its shipment from the sender's pick node (transfer.shipped) and its
receipt at the receiver's station (transfer.received), each booked once under its id
(docs/inbound.md "Transfers")."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.db.transfers import Transfer
from cloud.errors import N_, DomainError
from cloud.facts.common import check_at
from cloud.facts.receipts import RECEIPT_CONFLICT
from cloud.inbound import serial_conflicts, transfer_moves, transfer_ship
from protocol.messages import TransferReceived, TransferShipped


def transfer_received(
    session: Session, account_id: int, node: str, ev: TransferReceived, now: datetime
) -> None:
    """A transfer received at a receiving station: booked once under its receipt id
    (cloud/inbound/transfer_moves.py), like a PO receipt. What the hub cannot book (the
    shipment taken back meanwhile, more than was shipped, another warehouse) is kept, books
    nothing and opens a ``receipt_conflict`` task."""
    p = ev.payload
    try:
        check_at(session, account_id, node, p.warehouse)
        with session.begin_nested():
            got, new = transfer_moves.receive(
                session,
                account_id,
                p.transfer_number,
                p.receipt_id,
                p.warehouse,
                [
                    transfer_moves.ReceiptLine(ln.sku_code, ln.qty, ln.verdict, ln.reason, ln.bin)
                    for ln in p.lines
                ],
                f"node:{node}",
                now,
                source=node,
            )
        if new:
            serial_conflicts.not_shipped(
                session, account_id, node, p, got.transfer_id, now, str(ev.id)
            )
    except DomainError as e:
        tasks.open_task(
            session,
            account_id,
            RECEIPT_CONFLICT,
            N_(
                "receipt %(receipt)s from %(node)s for transfer %(transfer)s was not booked:"
                " %(why)s. The goods are at the dock; book them by hand or send them back."
            ),
            now,
            params={
                "receipt": p.receipt_id,
                "node": node,
                "transfer": p.transfer_number,
                "why": tasks.said(e),
            },
            node_id=node,
            event_id=str(ev.id),
        )


SHIPMENT_CONFLICT: Final = "shipment_conflict"


def transfer_shipped(
    session: Session, account_id: int, node: str, ev: TransferShipped, now: datetime
) -> bool:
    """A transfer picked and shipped at the sender's node: booked once under its shipment id
    (cloud/inbound/transfer_ship.py). One the hub cannot book (shipped already, cancelled,
    another warehouse's node) is kept, books nothing, and a task says why. Whether it was
    booked (now or before): only then do its serials enter the units' trace."""
    p = ev.payload
    try:
        with session.begin_nested():
            transfer_ship.book(session, account_id, node, p, now, event_id=str(ev.id))
        return True
    except DomainError as e:
        tasks.open_task(
            session,
            account_id,
            SHIPMENT_CONFLICT,
            N_(
                "shipment %(shipment)s from %(node)s of transfer %(transfer)s was not booked:"
                " %(why)s. The goods were picked; put them back on the shelves."
            ),
            now,
            params={
                "shipment": p.shipment_id,
                "node": node,
                "transfer": p.transfer_number,
                "why": tasks.said(e),
            },
            node_id=node,
            event_id=str(ev.id),
        )
        return False


def lock_transfer(session: Session, account_id: int, number: str) -> None:
    """The transfer's row lock (none for a transfer the hub does not know: the booking
    refuses it with a task)."""
    session.execute(
        select(Transfer.id)
        .where(Transfer.account_id == account_id, Transfer.number == number)
        .with_for_update()
    ).all()
