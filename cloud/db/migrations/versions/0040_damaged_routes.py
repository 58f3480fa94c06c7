"""aftersales: the damaged-goods warehouse of each receiving warehouse

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-06 16:40:00

Issue 17 (docs/inbound.md "Returns and exchanges"): ``aftersales_damaged_route`` names, per
warehouse that receives returns, the damaged-goods warehouse (售后坏品仓) its damaged
returns are booked into. A warehouse without a row keeps what it did: the account's
after-sales setting, else its own damaged bucket.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aftersales_damaged_route",
        sa.Column("warehouse_id", sa.Integer(), sa.ForeignKey("warehouse.id"), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column(
            "damaged_warehouse_id", sa.Integer(), sa.ForeignKey("warehouse.id"), nullable=False
        ),
        sa.Column("changed_by", sa.String(80), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "damaged_warehouse_id <> warehouse_id", name="ck_aftersales_damaged_route_other"
        ),
    )
    op.create_index(
        "ix_aftersales_damaged_route_account_id", "aftersales_damaged_route", ["account_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_aftersales_damaged_route_account_id", "aftersales_damaged_route")
    op.drop_table("aftersales_damaged_route")
