"""finance: returns and after-sales refunds into the books; a shipment's cost per SKU

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-06 13:40:00

Issue 18 (docs/finance.md "Returns and after-sales refunds"): ``aftersales_refund`` gets
the entry that booked it, the settlement row that paid it and when it last changed (its
status goes pending → confirmed → paid); ``fin_shipment_cost`` keeps what each shipment's
entry took out of inventory per SKU, so goods returned come back at the cost they left with;
``einvoice_seller`` gets the tax code and rate of invoices asked for with channel orders.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("aftersales_refund", sa.Column("entry_id", sa.Integer(), nullable=True))
    op.add_column("aftersales_refund", sa.Column("paid_by", sa.String(120), nullable=True))
    op.add_column(
        "aftersales_refund", sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("einvoice_seller", sa.Column("auto_tax_code", sa.String(19), nullable=True))
    op.add_column("einvoice_seller", sa.Column("auto_rate", sa.String(8), nullable=True))
    op.create_table(
        "fin_shipment_cost",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("fin_entry.id"), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Numeric(18, 4), nullable=False),
        sa.Column("value", sa.Numeric(18, 2), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "entry_id", "sku"),
    )


def downgrade() -> None:
    op.drop_table("fin_shipment_cost")
    with op.batch_alter_table("einvoice_seller") as t:
        t.drop_column("auto_rate")
        t.drop_column("auto_tax_code")
    with op.batch_alter_table("aftersales_refund") as t:
        t.drop_column("changed_at")
        t.drop_column("paid_by")
        t.drop_column("entry_id")
