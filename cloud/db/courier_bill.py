"""Tables of courier bill reconciliation (docs/finance.md "Courier bills"); migration
0030_courier_bill.

A rate card per courier (first weight + additional weight per zone, volumetric divisor, the
courier's weight rounding), the bills imported (one row per file, refused a second time by
its SHA-256) and their lines with what the reconciliation found. Money is NUMERIC(18,2)
(Decimal), weights are whole grams, as the pack station measures them (sales_order.weighed_g).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.finance import Money
from cloud.db.models import Base

#: Parcel sides in centimetres, one decimal (a courier's bill gives 30 or 30.5).
Length = Numeric(8, 1, asdecimal=True)


class CourierRateCard(Base):
    """A courier's rate card: how it turns a parcel's weight into a fee (cloud/finance/rate_cards.py)."""

    __tablename__ = "courier_rate_card"
    __table_args__ = (
        CheckConstraint("first_g > 0 AND step_g > 0 AND precision_g > 0", name="ck_rate_card_g"),
        CheckConstraint(
            "volumetric_divisor IS NULL OR volumetric_divisor > 0", name="ck_rate_card_divisor"
        ),
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    #: Our courier code (carrier.code, the order's ``carrier``).
    carrier: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The first weight (首重) the first fee covers, in grams.
    first_g: Mapped[int] = mapped_column(Integer)
    #: Weight beyond the first is billed in steps of this many grams, rounded up (续重).
    step_g: Mapped[int] = mapped_column(Integer)
    #: The weight is first rounded half up to this many grams (SF: 0.01 kg = 10 g; 1 = none).
    precision_g: Mapped[int] = mapped_column(Integer)
    #: cm³ per kg (L×W×H / divisor = volumetric kg); NULL: the courier bills no volume.
    volumetric_divisor: Mapped[int | None] = mapped_column(Integer)
    #: [{"name", "provinces": [...], "first_fee": "12.00", "per_kg": "2.00"}]; "*" = any.
    zones: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime]


class CourierBill(Base):
    """One courier bill file as imported; ``open`` until accepted into the books."""

    __tablename__ = "courier_bill"
    __table_args__ = (
        # The same file twice is refused (its SHA-256), so nothing is billed twice.
        UniqueConstraint("account_id", "file_hash", name="uq_courier_bill_file"),
        Index("ix_courier_bill_recent", "account_id", "imported_at"),
        CheckConstraint("state IN ('open', 'accepted')", name="ck_courier_bill_state"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    carrier: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(200))
    file_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    lines: Mapped[int] = mapped_column(Integer)
    billed_total: Mapped[Decimal] = mapped_column(Money)
    #: What the reconciliation accepts and disputes (billed = accepted + disputed).
    accepted_total: Mapped[Decimal] = mapped_column(Money)
    disputed_total: Mapped[Decimal] = mapped_column(Money)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    imported_by: Mapped[str] = mapped_column(String(80))
    imported_at: Mapped[datetime]
    accepted_by: Mapped[str | None] = mapped_column(String(80))
    accepted_at: Mapped[datetime | None]
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("fin_entry.id"))


class CourierBillLine(Base):
    """A parcel on a bill, with what it was matched to and what was found."""

    __tablename__ = "courier_bill_line"
    __table_args__ = (
        UniqueConstraint("bill_id", "row_no", name="uq_courier_bill_line_row"),
        Index("ix_courier_bill_line_tracking", "account_id", "tracking_number"),
        CheckConstraint("disputed >= 0 AND disputed <= fee", name="ck_courier_bill_line_disputed"),
        CheckConstraint(
            "resolution IS NULL OR resolution IN ('credited', 'paid', 'split')",
            name="ck_courier_bill_line_resolution",
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    bill_id: Mapped[int] = mapped_column(ForeignKey("courier_bill.id"))
    #: The row of the file (1 = the header), as a person finds it in the spreadsheet.
    row_no: Mapped[int] = mapped_column(Integer)
    tracking_number: Mapped[str] = mapped_column(String(64))
    shipped_on: Mapped[date] = mapped_column(Date)
    destination: Mapped[str] = mapped_column(String(120))
    billed_g: Mapped[int] = mapped_column(Integer)
    fee: Mapped[Decimal] = mapped_column(Money)
    length_cm: Mapped[Decimal | None] = mapped_column(Length)
    width_cm: Mapped[Decimal | None] = mapped_column(Length)
    height_cm: Mapped[Decimal | None] = mapped_column(Length)
    #: Our order shipped under this tracking number (None: we never shipped it).
    order_no: Mapped[str | None] = mapped_column(String(64))
    weighed_g: Mapped[int | None] = mapped_column(Integer)
    #: Our chargeable weight after the card's rounding, and the fee the card gives for it.
    charged_g: Mapped[int | None] = mapped_column(Integer)
    expected_fee: Mapped[Decimal | None] = mapped_column(Money)
    #: missing, duplicate, overweight, overcharged, no_rate, unweighed
    flags: Mapped[list[str]] = mapped_column(JSON)
    #: The part of ``fee`` not accepted (into suspense 1901 on accept).
    disputed: Mapped[Decimal] = mapped_column(Money)
    resolution: Mapped[str | None] = mapped_column(String(16))
    #: Of ``disputed``: what the courier credited (the rest is paid after all).
    credited: Mapped[Decimal | None] = mapped_column(Money)
    resolved_by: Mapped[str | None] = mapped_column(String(80))
    resolved_at: Mapped[datetime | None]
    resolution_entry_id: Mapped[int | None] = mapped_column(ForeignKey("fin_entry.id"))
