"""The serials a fact names, into each unit's trace (docs/inbound.md "Serial trace")."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from cloud.inbound import serial_conflicts
from cloud.stock import serials
from protocol.messages import Event

SERIAL_CONFLICT: Final = serial_conflicts.SERIAL_CONFLICT


def record_serials(session: Session, account_id: int, node: str, ev: Event, now: datetime) -> None:
    """The fact's serials into each unit's trace (cloud/stock/serials.py), whether or not the
    fact booked anything: they say where the unit physically was. A serial seen where one
    unit cannot be (received while in stock, packed into a second order) is kept, flagged,
    and one task asks a person to look at the two units (cloud/inbound/serial_conflicts.py)."""
    found = serials.record(session, account_id, node, ev, now)
    serial_conflicts.open_tasks(session, account_id, node, ev.type, found, now, str(ev.id))
