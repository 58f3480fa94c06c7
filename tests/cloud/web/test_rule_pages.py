"""The rules page's form editor and dry run, and the couriers page (issue 15, "Rules and
couriers"): fields from the API's models, refusals beside their field with nothing changed,
a dry run that saves nothing, scopes and tenancy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.db.models import Account, Carrier, OrderDecision, Rule, SalesOrder
from cloud.orders import arrival
from cloud.orders.core import OrderIn
from cloud.seed import HUNAN
from tests.cloud.web.conftest import AUDITED, add_user

EN = {"Accept-Language": "en"}
#: The Hunan rule of the demo (cloud/seed.py) as the form posts it.
HUNAN_FORM = {
    "name": "湖南省内发顺丰 (Hunan ships SF)",
    "priority": "20",
    "active": "1",
    "action.carrier": "SF",
    "action.use": "",
    "c0.field": "province",
    "c0.op": "eq",
    "c0.value": "湖南",
    "c1.field": "",
    "c1.op": "",
    "c1.value": "",
}


def _versions(app: TestClient, key: str) -> list[int]:
    with app.app.state.read_sessions() as s:  # type: ignore[attr-defined]
        return list(s.execute(select(Rule.version).where(Rule.rule_key == key)).scalars())


def _post(c: TestClient, path: str, data: dict[str, Any], **kw: Any) -> Any:
    return c.post(path, data={**data, "csrf": c.csrf}, headers=EN, **kw)  # type: ignore[attr-defined]


def test_the_form_is_made_from_the_api_model(browser_client: Callable[..., TestClient]) -> None:
    page = browser_client().get("/web/rules/hunan-sf", headers=EN).text
    for name in ("name", "priority", "active", "action.carrier", "action.use", "c0.field"):
        assert f'name="{name}"' in page, name
    # bounds and choices from RuleIn / CourierAction / Condition
    assert 'name="priority" value="20" min="0" max="1000000"' in page
    assert '<option value="lowest_cost">' in page and '<option value="between">' in page
    assert 'name="c0.value" value="湖南"' in page
    assert "Advanced: the rule as JSON" in page  # the JSON editor, kept
    assert page.count('name="csrf" value="') >= 3 and 'name="csrf" value=""' not in page


def test_refusals_are_shown_beside_their_field_and_nothing_is_saved(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    bad = {
        **HUNAN_FORM,
        "priority": "-1",
        "action.carrier": "S F!",
        "c1.field": "total",
        "c1.op": "between",
        "c1.value": "100",
    }
    r = _post(c, "/web/rules/hunan-sf", bad)
    assert r.status_code == 422
    html = r.text
    # pydantic's error types said as the pages say them (cloud/web/refusals.py)
    assert 'id="f-priority-err">must be at least 0' in html
    assert 'id="f-action-carrier-err">has characters that are not allowed' in html
    assert "Condition 2: between needs a [low, high] list" in html
    assert 'name="c1.value" value="100"' in html  # what was typed stays in the form
    r = _post(c, "/web/rules/hunan-sf", {**HUNAN_FORM, "action.use": "lowest_cost"})
    assert r.status_code == 422 and "give exactly one of carrier or use" in r.text
    r = _post(c, "/web/rules/hunan-sf", {**HUNAN_FORM, "c0.field": "colour"})
    assert r.status_code == 422 and 'id="f-c0-field-err"' in r.text
    assert _versions(demo_app, "hunan-sf") == [1]


def test_saving_the_form_adds_a_version(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    form = {**HUNAN_FORM, "priority": "15", "c1.field": "total", "c1.op": "between"}
    form["c1.value"] = "10, 99.5"
    r = _post(c, "/web/rules/hunan-sf", form, follow_redirects=False)
    assert r.status_code == 303, r.text
    with demo_app.app.state.read_sessions() as s:  # type: ignore[attr-defined]
        rule = s.execute(
            select(Rule).where(Rule.rule_key == "hunan-sf", Rule.superseded_at.is_(None))
        ).scalar_one()
        assert (rule.version, rule.priority) == (2, 15)
        assert rule.conditions[1] == {"field": "total", "op": "between", "value": [10, 99.5]}
        assert rule.action == {"carrier": "SF"}
    page = c.get("/web/rules/hunan-sf", headers=EN).text
    assert "v2" in page and "+  &#34;priority&#34;: 15" in page  # diffable as before


def test_dry_run_shows_the_table_and_saves_nothing(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        acct = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        sku = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"
        arrival.create_orders(
            s,
            acct,
            [
                OrderIn.model_validate(
                    {
                        "order_no": f"DRY{i}",
                        "buyer_nick": "b",
                        "recipient": HUNAN,
                        "lines": [{"line_id": "1", "sku_code": sku, "qty": 1, "price_cents": 5900}],
                    }
                )
                for i in range(3)
            ],
            "test",
            datetime.now(UTC),
            auto_audit=False,
        )

    def written() -> tuple[int, ...]:
        with demo_app.app.state.read_sessions() as s:  # type: ignore[attr-defined]
            return (
                s.execute(select(func.count()).select_from(Rule)).scalar_one(),
                s.execute(select(func.count()).select_from(OrderDecision)).scalar_one(),
                hash(tuple(s.execute(select(SalesOrder.changed_at, SalesOrder.carrier)).all())),
            )

    before = written()
    zto = {**HUNAN_FORM, "action.carrier": "ZTO"}
    page = _post(c, "/web/rules/hunan-sf/dry-run", zto)
    assert page.status_code == 200 and "<html" in page.text  # without script: the whole page
    rows = page.text.split('class="compact dry-run"')[1]
    assert all(f"DRY{i}" in rows for i in range(3)) and AUDITED not in rows
    assert "courier: SF (hunan-sf@1)" in rows and "courier: ZTO (hunan-sf@2)" in rows
    # with htmx: only the editor and its table; the audited order too when asked
    part = c.post(
        "/web/rules/hunan-sf/dry-run",
        data={**zto, "include_audited": "1", "csrf": c.csrf},  # type: ignore[attr-defined]
        headers={**EN, "HX-Request": "true"},
    ).text
    assert "<html" not in part and part.startswith('<div id="rule-editor">')
    assert AUDITED in part and "4 would change" in part
    # a refused proposal: the form with the error, no table
    r = _post(c, "/web/rules/hunan-sf/dry-run", {**zto, "priority": "x"})
    assert r.status_code == 422 and 'id="f-priority-err"' in r.text and "dry-run" in r.text
    assert written() == before and _versions(demo_app, "hunan-sf") == [1]


def test_scopes_a_reader_runs_a_dry_run_but_cannot_save(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    add_user(demo_app, "demo", "reader", "readonly")
    r = browser_client("demo", "reader")
    page = r.get("/web/rules/hunan-sf", headers=EN).text
    assert "Dry run on today" in page and "Save a new version" not in page
    assert _post(r, "/web/rules/hunan-sf/dry-run", HUNAN_FORM).status_code == 200
    refused = _post(r, "/web/rules/hunan-sf", HUNAN_FORM)
    assert refused.status_code == 403 and "rules:write" in refused.text
    couriers = r.get("/web/couriers", headers=EN).text
    assert "ZTO" in couriers and 'name="cost"' not in couriers and "New courier" not in couriers
    refused = _post(r, "/web/couriers/ZTO", {"name": "x", "cost": "1"})
    assert refused.status_code == 403
    assert _versions(demo_app, "hunan-sf") == [1]


def _carrier(app: TestClient, account: str, code: str) -> tuple[str, int, list[str]] | None:
    with app.app.state.read_sessions() as s:  # type: ignore[attr-defined]
        row = s.execute(
            select(Carrier.name, Carrier.cost_cents, Carrier.unreachable)
            .join(Account, Account.id == Carrier.account_id)
            .where(Account.name == account, Carrier.code == code)
        ).first()
    return None if row is None else (row[0], row[1], list(row[2]))


def test_couriers_are_edited_and_refusals_shown(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    c = browser_client()
    page = c.get("/web/couriers", headers=EN).text
    assert "hunan-sf" in page and 'value="8.00"' in page  # ZTO's cost in yuan
    assert 'name="csrf" value=""' not in page
    r = _post(
        c,
        "/web/couriers/ZTO",
        {"name": "中通快递", "cost": "9.5", "unreachable": "西藏, 新疆", "edit": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert _carrier(demo_app, "demo", "ZTO") == ("中通快递", 950, ["西藏", "新疆"])
    for data, field, text in (
        ({"name": "中通", "cost": "1.234"}, "cost", "at most two decimals"),
        ({"name": "中通", "cost": "cheap"}, "cost", "a cost in yuan"),
        ({"name": "", "cost": "1"}, "name", "may not be empty"),
        ({"name": "中通", "cost": "-1"}, "cost", "must be at least 0"),
    ):
        r = _post(c, "/web/couriers/ZTO", {**data, "edit": "1"})
        assert r.status_code == 422, data
        assert f'id="ZTO-{field}-err" role="alert">' in r.text and text in r.text, (data, r.text)
    assert _carrier(demo_app, "demo", "ZTO") == ("中通快递", 950, ["西藏", "新疆"])
    r = _post(c, "/web/couriers", {"code": "YTO", "name": "圆通", "cost": "7"})
    assert r.status_code == 200 and "YTO" in r.text  # redirected to the list
    assert _carrier(demo_app, "demo", "YTO") == ("圆通", 700, [])
    r = _post(c, "/web/couriers", {"code": "Y T O", "name": "圆通", "cost": "7"})
    assert r.status_code == 422 and 'id="new-code-err"' in r.text


def test_another_seller_runs_and_edits_only_their_own(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert _post(b, "/web/rules/double11-sf/dry-run", HUNAN_FORM).status_code == 404
    assert "hunan-sf" not in b.get("/web/couriers").text
    r = _post(b, "/web/couriers/SF", {"name": "mine", "cost": "1", "edit": "1"})
    assert r.status_code == 200  # B's own SF, created
    assert _carrier(demo_app, "other", "SF") == ("mine", 100, [])
    assert _carrier(demo_app, "demo", "SF") == ("顺丰", 2200, [])


def test_a_new_rule_from_the_page(
    browser_client: Callable[..., TestClient], demo_app: TestClient
) -> None:
    """The new-rule form opens an empty editor of the chosen kind for an unused key; dry run
    and refusals as for an existing rule, nothing saved until Save; then version 1."""
    c = browser_client()
    listed = c.get("/web/rules", headers=EN).text
    assert 'name="new_key"' in listed and '<option value="gift">gift</option>' in listed
    r = c.get("/web/rules?new_key=vip-gift&new_kind=gift", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/rules/vip-gift?kind=gift"
    page = c.get("/web/rules/vip-gift?kind=gift").text  # Chinese by default
    assert "新建规则" in page and 'name="kind" value="gift"' in page
    assert 'name="action.gift_sku"' in page and "保存新规则" in page
    assert c.get("/web/rules/vip-gift").status_code == 404  # no kind: still no such rule
    for bad in ("new_key=a/b&new_kind=gift", "new_key=ok&new_kind=colour"):
        assert c.get(f"/web/rules?{bad}").status_code == 422
    form = {
        "kind": "gift",
        "name": "VIP 送贴膜",
        "priority": "40",
        "active": "1",
        "action.gift_sku": "GIFT 贴膜",
        "action.qty": "1",
        "c0.field": "total",
        "c0.op": "gte",
        "c0.value": "500",
    }
    dry = _post(c, "/web/rules/vip-gift/dry-run", form)
    assert dry.status_code == 200 and 'name="kind" value="gift"' in dry.text
    refused = c.post(
        "/web/rules/vip-gift",
        data={**form, "name": "", "csrf": c.csrf},  # type: ignore[attr-defined]
    )
    assert refused.status_code == 422 and 'id="f-name-err">必须填写' in refused.text
    assert "保存为新版本" not in refused.text  # still the new rule's editor
    assert _versions(demo_app, "vip-gift") == []  # neither the dry run nor the refusal saved
    saved = _post(c, "/web/rules/vip-gift", form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert _versions(demo_app, "vip-gift") == [1]
    page = c.get("/web/rules/vip-gift?kind=hold", headers=EN).text  # kept: a gift rule
    assert "v1" in page and 'name="kind"' not in page and "Save a new version" in page
    # another seller has no such rule; a reader is not offered the form
    add_user(demo_app, "other", "admin2", "admin")
    assert browser_client("other", "admin2").get("/web/rules/vip-gift").status_code == 404
    add_user(demo_app, "demo", "reader", "readonly")
    assert 'name="new_key"' not in browser_client("demo", "reader").get("/web/rules").text
