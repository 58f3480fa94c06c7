"""Migration 0019 moves the bare in-transit rows (purchase_inbound) onto documents, and back."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Engine, text

from cloud.db.engine import alembic_config, migrate, session_factory, transaction
from cloud.seed import seed_demo
from cloud.stock import views
from tests.cloud.conftest import PASSWORD

LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"
CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"


def _inbound(engine: Engine, account: int, warehouse: str) -> dict[str, int]:
    with transaction(session_factory(engine)) as s:
        rows = views.stock_view(
            s,
            account,
            datetime.now(UTC),
            warehouse=warehouse,
            query=None,
            columns=["inbound"],
            limit=100,
            offset=0,
        )
    return {r["sku_code"]: r["inbound"] for r in rows if r["inbound"]}


def test_purchase_inbound_rows_become_purchase_orders(engine: Engine) -> None:
    now = datetime.now(UTC)
    with transaction(session_factory(engine)) as s:
        account = seed_demo(s, now, password=PASSWORD, node_ids=[])["account_id"]
    command.downgrade(alembic_config(engine), "0018")
    with engine.begin() as c:
        wh: dict[str, int] = dict(
            c.execute(
                text("SELECT code, id FROM warehouse WHERE account_id = :a"), {"a": account}
            ).all()
        )
        # The seeded PO came back as one in-transit row; add what the old API allowed: the
        # same PO and SKU on a second row, the same number at another warehouse, and a PO
        # received in full without a supplier.
        assert c.execute(
            text("SELECT po_number, qty, received, supplier FROM purchase_inbound")
        ).all() == [("PO-2026-001", 100, 0, "东莞皮具厂")]
        for po, w, sku, qty, got, sup in (
            ("PO-2026-001", "WH1", LEATHER, 20, 20, "东莞皮具厂"),
            ("PO-2026-001", "WH1", CASE, 10, 4, None),
            ("PO-2026-001", "BCP", LEATHER, 7, 0, "东莞皮具厂"),
            ("PO-OLD", "WH1", CASE, 5, 5, None),
        ):
            c.execute(
                text(
                    "INSERT INTO purchase_inbound (account_id, warehouse_id, po_number, sku_code,"
                    " qty, received, eta, supplier, changed_by, changed_at)"
                    " VALUES (:a, :w, :po, :sku, :qty, :got, NULL, :sup, 'test', :now)"
                ),
                {
                    "a": account,
                    "w": wh[w],
                    "po": po,
                    "sku": sku,
                    "qty": qty,
                    "got": got,
                    "sup": sup,
                    "now": now,
                },
            )
    migrate(engine)
    with engine.begin() as c:
        pos = c.execute(
            text(
                "SELECT p.number, w.code, p.status, s.name FROM purchase_order p"
                " JOIN warehouse w ON w.id = p.warehouse_id"
                " LEFT JOIN supplier s ON s.id = p.supplier_id ORDER BY p.number"
            )
        ).all()
        assert pos == [
            ("PO-2026-001", "WH1", "partially_received", "东莞皮具厂"),
            ("PO-2026-001-2", "BCP", "confirmed", "东莞皮具厂"),
            ("PO-OLD", "WH1", "received", None),
        ]
        lines = c.execute(
            text(
                "SELECT p.number, l.sku_code, l.qty, l.received, l.in_transit FROM purchase_order_line l"
                " JOIN purchase_order p ON p.id = l.po_id ORDER BY p.number, l.line_no"
            )
        ).all()
        assert [(n, s, q, r, bool(t)) for n, s, q, r, t in lines] == [
            ("PO-2026-001", LEATHER, 120, 20, True),
            ("PO-2026-001", CASE, 10, 4, True),
            ("PO-2026-001-2", LEATHER, 7, 0, True),
            ("PO-OLD", CASE, 5, 5, False),
        ]
        assert c.execute(text("SELECT count(*) FROM supplier")).scalar_one() == 1
    # The in-transit column reads the same as the rows it came from.
    assert _inbound(engine, account, "WH1") == {LEATHER: 100, CASE: 6}
    assert _inbound(engine, account, "BCP") == {LEATHER: 7}
