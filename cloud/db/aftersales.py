"""Tables of after-sales (售后, issue 17): requests, their lines, their state history, the
refund instructions finance reads, and each account's after-sales settings; migration
0033_aftersales. Domain: cloud/aftersales/ (docs/inbound.md "Returns and exchanges").

Kept beside ``models.py`` (same ``Base``), as cloud/db/finance.py is.
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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base

#: NUMERIC(18,2), as the books' money (cloud/db/finance.py).
Money = Numeric(18, 2, asdecimal=True)


class AftersalesRequest(Base):
    """An after-sales request (售后单) against one shipped order: a return (退货), an
    exchange (换货) or a refund without goods (仅退款); requested → approved / rejected →
    received → closed (refund-only: approved → closed)."""

    __tablename__ = "aftersales_request"
    __table_args__ = (
        UniqueConstraint("account_id", "number"),
        # A channel's refund becomes one request however often it is downloaded.
        UniqueConstraint("account_id", "source_key", name="uq_aftersales_source"),
        # The station's receipt id is booked once per account.
        UniqueConstraint("account_id", "receipt_id", name="uq_aftersales_receipt"),
        Index("ix_aftersales_list", "account_id", "status", "created_at"),
        Index("ix_aftersales_order", "account_id", "order_no"),
        CheckConstraint("kind IN ('return', 'exchange', 'refund_only')", name="ck_aftersales_kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    number: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    #: "manual" (customer service) or "channel" (a marketplace refund asking for goods back).
    source: Mapped[str] = mapped_column(String(16))
    #: ``channel:<shop id>:<refund id>`` for a channel's refund; None by hand.
    source_key: Mapped[str | None] = mapped_column(String(200))
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"))
    order_no: Mapped[str] = mapped_column(String(64))
    #: Where the goods come back: the order's warehouse.
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(300))
    #: The buyer's return waybill (退货运单号), scanned at the returns table.
    return_waybill: Mapped[str | None] = mapped_column(String(64))
    #: The receipt booked (the station's or the API caller's id) and its lines as sent.
    receipt_id: Mapped[str | None] = mapped_column(String(64))
    receipt: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    movement_ids: Mapped[list[str] | None] = mapped_column(JSON)
    #: The new order an exchange ships (换货单), through the orders write path.
    exchange_order_no: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime]


class AftersalesLine(Base):
    """Units of one shipped order line asked back (or refunded), and what the QC found."""

    __tablename__ = "aftersales_line"
    __table_args__ = (
        Index("ix_aftersales_line_order", "account_id", "order_id", "order_line_id"),
        CheckConstraint("qty >= 1", name="ck_aftersales_line_qty"),
    )
    request_id: Mapped[int] = mapped_column(
        ForeignKey("aftersales_request.id", ondelete="CASCADE"), primary_key=True
    )
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"))
    order_line_id: Mapped[str] = mapped_column(String(64))
    sku_code: Mapped[str] = mapped_column(String(120))
    qty: Mapped[int]
    #: What an exchange sends instead (the same SKU when None).
    exchange_sku_code: Mapped[str | None] = mapped_column(String(120))
    #: The refund due for the line (the order's price, its discount shared out, half-up).
    amount: Mapped[Decimal] = mapped_column(Money)
    sellable: Mapped[int] = mapped_column(Integer, default=0)
    damaged: Mapped[int] = mapped_column(Integer, default=0)
    missing: Mapped[int] = mapped_column(Integer, default=0)
    damage_reason: Mapped[str | None] = mapped_column(String(300))


class AftersalesLog(Base):
    """The request's state history, for customer service (who, when, why)."""

    __tablename__ = "aftersales_log"
    __table_args__ = (Index("ix_aftersales_log_request", "request_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    request_id: Mapped[int] = mapped_column(ForeignKey("aftersales_request.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(80))
    #: The English the API answers: a sentence the hub wrote, or a person's words as typed.
    reason: Mapped[str | None] = mapped_column(String(300))
    #: The sentence's message id and parameters (cloud/orders/reasons.py ``written``), so the
    #: page says it in its language (migration 0048); null for a person's words.
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime]


class AftersalesRefund(Base):
    """A refund instruction for finance (退款): one row per request line, written once."""

    __tablename__ = "aftersales_refund"
    __table_args__ = (
        UniqueConstraint("request_id", "line_no"),
        Index("ix_aftersales_refund_account", "account_id", "status"),
        CheckConstraint("amount >= 0", name="ck_aftersales_refund_amount"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    request_id: Mapped[int] = mapped_column(ForeignKey("aftersales_request.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    order_no: Mapped[str] = mapped_column(String(64))
    sku_code: Mapped[str] = mapped_column(String(120))
    qty: Mapped[int]
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    #: pending → confirmed (its refund entry is in the books, ``entry_id``) → paid (a
    #: settlement row paid it back to the buyer, ``paid_by``); written only through
    #: cloud/aftersales/refunds.py.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime]
    entry_id: Mapped[int | None] = mapped_column(Integer)
    #: The settlement row (its 账务流水号) that paid it, or "hand:<actor>".
    paid_by: Mapped[str | None] = mapped_column(String(120))
    changed_at: Mapped[datetime | None]


class AftersalesSetting(Base):
    """An account's after-sales settings: where damaged returns go (售后坏品仓; None: the
    damaged bucket of the warehouse they arrive at) and when an exchange ships."""

    __tablename__ = "aftersales_setting"
    __table_args__ = (
        CheckConstraint(
            "exchange_at IN ('received', 'approval')", name="ck_aftersales_exchange_at"
        ),
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    damaged_warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse.id"))
    exchange_at: Mapped[str] = mapped_column(String(16), default="received")
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime]


class AftersalesDamagedRoute(Base):
    """Where damaged returns received at one warehouse go: a damaged-goods warehouse
    (售后坏品仓) of the same account (migration 0040_damaged_routes). It comes before the
    account's ``AftersalesSetting.damaged_warehouse_id``; without either, damaged returns
    stay in the damaged bucket of the warehouse they arrive at (cloud/aftersales/routes.py)."""

    __tablename__ = "aftersales_damaged_route"
    __table_args__ = (
        CheckConstraint(
            "damaged_warehouse_id <> warehouse_id", name="ck_aftersales_damaged_route_other"
        ),
    )
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    damaged_warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime]
