"""purchase orders as documents: suppliers, POs, lines, receipts; purchase_inbound moved onto them

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 05:00:00

Each (account, PO number, warehouse) of ``purchase_inbound`` becomes a purchase order
(a number seen at a second warehouse gets ``-2``, ``-3``… since numbers are unique per
account); its supplier text becomes a supplier; lines of the same SKU are summed. A PO
with everything received is ``received``, with some ``partially_received``, else
``confirmed``; prices were never recorded and are 0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supplier",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("contact", sa.String(200), nullable=True),
        sa.Column("changed_by", sa.String(80), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "code"),
    )
    op.create_table(
        "purchase_order",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("supplier_id", sa.Integer(), sa.ForeignKey("supplier.id"), nullable=True),
        sa.Column("warehouse_id", sa.Integer(), sa.ForeignKey("warehouse.id"), nullable=False),
        sa.Column("eta", sa.Date(), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("tolerance_pct", sa.Numeric(5, 2), nullable=False),
        sa.Column("status_reason", sa.String(300), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(80), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "number"),
    )
    op.create_index("ix_po_list", "purchase_order", ["account_id", "status", "created_at"])
    op.create_table(
        "purchase_order_line",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("po_id", sa.Integer(), sa.ForeignKey("purchase_order.id"), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), sa.ForeignKey("warehouse.id"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku_code", sa.String(120), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("unit_price", sa.Numeric(18, 4), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("in_transit", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("po_id", "sku_code"),
    )
    op.create_index(
        "ix_po_line_stock", "purchase_order_line", ["account_id", "warehouse_id", "sku_code"]
    )
    op.create_table(
        "purchase_receipt",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("receipt_id", sa.String(64), nullable=False),
        sa.Column("po_id", sa.Integer(), sa.ForeignKey("purchase_order.id"), nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("movement_ids", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "receipt_id"),
    )
    _move_inbound_onto_documents()
    with op.batch_alter_table("purchase_inbound", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_stock")
    op.drop_table("purchase_inbound")


def _move_inbound_onto_documents() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    old = sa.Table("purchase_inbound", meta, autoload_with=conn)
    sup = sa.Table("supplier", meta, autoload_with=conn)
    po = sa.Table("purchase_order", meta, autoload_with=conn)
    line = sa.Table("purchase_order_line", meta, autoload_with=conn)
    rows = conn.execute(sa.select(old).order_by(old.c.id)).mappings().all()
    groups: dict[tuple[int, str, int], list[Any]] = {}
    for r in rows:
        groups.setdefault((r["account_id"], r["po_number"], r["warehouse_id"]), []).append(r)
    suppliers: dict[tuple[int, str], int] = {}
    numbers: dict[tuple[int, str], int] = {}
    for (acct, number, wh), rs in groups.items():
        first = rs[0]
        supplier_id = None
        name = next((r["supplier"] for r in rs if r["supplier"]), None)
        if name:
            if (acct, name) not in suppliers:
                suppliers[(acct, name)] = conn.execute(
                    sup.insert().returning(sup.c.id),
                    {
                        "account_id": acct,
                        "code": name[:64],
                        "name": name,
                        "contact": None,
                        "changed_by": first["changed_by"],
                        "changed_at": first["changed_at"],
                    },
                ).scalar_one()
            supplier_id = suppliers[(acct, name)]
        seen = numbers.get((acct, number), 0) + 1
        numbers[(acct, number)] = seen
        skus: dict[str, list[int]] = {}
        for r in rs:
            q = skus.setdefault(r["sku_code"], [0, 0])
            q[0] += r["qty"]
            q[1] += r["received"]
        got = sum(v[1] for v in skus.values())
        done = all(v[1] >= v[0] for v in skus.values())
        status = "received" if done else "partially_received" if got else "confirmed"
        po_id = conn.execute(
            po.insert().returning(po.c.id),
            {
                "account_id": acct,
                "number": number if seen == 1 else f"{number[:60]}-{seen}",
                "supplier_id": supplier_id,
                "warehouse_id": wh,
                "eta": first["eta"],
                "status": status,
                "tolerance_pct": Decimal(0),
                "status_reason": None,
                "created_by": first["changed_by"],
                "created_at": first["changed_at"],
                "changed_by": first["changed_by"],
                "changed_at": first["changed_at"],
            },
        ).scalar_one()
        for n, (sku, (qty, received)) in enumerate(skus.items(), 1):
            conn.execute(
                line.insert(),
                {
                    "po_id": po_id,
                    "account_id": acct,
                    "warehouse_id": wh,
                    "line_no": n,
                    "sku_code": sku,
                    "qty": qty,
                    "unit_price": Decimal(0),
                    "received": received,
                    "rejected": 0,
                    "in_transit": received < qty and status != "received",
                },
            )


def downgrade() -> None:
    op.create_table(
        "purchase_inbound",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), sa.ForeignKey("warehouse.id"), nullable=False),
        sa.Column("po_number", sa.String(length=64), nullable=False),
        sa.Column("sku_code", sa.String(length=120), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("eta", sa.Date(), nullable=True),
        sa.Column("supplier", sa.String(length=120), nullable=True),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_inbound_stock", "purchase_inbound", ["account_id", "warehouse_id", "sku_code"]
    )
    # Lines still in transit go back as in-transit rows; closed and cancelled POs' rest is
    # no longer expected, so their lines come back as fully received.
    op.execute(
        "INSERT INTO purchase_inbound (account_id, warehouse_id, po_number, sku_code, qty,"
        " received, eta, supplier, changed_by, changed_at)"
        " SELECT l.account_id, l.warehouse_id, p.number, l.sku_code, l.qty,"
        " CASE WHEN l.in_transit THEN l.received ELSE l.qty END, p.eta, s.name,"
        " substr(p.changed_by, 1, 64), p.changed_at"
        " FROM purchase_order_line l JOIN purchase_order p ON p.id = l.po_id"
        " LEFT JOIN supplier s ON s.id = p.supplier_id"
    )
    op.drop_table("purchase_receipt")
    op.drop_index("ix_po_line_stock", table_name="purchase_order_line")
    op.drop_table("purchase_order_line")
    op.drop_index("ix_po_list", table_name="purchase_order")
    op.drop_table("purchase_order")
    op.drop_table("supplier")
