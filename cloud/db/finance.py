"""Tables of the books (cloud/finance, docs/finance.md); migration 0021_finance.

Kept beside ``models.py`` (same ``Base``) rather than in it: that module is long already.
``cloud.db.migrations.env`` imports this module so Alembic sees every table.

What the database itself guarantees (the triggers are in the migration, per dialect):
an entry's legs sum to zero per currency and are at least two; posted entries and their legs
are never updated or deleted; nothing is posted into a closed period; a closed period stays
closed. A leg belongs to an entry and an account *of the same seller* and in the account's
one currency: composite foreign keys on SQLite; on PostgreSQL the legs' statement trigger
checks the same over all the rows of an INSERT at once, and the accounts keep their id,
seller and currency and are never deleted (migration 0047_finance_set_guards: per-row
foreign-key checks were the largest cost of posting, docs/benchmarks.md, Finance).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base

#: NUMERIC(18,2): 16 digits before the point, two after (issue 18). Decimal in, Decimal out.
Money = Numeric(18, 2, asdecimal=True)
#: Quantities for the moving-average cost (a unit may be fractional: kilograms, metres).
Quantity = Numeric(18, 4, asdecimal=True)

ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense")


class FinAccount(Base):
    """An account of a seller's chart: one currency each (django-hordak's rule)."""

    __tablename__ = "fin_account"
    __table_args__ = (
        UniqueConstraint("account_id", "code"),
        # Targets of the legs' composite foreign key (same seller, same currency).
        UniqueConstraint("id", "account_id", "currency", name="uq_fin_account_id_currency"),
        CheckConstraint(
            "type IN ('asset', 'liability', 'equity', 'income', 'expense')",
            name="ck_fin_account_type",
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))


class FinPeriod(Base):
    """A closed month ('YYYY-MM') of one seller: a row here means closed, for good."""

    __tablename__ = "fin_period"
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    closed_at: Mapped[datetime]
    closed_by: Mapped[str] = mapped_column(String(120))


class FinEntry(Base):
    """A journal entry. Its natural key (seller, source document, event kind) is unique: a
    retried event finds the entry it already made instead of posting twice."""

    __tablename__ = "fin_entry"
    __table_args__ = (
        UniqueConstraint("account_id", "source_doc", "event_kind", name="uq_fin_entry_natural"),
        UniqueConstraint("id", "account_id", name="uq_fin_entry_id_account"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"))
    source_doc: Mapped[str] = mapped_column(String(64))
    event_kind: Mapped[str] = mapped_column(String(32))
    entry_date: Mapped[date] = mapped_column(Date)
    memo: Mapped[str] = mapped_column(String(200), default="")
    posted: Mapped[bool] = mapped_column(Boolean, default=False)
    reverses_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("fin_entry.id"))
    created_at: Mapped[datetime]


class FinLeg(Base):
    """One leg: a signed amount (debit positive, credit negative) on one account."""

    __tablename__ = "fin_leg"
    __table_args__ = (
        ForeignKeyConstraint(
            ["entry_id", "account_id"],
            ["fin_entry.id", "fin_entry.account_id"],
            name="fk_fin_leg_entry",
        ),
        ForeignKeyConstraint(
            ["fin_account_id", "account_id", "currency"],
            ["fin_account.id", "fin_account.account_id", "fin_account.currency"],
            name="fk_fin_leg_account",
        ),
        Index("ix_fin_leg_entry", "entry_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(Integer)
    fin_account_id: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))


class FinBalance(Base):
    """Per account and month: the sum of its posted legs, kept in the posting's transaction
    (cloud/finance/ledger.py) so a trial balance reads a few rows, not every leg."""

    __tablename__ = "fin_balance"
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"))
    fin_account_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("fin_account.id"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    legs: Mapped[int] = mapped_column(Integer)


class FinItemCost(Base):
    """Moving-average cost per SKU: quantity on hand and its value (issue 18: cost of goods
    sold at moving average; the stock ledger keeps quantities only)."""

    __tablename__ = "fin_item_cost"
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    value: Mapped[Decimal] = mapped_column(Money)


class FinShipmentCost(Base):
    """What a shipment's entry took out of inventory, per SKU (migration 0037): goods that
    come back later return at the cost they left with, not at today's average."""

    __tablename__ = "fin_shipment_cost"
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(Integer, ForeignKey("fin_entry.id"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    value: Mapped[Decimal] = mapped_column(Money)


class FinCursor(Base):
    """How far the poster (cloud/finance/poster.py) has read one stream of business facts
    of one seller: the id of the last fact posted. Moved in the transaction that posts the
    facts' entries, so a crash leaves both or neither (migration 0022_finance_cursor)."""

    __tablename__ = "fin_cursor"
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"), primary_key=True)
    #: "receipts" (purchase_receipt.id), "orders" (order_log.id) or "aftersales"
    #: (aftersales_log.id).
    stream: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    posted: Mapped[int] = mapped_column(Integer, default=0)
    #: Why the stream stopped at the fact after ``position`` (None when it did not).
    error: Mapped[str | None] = mapped_column(String(300))
    changed_at: Mapped[datetime]
