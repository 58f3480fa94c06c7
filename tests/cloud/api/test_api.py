from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.settings import Settings

SKU = {
    "sku_code": "MKING IPAD AIR2 金甲系列皮套-金色",
    "name": "皮套 金色",
    "barcodes": ["6901234567892"],
    "weight_g": 180,
}


def test_health_and_openapi(app_client: TestClient) -> None:
    client = app_client  # health needs no login
    h = client.get("/api/v1/health").json()
    assert h["status"] == "ok"
    assert h["database"] == "ok"
    assert h["mqtt"] == "disabled"
    # Not served by default (Settings.api_docs; tests/cloud/api/test_security.py), but built.
    spec = client.app.openapi()  # type: ignore[attr-defined]
    assert "/api/v1/health" in spec["paths"]
    assert "/api/v1/skus/{sku_code}" in spec["paths"]


def test_no_engine_at_import_or_build() -> None:
    app = create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    assert not hasattr(app.state, "engine")  # nothing connects until the app starts


def test_sku_put_and_list(client: TestClient) -> None:
    r = client.put(f"/api/v1/skus/{SKU['sku_code']}", json=SKU)
    assert r.status_code == 200, r.text
    assert [{k: s[k] for k in SKU} for s in client.get("/api/v1/skus").json()] == [SKU]
    again = client.put(
        f"/api/v1/skus/{SKU['sku_code']}",
        json={**SKU, "barcodes": ["6901234567892", "2000000000015"]},
    )
    assert again.status_code == 200
    assert client.get("/api/v1/skus").json()[0]["barcodes"] == ["2000000000015", "6901234567892"]


def test_barcode_of_another_sku_is_409_and_changes_nothing(client: TestClient) -> None:
    client.put(f"/api/v1/skus/{SKU['sku_code']}", json=SKU)
    other = {**SKU, "sku_code": "OTHER", "name": "other"}
    r = client.put("/api/v1/skus/OTHER", json=other)
    assert r.status_code == 409
    assert "already belongs to SKU MKING" in r.json()["detail"]
    assert [s["sku_code"] for s in client.get("/api/v1/skus").json()] == [SKU["sku_code"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SKU, "barcodes": ["69012\u000734"]}, "barcodes"),
        ({**SKU, "barcodes": []}, "barcodes"),
        ({**SKU, "weight_g": -1}, "weight_g"),
        ({**SKU, "color": "gold"}, "color"),
        ({k: v for k, v in SKU.items() if k != "name"}, "name"),
    ],
)
def test_invalid_sku_is_422_with_the_field(
    client: TestClient, body: dict[str, object], field: str
) -> None:
    r = client.put(f"/api/v1/skus/{SKU['sku_code']}", json=body)
    assert r.status_code == 422
    assert field in str(r.json()["detail"])
    assert client.get("/api/v1/skus").json() == []


def test_path_and_body_must_agree(client: TestClient) -> None:
    r = client.put("/api/v1/skus/SOMETHING-ELSE", json=SKU)
    assert r.status_code == 422
    assert "differ" in str(r.json()["detail"])  # a list of errors, as the OpenAPI declares


def test_unknown_node_is_404(client: TestClient) -> None:
    r = client.get("/api/v1/nodes/nope")
    assert r.status_code == 404
    assert client.get("/api/v1/events", params={"after": -1}).status_code == 422
