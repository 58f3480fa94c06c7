"""order search: the recipient's phone (full and last 4 digits), shipped_at, filter indexes

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_order_channel", ["account_id", "channel", "created_at"]),
    ("ix_order_carrier", ["account_id", "carrier", "created_at"]),
    ("ix_order_warehouse", ["account_id", "warehouse_id", "created_at"]),
    ("ix_order_shipped", ["account_id", "shipped_at"]),
    ("ix_order_phone", ["account_id", "phone"]),
    ("ix_order_phone_tail", ["account_id", "phone_tail"]),
)


def _phone(recipient: object) -> tuple[str | None, str | None]:
    # As cloud/orders/core.py phone_columns (a migration keeps its own copy: the code moves on).
    raw = recipient.get("phone") if isinstance(recipient, dict) else None
    digits = "".join(ch for ch in str(raw or "") if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return (digits[:32], digits[-4:]) if digits else (None, None)


def upgrade() -> None:
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("phone_tail", sa.String(4), nullable=True))
        batch_op.add_column(sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True))
    order = sa.table(
        "sales_order",
        sa.column("id", sa.String),
        sa.column("recipient", sa.JSON),
        sa.column("phone", sa.String),
        sa.column("phone_tail", sa.String),
        sa.column("shipped_at", sa.DateTime(timezone=True)),
        sa.column("status", sa.String),
    )
    bind = op.get_bind()
    # Existing orders: the phone from the stored recipient, in batches (portable, bounded memory).
    last = ""
    while True:
        rows = bind.execute(
            sa.select(order.c.id, order.c.recipient)
            .where(order.c.id > last)
            .order_by(order.c.id)
            .limit(5000)
        ).all()
        if not rows:
            break
        values = [{"i": r.id, "p": p, "t": t} for r in rows for p, t in [_phone(r.recipient)] if p]
        if values:
            bind.execute(
                order.update()
                .where(order.c.id == sa.bindparam("i"))
                .values(phone=sa.bindparam("p"), phone_tail=sa.bindparam("t")),
                values,
            )
        last = rows[-1].id
    log = sa.table(
        "order_log",
        sa.column("order_id", sa.String),
        sa.column("to_status", sa.String),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    shipped = (
        sa.select(sa.func.max(log.c.at))
        .where(log.c.order_id == order.c.id, log.c.to_status == "shipped")
        .scalar_subquery()
    )
    bind.execute(order.update().where(order.c.status == "shipped").values(shipped_at=shipped))
    with op.batch_alter_table("sales_order", schema=None) as batch_op:
        for name, cols in _INDEXES:
            batch_op.create_index(name, cols, unique=False)


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35), not batch mode: batch mode copies
    # sales_order into a new table and drops the old one, which the rows of other tables that
    # reference it refuse while foreign keys are enforced (our engines enforce them).
    for name, _cols in _INDEXES:
        op.drop_index(name, table_name="sales_order")
    for column in ("shipped_at", "phone_tail", "phone"):
        op.drop_column("sales_order", column)
