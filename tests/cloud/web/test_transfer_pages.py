"""Transfer pages (cloud/web/pages/transfers.py): the list and one transfer in Chinese and
English, the steps a lead takes from the page (audit, ship, 冲销出库, 取消入库, cancel), and a
second seller seeing none of it (404 for the first seller's transfer, nothing changed)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.cloud.conftest import login
from tests.cloud.web.conftest import add_user

LEATHER = "MKING IPAD AIR2 金甲系列皮套-金色"  # demo: 50 in WH1 bin A-02
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def _api_transfer(demo_app: TestClient, number: str, *, receive: int = 0) -> dict[str, str]:
    h = login(demo_app, "admin", account="demo")
    r = demo_app.post(
        "/api/v1/transfers",
        headers=h,
        json={
            "number": number,
            "from_warehouse": "WH1",
            "to_warehouse": "BCP",
            "lines": [{"sku_code": LEATHER, "qty": 4}],
            "audit": receive > 0,
        },
    )
    assert r.status_code == 201, r.text
    if receive:
        assert demo_app.post(f"/api/v1/transfers/{number}/ship", headers=h).status_code == 200
        r = demo_app.post(
            f"/api/v1/transfers/{number}/receipts",
            headers=h,
            json={
                "receipt_id": f"{number}-R1",
                "warehouse": "BCP",
                "lines": [{"sku_code": LEATHER, "qty": receive}],
            },
        )
        assert r.status_code == 201, r.text
    return h


def test_the_list_and_one_transfer_with_its_steps(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    h = _api_transfer(demo_app, "DB-1")
    c = browser_client()
    page = c.get("/web/stock/transfers", headers=ZH).text
    assert "调拨单" in page and "DB-1" in page and "草稿" in page
    assert "DB-1" not in c.get("/web/stock/transfers?status=done", headers=EN).text
    one = c.get("/web/stock/transfers/DB-1", headers=ZH).text
    assert "出库审核" in one and LEATHER in one
    # The page's forms carry this session's CSRF token (the steps below post it).
    assert f'name="csrf" value="{c.csrf}"' in one  # type: ignore[attr-defined]
    for step, data, status in (
        ("audit", {}, "Audited"),
        ("ship", {}, "Shipped"),
        ("cancel-shipment", {"reason": "发错仓"}, "Audited"),
        ("cancel", {"reason": "不调了"}, "Cancelled"),
    ):
        r = c.post(f"/web/stock/transfers/DB-1/{step}", data={**data, "csrf": c.csrf}, headers=EN)  # type: ignore[attr-defined]
        assert r.status_code == 200, (step, r.text)
        assert status in r.text, step
    got = demo_app.get("/api/v1/transfers/DB-1", headers=h).json()
    assert got["status"] == "cancelled" and got["status_reason"] == "不调了"
    kinds = [v["kind"] for v in demo_app.get("/api/v1/transfers/DB-1/reversals", headers=h).json()]
    assert kinds == ["shipment"]
    # A refused step is a page saying why, and changes nothing.
    r = c.post("/web/stock/transfers/DB-1/ship", data={"csrf": c.csrf}, headers=EN)  # type: ignore[attr-defined]
    assert r.status_code == 409 and "only an audited transfer is shipped" in r.text
    r = c.post("/web/stock/transfers/DB-1/audit", data={}, headers=EN)  # no CSRF token
    assert r.status_code == 403
    assert demo_app.get("/api/v1/transfers/DB-1", headers=h).json() == got


def test_a_receipt_is_cancelled_from_the_page(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    h = _api_transfer(demo_app, "DB-2", receive=3)
    c = browser_client()
    assert "取消入库" in c.get("/web/stock/transfers/DB-2", headers=ZH).text
    r = c.post(
        "/web/stock/transfers/DB-2/receipts/DB-2-R1/cancel",
        data={"reason": "录错", "csrf": c.csrf},  # type: ignore[attr-defined]
        headers=EN,
    )
    assert r.status_code == 200 and "Receipt cancelled" in r.text, r.text
    t = demo_app.get("/api/v1/transfers/DB-2", headers=h).json()
    assert t["status"] == "shipped" and t["lines"][0]["in_transit"] == 4
    # Twice: a reversal is not reversed.
    r = c.post(
        "/web/stock/transfers/DB-2/receipts/DB-2-R1/cancel",
        data={"reason": "again", "csrf": c.csrf},  # type: ignore[attr-defined]
        headers=EN,
    )
    assert r.status_code == 409 and "a reversal is not reversed" in r.text


def test_another_seller_sees_none_of_the_first_ones_transfers(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    h = _api_transfer(demo_app, "DB-3")
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert "DB-3" not in b.get("/web/stock/transfers").text
    assert b.get("/web/stock/transfers/DB-3").status_code == 404
    r = b.post("/web/stock/transfers/DB-3/audit", data={"csrf": b.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 404
    r = b.post(
        "/web/stock/transfers/DB-3/receipts/X/cancel",
        data={"reason": "x", "csrf": b.csrf},  # type: ignore[attr-defined]
    )
    assert r.status_code == 404
    before = demo_app.get("/api/v1/transfers/DB-3", headers=h).json()
    r = b.post(
        "/web/stock/transfers/DB-3/pick-node",
        data={"node": "wh1-pick-1", "csrf": b.csrf},  # type: ignore[attr-defined]
    )
    assert r.status_code == 404
    after = demo_app.get("/api/v1/transfers/DB-3", headers=h).json()
    assert after == before and after["status"] == "draft"
