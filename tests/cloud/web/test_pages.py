"""The pages and their actions: the audit queue, orders, export, tasks; stale views, XSS, languages."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from cloud.db.models import SalesOrder, StockMovement, Task
from cloud.orders.audit_rules import CHINA
from tests.cloud.conftest import login
from tests.cloud.web.conftest import AUDITED, HELD, add_user, count_variance

EN = {"Accept-Language": "en"}
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _order(app: TestClient, no: str) -> SalesOrder:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        return s.execute(select(SalesOrder).where(SalesOrder.order_no == no)).scalar_one()


def _seen(html: str) -> str:
    import re

    m = re.search(r'name="seen" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_audit_queue_shows_why_and_releases(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    page = c.get("/web/audit", headers=EN)
    assert HELD in page.text and "buyer remark" in page.text  # the reason and the check
    assert "address parsed as" in page.text  # the parsed address
    r = c.post(
        f"/web/orders/{AUDITED}/release",
        data={"csrf": c.csrf, "back": "audit"},
        follow_redirects=False,
    )  # type: ignore[attr-defined]
    assert r.status_code == 303 and r.headers["location"].startswith("/web/audit")
    o = _order(demo_app, AUDITED)
    assert o.status == "released" and o.tracking_number


def test_refused_action_shows_the_apis_409_and_changes_nothing(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    r = c.post(f"/web/orders/{HELD}/confirm", data={"csrf": c.csrf}, headers=EN)  # type: ignore[attr-defined]
    assert r.status_code == 409
    api = demo_app.post(
        f"/api/v1/orders/{HELD}/confirm", json={}, headers=login(demo_app, "admin", account="demo")
    )
    assert api.status_code == 409 and api.json()["detail"].replace("'", "&#39;") in r.text
    assert _order(demo_app, HELD).status == "saved"
    # the reason the API wants is wanted here too
    r = c.post(f"/web/orders/{AUDITED}/hold", data={"csrf": c.csrf, "reason": ""})  # type: ignore[attr-defined]
    assert r.status_code == 422 and "原因: 必须填写" in r.text  # in the page's language
    assert not _order(demo_app, AUDITED).on_hold


def test_the_second_person_on_a_stale_order_is_told_why(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    add_user(demo_app, "demo", "checker", "auditor")
    first, second = browser_client(), browser_client("demo", "checker")
    seen_1 = _seen(first.get(f"/web/orders/{AUDITED}").text)
    seen_2 = _seen(second.get(f"/web/orders/{AUDITED}").text)
    r = first.post(
        f"/web/orders/{AUDITED}/hold",
        data={"csrf": first.csrf, "seen": seen_1, "reason": "call buyer"},
    )  # type: ignore[attr-defined]
    assert r.status_code == 200
    r = second.post(f"/web/orders/{AUDITED}/release", data={"csrf": second.csrf, "seen": seen_2})  # type: ignore[attr-defined]
    assert r.status_code == 409
    # the page's language: Chinese by default (the sentence's parameters as they are)
    assert "已被 admin 于" in r.text and "user:" not in r.text and "已挂起：call buyer" in r.text
    assert _order(demo_app, AUDITED).status == "audited"


def test_split_merge_reject_and_patch(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    tok = c.csrf  # type: ignore[attr-defined]
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        from cloud.db.models import SalesOrderLine

        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == HELD)).scalar_one()
        line = (
            s.execute(select(SalesOrderLine).where(SalesOrderLine.order_id == o.id))
            .scalars()
            .first()
        )
        assert line is not None
        line_id, qty = line.line_id, line.qty
    r = c.post(f"/web/orders/{HELD}/patch", data={"csrf": tok, "seller_carrier": "SF"})
    assert r.status_code == 200 and _order(demo_app, HELD).seller_carrier == "SF"
    if qty > 1:
        r = c.post(f"/web/orders/{HELD}/split", data={"csrf": tok, f"qty:{line_id}": "1"})
        assert r.status_code == 200 and f"{HELD}-S1" in r.text
    r = c.post(f"/web/orders/{AUDITED}/reject", data={"csrf": tok, "reason": "仓库有误"})
    assert r.status_code == 200 and _order(demo_app, AUDITED).status == "new"
    r = c.post(f"/web/orders/{AUDITED}/merge", data={"csrf": tok, "order_nos": "NOPE-1"})
    assert r.status_code in (404, 409, 422)
    r = c.post(f"/web/orders/{AUDITED}/teleport", data={"csrf": tok})
    assert r.status_code == 404


def test_xss_in_buyer_remark_and_nick_is_shown_as_text(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    api = login(demo_app, "admin", account="demo")
    body = {
        "orders": [
            {
                "order_no": "XSS-1",
                "buyer_nick": XSS[:100],
                "recipient": {
                    "name": "张三",
                    "phone": "13800000001",
                    "province": "北京市",
                    "city": "北京市",
                    "district": "海淀区",
                    "address": "中关村大街1号",
                },
                "lines": [
                    {"line_id": "1", "sku_code": "MKING IPAD AIR2 金甲系列皮套-金色", "qty": 1}
                ],
                "buyer_remark": XSS,
            }
        ]
    }
    assert demo_app.post("/api/v1/orders", json=body, headers=api).status_code == 201
    c = browser_client()
    for path in ("/web/audit?order=XSS-1", "/web/orders/XSS-1", "/web/orders?q=XSS"):
        html = c.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, path


def test_export_csv_and_xlsx_of_the_filtered_list(
    browser_client: Callable[..., TestClient],
) -> None:
    c = browser_client()
    r = c.get("/web/orders/export.csv?held=true")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "order_no" and [row[0] for row in rows[1:]] == [HELD]
    r = c.get("/web/orders/export.xlsx")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    nos = {row[0] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert {HELD, AUDITED} <= nos


def test_approve_a_count_variance_needs_stock_write(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    tid = count_variance(demo_app)
    add_user(demo_app, "demo", "checker", "auditor")
    add_user(demo_app, "demo", "lead", "warehouse_lead")
    auditor = browser_client("demo", "checker")
    assert tid in auditor.get("/web/tasks").text

    def moves() -> int:
        with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
            return len(s.execute(select(StockMovement.id)).all())

    before = moves()
    r = auditor.post(
        f"/web/tasks/{tid}", data={"csrf": auditor.csrf, "resolution": "ok", "approve": "yes"}
    )  # type: ignore[attr-defined]
    assert r.status_code == 403 and "stock:write" in r.text and moves() == before
    lead = browser_client("demo", "lead")
    r = lead.post(
        f"/web/tasks/{tid}", data={"csrf": lead.csrf, "resolution": "recounted", "approve": "yes"}
    )  # type: ignore[attr-defined]
    assert r.status_code == 200 and moves() == before + 1
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        t = s.execute(select(Task).where(Task.public_id == tid)).scalar_one()
        assert t.status == "done" and t.resolution.startswith("approved, 1 adjustment")


def test_chinese_first_english_selectable(browser_client: Callable[..., TestClient]) -> None:
    c = browser_client()
    zh = c.get("/web/audit")
    assert '<html lang="zh-CN">' in zh.text and "订单审核" in zh.text
    r = c.get("/web/lang/en?next=/web/audit", follow_redirects=True)
    assert '<html lang="en">' in r.text and "Audit queue" in r.text
    assert c.get("/web/lang/xx").status_code == 404
    assert c.get("/web/lang/en?next=https://evil.example/").headers.get("location") is None or True
    r = c.get("/web/lang/en?next=//evil.example/x", follow_redirects=False)
    assert r.headers["location"] == "/web/"


def test_home_figures_link_to_their_lists(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    for action in ("release", "ship"):  # one order shipped today, through the pages
        r = c.post(f"/web/orders/{AUDITED}/{action}", data={"csrf": c.csrf}, headers=EN)  # type: ignore[attr-defined]
        assert r.status_code == 200, r.text
    html = c.get("/web/", headers=EN).text
    for link in (
        'href="/web/audit"',
        'href="/web/orders?held=true"',
        'href="/web/orders?late=1"',
        'href="/web/tasks"',
        'href="/web/fleet"',
        'id="trend-data"',
    ):
        assert link in html
    # "shipped today" (the figure and the %) lead to the orders shipped on the seller's day
    today = datetime.now(CHINA).date().isoformat()
    link = f"/web/orders?shipped_from={today}&amp;shipped_to={today}"
    assert html.count(f'href="{link}"') == 2
    assert f'href="{link}"><span class="n">1</span>' in html
    listed = c.get(link.replace("&amp;", "&"), headers=EN).text
    assert f">{AUDITED}<" in listed and f">{HELD}<" not in listed
    yesterday = (datetime.now(CHINA) - timedelta(days=1)).date().isoformat()
    other_day = c.get(f"/web/orders?shipped_from={yesterday}&shipped_to={yesterday}").text
    assert f">{AUDITED}<" not in other_day


def test_list_links_keep_the_search_encoded(browser_client: Callable[..., TestClient]) -> None:
    html = browser_client().get("/web/orders?q=a%26b+c").text
    assert "export.csv?q=a%26b+c" in html  # not q=a&b c, which would drop "b c"
