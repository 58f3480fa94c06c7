"""e-invoices: a seller's provider connection, invoices (document and job), their lines

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 10:40:00

Issue 18, e-invoices (数电票; cloud/db/einvoice.py, cloud/finance/einvoice/).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "einvoice_seller",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("url", sa.String(300), nullable=False),
        sa.Column("app_key", sa.String(64), nullable=False),
        sa.Column("app_secret", sa.String(128), nullable=False),
        sa.Column("access_token", sa.String(256), nullable=False),
        sa.Column("seller_tax_id", sa.String(20), nullable=False),
        sa.Column("seller_name", sa.String(200), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "einvoice",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("request_no", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("order_no", sa.String(64), nullable=True),
        sa.Column("blue_id", sa.Integer(), nullable=True),
        sa.Column("after_id", sa.Integer(), nullable=True),
        sa.Column("buyer_name", sa.String(100), nullable=False),
        sa.Column("buyer_tax_id", sa.String(20), nullable=True),
        sa.Column("buyer_email", sa.String(120), nullable=True),
        sa.Column("red_reason", sa.String(2), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("tax", MONEY, nullable=False),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("serial_no", sa.String(40), nullable=True),
        sa.Column("number", sa.String(20), nullable=True),
        sa.Column("pdf_url", sa.String(500), nullable=True),
        sa.Column("ofd_url", sa.String(500), nullable=True),
        sa.Column("form_id", sa.String(40), nullable=True),
        sa.Column("form_state", sa.String(2), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("issued_at", TS, nullable=True),
        sa.UniqueConstraint("account_id", "request_no", name="uq_einvoice_request"),
        sa.UniqueConstraint("id", "account_id", name="uq_einvoice_id_account"),
        sa.ForeignKeyConstraint(["blue_id", "account_id"], ["einvoice.id", "einvoice.account_id"]),
        sa.ForeignKeyConstraint(["after_id", "account_id"], ["einvoice.id", "einvoice.account_id"]),
        sa.CheckConstraint("kind IN ('blue', 'red')", name="ck_einvoice_kind"),
        sa.CheckConstraint(
            "state IN ('waiting', 'queued', 'sending', 'confirming', 'issuing', "
            "'seal_failed', 'issued', 'failed', 'voided')",
            name="ck_einvoice_state",
        ),
        sa.CheckConstraint("kind = 'blue' OR blue_id IS NOT NULL", name="ck_einvoice_red_of"),
    )
    op.create_index("ix_einvoice_due", "einvoice", ["state", "next_try_at"])
    op.create_index("ix_einvoice_order", "einvoice", ["account_id", "order_no"])
    op.create_index("ix_einvoice_recent", "einvoice", ["account_id", "created_at"])
    op.create_table(
        "einvoice_line",
        sa.Column("einvoice_id", sa.Integer(), primary_key=True),
        sa.Column("line_no", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("tax_code", sa.String(19), nullable=False),
        sa.Column("rate", sa.Numeric(5, 4), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("tax", MONEY, nullable=False),
        sa.Column("blue_line", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["einvoice_id", "account_id"],
            ["einvoice.id", "einvoice.account_id"],
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("einvoice_line")
    op.drop_index("ix_einvoice_recent", "einvoice")
    op.drop_index("ix_einvoice_order", "einvoice")
    op.drop_index("ix_einvoice_due", "einvoice")
    op.drop_table("einvoice")
    op.drop_table("einvoice_seller")
