"""Tables of the e-invoices (数电票; cloud/finance/einvoice, docs/finance.md "E-invoices");
migration 0029_einvoice.

An ``einvoice`` row is both the document and its job: ``state`` says what the worker does
next (send, query, poll the red-letter form, retry the seal) and ``next_try_at`` when — also
the lease a worker takes before it talks to the provider, so two hub processes never work
one invoice at once. ``request_no`` is the order number the provider knows the invoice by:
its idempotency key, so a resend after a lost answer finds the invoice made before.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.finance import Money
from cloud.db.models import Base

KINDS = ("blue", "red")
#: blue: waiting (a title change's new blue, until its red is issued) → queued → sending →
#: issuing ⇄ seal_failed → issued | failed. red: queued → sending → confirming (the form
#: waits for the buyer) → issuing → issued | voided (form void or refused) | failed.
STATES = (
    "waiting",
    "queued",
    "sending",
    "confirming",
    "issuing",
    "seal_failed",
    "issued",
    "failed",
    "voided",
)
ACTIVE = ("waiting", "queued", "sending", "confirming", "issuing", "seal_failed")


class EInvoiceSeller(Base):
    """A seller's connection to the e-invoice provider (one per seller account)."""

    __tablename__ = "einvoice_seller"
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))  # "nuonuo"
    url: Mapped[str] = mapped_column(String(300))
    app_key: Mapped[str] = mapped_column(String(64))
    app_secret: Mapped[str] = mapped_column(String(128))
    access_token: Mapped[str] = mapped_column(String(256))
    seller_tax_id: Mapped[str] = mapped_column(String(20))
    seller_name: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Invoices asked for with channel orders are requested at shipping under this 19-digit
    #: tax classification code and rate (migration 0037); None: by hand only.
    auto_tax_code: Mapped[str | None] = mapped_column(String(19))
    auto_rate: Mapped[str | None] = mapped_column(String(8))


class EInvoice(Base):
    __tablename__ = "einvoice"
    __table_args__ = (
        UniqueConstraint("account_id", "request_no", name="uq_einvoice_request"),
        UniqueConstraint("id", "account_id", name="uq_einvoice_id_account"),
        # A red and a title change's blue point at invoices of the same seller.
        ForeignKeyConstraint(["blue_id", "account_id"], ["einvoice.id", "einvoice.account_id"]),
        ForeignKeyConstraint(["after_id", "account_id"], ["einvoice.id", "einvoice.account_id"]),
        CheckConstraint("kind IN ('blue', 'red')", name="ck_einvoice_kind"),
        CheckConstraint(
            "state IN ('waiting', 'queued', 'sending', 'confirming', 'issuing', "
            "'seal_failed', 'issued', 'failed', 'voided')",
            name="ck_einvoice_state",
        ),
        CheckConstraint("kind = 'blue' OR blue_id IS NOT NULL", name="ck_einvoice_red_of"),
        Index("ix_einvoice_due", "state", "next_try_at"),
        Index("ix_einvoice_order", "account_id", "order_no"),
        Index("ix_einvoice_recent", "account_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"))
    request_no: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(4))
    state: Mapped[str] = mapped_column(String(16))
    #: The sales order it was asked for (None: by hand).
    order_no: Mapped[str | None] = mapped_column(String(64))
    #: A red: the blue it reverses.
    blue_id: Mapped[int | None] = mapped_column(Integer)
    #: A title change's new blue: the red it waits for.
    after_id: Mapped[int | None] = mapped_column(Integer)
    buyer_name: Mapped[str] = mapped_column(String(100))
    buyer_tax_id: Mapped[str | None] = mapped_column(String(20))
    buyer_email: Mapped[str | None] = mapped_column(String(120))
    #: A red: 01 开票有误, 02 销货退回, 03 服务中止, 04 销售折让.
    red_reason: Mapped[str | None] = mapped_column(String(2))
    amount: Mapped[Decimal] = mapped_column(Money)
    tax: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    serial_no: Mapped[str | None] = mapped_column(String(40))
    number: Mapped[str | None] = mapped_column(String(20))
    pdf_url: Mapped[str | None] = mapped_column(String(500))
    ofd_url: Mapped[str | None] = mapped_column(String(500))
    form_id: Mapped[str | None] = mapped_column(String(40))
    form_state: Mapped[str | None] = mapped_column(String(2))
    #: Why it failed, or the provider's last refusal or transport error (kept for the page).
    reason: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EInvoiceLine(Base):
    """A line: 19-digit tax classification code, rate, amount without tax and tax (half up).

    A red's lines are negative and name the blue line they reverse (``blue_line``)."""

    __tablename__ = "einvoice_line"
    __table_args__ = (
        ForeignKeyConstraint(
            ["einvoice_id", "account_id"],
            ["einvoice.id", "einvoice.account_id"],
            ondelete="CASCADE",
        ),
    )
    einvoice_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"))
    name: Mapped[str] = mapped_column(String(100))
    tax_code: Mapped[str] = mapped_column(String(19))
    rate: Mapped[Decimal] = mapped_column(Numeric(5, 4, asdecimal=True))
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    tax: Mapped[Decimal] = mapped_column(Money)
    blue_line: Mapped[int | None] = mapped_column(Integer)
