"""Tables of transfers as documents (调拨单, docs/inbound.md "Transfers"); migration 0034_transfers.

Kept beside ``models.py`` (same ``Base``), as cloud/db/waybills.py is. ``cloud.db.migrations.env``
imports this module so Alembic sees every table.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base


class Transfer(Base):
    """A transfer (调拨单): draft → audited (出库审核) → shipped → partially_received → done, or
    cancelled before it ships. Between two warehouses, or two bins of one warehouse."""

    __tablename__ = "transfer"
    __table_args__ = (
        UniqueConstraint("account_id", "number"),
        Index("ix_transfer_list", "account_id", "status", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    number: Mapped[str] = mapped_column(String(64))
    #: ``same_price`` (同价调拨: the goods keep their cost) or ``fixed_cost`` (固定成本: each
    #: line carries the unit cost the receiver books them at).
    kind: Mapped[str] = mapped_column(String(16))
    from_warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    to_warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    #: Bin-to-bin within one warehouse: the bin the goods leave and the one they go to.
    from_bin: Mapped[str | None] = mapped_column(String(64))
    to_bin: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    status_reason: Mapped[str | None] = mapped_column(String(300))
    note: Mapped[str | None] = mapped_column(String(300))
    #: How often it was shipped (a 冲销出库 takes a shipment back; shipping again is the
    #: next one): part of the shipment movements' event keys.
    shipments: Mapped[int] = mapped_column(Integer, default=0)
    #: The pick node of the sending warehouse that picks and ships it (``transfer.outbound``;
    #: migration 0041), chosen at the audit; ``None``: the hub knew no pick node there.
    pick_node: Mapped[str | None] = mapped_column(String(64))
    #: A lead asked the pick node to ship the rest of a transfer shipped short, as the next
    #: shipment (migration 0045; cloud/inbound/transfer_pick.py): who and when. Set, the hub
    #: waits for that shipment; ``None``, for none.
    rest_asked_by: Mapped[str | None] = mapped_column(String(80))
    rest_asked_at: Mapped[datetime | None]
    #: When the hub opened the ``transfer_rest_overdue`` task for the rest asked (migration
    #: 0049; cloud/inbound/transfer_pick.py ``overdue``): once per ask.
    rest_overdue_at: Mapped[datetime | None]
    audited_by: Mapped[str | None] = mapped_column(String(80))
    audited_at: Mapped[datetime | None]
    shipped_by: Mapped[str | None] = mapped_column(String(80))
    shipped_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime]


class TransferLine(Base):
    """One SKU of a transfer. In transit: ``shipped`` less ``received``. Account and the
    receiving warehouse are repeated so the stock views read in-transit by index."""

    __tablename__ = "transfer_line"
    __table_args__ = (
        UniqueConstraint("transfer_id", "sku_code"),
        Index("ix_transfer_line_stock", "account_id", "warehouse_id", "sku_code"),
        CheckConstraint("received <= shipped AND shipped <= qty", name="ck_transfer_line_qty"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfer.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    #: The receiving warehouse.
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    sku_code: Mapped[str] = mapped_column(String(120))
    qty: Mapped[int] = mapped_column(Integer)
    #: Fixed-cost transfers only (NUMERIC(18,4), as purchase prices).
    unit_cost: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    shipped: Mapped[int] = mapped_column(Integer, default=0)
    received: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


class TransferReceipt(Base):
    """Goods of a transfer received at the receiver, keyed by the id its source gave it (the
    API caller's or the station's): the same receipt twice books once."""

    __tablename__ = "transfer_receipt"
    __table_args__ = (
        UniqueConstraint("account_id", "receipt_id"),
        Index("ix_transfer_receipt_doc", "transfer_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    receipt_id: Mapped[str] = mapped_column(String(64))
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfer.id"))
    #: "api" or the node the fact came from.
    source: Mapped[str] = mapped_column(String(80))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    movement_ids: Mapped[list[str]] = mapped_column(JSON)
    #: The 取消入库 that took it back, if any.
    reversal_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


class TransferShipment(Base):
    """A shipment a sending warehouse's node reported (``transfer.shipped``), under the
    node's shipment id: the same id again books nothing (migration 0041). ``shipment`` is the
    transfer's shipment number it became, ``None`` when it shipped nothing."""

    __tablename__ = "transfer_shipment"
    __table_args__ = (
        UniqueConstraint("account_id", "shipment_id"),
        Index("ix_transfer_shipment_doc", "transfer_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shipment_id: Mapped[str] = mapped_column(String(64))
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfer.id"))
    shipment: Mapped[int | None] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(64))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    movement_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class TransferReversal(Base):
    """A reversal of a transfer, with its own record: ``shipment`` (冲销出库: the goods in
    transit back at the sender) or ``receipt`` (取消入库: a receipt's goods back in transit).
    A reversal itself is never reversed."""

    __tablename__ = "transfer_reversal"
    __table_args__ = (Index("ix_transfer_reversal_doc", "transfer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfer.id"))
    kind: Mapped[str] = mapped_column(String(16))
    #: The receipt taken back (kind ``receipt``) or the shipment number (kind ``shipment``).
    receipt_id: Mapped[str | None] = mapped_column(String(64))
    shipment: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300))
    movement_ids: Mapped[list[str]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
