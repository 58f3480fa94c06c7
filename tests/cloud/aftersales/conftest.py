"""Fixtures for after-sales: one seeded demo hub per database for the module (as
tests/cloud/inbound does), and per test a SKU with stock and a shipped order of its own, so
tests sharing the hub never see each other's figures."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.seed import seed_demo
from cloud.settings import Settings
from tests.cloud.conftest import PASSWORD, login, module_database
from tests.cloud.inbound.conftest import DATABASES, NODE

RECIPIENT = {
    "name": "退货买家",
    "phone": "13800000077",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "address": "文三路77号",
}


@pytest.fixture(scope="module", params=DATABASES)
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    gen = module_database(request.param, tmp_path_factory.mktemp("aftersales"))
    app = create_app(
        Settings(
            database_url=next(gen), mqtt_host="", jwt_secret="aftersales-secret-of-32-bytes!!!"
        ),
        ingest=False,
    )
    with TestClient(app) as client:
        with app.state.sessions() as s, s.begin():
            seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[NODE])
        client.headers.update(login(client, "admin", account="demo"))
        yield client
    for _ in gen:
        pass


@pytest.fixture
def demo(hub: TestClient) -> TestClient:
    return hub


@dataclass(frozen=True)
class Shipped:
    """An order of this test, shipped from WH1: line "1" 3 × ``sku`` at 19.99, line "2"
    1 × ``other`` at 5.00, paid 24.97 in all (a discount of 0.99+5.00 … see the test)."""

    order_no: str
    sku: str
    other: str
    barcode: str


def ok(r: Any) -> Any:
    assert r.status_code < 300, r.text
    return r.json()


def new_sku(demo: TestClient, stock: int = 10) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8].upper()
    sku, barcode = f"R-{tag}", f"69R{tag}"
    ok(
        demo.put(
            f"/api/v1/skus/{sku}",
            json={"sku_code": sku, "name": f"退货测试 {tag}", "barcodes": [barcode]},
        )
    )
    if stock:
        ok(
            demo.post(
                "/api/v1/stock/receipts", json={"warehouse": "WH1", "sku_code": sku, "qty": stock}
            )
        )
    return sku, barcode


def order(
    demo: TestClient,
    lines: list[dict[str, Any]],
    *,
    total_cents: int | None = None,
    ship: bool = True,
) -> str:
    no = f"RT{uuid.uuid4().hex[:10].upper()}"
    body: dict[str, Any] = {
        "order_no": no,
        "buyer_nick": "退货买家",
        "recipient": RECIPIENT,
        "lines": lines,
        "warehouse": "WH1",
    }
    if total_cents is not None:
        body["total_cents"] = total_cents
    ok(demo.post("/api/v1/orders", json={"orders": [body]}))
    got = ok(demo.get(f"/api/v1/orders/{no}"))
    assert got["status"] == "audited", got
    if ship:
        assert ok(demo.post(f"/api/v1/orders/{no}/release"))["status"] == "released"
        ok(demo.post(f"/api/v1/orders/{no}/ship"))
    return no


@pytest.fixture
def shipped(demo: TestClient) -> Shipped:
    sku, barcode = new_sku(demo)
    other, _ = new_sku(demo)
    no = order(
        demo,
        [
            {"line_id": "1", "sku_code": sku, "qty": 3, "price_cents": 1999},
            {"line_id": "2", "sku_code": other, "qty": 1, "price_cents": 500},
        ],
    )
    return Shipped(no, sku, other, barcode)


def level(demo: TestClient, sku: str, warehouse: str = "WH1") -> dict[str, Any]:
    rows = demo.get(
        f"/api/v1/stock/warehouses/{warehouse}",
        params={"columns": "on_hand,damaged,qc", "q": sku, "limit": 1000},
    ).json()
    found = [r for r in rows if r["sku_code"] == sku]
    return found[0] if found else {"sku_code": sku, "on_hand": 0, "damaged": 0}


def state(demo: TestClient, order_no: str, sku: str) -> dict[str, Any]:
    """Everything a refused request must leave alone."""
    return {
        "requests": demo.get("/api/v1/aftersales", params={"order_no": order_no}).json(),
        "refunds": demo.get("/api/v1/aftersales-refunds", params={"limit": 1000}).json(),
        "movements": demo.get("/api/v1/stock/movements", params={"limit": 1000}).json(),
        "level": level(demo, sku),
        "orders": demo.get("/api/v1/orders", params={"limit": 1000}).json(),
    }
