"""/web/aftersales: customer service's list of after-sales requests and one request with its
lines, refunds and history, in Chinese; another seller sees none of them (404 for one)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.cloud.aftersales.conftest import RECIPIENT
from tests.cloud.conftest import login
from tests.cloud.web.conftest import add_user

SKU = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"  # the demo seller's, stocked in WH1


def _ok(r: object) -> object:
    assert r.status_code < 300, r.text  # type: ignore[attr-defined]
    return r.json()  # type: ignore[attr-defined]


def _request(app: TestClient) -> str:
    h = login(app, "admin", account="demo")
    order = {
        "order_no": "AS-WEB-1",
        "buyer_nick": "售后买家",
        "recipient": RECIPIENT,
        "warehouse": "WH1",
        "lines": [{"line_id": "1", "sku_code": SKU, "qty": 2, "price_cents": 5900}],
    }
    _ok(app.post("/api/v1/orders", headers=h, json={"orders": [order]}))
    _ok(app.post("/api/v1/orders/AS-WEB-1/release", headers=h))
    _ok(app.post("/api/v1/orders/AS-WEB-1/ship", headers=h))
    body = {
        "order_no": "AS-WEB-1",
        "kind": "return",
        "reason": "七天无理由",
        "lines": [{"order_line_id": "1", "qty": 2}],
    }
    number = str(_ok(app.post("/api/v1/aftersales", headers=h, json=body))["number"])  # type: ignore[index]
    _ok(app.post(f"/api/v1/aftersales/{number}/approve", headers=h, json={}))
    receipt = {
        "receipt_id": "WEB-RR-1",
        "warehouse": "WH1",
        "lines": [{"line_no": 1, "sku_code": SKU, "sellable": 1, "damaged": 1, "reason": "划痕"}],
    }
    _ok(app.post(f"/api/v1/aftersales/{number}/receive", headers=h, json=receipt))
    return number


def test_aftersales_pages_in_chinese_and_nothing_for_another_seller(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    number = _request(demo_app)
    a = browser_client()
    zh = {"Accept-Language": "zh-CN"}
    listing = a.get("/web/aftersales", headers=zh).text
    assert number in listing and "已收货" in listing and "退货" in listing
    assert 'href="/web/aftersales"' in listing  # the nav link
    assert number in a.get("/web/aftersales?status=received", headers=zh).text
    assert number not in a.get("/web/aftersales?status=closed", headers=zh).text
    detail = a.get(f"/web/aftersales/{number}", headers=zh).text
    for shown in (
        "售后单 " + number,
        "划痕",
        "WEB-RR-1",
        "118.00",
        "审核通过",
        "七天无理由",
    ):
        assert shown in detail, shown
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert number not in b.get("/web/aftersales").text
    assert b.get(f"/web/aftersales/{number}").status_code == 404
    assert b.get("/web/aftersales?order_no=AS-WEB-1").text.count(number) == 0


def test_customer_service_approves_rejects_and_closes_on_the_page(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    number = _request(demo_app)  # received
    h = login(demo_app, "admin", account="demo")
    body = {
        "order_no": "AS-WEB-1",
        "kind": "refund_only",
        "lines": [{"order_line_id": "1", "qty": 1}],
    }
    # AS-WEB-1 shipped 2, both asked back: a second order for the other requests
    order = {
        "order_no": "AS-WEB-2",
        "buyer_nick": "售后买家",
        "recipient": RECIPIENT,
        "warehouse": "WH1",
        "lines": [{"line_id": "1", "sku_code": SKU, "qty": 2, "price_cents": 5900}],
    }
    _ok(demo_app.post("/api/v1/orders", headers=h, json={"orders": [order]}))
    _ok(demo_app.post("/api/v1/orders/AS-WEB-2/release", headers=h))
    _ok(demo_app.post("/api/v1/orders/AS-WEB-2/ship", headers=h))
    body["order_no"] = "AS-WEB-2"
    first = str(_ok(demo_app.post("/api/v1/aftersales", headers=h, json=body))["number"])  # type: ignore[index]
    body["kind"] = "return"
    second = str(_ok(demo_app.post("/api/v1/aftersales", headers=h, json=body))["number"])  # type: ignore[index]

    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    for target, name in ((first, "approve"), (second, "reject"), (number, "close")):
        r = b.post(f"/web/aftersales/{target}/{name}", data={"csrf": b.csrf, "reason": "x"})  # type: ignore[attr-defined]
        assert r.status_code == 404, (name, r.text)
    statuses = [
        _ok(demo_app.get(f"/api/v1/aftersales/{n}", headers=h))["status"]
        for n in (first, second, number)
    ]  # type: ignore[index]
    assert statuses == ["requested", "requested", "received"]

    a = browser_client()
    zh = {"Accept-Language": "zh-CN"}
    assert (
        'action="/web/aftersales/' + first + '/approve"' in a.get(f"/web/aftersales/{first}").text
    )
    r = a.post(
        f"/web/aftersales/{first}/approve", data={"csrf": a.csrf, "reason": "同意"}, headers=zh
    )  # type: ignore[attr-defined]
    assert r.status_code == 200 and "已关闭" in r.text  # a refund only closes at approval
    r = a.post(f"/web/aftersales/{second}/reject", data={"csrf": a.csrf, "reason": ""}, headers=zh)  # type: ignore[attr-defined]
    assert r.status_code == 422 and "驳回需要一个可以告诉买家的原因" in r.text
    r = a.post(
        f"/web/aftersales/{second}/reject", data={"csrf": a.csrf, "reason": "已超期"}, headers=zh
    )  # type: ignore[attr-defined]
    assert r.status_code == 200 and "已驳回" in r.text and "已超期" in r.text
    r = a.post(f"/web/aftersales/{number}/close", data={"csrf": a.csrf}, headers=zh)  # type: ignore[attr-defined]
    assert r.status_code == 200 and "已关闭" in r.text
    r = a.post(f"/web/aftersales/{number}/close", data={"csrf": a.csrf}, headers=zh)  # type: ignore[attr-defined]
    assert r.status_code == 409
    assert a.post(f"/web/aftersales/{number}/nope", data={"csrf": a.csrf}).status_code == 404  # type: ignore[attr-defined]


def test_the_pages_show_where_damaged_returns_go(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    """售后坏品仓 on the pages: the list shows each warehouse's damaged-goods warehouse, a
    request not received yet where its damaged units will go, a received one where they
    went (its movements), in Chinese."""
    before = _request(demo_app)  # received into WH1's own damaged bucket: no route yet
    h = login(demo_app, "admin", account="demo")
    route = "/api/v1/warehouses/WH1/damaged-warehouse"
    _ok(demo_app.put(route, headers=h, json={"damaged_warehouse": "DMG"}))
    order = {
        "order_no": "AS-WEB-3",
        "buyer_nick": "售后买家",
        "recipient": RECIPIENT,
        "warehouse": "WH1",
        "lines": [{"line_id": "1", "sku_code": SKU, "qty": 1, "price_cents": 5900}],
    }
    _ok(demo_app.post("/api/v1/orders", headers=h, json={"orders": [order]}))
    _ok(demo_app.post("/api/v1/orders/AS-WEB-3/release", headers=h))
    _ok(demo_app.post("/api/v1/orders/AS-WEB-3/ship", headers=h))
    body = {"order_no": "AS-WEB-3", "kind": "return", "lines": [{"order_line_id": "1", "qty": 1}]}
    number = str(_ok(demo_app.post("/api/v1/aftersales", headers=h, json=body))["number"])  # type: ignore[index]
    _ok(demo_app.post(f"/api/v1/aftersales/{number}/approve", headers=h, json={}))

    a = browser_client()
    zh = {"Accept-Language": "zh-CN"}
    listing = a.get("/web/aftersales", headers=zh).text
    assert "坏品退货去向" in listing
    assert "<tr><td>WH1</td><td>DMG</td></tr>" in listing
    assert "<tr><td>其他仓库</td><td>本仓坏品库存</td></tr>" in listing
    detail = a.get(f"/web/aftersales/{number}", headers=zh).text
    assert "入 DMG（WH1 的售后坏品仓）" in detail
    assert "已入 WH1" in a.get(f"/web/aftersales/{before}", headers=zh).text  # as booked then
    receipt = {
        "receipt_id": "WEB-RR-3",
        "warehouse": "WH1",
        "lines": [{"line_no": 1, "sku_code": SKU, "damaged": 1, "reason": "碎屏"}],
    }
    _ok(demo_app.post(f"/api/v1/aftersales/{number}/receive", headers=h, json=receipt))
    assert "已入 DMG" in a.get(f"/web/aftersales/{number}", headers=zh).text
    # Set on the page: a route taken away, then set again; a bad one refused with the
    # reason in Chinese, the form shown again, nothing changed.
    url = "/web/aftersales/damaged-routes"
    r = a.post(url, data={"csrf": a.csrf, "warehouse": "WH1", "damaged_warehouse": ""}, headers=zh)  # type: ignore[attr-defined]
    assert r.status_code == 200 and "<tr><td>WH1</td><td>DMG</td></tr>" not in r.text
    assert _ok(demo_app.get(route, headers=h))["via"] == "bucket"  # type: ignore[index]
    r = a.post(
        url, data={"csrf": a.csrf, "warehouse": "WH1", "damaged_warehouse": "DMG"}, headers=zh
    )  # type: ignore[attr-defined]
    assert r.status_code == 200 and "<tr><td>WH1</td><td>DMG</td></tr>" in r.text
    r = a.post(
        url, data={"csrf": a.csrf, "warehouse": "WH1", "damaged_warehouse": "WH1"}, headers=zh
    )  # type: ignore[attr-defined]
    assert r.status_code == 422 and "不能做自己的售后坏品仓" in r.text and "未保存" in r.text
    assert a.post(url, data={"warehouse": "WH1", "damaged_warehouse": ""}).status_code == 403
    # Another seller: A's warehouse is none of theirs (404), A's damaged one neither (422).
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    r = b.post(url, data={"csrf": b.csrf, "warehouse": "WH1", "damaged_warehouse": ""})  # type: ignore[attr-defined]
    assert r.status_code == 404
    assert "<tr><td>WH1</td><td>DMG</td></tr>" not in b.get("/web/aftersales").text
    _ok(
        demo_app.post(
            "/api/v1/warehouses",
            headers=login(demo_app, "boss", account="other"),
            json={"code": "B-WH", "name": "乙仓"},
        )
    )
    r = b.post(url, data={"csrf": b.csrf, "warehouse": "B-WH", "damaged_warehouse": "DMG"})  # type: ignore[attr-defined]
    assert r.status_code == 422 and "DMG" in r.text
    assert _ok(demo_app.get(route, headers=h))["damaged_warehouse"] == "DMG"  # type: ignore[index]
    # A bad route on the API: a clear refusal naming the field, nothing changed.
    r = demo_app.put(route, headers=h, json={"damaged_warehouse": "WH1"})
    assert r.status_code == 422 and "cannot be its own damaged-goods warehouse" in r.text
    assert r.json()["detail"][0]["loc"] == ["body", "damaged_warehouse"]
    assert _ok(demo_app.get(route, headers=h))["damaged_warehouse"] == "DMG"  # type: ignore[index]
