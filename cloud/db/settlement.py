"""Tables of platform settlement bills (cloud/finance/settlements.py, docs/finance.md,
"Platform settlements"); migration 0032_settlement.

A bill is one imported file (Alipay's 账务明细, the account-flow bill); its rows are kept as
the file has them, with what the hub made of each: its kind, the order it matched, the
entry it posted, or why it was left for a person. Both tables hold seller data: every row
carries ``account_id``.

Nothing doubled, by the database: a file is known by its SHA-256 per seller
(``uq_settlement_bill_hash``), a row by its 账务流水号 per seller
(``uq_settlement_row_flow``), and an order's sale is settled once
(``uq_settlement_row_match``: ``match_key`` is ``sale:<order no>`` on a matched sale row,
NULL elsewhere, and NULLs never collide on either database).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.finance import Money
from cloud.db.models import Base, new_public_id


class BillFile:
    """What every imported bill file keeps, whatever its platform: a settlement bill
    (below) and a WeChat Pay fund-flow bill (cloud/db/wechat_bills.py). Mixed into each
    table; each adds its own columns and constraints (a file known by its hash per seller)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: What URLs and answers show (a counter would tell how many bills the hub holds).
    public_id: Mapped[str] = mapped_column(String(36), default=new_public_id)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"))
    file_name: Mapped[str] = mapped_column(String(200))
    file_hash: Mapped[str] = mapped_column(String(64))
    period_from: Mapped[date | None] = mapped_column(Date)
    period_to: Mapped[date | None] = mapped_column(Date)
    #: The balance before the first row and after the last one.
    opening: Mapped[Decimal] = mapped_column(Money)
    closing: Mapped[Decimal] = mapped_column(Money)
    rows: Mapped[int] = mapped_column(Integer)
    unmatched: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime]
    imported_by: Mapped[str] = mapped_column(String(120))


class BillLine:
    """What every row of a bill keeps as the file has it, and what the hub made of it
    (``state``, and ``reason`` when it matched nothing)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"))
    #: The row's line in the file (1-based, comment lines counted), for a person to find it.
    line_no: Mapped[int] = mapped_column(Integer)
    #: The platform's flow number (账务流水号, 资金流水单号): the row's natural key.
    flow_no: Mapped[str] = mapped_column(String(64))
    #: The business number (业务流水号, 微信支付业务单号) as the file has it.
    business_no: Mapped[str] = mapped_column(String(64))
    business_type: Mapped[str] = mapped_column(String(64))
    #: When it happened (written in China time), stored in UTC as every timestamp.
    occurred_at: Mapped[datetime]
    amount_in: Mapped[Decimal] = mapped_column(Money)
    amount_out: Mapped[Decimal] = mapped_column(Money)
    balance: Mapped[Decimal] = mapped_column(Money)
    state: Mapped[str] = mapped_column(String(16))
    #: Why it matched nothing, as JSON {"msgid", "params"} so a page translates it
    #: (cloud/finance/settlements.py ``reason_json``).
    reason: Mapped[str | None] = mapped_column(Text)


class SettlementBill(BillFile, Base):
    """One imported settlement bill (a day or a range of a platform payment account)."""

    __tablename__ = "settlement_bill"
    __table_args__ = (
        UniqueConstraint("account_id", "file_hash", name="uq_settlement_bill_hash"),
        UniqueConstraint("public_id", name="uq_settlement_bill_public"),
        Index("ix_settlement_bill_recent", "account_id", "imported_at"),
    )
    #: "alipay" or "wechat" (a WeChat Pay trade bill).
    platform: Mapped[str] = mapped_column(String(16))
    #: The platform account the bill is of (the header's 账号, the trade bill's 商户号).
    payment_account: Mapped[str] = mapped_column(String(64))
    total_in: Mapped[Decimal] = mapped_column(Money)
    total_out: Mapped[Decimal] = mapped_column(Money)
    posted: Mapped[int] = mapped_column(Integer)


class SettlementRow(BillLine, Base):
    """One row of a bill as the file has it, and what the hub made of it."""

    __tablename__ = "settlement_row"
    __table_args__ = (
        UniqueConstraint("account_id", "flow_no", name="uq_settlement_row_flow"),
        UniqueConstraint("account_id", "match_key", name="uq_settlement_row_match"),
        Index("ix_settlement_row_bill", "bill_id", "line_no"),
        Index("ix_settlement_row_state", "account_id", "state"),
    )
    bill_id: Mapped[int] = mapped_column(Integer, ForeignKey("settlement_bill.id"))
    merchant_order_no: Mapped[str] = mapped_column(String(64))
    item_name: Mapped[str] = mapped_column(String(200))
    counterparty: Mapped[str] = mapped_column(String(120))
    pay_channel: Mapped[str] = mapped_column(String(64))
    remark: Mapped[str] = mapped_column(String(300))
    #: sale, commission, fee, refund, margin, chargeback, other.
    kind: Mapped[str] = mapped_column(String(16))
    #: ``state``: posted (an entry), suspense (posted to 1901 for a person to clear),
    #: unmatched (not posted: ``reason`` says why).
    order_no: Mapped[str | None] = mapped_column(String(64))
    match_key: Mapped[str | None] = mapped_column(String(80))
    entry_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("fin_entry.id"))
