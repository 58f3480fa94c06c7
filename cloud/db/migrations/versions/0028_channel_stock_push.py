"""channel stock push: a shop's stock policy, a row per (shop, SKU), triggers that mark it

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 07:45:00

Issue 16, stock push (同步库存; cloud/channels/stock_push.py). ``channel_stock_item`` is the
outbox of the push, coalesced per (shop, SKU): a change of a SKU's stock level or of an open
purchase line marks the SKU's row of every shop whose push is on (``dirty``, ``gen`` + 1).
Triggers do it, so that whoever writes the stock (the ledger, a bulk import, a script) marks
the row in its own transaction: a change committed is a push owed, never forgotten.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

UPSERT = """
INSERT INTO channel_stock_item (account_id, shop_id, sku_code, dirty, gen, state, seq, attempts)
SELECT p.account_id, p.shop_id, {row}.sku_code, {true}, 1, 'new', 0, 0
FROM channel_stock_policy p WHERE p.account_id = {row}.account_id AND p.enabled
ON CONFLICT (shop_id, sku_code) DO UPDATE SET dirty = {true},
    gen = channel_stock_item.gen + 1, next_try_at = NULL
"""
LEVEL_CHANGED = "OLD.on_hand <> NEW.on_hand OR OLD.reserved <> NEW.reserved"
PO_CHANGED = (
    "OLD.qty <> NEW.qty OR OLD.received <> NEW.received OR OLD.in_transit <> NEW.in_transit"
    " OR OLD.sku_code <> NEW.sku_code"
)


def upgrade() -> None:
    op.create_table(
        "channel_stock_policy",
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("safety_stock", sa.Integer(), nullable=False),
        sa.Column("share_pct", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("share_pct BETWEEN 0 AND 100", name="ck_channel_stock_share"),
        sa.CheckConstraint("safety_stock >= 0", name="ck_channel_stock_safety"),
    )
    op.create_index("ix_channel_stock_policy_account", "channel_stock_policy", ["account_id"])
    op.create_table(
        "channel_stock_item",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("channel_shop.id"), nullable=False),
        sa.Column("sku_code", sa.String(120), nullable=False),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.Column("gen", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("num_iid", sa.String(32), nullable=True),
        sa.Column("sku_id", sa.String(32), nullable=True),
        sa.Column("base", sa.BigInteger(), nullable=True),
        sa.Column("target", sa.BigInteger(), nullable=True),
        sa.Column("channel_qty", sa.BigInteger(), nullable=True),
        sa.Column("pending_delta", sa.BigInteger(), nullable=True),
        sa.Column("pending_key", sa.String(64), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(80), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("shop_id", "sku_code"),
    )
    op.create_index("ix_channel_stock_item_due", "channel_stock_item", ["dirty", "next_try_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION channel_stock_mark() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "DECLARE r record;\nBEGIN\n"
            "IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;\n"
            + UPSERT.format(row="r", true="true")
            + ";\nRETURN NULL;\nEND $$"
        )
        op.execute(
            "CREATE TRIGGER channel_stock_level AFTER UPDATE ON stock_level FOR EACH ROW"
            f" WHEN ({LEVEL_CHANGED}) EXECUTE FUNCTION channel_stock_mark()"
        )
        op.execute(
            "CREATE TRIGGER channel_stock_po_update AFTER UPDATE ON purchase_order_line"
            f" FOR EACH ROW WHEN ({PO_CHANGED}) EXECUTE FUNCTION channel_stock_mark()"
        )
        op.execute(
            "CREATE TRIGGER channel_stock_po_write AFTER INSERT OR DELETE ON purchase_order_line"
            " FOR EACH ROW EXECUTE FUNCTION channel_stock_mark()"
        )
        return
    # SQLite: one trigger per event (no shared function); NEW or OLD named in each.
    for name, event, row, when in (
        ("channel_stock_level", "UPDATE", "NEW", LEVEL_CHANGED),
        ("channel_stock_po_update", "UPDATE", "NEW", PO_CHANGED),
        ("channel_stock_po_insert", "INSERT", "NEW", "1"),
        ("channel_stock_po_delete", "DELETE", "OLD", "1"),
    ):
        table = "stock_level" if name == "channel_stock_level" else "purchase_order_line"
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} WHEN {when} BEGIN"
            + UPSERT.format(row=row, true="1")
            + "; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in (
            ("channel_stock_level", "stock_level"),
            ("channel_stock_po_update", "purchase_order_line"),
            ("channel_stock_po_write", "purchase_order_line"),
        ):
            op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute("DROP FUNCTION channel_stock_mark()")
    else:
        for name in (
            "channel_stock_level",
            "channel_stock_po_update",
            "channel_stock_po_insert",
            "channel_stock_po_delete",
        ):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("channel_stock_item")
    op.drop_table("channel_stock_policy")
