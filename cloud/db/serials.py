"""Where each serial-tracked unit was seen (全程条码跟踪, docs/inbound.md "Serial trace");
migration 0035_serials.

Kept beside ``models.py`` (same ``Base``), as cloud/db/transfers.py is. ``cloud.db.migrations.env``
imports this module so Alembic sees every table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base


class SerialSighting(Base):
    """One unit's serial in one edge fact: issued (its label printed) and received at a
    receiving station, put away in a bin, packed into an order, counted, received from a
    transfer, returned. Written once per fact (ingest applies a (node, seq) once;
    cloud/stock/serials.py). Picks, labels and shipments of the order it was packed in come
    from the order's log when the trace is read, not from rows here."""

    __tablename__ = "serial_sighting"
    __table_args__ = (
        Index("ix_serial_sighting_serial", "account_id", "serial", "at"),
        #: A transfer's serials that arrived (cloud/inbound/transfer_serials.py; 0049).
        Index("ix_serial_sighting_doc", "account_id", "doc", "kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    serial: Mapped[str] = mapped_column(String(128))
    sku_code: Mapped[str] = mapped_column(String(120))
    #: ``issued``, ``received``, ``put_away``, ``packed``, ``counted``, ``transfer_received``,
    #: ``returned`` (cloud/stock/serials.py KINDS).
    kind: Mapped[str] = mapped_column(String(24))
    #: When the node saw it (the event's hybrid clock), else when the hub learnt of it.
    at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    node_id: Mapped[str | None] = mapped_column(String(64))
    warehouse: Mapped[str | None] = mapped_column(String(64))
    bin: Mapped[str | None] = mapped_column(String(64))
    #: The document: a PO number, an order number, a transfer, an after-sales request, a count.
    doc: Mapped[str] = mapped_column(String(64))
    #: The station's receipt id, where the fact has one (a receipt booked twice is one).
    receipt: Mapped[str | None] = mapped_column(String(64))
    #: The receipt line the unit came in on, its index in the receipt's lines (0057): 取消入库
    #: reverses one line's movement, so a receipt cancelled on one of two lines of a SKU
    #: takes back that line's units only (cloud/stock/serial_holders.py). NULL for the
    #: steps of no receipt line and for rows before 0057 (all of the SKU's lines then).
    line: Mapped[int | None] = mapped_column(Integer)
    #: What the station said of the unit: its QC verdict and reason, a return's outcome.
    detail: Mapped[str | None] = mapped_column(String(300))
    #: Why this sighting cannot be (a serial received twice, packed into two orders); a task
    #: was opened for it. ``None``: no conflict.
    conflict: Mapped[str | None] = mapped_column(Text)
    #: The public id of the ``serial_conflict`` task opened for this conflict (0055): the
    #: lead's resolution closes it (cloud/inbound/serial_conflicts.py).
    task: Mapped[str | None] = mapped_column(String(36))
    #: ``detail`` as gettext sentences (``{"msgid", "params"}`` each, joined by ", " when
    #: shown), so the dashboard says it in its language; NULL before 0055.
    said: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class SerialLabelRequest(Base):
    """A label the hub asked a node to print for a serial it issued (``HUB-S…``, a serial
    seen twice and resolved: cloud/inbound/serial_labels.py, docs/inbound.md "The new
    serial's label"); migration 0058_serial_labels. One row per request (``serial.label``):
    the first, and each re-print a lead asked for after a printed one."""

    __tablename__ = "serial_label"
    __table_args__ = (
        UniqueConstraint("account_id", "request", name="uq_serial_label_request"),
        Index("ix_serial_label_serial", "account_id", "serial"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    #: ``<serial>-<n>``: the node prints a request once, however often it comes.
    request: Mapped[str] = mapped_column(String(64))
    serial: Mapped[str] = mapped_column(String(128))
    sku_code: Mapped[str] = mapped_column(String(120))
    warehouse: Mapped[str] = mapped_column(String(64))
    #: The document and receipt the unit came in with, and the serial it carried.
    doc: Mapped[str] = mapped_column(String(64))
    receipt: Mapped[str | None] = mapped_column(String(64))
    replaces: Mapped[str | None] = mapped_column(String(128))
    #: A lead's re-print after a printed label (an explicit action).
    reprint: Mapped[bool] = mapped_column(Boolean, default=False)
    asked_by: Mapped[str] = mapped_column(String(80))
    asked_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(300), default="")
    #: The node it was last sent to; NULL: no receiving node serves the warehouse.
    node_id: Mapped[str | None] = mapped_column(String(64))
    #: How many times it was sent (a "print again" of an unprinted label sends it again).
    sends: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]
    #: From the node's ``serial.label_printed``: when, which node and printer; unconfirmed
    #: when the node lost the printer's answer after sending the job.
    printed_at: Mapped[datetime | None]
    printed_by: Mapped[str | None] = mapped_column(String(64))
    printer: Mapped[str | None] = mapped_column(String(64))
    unconfirmed: Mapped[bool] = mapped_column(Boolean, default=False)
