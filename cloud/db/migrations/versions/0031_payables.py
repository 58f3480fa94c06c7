"""finance: supplier payment documents and order money confirmations

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 10:30:00

cloud/db/payables.py: ``fin_supplier_doc`` (supplier payments, prepayments, refunds,
prepayments applied to the payable, and VAT invoices received) and ``fin_order_confirmation`` (a payment received or a
refund made confirmed by hand, once per order and kind). Each row names the journal entry
it posted (cloud/finance/payables.py, order_money.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)


def upgrade() -> None:
    op.create_table(
        "fin_supplier_doc",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("doc_no", sa.String(60), nullable=False),
        sa.Column("supplier", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("paid_from", sa.String(16), nullable=True),
        sa.Column("tax_rate", sa.Numeric(5, 4), nullable=True),
        sa.Column("tax", MONEY, nullable=True),
        sa.Column("doc_date", sa.Date(), nullable=False),
        sa.Column("memo", sa.String(200), nullable=False),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("fin_entry.id"), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account_id", "doc_no", name="uq_fin_supplier_doc_no"),
        sa.CheckConstraint(
            "kind IN ('payment', 'prepayment', 'refund', 'apply', 'invoice')",
            name="ck_fin_supplier_doc_kind",
        ),
        sa.CheckConstraint("amount > 0", name="ck_fin_supplier_doc_amount"),
    )
    op.create_index(
        "ix_fin_supplier_doc_supplier", "fin_supplier_doc", ["account_id", "supplier", "doc_date"]
    )
    op.create_table(
        "fin_order_confirmation",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("order_no", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("fin_entry.id"), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account_id", "order_no", "kind", name="uq_fin_order_confirmation"),
        sa.CheckConstraint("kind IN ('paid', 'refunded')", name="ck_fin_order_confirmation_kind"),
    )


def downgrade() -> None:
    op.drop_table("fin_order_confirmation")
    op.drop_index("ix_fin_supplier_doc_supplier", table_name="fin_supplier_doc")
    op.drop_table("fin_supplier_doc")
