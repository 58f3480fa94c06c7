"""The page layer's own refusals in the page's language (issue 15, "Chinese first"): a form
or filter refused by its request model (422), a forged CSRF token, a role without the scope,
a reversed date range, a rule's own check, the reason a session ended. The API's answers to
the same input stay English and unchanged (cloud/web/refusals.py, cloud/errors.py
``InvalidValue``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlalchemy import select

from cloud.db.models import Rule, SalesOrder
from cloud.errors import N_, InvalidValue
from cloud.web import i18n, refusals
from tests.cloud.conftest import login
from tests.cloud.web.conftest import HELD, add_user

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}


def _main(html: str) -> str:
    return html.split("<main", 1)[1]


def test_form_csrf_scope_and_filter_refusals_in_chinese_and_english(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    add_user(demo_app, "demo", "picker", "picker")
    picker = browser_client("demo", "picker")

    def state() -> tuple[str, bool]:
        with demo_app.app.state.read_sessions() as s:  # type: ignore[attr-defined]
            row = s.execute(
                select(SalesOrder.status, SalesOrder.on_hold).where(SalesOrder.order_no == HELD)
            ).one()
        return str(row[0]), bool(row[1])

    before = state()
    # 驳回 without a reason: ReasonIn refuses it; the field and the sentence in Chinese
    r = c.post(f"/web/orders/{HELD}/reject", data={"csrf": c.csrf}, headers=ZH)  # type: ignore[attr-defined]
    assert r.status_code == 422 and "原因: 必须填写" in r.text, _main(r.text)
    assert "Field required" not in r.text
    r = c.post(f"/web/orders/{HELD}/reject", data={"csrf": c.csrf}, headers=EN)  # type: ignore[attr-defined]
    assert r.status_code == 422 and "reason: is required" in r.text
    # a forged CSRF token: 403, Chinese, nothing run
    r = c.post(f"/web/orders/{HELD}/reject", data={"csrf": "x", "reason": "r"}, headers=ZH)
    assert r.status_code == 403 and "此表单的安全令牌缺失或属于另一个会话" in r.text
    r = c.post(f"/web/orders/{HELD}/reject", data={"csrf": "x", "reason": "r"}, headers=EN)
    assert r.status_code == 403 and "security token is missing" in r.text
    assert state() == before
    # a role without the scope: the role's name and the scope in a Chinese sentence
    r = picker.get("/web/fleet", headers=ZH)
    assert r.status_code == 403 and "没有权限：nodes:read" in r.text
    assert "lacks scope" not in r.text
    assert "lacks scope: nodes:read" in picker.get("/web/fleet", headers=EN).text
    # the order list's filters: a reversed range and a status that is none
    bad = "/web/orders?arrived_from=2026-02-01&arrived_to=2026-01-01"
    r = c.get(bad, headers=ZH)
    assert (
        r.status_code == 422 and "arrived_to（2026-01-01）早于 arrived_from（2026-02-01）" in r.text
    )
    r = c.get("/web/orders?status=nope", headers=ZH)
    assert r.status_code == 422 and "状态: 不是可选的值" in r.text
    assert "Input should be" not in r.text
    # the API's answers are as they were: English, no ctx
    api = demo_app.get(
        "/api/v1/orders?arrived_from=2026-02-01&arrived_to=2026-01-01",
        headers=login(demo_app, "admin", account="demo"),
    )
    assert api.status_code == 422
    assert api.json() == {
        "detail": [
            {
                "loc": ["query", "arrived_to"],
                "msg": "arrived_to (2026-01-01) is before arrived_from (2026-02-01)",
                "type": "value_error",
            }
        ]
    }


def test_a_rules_own_check_and_the_session_reason_in_chinese(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    with demo_app.app.state.read_sessions() as s:  # type: ignore[attr-defined]
        versions = sorted(tuple(r) for r in s.execute(select(Rule.rule_key, Rule.version)))
    form = {
        "name": "湖南省内发顺丰",
        "priority": "20",
        "active": "on",
        "action.carrier": "SF",
        "c0.field": "total",
        "c0.op": "between",
        "c0.value": "100",
        "csrf": c.csrf,  # type: ignore[attr-defined]
    }
    r = c.post("/web/rules/hunan-sf", data=form, headers=ZH)
    assert r.status_code == 422 and "区间条件需要 [下限, 上限] 两个值" in r.text
    assert "between needs" not in r.text
    with demo_app.app.state.read_sessions() as s:  # type: ignore[attr-defined]
        assert sorted(tuple(r) for r in s.execute(select(Rule.rule_key, Rule.version))) == versions
    rule = {
        "kind": "courier",
        "name": "x",
        "conditions": [{"field": "total", "op": "between", "value": [1]}],
        "action": {"carrier": "SF"},
    }
    api = demo_app.put(
        "/api/v1/rules/hunan-sf", json=rule, headers=login(demo_app, "admin", account="demo")
    )
    assert api.status_code == 422
    assert api.json()["detail"][0]["msg"] == "Value error, between needs a [low, high] list"
    # the login page says why the session ended, in Chinese, and a forged reason as text
    page = TestClient(demo_app.app).get(
        "/web/login", params={"why": "session expired: log in again"}, headers=ZH
    )
    assert "会话已过期：请重新登录" in page.text
    page = TestClient(demo_app.app).get("/web/login", params={"why": "<b>x</b>"}, headers=ZH)
    assert "&lt;b&gt;x&lt;/b&gt;" in page.text and "<b>x</b>" not in page.text
    for plain in ("/web/login", "/web/login?why=", "/web/login?why=%20"):  # no reason: no notice
        page = TestClient(demo_app.app).get(plain, headers=ZH)
        assert "Project-Id-Version" not in page.text and "会话已结束" not in page.text


class _Range(BaseModel):
    lo: int = Field(ge=0)
    hi: int

    @model_validator(mode="after")
    def _order(self) -> _Range:
        if self.hi < self.lo:
            raise InvalidValue(N_("%(op)s needs one value"), op="eq")
        return self


def test_sentences_of_pydantic_errors() -> None:
    zh = i18n.translations("zh_CN").gettext
    with pytest.raises(ValidationError) as caught:
        _Range.model_validate({"lo": -1, "hi": "x"})
    errors = caught.value.errors()
    assert refusals.located(zh, errors) == "lo: 必须至少为 0; hi: 必须是整数"
    assert refusals.located(str, errors) == "lo: must be at least 0; hi: must be a whole number"
    with pytest.raises(ValidationError) as caught:
        _Range.model_validate({"lo": 2, "hi": 1})
    own = caught.value.errors()[0]
    assert own["msg"] == "Value error, eq needs one value"  # what the API sends
    assert refusals.sentence(str, own) == "eq needs one value"
    assert refusals.sentence(zh, own) == "eq 只需要一个值"
    # a type the pages have no sentence for keeps pydantic's text, never nothing
    unknown = {"type": "uuid_parsing", "msg": "Input should be a UUID", "loc": ("id",)}
    assert refusals.sentence(zh, unknown) == "Input should be a UUID"
