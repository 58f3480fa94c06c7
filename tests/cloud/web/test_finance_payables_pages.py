"""/web/finance/statements, /payments, /periods and the stopped streams on /web/finance:
in Chinese, by scope, the statement as CSV/XLSX, a payment recorded once, a month closed
only with the box ticked and only when nothing blocks it."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from cloud.db.finance import FinCursor, FinPeriod
from cloud.db.models import Account
from cloud.db.payables import FinSupplierDoc
from cloud.finance import poster
from tests.cloud.conftest import login
from tests.cloud.web.conftest import add_user

ZH = {"Accept-Language": "zh-CN"}


def _setup(demo_app: TestClient) -> None:
    poster.tick(demo_app.app.state.sessions, datetime.now(UTC) + timedelta(minutes=1))  # type: ignore[attr-defined]
    admin = login(demo_app, "admin", account="demo")
    r = demo_app.post("/api/v1/suppliers", json={"code": "SUP1", "name": "深圳壳厂"}, headers=admin)
    assert r.status_code == 201, r.text


def _docs(demo_app: TestClient) -> int:
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        return int(s.execute(select(func.count()).select_from(FinSupplierDoc)).scalar_one())


def test_record_a_payment_and_read_the_statement(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    _setup(demo_app)
    a = browser_client()
    page = a.get("/web/finance/payments", headers=ZH)
    assert page.status_code == 200 and "供应商付款" in page.text and "深圳壳厂" in page.text
    form = {"csrf": a.csrf, "doc_no": "PAY-9", "supplier": "SUP1", "kind": "payment"}  # type: ignore[attr-defined]
    form |= {"amount": "120.50", "paid_from": "1002", "memo": "十一月货款"}
    for _ in range(2):  # a double click: one document, one entry
        r = a.post("/web/finance/payments", data=form, follow_redirects=False)
        assert r.status_code == 303, r.text
    assert _docs(demo_app) == 1
    bad = a.post(
        "/web/finance/payments", data={**form, "doc_no": "PAY-10", "amount": "1,000"}, headers=ZH
    )
    assert bad.status_code == 422 and "1,000" in bad.text
    assert _docs(demo_app) == 1
    invoice = {**form, "doc_no": "INV-9", "kind": "invoice", "amount": "100.00"}
    invoice |= {"tax_rate": "0.13"}
    assert a.post("/web/finance/payments", data=invoice, follow_redirects=False).status_code == 303
    listed = a.get("/web/finance/payments", headers=ZH).text
    assert "PAY-9" in listed and "120.50" in listed
    assert "收到进项发票" in listed and "13.00 (13%)" in listed
    today = datetime.now(UTC).date()
    q = {
        "kind": "supplier",
        "party": "SUP1",
        "start": str(today - timedelta(days=3)),
        "end": str(today + timedelta(days=1)),
    }
    st = a.get("/web/finance/statements", params=q, headers=ZH)
    assert st.status_code == 200 and "对账单" in st.text and "期初余额" in st.text
    assert "sp:PAY-9" in st.text and "-120.50" in st.text and "sp:INV-9" in st.text
    csv = a.get("/web/finance/statements/export.csv", params=q).content.decode("utf-8-sig")
    rows = csv.strip().splitlines()
    assert rows[0] == "date,document,event,memo,change,balance"
    assert "opening" in rows[1] and rows[-1].endswith(",closing,,,-107.50")
    xlsx = a.get("/web/finance/statements/export.xlsx", params=q).content
    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert sheet is not None and sheet.max_row == len(rows)
    buyer = a.get(
        "/web/finance/statements", params={**q, "kind": "buyer", "party": "buyer-001"}
    ).text
    assert "JY1300001" in buyer
    assert a.get("/web/finance/statements", params={**q, "party": "NOPE"}).status_code == 404


def test_period_close_page_and_stopped_streams(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    _setup(demo_app)
    a = browser_client()
    page = a.get("/web/finance/periods", headers=ZH)
    assert page.status_code == 200 and "月结" in page.text and "尚未结束" in page.text
    month = (
        page.text.split('name="period" value="')[1][:7] if 'name="period"' in page.text else None
    )
    assert month is None  # this month cannot close: no form offered
    r = a.post("/web/finance/periods", data={"csrf": a.csrf, "period": "2020-01"}, headers=ZH)  # type: ignore[attr-defined]
    assert r.status_code == 422 and "勾选" in r.text
    r = a.post(
        "/web/finance/periods",
        data={"csrf": a.csrf, "period": "2020-01", "confirm": "yes"},  # type: ignore[attr-defined]
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        assert s.execute(select(func.count()).select_from(FinPeriod)).scalar_one() == 1
        demo = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        cursor = s.get(FinCursor, (demo, "orders"))
        assert cursor is not None
        cursor.error = "orders #42: JY1300009: the books refuse it"
    books = a.get("/web/finance", headers=ZH).text
    assert "已停止的过账流" in books and "orders #42" in books
    assert "orders #42" in a.get("/web/finance/periods").text
    add_user(demo_app, "demo", "shenhe", "auditor")
    auditor = browser_client("demo", "shenhe")
    for path in ("/web/finance/statements", "/web/finance/payments", "/web/finance/periods"):
        assert auditor.get(path).status_code == 403, path


def test_another_seller_sees_and_changes_nothing_of_the_first(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    _setup(demo_app)
    a = browser_client()
    form = {"csrf": a.csrf, "doc_no": "PAY-A", "supplier": "SUP1", "kind": "payment"}  # type: ignore[attr-defined]
    form |= {"amount": "77.70", "paid_from": "1002"}
    assert a.post("/web/finance/payments", data=form, follow_redirects=False).status_code == 303
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert "PAY-A" not in b.get("/web/finance/payments").text
    q = {"kind": "supplier", "party": "SUP1"}
    assert b.get("/web/finance/statements", params=q).status_code == 404
    assert b.get("/web/finance/statements/export.csv", params=q).status_code == 404
    buyer = b.get("/web/finance/statements", params={"kind": "buyer", "party": "buyer-001"})
    assert buyer.status_code == 200 and "JY1300001" not in buyer.text
    csv = b.get(
        "/web/finance/statements/export.csv", params={"kind": "buyer", "party": "buyer-001"}
    )
    assert "JY1300001" not in csv.text
    r = b.post("/web/finance/payments", data={**form, "csrf": b.csrf, "doc_no": "PAY-B"})  # type: ignore[attr-defined]
    assert r.status_code == 422 and "SUP1" in r.text
    assert _docs(demo_app) == 1
    r = b.post(
        "/web/finance/periods",
        data={"csrf": b.csrf, "period": "2020-01", "confirm": "yes"},  # type: ignore[attr-defined]
        follow_redirects=False,
    )
    assert r.status_code == 303
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        closed = s.execute(select(Account.name).join(FinPeriod, FinPeriod.account_id == Account.id))
        assert [n for (n,) in closed] == ["other"]
    assert "2020-01" not in a.get("/web/finance/periods").text


def test_order_money_page_and_a_refund_confirmed_by_hand(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    _setup(demo_app)
    a = browser_client()
    page = a.get("/web/finance/orders", params={"order_no": "JY1300001"}, headers=ZH)
    assert page.status_code == 200 and "订单财务" in page.text
    assert (
        '<td id="state">已收款</td>' in page.text
        and '<td class="num" id="paid">59.00</td>' in page.text
    )
    form = {"csrf": a.csrf, "order_no": "JY1300001", "kind": "refunded", "reason": "买家线下退款"}  # type: ignore[attr-defined]
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert b.get("/web/finance/orders", params={"order_no": "JY1300001"}).status_code == 404
    r = b.post("/web/finance/orders", data={**form, "csrf": b.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 404
    r = a.post("/web/finance/orders", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = a.get(r.headers["location"], headers=ZH).text
    assert '<td id="state">已退款</td>' in page and "买家线下退款" in page
    again = a.post("/web/finance/orders", data=form, headers=ZH)
    assert again.status_code == 409 and "已由 admin" in again.text and "user:" not in again.text
    assert a.get("/web/finance/orders", params={"order_no": "NOPE"}).status_code == 404


def test_a_prepayment_refunded_from_the_order_money_page(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    """退预收款 by the page's form: posted once per refund number, refusals in Chinese with
    nothing booked, another seller's attempt a 404."""
    _setup(demo_app)
    a = browser_client()
    no = "JY1300001"
    page = a.get("/web/finance/orders", params={"order_no": no}, headers=ZH).text
    assert "退预收款" in page and 'name="refund_no"' in page
    form = {"csrf": a.csrf, "order_no": no, "refund_no": "TK1", "amount": "10.00"}  # type: ignore[attr-defined]
    form |= {"reason": "少发赠品，退 10 元", "paid_from": ""}
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    other = b.post("/web/finance/orders/prepayment-refunds", data={**form, "csrf": b.csrf})  # type: ignore[attr-defined]
    assert other.status_code == 404
    r = a.post("/web/finance/orders/prepayment-refunds", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = a.get(r.headers["location"], headers=ZH).text
    assert "预收款退款已记账。" in page and '<td class="num" id="refunded">10.00</td>' in page
    again = a.post("/web/finance/orders/prepayment-refunds", data=form, follow_redirects=False)
    assert again.status_code == 303  # a retry of the same number: once
    too_much = a.post(
        "/web/finance/orders/prepayment-refunds",
        data={**form, "refund_no": "TK2", "amount": "49.01"},
        headers=ZH,
    )
    assert too_much.status_code == 409 and "超过了已付的 49.00" in too_much.text
    nowhere = a.post(
        "/web/finance/orders/prepayment-refunds",
        data={**form, "refund_no": "TK3", "paid_from": "6001"},
        headers=ZH,
    )
    assert nowhere.status_code == 422 and "预收款只能从店铺清算账户" in nowhere.text
    english = a.post(
        "/web/finance/orders/prepayment-refunds",
        data={**form, "refund_no": "TK4", "amount": "1,000.00"},
        headers={"Accept-Language": "en"},
    )
    assert english.status_code == 422 and "is not an amount like 1234.56" in english.text
    page = a.get("/web/finance/orders", params={"order_no": no}, headers=ZH).text
    assert '<td class="num" id="refunded">10.00</td>' in page  # nothing else booked
