"""Fixtures for purchase orders: the demo seller (its PO-2026-001 for 100 MKING covers at
WH1, 5 % tolerance) with a node at WH1, and helpers that read what a request changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.seed import seed_demo
from tests.cloud.conftest import PASSWORD, login

NODE = "wh1-inbound-1"
LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"
CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"


@pytest.fixture
def demo(app_client: TestClient) -> TestClient:
    with app_client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[NODE])
    app_client.headers.update(login(app_client, "admin", account="demo"))
    return app_client


def f10(c: TestClient, sku: str, warehouse: str = "WH1") -> dict[str, Any]:
    """The SKU's F10 row: stock buckets and in transit."""
    rows = c.get(
        f"/api/v1/stock/warehouses/{warehouse}",
        params={"columns": "on_hand,damaged,qc,inbound,purchases", "limit": 1000},
    ).json()
    return next(r for r in rows if r["sku_code"] == sku)


def state(c: TestClient, number: str = "PO-2026-001") -> dict[str, Any]:
    """Everything a refused request must leave alone: the PO, its receipts, the ledger."""
    return {
        "po": c.get(f"/api/v1/purchase-orders/{number}").json(),
        "receipts": c.get(f"/api/v1/purchase-orders/{number}/receipts").json(),
        "movements": c.get("/api/v1/stock/movements", params={"limit": 1000}).json(),
        "f10": f10(c, LEATHER),
    }


def receipt(rid: str, *lines: dict[str, Any], warehouse: str = "WH1") -> dict[str, Any]:
    return {"receipt_id": rid, "warehouse": warehouse, "lines": list(lines)}
