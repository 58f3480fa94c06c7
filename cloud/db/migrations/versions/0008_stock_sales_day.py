"""stock_sales_day: net units shipped per SKU, warehouse and UTC day, from the ledger

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-04 14:00:00

The stock views' sales columns (today, 7 d, 30 d) summed a month of ship movements for
every page; this table holds the same sums per day, kept by the ledger in the transaction
of each movement (cloud/stock/ledger.py). Existing movements are summed into it here. And an
index of stock levels by SKU: the views read a page of SKUs across warehouses.

It revises 0009 (pick leases, written in parallel and merged first): one line of history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_sales_day",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("sku_code", sa.String(length=120), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["warehouse_id"], ["warehouse.id"]),
        sa.PrimaryKeyConstraint("account_id", "sku_code", "warehouse_id", "day"),
    )
    op.create_index("ix_stock_level_sku", "stock_level", ["account_id", "sku_code"])
    # The backfill: ship movements and the reversals of ship movements, by the UTC day of
    # their timestamp (stored in UTC on both databases).
    day = (
        "(m.created_at AT TIME ZONE 'UTC')::date"
        if op.get_bind().dialect.name == "postgresql"
        else "date(m.created_at)"
    )
    op.execute(
        "INSERT INTO stock_sales_day (account_id, sku_code, warehouse_id, day, units)"
        f" SELECT m.account_id, m.sku_code, m.warehouse_id, {day}, -SUM(m.qty_delta)"
        " FROM stock_movement m LEFT JOIN stock_movement o ON o.id = m.reverses_id"
        " WHERE m.kind = 'ship' OR (m.kind = 'reversal' AND o.kind = 'ship')"
        f" GROUP BY m.account_id, m.sku_code, m.warehouse_id, {day}"
    )


def downgrade() -> None:
    op.drop_index("ix_stock_level_sku", table_name="stock_level")
    op.drop_table("stock_sales_day")
