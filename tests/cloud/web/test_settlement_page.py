"""/api/v1/finance/settlements and /web/finance/settlements: import a bill, its rows, the
unmatched list; by scope, per seller, in Chinese."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.models import Account, SalesOrder
from tests.cloud.conftest import login
from tests.cloud.finance.test_settlements import csv, row
from tests.cloud.web.conftest import add_user


def demo_order(app: TestClient) -> tuple[str, Decimal]:
    """The demo seller's first order: its number and total."""
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        demo = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        o = (
            s.execute(
                select(SalesOrder)
                .where(SalesOrder.account_id == demo)
                .order_by(SalesOrder.order_no)
            )
            .scalars()
            .first()
        )
        assert o is not None
        return o.order_no, Decimal(o.total_cents) / 100


def _bill(app: TestClient) -> tuple[bytes, str]:
    """A bill with a sale of one of the demo seller's orders and one of no order."""
    no, total = demo_order(app)
    data = csv(
        [
            [
                "77001\t",
                "",
                no,
                "商品",
                "2026-11-12 10:00:00",
                "b***",
                f"{total:.2f}",
                "",
                f"{total + 100:.2f}",
                "",
                "在线支付",
                "",
            ],
            row("77002", "3999999999", "", "-1.00", f"{total + 99:.2f}", "收费"),
            row("77003", "3888888888", "8.00", "", f"{total + 107:.2f}", "在线支付"),
        ]
    )
    return data, no


def test_import_by_api_for_finance_and_admin_only(demo_app: TestClient) -> None:
    data, no = _bill(demo_app)
    add_user(demo_app, "demo", "kuaiji", "finance")
    add_user(demo_app, "demo", "shenhe", "auditor")
    auditor = login(demo_app, "shenhe", account="demo")
    r = demo_app.post("/api/v1/finance/settlements?name=b.csv", content=data, headers=auditor)
    assert r.status_code == 403
    assert demo_app.get("/api/v1/finance/settlements", headers=auditor).status_code == 403
    fin = login(demo_app, "kuaiji", account="demo")
    r = demo_app.post("/api/v1/finance/settlements?name=b.csv", content=data, headers=fin)
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["rows"], got["posted"], got["unmatched"]) == (3, 2, 1)
    again = demo_app.post("/api/v1/finance/settlements?name=b.csv", content=data, headers=fin)
    assert again.status_code == 409 and "imported already" in again.text
    bad = demo_app.post(
        "/api/v1/finance/settlements", content=data.replace(b",8.00,", b",8.0.0,"), headers=fin
    )
    assert bad.status_code == 422 and "line 8" in bad.text, bad.text
    bills = demo_app.get("/api/v1/finance/settlements", headers=fin).json()
    assert [b["id"] for b in bills] == [got["bill"]]
    one = demo_app.get(f"/api/v1/finance/settlements/{got['bill']}", headers=fin).json()
    states = {r["flow_no"]: (r["kind"], r["state"], r["order_no"]) for r in one["rows"]}
    assert states["77001"] == ("sale", "posted", no)
    assert states["77002"] == ("fee", "posted", "3999999999")
    assert states["77003"][1] == "unmatched"
    listed = demo_app.get("/api/v1/finance/settlements/unmatched", headers=fin).json()
    assert [r["flow_no"] for r in listed] == ["77003"]
    assert listed[0]["reason"].startswith("no order 3888888888 in the hub")
    # Another seller sees none of it.
    add_user(demo_app, "other", "boss", "admin")
    other = login(demo_app, "boss", account="other")
    assert demo_app.get("/api/v1/finance/settlements", headers=other).json() == []
    assert (
        demo_app.get(f"/api/v1/finance/settlements/{got['bill']}", headers=other).status_code == 404
    )
    assert demo_app.get("/api/v1/finance/settlements/unmatched", headers=other).json() == []


def test_settlement_pages_upload_and_show_rows_in_chinese(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    data, no = _bill(demo_app)
    a = browser_client()
    zh = {"Accept-Language": "zh-CN"}
    page = a.get("/web/finance/settlements", headers=zh)
    assert page.status_code == 200 and "平台结算" in page.text
    r = a.post(
        "/web/finance/settlements",
        data={"csrf": a.csrf},  # type: ignore[attr-defined]
        files={"file": ("bill.csv", data, "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    bill = a.get(r.headers["location"], headers=zh).text
    assert no in bill and "77003" in bill and "未匹配" in bill and "已过账" in bill
    listing = a.get("/web/finance/settlements", headers=zh).text
    assert "bill.csv" in listing and "中心没有订单 3888888888" in listing
    again = a.post(
        "/web/finance/settlements",
        data={"csrf": a.csrf},  # type: ignore[attr-defined]
        files={"file": ("bill.csv", data, "text/csv")},
        follow_redirects=False,
    )
    assert again.status_code == 409 and "已导入" in again.text
    add_user(demo_app, "demo", "shenhe", "auditor")
    auditor = browser_client("demo", "shenhe")
    assert auditor.get("/web/finance/settlements").status_code == 403


def test_a_wechat_pay_bill_by_api_and_a_bad_one_refused_in_chinese(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    """A WeChat Pay trade bill goes in through the same routes (recognised by its header):
    the payment of an order of ours settles into 1012.02; a bad one is a 422 with the line
    at fault (on the page in Chinese) and stores nothing."""
    from tests.cloud.finance.test_wechat_bill import line, wx

    _, no = _bill(demo_app)
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        cents = s.execute(select(SalesOrder.total_cents).where(SalesOrder.order_no == no))
        total = Decimal(cents.scalar_one()) / 100
    data = wx([line("4200000000000000000000000001", no, f"{total:.2f}", "0.01000")])
    admin = login(demo_app, "admin", account="demo")
    bad = data.replace(b"`SUCCESS", b"`CLOSED")
    r = demo_app.post("/api/v1/finance/settlements?name=wx.csv", content=bad, headers=admin)
    assert r.status_code == 422 and "line 2: 交易状态 'CLOSED' is none of" in r.text, r.text
    a = browser_client()
    page = a.post(
        "/web/finance/settlements",
        data={"csrf": a.csrf},  # type: ignore[attr-defined]
        files={"file": ("wx.csv", bad, "text/csv")},
        headers={"Accept-Language": "zh-CN"},
    )
    assert page.status_code == 422 and "第 2 行：交易状态 &#39;CLOSED&#39; 不是" in page.text
    assert demo_app.get("/api/v1/finance/settlements", headers=admin).json() == []
    r = demo_app.post("/api/v1/finance/settlements?name=wx.csv", content=data, headers=admin)
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["rows"], got["posted"], got["unmatched"]) == (2, 2, 0)
    one = demo_app.get(f"/api/v1/finance/settlements/{got['bill']}", headers=admin).json()
    kinds = {r["flow_no"]: (r["kind"], r["state"], r["order_no"]) for r in one["rows"]}
    assert kinds == {
        "wx:4200000000000000000000000001": ("sale", "posted", no),
        "wx:4200000000000000000000000001:fee": ("fee", "posted", no),
    }
    listing = a.get("/web/finance/settlements", headers={"Accept-Language": "zh-CN"}).text
    assert "微信支付 1900000109" in listing and "微信支付交易账单" in listing


def test_a_fund_flow_bill_by_api_posts_nothing_and_a_bad_one_is_a_422(
    demo_app: TestClient,
) -> None:
    """/api/v1/finance/fundflow-bills: withdrawals are in no trade bill (listed, a task,
    nothing posted); a bill whose balance does not chain is a 422 naming the line, with
    nothing stored; the same file again a 409; by scope, per seller."""
    from tests.cloud.finance.test_wechat_v3 import ff, mv

    good = ff(
        [
            mv("W1", "提现", "支出", "5.00", "95.00", business=""),
            mv("W2", "提现", "支出", "5.00", "90.00", business=""),
        ]
    )
    add_user(demo_app, "demo", "kuaiji2", "finance")
    add_user(demo_app, "demo", "shenhe2", "auditor")
    fin = login(demo_app, "kuaiji2", account="demo")
    auditor = login(demo_app, "shenhe2", account="demo")
    url = "/api/v1/finance/fundflow-bills"
    assert demo_app.post(url, content=good, headers=auditor).status_code == 403
    trial = demo_app.get("/api/v1/finance/trial-balance", headers=fin).json()
    bad = demo_app.post(url, content=good.replace(b"`90.00", b"`91.00"), headers=fin)
    assert bad.status_code == 422 and "line 3: the balance 91.00" in bad.text, bad.text
    assert demo_app.get(url, headers=fin).json() == []  # nothing stored
    r = demo_app.post(f"{url}?name=ff.csv", content=good, headers=fin)
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["rows"], got["matched"], got["unmatched"]) == (2, 0, 2) and got["task"]
    again = demo_app.post(url, content=good, headers=fin)
    assert again.status_code == 409 and "imported already" in again.text
    assert [b["id"] for b in demo_app.get(url, headers=fin).json()] == [got["bill"]]
    assert demo_app.get("/api/v1/finance/trial-balance", headers=fin).json() == trial
    add_user(demo_app, "other", "boss2", "admin")
    other = login(demo_app, "boss2", account="other")
    assert demo_app.get(url, headers=other).json() == []
