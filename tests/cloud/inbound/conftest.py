"""Fixtures for purchase orders: one seeded demo hub per database for the module (seeding
and logging in cost seconds; per test they would dominate), and per test a SKU and a
confirmed PO of its own, so tests sharing the hub never see each other's figures."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.nodes import ownership
from cloud.seed import seed_demo
from cloud.settings import Settings
from cloud.sync import assignment
from tests.cloud.conftest import PASSWORD, login, module_database

NODE = "wh1-inbound-1"
LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"
CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"
DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("GUANJIA_TEST_DATABASE_URL") else [])


@pytest.fixture(scope="module", params=DATABASES)
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    gen = module_database(request.param, tmp_path_factory.mktemp("inbound"))
    app = create_app(
        Settings(
            database_url=next(gen), mqtt_host="", jwt_secret="inbound-secret-of-32-bytes-long!!"
        ),
        ingest=False,
    )
    with TestClient(app) as client:
        with app.state.sessions() as s, s.begin():
            seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[NODE])
        client.headers.update(login(client, "admin", account="demo"))
        yield client
    for _ in gen:  # drops the schema once the app has gone
        pass


@pytest.fixture
def demo(hub: TestClient) -> TestClient:
    return hub


@dataclass(frozen=True)
class Po:
    """A confirmed PO of this test: 100 of ``sku`` at WH1, 5 % tolerance."""

    number: str
    sku: str


@pytest.fixture
def po(demo: TestClient) -> Po:
    tag = uuid.uuid4().hex[:8].upper()
    sku = f"T-{tag}"
    r = demo.put(
        f"/api/v1/skus/{sku}",
        json={"sku_code": sku, "name": f"测试 {tag}", "barcodes": [f"69{tag}"]},
    )
    assert r.status_code < 300, r.text
    r = demo.post(
        "/api/v1/purchase-orders",
        json={
            "number": f"PO-{tag}",
            "warehouse": "WH1",
            "tolerance_pct": "5",
            "lines": [{"sku_code": sku, "qty": 100, "unit_price": "38.50"}],
            "confirm": True,
        },
    )
    assert r.status_code == 201, r.text
    return Po(f"PO-{tag}", sku)


def station(demo: TestClient, warehouse: str = "WH1") -> str:
    """A node of this test, owned by the demo account and assigned to ``warehouse``."""
    node = f"wh1-rcv-{uuid.uuid4().hex[:8]}"
    sessions = demo.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s, s.begin():
        from sqlalchemy import select

        from cloud.db.models import Account

        acct = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        now = datetime.now(UTC)
        ownership.enroll(s, node, "demo", "test", now)
        assignment.assign_node(s, acct, node, warehouse, "test", now)
    return node


def f10(c: TestClient, sku: str, warehouse: str = "WH1") -> dict[str, Any]:
    """The SKU's F10 row: stock buckets and in transit."""
    rows = c.get(
        f"/api/v1/stock/warehouses/{warehouse}",
        params={"columns": "on_hand,damaged,qc,inbound,purchases", "q": sku, "limit": 1000},
    ).json()
    return next(r for r in rows if r["sku_code"] == sku)


def state(c: TestClient, number: str, sku: str) -> dict[str, Any]:
    """Everything a refused request must leave alone: the PO, its receipts, the ledger."""
    return {
        "po": c.get(f"/api/v1/purchase-orders/{number}").json(),
        "receipts": c.get(f"/api/v1/purchase-orders/{number}/receipts").json(),
        "movements": c.get("/api/v1/stock/movements", params={"limit": 1000}).json(),
        "f10": f10(c, sku),
    }


def receipt(rid: str, *lines: dict[str, Any], warehouse: str = "WH1") -> dict[str, Any]:
    return {"receipt_id": rid, "warehouse": warehouse, "lines": list(lines)}
