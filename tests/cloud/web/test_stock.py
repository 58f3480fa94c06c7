"""Stock pages: F9, F10 with the user's columns kept (per user, in their order), the ledger."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.cloud.web.conftest import add_user

EN = {"Accept-Language": "en"}


def _headers(html: str) -> list[str]:
    import re

    head = html.split("<thead>")[1].split("</thead>")[0]
    return re.findall(r'<th scope="col">([^<]*)</th>', head)


def test_f10_columns_are_chosen_ordered_and_kept_per_user(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    add_user(demo_app, "demo", "lead", "warehouse_lead")
    a, b = browser_client(), browser_client("demo", "lead")
    default = _headers(a.get("/web/stock/warehouses/WH1", headers=EN).text)
    assert default[:3] == ["SKU", "Name", "On hand"]
    r = a.post(
        "/web/stock/columns",
        data={
            "csrf": a.csrf,
            "warehouse": "WH1",
            "show:available": "1",
            "pos:available": "2",  # type: ignore[attr-defined]
            "show:bins": "1",
            "pos:bins": "1",
            "show:name": "1",
            "pos:name": "",
        },
        headers=EN,
    )
    assert r.status_code == 200, r.text
    assert _headers(r.text) == ["SKU", "Bins", "Available", "Name"]
    again = a.get("/web/stock/warehouses/WH1", headers=EN).text  # kept after a reload
    assert _headers(again) == ["SKU", "Bins", "Available", "Name"]
    assert "A-0" in again  # the bins drill-down
    assert _headers(b.get("/web/stock/warehouses/WH1", headers=EN).text) == default  # per user
    # bad input: nothing ticked, or no CSRF token
    r = a.post("/web/stock/columns", data={"csrf": a.csrf, "warehouse": "WH1"})  # type: ignore[attr-defined]
    assert r.status_code == 422
    r = a.post("/web/stock/columns", data={"warehouse": "WH1", "show:qc": "1"})
    assert r.status_code == 403
    assert _headers(a.get("/web/stock/warehouses/WH1", headers=EN).text) == [
        "SKU",
        "Bins",
        "Available",
        "Name",
    ]


def test_f9_keywords_and_the_ledger(browser_client: Callable[..., TestClient]) -> None:
    c = browser_client()
    page = c.get("/web/stock?q=金色 MKING", headers=EN).text  # keywords in any order
    assert "MKING IPAD AIR2 金甲系列皮套-金色" in page
    assert "IPHONE6" not in page
    ledger = c.get("/web/stock/movements?sku=MKING IPAD AIR2 金甲系列皮套-金色", headers=EN)
    assert ledger.status_code == 200 and "<td>received</td>" in ledger.text
    # A movement's kind in the page's language (cloud/web/templates/_macros.html).
    zh = c.get("/web/stock/movements?sku=MKING IPAD AIR2 金甲系列皮套-金色").text
    assert "<td>WH1</td><td>已收货</td>" in zh and "<td>WH1</td><td>receipt</td>" not in zh


def test_other_seller_gets_404_for_a_warehouse_not_theirs(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert b.get("/web/stock/warehouses/WH1").status_code == 404
    assert "金甲系列皮套" not in b.get("/web/stock?q=MKING").text
    moves = b.get("/web/stock/movements?sku=MKING IPAD AIR2 金甲系列皮套-金色", headers=EN).text
    assert "receipt" not in moves and "None yet." in moves


def test_f9_columns_are_chosen_too_and_kept_apart_from_f10(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    a = browser_client()
    f9 = a.get("/web/stock", headers=EN).text
    assert _headers(f9)[:3] == ["SKU", "Name", "On hand"] and "Per warehouse" in _headers(f9)
    assert 'id="show-bins"' not in f9  # a bin is in one warehouse: not an F9 column
    f10 = _headers(a.get("/web/stock/warehouses/WH1", headers=EN).text)
    r = a.post(
        "/web/stock/columns",
        data={
            "csrf": a.csrf,  # type: ignore[attr-defined]
            "warehouse": "",
            "show:sales_30d": "1",
            "pos:sales_30d": "1",
            "show:available": "1",
            "pos:available": "2",
        },
        headers=EN,
    )
    assert r.status_code == 200 and str(r.url).endswith("/web/stock")
    kept = ["SKU", "Sales 30 d", "Available", "Per warehouse"]
    assert _headers(a.get("/web/stock", headers=EN).text) == kept  # kept after a reload
    assert _headers(a.get("/web/stock/warehouses/WH1", headers=EN).text) == f10  # F10 apart
    csv = a.get("/web/stock/export.csv").content.decode("utf-8-sig").splitlines()[0]
    assert csv.split(",")[1:3] == ["sales_30d", "available"]  # the export follows them
    r = a.post(
        "/web/stock/columns",
        data={"csrf": a.csrf, "warehouse": "", "show:bins": "1"},  # type: ignore[attr-defined]
    )
    assert r.status_code == 422
    assert _headers(a.get("/web/stock", headers=EN).text) == kept  # refused: unchanged
