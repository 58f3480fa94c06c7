"""/api/v1/einvoices and /web/finance/invoices: request, poll through the worker to the
simulator over HTTP, red, title change; bad input refused with a sentence and nothing
stored; scopes (finance:write to ask, finance:read to see)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.db.einvoice import EInvoice
from cloud.db.models import Account
from cloud.finance.einvoice import invoices, worker
from simulators.einvoice.app import EInvoiceApp, serve
from simulators.einvoice.service import Provider
from tests.cloud.conftest import login
from tests.cloud.web.conftest import HELD, add_user

CODE = "1090101990000000000"
TAX_ID = "91110000600037341L"


@pytest.fixture
def sim() -> Iterator[tuple[Provider, str]]:
    p = Provider()
    srv = serve(EInvoiceApp(p), "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield p, f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def connect(app: TestClient, url: str, account: str = "demo") -> None:
    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seller = s.execute(select(Account.id).where(Account.name == account)).scalar_one()
        invoices.connect_seller(
            s,
            seller,
            url=url,
            app_key="sim-appkey",
            app_secret="sim-secret",
            access_token="sim-token",
            seller_tax_id="91350100M000100Y43",
            seller_name="管家演示店",
            now=datetime.now(UTC),
        )


def seed_invoice(app: TestClient, url: str) -> None:
    """An invoice of the demo seller for its order HELD (the tenancy probe's secret)."""
    connect(app, url)
    r = app.post(
        "/api/v1/einvoices",
        json={"order_no": HELD, "buyer_name": "个人", "tax_code": CODE, "rate": "0.13"},
        headers=login(app, "admin", account="demo"),
    )
    assert r.status_code == 201, r.text


def _work(app: TestClient, rounds: int = 12) -> None:
    now = datetime.now(UTC)
    for n in range(rounds):
        worker.tick(app.app.state.sessions, now + timedelta(minutes=15 * (n + 1)))  # type: ignore[attr-defined]


def _count(app: TestClient) -> int:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        return int(s.execute(select(func.count()).select_from(EInvoice)).scalar_one())


LINES = [
    {"name": "金甲系列皮套", "tax_code": CODE, "rate": "0.13", "quantity": 2, "price": "113.00"}
]


def test_invoice_api_issue_red_and_title_change(
    demo_app: TestClient, sim: tuple[Provider, str]
) -> None:
    admin = login(demo_app, "admin", account="demo")
    # Not connected yet: a sentence, nothing stored.
    r = demo_app.post(
        "/api/v1/einvoices", json={"buyer_name": "个人", "lines": LINES}, headers=admin
    )
    assert r.status_code == 409 and "no e-invoice provider is connected" in r.text
    connect(demo_app, sim[1])
    bad_inputs = [
        (
            {"buyer_name": "某公司", "buyer_tax_id": "91110000600037341A", "lines": LINES},
            "check character is wrong",
        ),
        (
            {"buyer_name": "某公司", "buyer_tax_id": "12345", "lines": LINES},
            "is not a taxpayer number",
        ),
        ({"buyer_name": "个人", "lines": [{**LINES[0], "price": 113.0}]}, "string"),  # a float
        ({"buyer_name": "个人", "lines": [{**LINES[0], "price": "1,130.00"}]}, "no commas"),
        ({"buyer_name": "个人", "lines": [{**LINES[0], "quantity": -2}]}, "from 1 to 1000000"),
        ({"buyer_name": "个人", "lines": [{**LINES[0], "tax_code": "10901"}]}, "not 19 digits"),
        ({"buyer_name": "个人"}, "give the lines"),
    ]
    for body, sentence in bad_inputs:
        r = demo_app.post("/api/v1/einvoices", json=body, headers=admin)
        assert r.status_code == 422 and sentence in r.text, (body, r.text)
    assert _count(demo_app) == 0
    r = demo_app.post(
        "/api/v1/einvoices",
        json={"buyer_name": "杭州某某科技有限公司", "buyer_tax_id": TAX_ID.lower(), "lines": LINES},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    blue = r.json()
    assert blue["state"] == "queued" and blue["buyer_tax_id"] == TAX_ID
    assert (blue["amount"], blue["tax"], blue["total"]) == ("100.00", "13.00", "113.00")
    _work(demo_app)
    got = demo_app.get(f"/api/v1/einvoices/{blue['request_no']}", headers=admin).json()
    assert got["state"] == "issued" and len(got["number"]) == 20 and got["pdf_url"]
    # More red than the blue has: 409, nothing stored.
    r = demo_app.post(
        f"/api/v1/einvoices/{blue['request_no']}/red",
        json={"reason": "04", "lines": [{"line": 1, "amount": "113.01"}]},
        headers=admin,
    )
    assert r.status_code == 409 and "never exceeds its blue" in r.text
    r = demo_app.post(
        f"/api/v1/einvoices/{blue['request_no']}/red", json={"reason": "05"}, headers=admin
    )
    assert r.status_code == 422 and "red reason 05" in r.text
    assert _count(demo_app) == 1
    r = demo_app.post(
        f"/api/v1/einvoices/{blue['request_no']}/title",
        json={"buyer_name": "另一家公司", "buyer_tax_id": "91350100M000100Y43"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    red, new = r.json()["red"], r.json()["blue"]
    assert red["kind"] == "red" and red["total"] == "-113.00" and new["state"] == "waiting"
    _work(demo_app, 2)
    form = demo_app.get(f"/api/v1/einvoices/{red['request_no']}", headers=admin).json()
    assert form["state"] == "confirming" and form["form_state"] == "02"
    bill = next(iter(sim[0].forms))
    sim[0].buyer_answers(bill, agree=True)  # the buyer confirms in their tax portal
    _work(demo_app)
    listed = {i["request_no"]: i for i in demo_app.get("/api/v1/einvoices", headers=admin).json()}
    assert listed[red["request_no"]]["state"] == "issued"
    assert listed[new["request_no"]]["state"] == "issued"
    assert listed[new["request_no"]]["buyer_name"] == "另一家公司"
    assert sim[0].truth()["issued"] == 3


def test_invoice_scopes_and_page_in_chinese(
    demo_app: TestClient, sim: tuple[Provider, str], browser_client: Callable[..., TestClient]
) -> None:
    seed_invoice(demo_app, sim[1])
    add_user(demo_app, "demo", "kuaiji", "finance")
    add_user(demo_app, "demo", "shenhe", "auditor")
    finance = login(demo_app, "kuaiji", account="demo")
    assert demo_app.get("/api/v1/einvoices", headers=finance).status_code == 200
    auditor = login(demo_app, "shenhe", account="demo")
    assert demo_app.get("/api/v1/einvoices", headers=auditor).status_code == 403
    r = demo_app.post(
        "/api/v1/einvoices", json={"buyer_name": "个人", "lines": LINES}, headers=auditor
    )
    assert r.status_code == 403
    a = browser_client()
    html = a.get("/web/finance/invoices", headers={"Accept-Language": "zh-CN"}).text
    assert "电子发票" in html and HELD in html and "排队中" in html
    _work(demo_app)
    html = a.get("/web/finance/invoices?state=issued", headers={"Accept-Language": "zh-CN"}).text
    assert "已开具" in html and HELD in html and ".pdf" in html
    assert HELD not in a.get("/web/finance/invoices?state=failed").text
    assert browser_client("demo", "shenhe").get("/web/finance/invoices").status_code == 403
    # The page's buttons (finance:write, CSRF): red-flush what remains of the issued blue.
    k = browser_client("demo", "kuaiji")
    html = k.get("/web/finance/invoices", headers={"Accept-Language": "zh-CN"}).text
    assert "为订单开具发票" in html and "红冲 129.00" in html
    (blue_no,) = [
        i["request_no"] for i in demo_app.get("/api/v1/einvoices", headers=finance).json()
    ]
    red_url = f"/web/finance/invoices/{blue_no}/red"
    assert k.post(red_url, data={"reason": "02"}).status_code == 403  # no CSRF token
    assert _count(demo_app) == 1
    r = k.post(red_url, data={"reason": "02", "csrf": k.csrf}, follow_redirects=False)  # type: ignore[attr-defined]
    assert r.status_code == 303 and "done=red" in r.headers["location"]
    html = k.get(r.headers["location"], headers={"Accept-Language": "zh-CN"}).text
    assert "红字发票" in html and "红冲 129.00" not in html  # nothing left to red
    # The order was red-flushed in full: it may be invoiced again, once; a second ask is
    # refused with the sentence and stores nothing.
    body = {"order_no": HELD, "buyer_name": "个人", "tax_code": CODE, "rate": "0.13"}
    r = k.post("/web/finance/invoices/issue", data={**body, "csrf": k.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 200 and "已提交，服务商稍后开具" in r.text and _count(demo_app) == 3
    r = k.post("/web/finance/invoices/issue", data={**body, "csrf": k.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 409 and "已有发票" in r.text and _count(demo_app) == 3
