"""Domain refusals in the page's language (issue 15): a Chinese page shows the domain's
sentence in Chinese (cloud/errors.py message id + parameters, translated by the web layer),
while the API answers the same refusal with its English sentence, unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.models import Rule, SalesOrder
from cloud.errors import N_, ConflictError, InvalidError
from tests.cloud.conftest import login
from tests.cloud.web.conftest import HELD, csrf_of

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def test_a_409_on_the_orders_page_in_chinese_and_in_english_from_the_api(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        reason = s.execute(
            select(SalesOrder.hold_reason).where(SalesOrder.order_no == HELD)
        ).scalar_one()
    api = demo_app.post(
        f"/api/v1/orders/{HELD}/confirm", json={}, headers=login(demo_app, "admin", account="demo")
    )
    assert api.status_code == 409
    assert api.json() == {"detail": f"order {HELD} is on hold ({reason}); lift the hold first"}
    page = c.post(f"/web/orders/{HELD}/confirm", data={"csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert page.status_code == 409
    assert f"订单 {HELD} 已挂起（" in page.text and "请先解除挂起" in page.text
    assert "lift the hold first" not in page.text
    en = c.post(  # type: ignore[attr-defined]
        f"/web/orders/{HELD}/confirm", data={"csrf": c.csrf}, headers={"Accept-Language": "en"}
    )
    assert en.status_code == 409 and "lift the hold first" in en.text
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert (
            s.execute(select(SalesOrder.status).where(SalesOrder.order_no == HELD)).scalar_one()
            == "saved"
        )  # refused: nothing changed


def test_a_404_and_a_login_refusal_in_chinese(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    r = c.get("/web/orders/NOPE", headers=ZH)
    assert r.status_code == 404 and "没有订单 &#39;NOPE&#39;" in r.text
    anon = TestClient(demo_app.app, base_url="http://testserver")
    form = anon.get("/web/login", headers=ZH)
    r = anon.post(
        "/web/login",
        data={
            "account": "demo",
            "username": "admin",
            "password": "wrong",
            "csrf": csrf_of(form.text),
        },
        headers=ZH,
    )
    assert r.status_code == 401 and "账户、用户名或密码错误" in r.text


def test_message_id_and_parameters_keep_the_english_sentence() -> None:
    err = ConflictError(N_("order %(order)s is %(status)s"), order="A1", status="saved")
    assert str(err) == "order A1 is saved" and err.body() == {"detail": "order A1 is saved"}
    zh = {"order %(order)s is %(status)s": "订单 %(order)s 是 %(status)s", "saved": "已保存"}
    assert err.translated(lambda m: zh.get(m, m)) == "订单 A1 是 已保存"  # the status too
    assert err.translated(lambda m: zh.get(m, m) if m != "saved" else m) == "订单 A1 是 saved"
    # a broken translation falls back to the English sentence, never an exception
    assert err.translated(lambda m: "订单 %(nope)s") == "order A1 is saved"
    bad = InvalidError(N_("no bin %(bin)r in %(warehouse)s"), "bin", bin="B1", warehouse="WH1")
    assert bad.body()["detail"][0] == {
        "loc": ["body", "bin"],
        "msg": "no bin 'B1' in WH1",
        "type": "value_error",
    }
    # a plain sentence with a literal % is left as written
    assert str(ConflictError("100% sure")) == "100% sure"


def test_a_rules_refusal_and_a_nodes_refusal_in_chinese(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """cloud/orders/audit_rules.py and cloud/nodes/ownership.py raise message ids: the
    Chinese page shows them in Chinese; the API keeps the English sentence."""
    c = browser_client()
    gift = {
        "kind": "gift",
        "name": "gift",
        "priority": 1,
        "conditions": [],
        "action": {"gift_sku": "X", "qty": 1},
    }
    before = _rules(demo_app)
    r = c.post(  # type: ignore[attr-defined]
        "/web/rules/hunan-sf", data={"rule": json.dumps(gift), "csrf": c.csrf}, headers=ZH
    )
    assert r.status_code == 409, r.text
    assert "规则 hunan-sf 是 快递 规则；赠品 规则请用新的键名" in r.text  # kinds translated too
    assert "use a new key" not in r.text
    assert _rules(demo_app) == before  # refused: nothing saved
    api = demo_app.put(
        "/api/v1/rules/hunan-sf", json=gift, headers=login(demo_app, "admin", account="demo")
    )
    assert api.status_code == 409
    assert api.json() == {
        "detail": "rule hunan-sf is a courier rule; use a new key for a gift rule"
    }
    assert _rules(demo_app) == before
    r = c.get("/web/rules/NOPE", headers=ZH)
    assert r.status_code == 404 and "没有规则 &#39;NOPE&#39;" in r.text
    r = c.get("/web/fleet/NOPE", headers=ZH)
    assert r.status_code == 404 and "您的账户中没有这个编号的节点" in r.text
    assert "no node with this id" not in r.text
    en = c.get("/web/fleet/NOPE", headers={"Accept-Language": "en"})
    assert en.status_code == 404 and "no node with this id in your account" in en.text


def _rules(app: TestClient) -> list[tuple[str, int]]:
    with app.app.state.read_sessions() as s:  # type: ignore[attr-defined]
        return sorted((k, v) for k, v in s.execute(select(Rule.rule_key, Rule.version)))


def test_a_status_inside_a_chinese_sentence_is_chinese_too(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """A saved (not audited) order cannot be released: the sentence names its status, which
    the page shows as the status list does (已保存), the API as its name (saved)."""
    c = browser_client()
    api = demo_app.post(
        f"/api/v1/orders/{HELD}/release", json={}, headers=login(demo_app, "admin", account="demo")
    )
    assert api.status_code == 409, api.text
    assert api.json() == {"detail": f"order {HELD} is saved; only an audited order is released"}
    page = c.post(f"/web/orders/{HELD}/release", data={"csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert page.status_code == 409
    assert "已保存" in page.text and "saved" not in page.text.split("<main", 1)[1]
