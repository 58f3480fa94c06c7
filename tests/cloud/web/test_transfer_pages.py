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
    for step in ("ship-rest", "ship-rest-hub", "cancel-rest"):
        r = b.post(
            f"/web/stock/transfers/DB-3/{step}",
            data={"reason": "x", "csrf": b.csrf},  # type: ignore[attr-defined]
        )
        assert r.status_code == 404, step
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


def test_the_rest_of_a_short_pick_is_shipped_from_the_hub_or_cancelled_on_the_page(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """A transfer its node shipped short: the page asks the node for the rest, shows it,
    cancels it with a reason, then ships the rest from the hub (docs/inbound.md)."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from cloud.db.models import Account
    from cloud.inbound import transfer_ship
    from protocol.messages import ShippedLine, TransferShippedPayload
    from tests.cloud.web.conftest import NODE

    h = login(demo_app, "admin", account="demo")
    r = demo_app.post(
        "/api/v1/transfers",
        headers=h,
        json={
            "number": "DB-4",
            "from_warehouse": "WH1",
            "to_warehouse": "BCP",
            "lines": [{"sku_code": LEATHER, "qty": 4}],
            "audit": True,
        },
    )
    assert r.status_code == 201, r.text
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s, s.begin():
        acct = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        transfer_ship.book(
            s,
            acct,
            NODE,
            TransferShippedPayload(
                shipment_id=f"{NODE}:DB-4:s1",
                transfer_number="DB-4",
                shipment=1,
                warehouse="WH1",
                station=NODE,
                lines=[ShippedLine(line_no=1, sku_code=LEATHER, qty=1, bin="A-02", short=True)],
            ),
            datetime.now(UTC),
        )
    c = browser_client()
    zh = c.get("/web/stock/transfers/DB-4", headers=ZH).text
    assert "由总部补发余量（立即记账）" in zh and "由拣货节点补发余量（补发）" in zh
    assert "取消余量" not in zh  # nothing asked yet
    r = c.post("/web/stock/transfers/DB-4/ship-rest", data={"csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert r.status_code == 200 and "取消余量" in r.text, r.text
    r = c.post(
        "/web/stock/transfers/DB-4/cancel-rest",
        data={"reason": "", "csrf": c.csrf},  # type: ignore[attr-defined]
        headers=EN,
    )
    assert r.status_code == 422
    assert demo_app.get("/api/v1/transfers/DB-4", headers=h).json()["rest_asked_by"]
    r = c.post(
        "/web/stock/transfers/DB-4/cancel-rest",
        data={"reason": "货找不到", "csrf": c.csrf},  # type: ignore[attr-defined]
        headers=EN,
    )
    assert r.status_code == 200 and "Cancel the rest" not in r.text, r.text
    got = demo_app.get("/api/v1/transfers/DB-4", headers=h).json()
    assert got["rest_asked_by"] is None and got["status_reason"] == "货找不到"
    r = c.post("/web/stock/transfers/DB-4/ship-rest-hub", data={"csrf": c.csrf}, headers=EN)  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    got = demo_app.get("/api/v1/transfers/DB-4", headers=h).json()
    assert got["lines"][0]["shipped"] == 4
    assert got["lines"][0]["in_transit"] == 4
    # Nothing left: the hub ships no second rest (a page saying why, nothing changed).
    r = c.post("/web/stock/transfers/DB-4/ship-rest-hub", data={"csrf": c.csrf}, headers=EN)  # type: ignore[attr-defined]
    assert r.status_code == 409 and "was shipped whole" in r.text
    assert demo_app.get("/api/v1/transfers/DB-4", headers=h).json() == got
