"""Helpers of the transfer tests: a second warehouse, a SKU with stock of its own, and the
state a refused request must leave alone."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.cloud.inbound.conftest import f10

TR = "/api/v1/transfers"


def wh2(c: TestClient) -> str:
    """WH2, the receiving warehouse (made once per hub)."""
    r = c.post("/api/v1/warehouses", json={"code": "WH2", "name": "二号仓"})
    assert r.status_code in (201, 409), r.text
    return "WH2"


def sku_with_stock(c: TestClient, qty: int = 30, bin_code: str = "A-01") -> str:
    """A SKU of this test with ``qty`` sellable in WH1 (in ``bin_code``)."""
    tag = uuid.uuid4().hex[:8].upper()
    sku = f"TR-{tag}"
    r = c.put(
        f"/api/v1/skus/{sku}",
        json={"sku_code": sku, "name": f"调拨 {tag}", "barcodes": [f"68{tag}"]},
    )
    assert r.status_code < 300, r.text
    r = c.post(
        "/api/v1/stock/receipts",
        json={"warehouse": "WH1", "sku_code": sku, "qty": qty, "bin": bin_code},
    )
    assert r.status_code == 201, r.text
    return sku


def new_transfer(c: TestClient, sku: str, qty: int = 10, **over: Any) -> str:
    number = f"TR-{uuid.uuid4().hex[:8].upper()}"
    body: dict[str, Any] = {
        "number": number,
        "from_warehouse": "WH1",
        "to_warehouse": wh2(c),
        "lines": [{"sku_code": sku, "qty": qty}],
        "audit": True,
    }
    body.update(over)
    r = c.post(TR, json=body)
    assert r.status_code == 201, r.text
    return number


def receipt(rid: str, sku: str, qty: int, warehouse: str = "WH2", **more: Any) -> dict[str, Any]:
    return {
        "receipt_id": rid,
        "warehouse": warehouse,
        "lines": [{"sku_code": sku, "qty": qty, **more}],
    }


def stock(c: TestClient, sku: str, warehouse: str) -> dict[str, int]:
    """The SKU's F10 figures at the warehouse (zeros where it has no level)."""
    rows = c.get(
        f"/api/v1/stock/warehouses/{warehouse}",
        params={"columns": "on_hand,damaged,qc,inbound", "q": sku, "limit": 1000},
    ).json()
    row = next((r for r in rows if r["sku_code"] == sku), None)
    if row is None:
        return {"on_hand": 0, "damaged": 0, "inbound": 0}
    return {k: int(row.get(k) or 0) for k in ("on_hand", "damaged", "inbound")}


def state(c: TestClient, number: str, sku: str) -> dict[str, Any]:
    """Everything a refused request must leave alone."""
    return {
        "transfer": c.get(f"{TR}/{number}").json(),
        "receipts": c.get(f"{TR}/{number}/receipts").json(),
        "reversals": c.get(f"{TR}/{number}/reversals").json(),
        "movements": c.get(
            "/api/v1/stock/movements", params={"sku_code": sku, "limit": 1000}
        ).json(),
        "wh1": f10(c, sku, "WH1"),
        "wh2": stock(c, sku, "WH2"),
    }
