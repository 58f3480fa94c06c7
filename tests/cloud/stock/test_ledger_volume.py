"""One posting of many movements: locked in chunks, one order, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud import accounts
from cloud.db.models import BinLevel, StockLevel, Warehouse
from cloud.stock import ledger


def test_ten_thousand_skus_in_one_posting(app_client: TestClient) -> None:
    """A stocktake of 10,000 lines (the message allows that many) posts 10,000 moves at once.
    On PostgreSQL one locking SELECT with 10,000 row values in its IN list exceeded
    max_stack_depth ("stack depth limit exceeded"): the dashboard's 10,000-SKU seed failed."""
    now = datetime.now(UTC)
    sessions = app_client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s, s.begin():
        acct = accounts.create_account(s, "volume", now).id
        wh = Warehouse(account_id=acct, code="V1", name="V1", changed_by="test", changed_at=now)
        s.add(wh)
        s.flush()
        moves = [
            ledger.Move(
                warehouse_id=wh.id,
                sku_code=f"VOL-{i:05d}",
                kind="adjust",
                reason="count",
                document="count-1",
                actor="test",
                qty_delta=1 + i % 3,
                bin_code=f"B{i % 50:02d}",
                bin_delta=1 + i % 3,
            )
            for i in range(10_000)
        ]
        assert len(ledger.post(s, acct, moves, now)) == 10_000
    with sessions() as s:
        levels = s.execute(
            select(func.count(), func.sum(StockLevel.on_hand)).where(StockLevel.account_id == acct)
        ).one()
        bins = s.execute(select(func.count()).select_from(BinLevel)).scalar_one()
    assert tuple(levels) == (10_000, sum(1 + i % 3 for i in range(10_000)))
    assert bins >= 10_000
