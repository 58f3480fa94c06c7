"""transfers as documents: transfer, transfer_line, transfer_receipt, transfer_reversal

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06 10:30:00

Issue 17, transfers (调拨单; cloud/transfers/, docs/inbound.md "Transfers"). The old
``POST /stock/transfers`` (two movements at once, cloud/stock/ledger.py ``transfer``) stays;
its movements are not turned into documents (they have no in-transit stage to recover).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def _who(prefix: str, nullable: bool = False) -> list[sa.Column[object]]:
    return [
        sa.Column(f"{prefix}_by", sa.String(80), nullable=nullable),
        sa.Column(f"{prefix}_at", sa.DateTime(timezone=True), nullable=nullable),
    ]


def upgrade() -> None:
    op.create_table(
        "transfer",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_warehouse_id", sa.Integer(), sa.ForeignKey("warehouse.id"), nullable=False),
        sa.Column("to_warehouse_id", sa.Integer(), sa.ForeignKey("warehouse.id"), nullable=False),
        sa.Column("from_bin", sa.String(64), nullable=True),
        sa.Column("to_bin", sa.String(64), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("status_reason", sa.String(300), nullable=True),
        sa.Column("note", sa.String(300), nullable=True),
        sa.Column("shipments", sa.Integer(), nullable=False),
        *_who("audited", True),
        *_who("shipped", True),
        *_who("created"),
        *_who("changed"),
        sa.UniqueConstraint("account_id", "number"),
    )
    op.create_index("ix_transfer_list", "transfer", ["account_id", "status", "created_at"])
    op.create_table(
        "transfer_line",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("transfer_id", sa.Integer(), sa.ForeignKey("transfer.id"), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), sa.ForeignKey("warehouse.id"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku_code", sa.String(120), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Numeric(18, 4), nullable=True),
        sa.Column("shipped", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.UniqueConstraint("transfer_id", "sku_code"),
        sa.CheckConstraint("received <= shipped AND shipped <= qty", name="ck_transfer_line_qty"),
    )
    op.create_index(
        "ix_transfer_line_stock", "transfer_line", ["account_id", "warehouse_id", "sku_code"]
    )
    op.create_table(
        "transfer_receipt",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("receipt_id", sa.String(64), nullable=False),
        sa.Column("transfer_id", sa.Integer(), sa.ForeignKey("transfer.id"), nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("movement_ids", sa.JSON(), nullable=False),
        sa.Column("reversal_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account_id", "receipt_id"),
    )
    op.create_index("ix_transfer_receipt_doc", "transfer_receipt", ["transfer_id"])
    op.create_table(
        "transfer_reversal",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("transfer_id", sa.Integer(), sa.ForeignKey("transfer.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("receipt_id", sa.String(64), nullable=True),
        sa.Column("shipment", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("movement_ids", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_transfer_reversal_doc", "transfer_reversal", ["transfer_id"])


def downgrade() -> None:
    op.drop_table("transfer_reversal")
    op.drop_table("transfer_receipt")
    op.drop_table("transfer_line")
    op.drop_table("transfer")
