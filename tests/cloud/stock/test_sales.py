"""Sales per day (``stock_sales_day``) are the ledger's, and the views' windows stay exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import Account, StockMovement, StockSalesDay
from cloud.orders import arrival, reversals, workflow
from cloud.orders import release as releases
from cloud.orders.core import OrderIn
from cloud.seed import seed_demo
from cloud.stock import ledger as stock
from cloud.stock import views as stock_views
from tests.cloud.conftest import PASSWORD

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"
#: When each order ships: either side of every window's first (partial) day, and today.
SHIPS = (
    NOW - timedelta(days=31),
    NOW - timedelta(days=30, minutes=1),
    NOW - timedelta(days=30) + timedelta(minutes=1),
    NOW - timedelta(days=7, minutes=1),
    NOW - timedelta(days=7) + timedelta(minutes=1),
    NOW - timedelta(days=1),
    NOW - timedelta(hours=9),
    NOW,
)


def _order(no: str, qty: int, warehouse: str) -> OrderIn:
    return OrderIn.model_validate(
        {
            "order_no": no,
            "buyer_nick": "buyer",
            "warehouse": warehouse,
            "recipient": {
                "name": "收件人",
                "phone": "13800000000",
                "province": "湖南省",
                "city": "长沙市",
                "district": "岳麓区",
                "address": "某某路1号2栋",
            },
            "lines": [{"line_id": "1", "sku_code": CASE, "qty": qty, "price_cents": 5900}],
        }
    )


def _ledger_sales(s: Session, account: int, wh: int | None, now: datetime) -> dict[str, int]:
    """The views' sales columns computed the slow way: every ship movement, less reversals."""
    kinds = dict(s.execute(select(StockMovement.id, StockMovement.kind)).all())
    out = {"sales_today": 0, "sales_7d": 0, "sales_30d": 0}
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for m in s.execute(
        select(StockMovement).where(
            StockMovement.account_id == account, StockMovement.sku_code == CASE
        )
    ).scalars():
        sold = m.kind == "ship" or (m.kind == "reversal" and kinds[m.reverses_id] == "ship")
        if not sold or (wh is not None and m.warehouse_id != wh):
            continue
        for col, since in (
            ("sales_today", day),
            ("sales_7d", now - timedelta(days=7)),
            ("sales_30d", now - timedelta(days=30)),
        ):
            if m.created_at >= since:
                out[col] -= m.qty_delta
    return out


def test_sales_per_day_equal_the_ledger_and_windows_are_exact(app_client: TestClient) -> None:
    sessions = app_client.app.state.sessions  # type: ignore[attr-defined]
    start = NOW - timedelta(days=40)
    with sessions() as s, s.begin():
        seed_demo(s, start, password=PASSWORD, node_ids=[])
        acct = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        from cloud.stock.warehouses import WarehouseIn, create_warehouse

        create_warehouse(s, acct, WarehouseIn(code="WH2", name="门店"), "test", start)
        for wh in ("WH1", "WH2"):
            stock.receive(s, acct, wh, CASE, 500, "test", start)
        # Movements that are not sales change nothing in the summary.
        stock.adjust(s, acct, "WH1", CASE, -3, "broken", "test", start)
        stock.transfer(s, acct, "WH1", "WH2", CASE, 5, "test", start)
        made = arrival.create_orders(
            s,
            acct,
            [_order(f"S{i}", 1 + i, "WH2" if i % 3 == 0 else "WH1") for i in range(len(SHIPS))],
            "test",
            start,
        )
        assert all(o.status == "audited" for o in made), [o.status for o in made]
    for i, at in enumerate(SHIPS):
        with sessions() as s, s.begin():
            releases.release(s, acct, f"S{i}", "test", at - timedelta(seconds=1))
            workflow.ship(s, acct, f"S{i}", "test", at)
    with sessions() as s, s.begin():
        # 冲销出库 today of yesterday's shipment: its units come off today's sales.
        reversals.reverse_outbound(s, acct, "S5", "wrong parcel", "test", NOW - timedelta(hours=2))

    with sessions() as s:
        kept = {
            (r.warehouse_id, r.sku_code, r.day): r.units
            for r in s.execute(select(StockSalesDay).where(StockSalesDay.account_id == acct))
            .scalars()
            .all()
        }
        assert kept == stock_views.rebuild_sales(s, acct)
        shipped = sum(1 + i for i in range(len(SHIPS))) - 6  # S5 reversed
        assert sum(n for (_, sku, _), n in kept.items() if sku == CASE) == shipped
        wh1 = stock.warehouse_of(s, acct, "WH1").id
        cols = ["sales_today", "sales_7d", "sales_30d"]
        for now in (NOW, NOW + timedelta(hours=15), NOW + timedelta(days=1, minutes=1)):
            for warehouse, wh in ((None, None), ("WH1", wh1)):
                (row,) = stock_views.stock_view(
                    s,
                    acct,
                    now,
                    warehouse=warehouse,
                    query=CASE,
                    columns=cols,
                    limit=10,
                    offset=0,
                )
                assert {c: row[c] for c in cols} == _ledger_sales(s, acct, wh, now), (now, wh)
