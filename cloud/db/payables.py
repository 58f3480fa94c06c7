"""Tables of supplier payables and order money (cloud/finance/payables.py, order_money.py;
docs/finance.md "Supplier payables", "Order money"); migration 0031_payables.

Each row is a document a person (or a client) wrote, with the journal entry it posted:
the document's number is the caller's idempotency key (sent again with the same content it
answers the first; with other content, 409), and the entry's natural key is derived from
it, so a retried request never posts twice.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
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

SUPPLIER_DOC_KINDS = ("payment", "prepayment", "refund", "apply", "invoice")
CONFIRMATION_KINDS = ("paid", "refunded")


class FinSupplierDoc(Base):
    """A supplier payment (付款), prepayment (预付), refund received (退款), prepayment
    applied to the payable (预付冲应付) or VAT invoice received (进项发票)."""

    __tablename__ = "fin_supplier_doc"
    __table_args__ = (
        UniqueConstraint("account_id", "doc_no", name="uq_fin_supplier_doc_no"),
        CheckConstraint(
            "kind IN ('payment', 'prepayment', 'refund', 'apply', 'invoice')",
            name="ck_fin_supplier_doc_kind",
        ),
        CheckConstraint("amount > 0", name="ck_fin_supplier_doc_amount"),
        Index("ix_fin_supplier_doc_supplier", "account_id", "supplier", "doc_date"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"))
    doc_no: Mapped[str] = mapped_column(String(60))
    supplier: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    #: 1002 bank, 1012.01 Alipay, 1012.02 WeChat Pay; None for a prepayment applied or an
    #: invoice.
    paid_from: Mapped[str | None] = mapped_column(String(16))
    #: An invoice's VAT rate and its tax (``amount`` is then the amount without tax).
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    tax: Mapped[Decimal | None] = mapped_column(Money)
    doc_date: Mapped[date] = mapped_column(Date)
    memo: Mapped[str] = mapped_column(String(200), default="")
    entry_id: Mapped[int] = mapped_column(Integer, ForeignKey("fin_entry.id"))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


class FinOrderConfirmation(Base):
    """A payment received or a refund made, confirmed by hand for an order whose channel
    did not report it (订单财务): once per order and kind, with the reason."""

    __tablename__ = "fin_order_confirmation"
    __table_args__ = (
        UniqueConstraint("account_id", "order_no", "kind", name="uq_fin_order_confirmation"),
        CheckConstraint("kind IN ('paid', 'refunded')", name="ck_fin_order_confirmation_kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"))
    order_no: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(String(300))
    entry_id: Mapped[int] = mapped_column(Integer, ForeignKey("fin_entry.id"))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
