"""Rules are bounded on save, and a stored rule that cannot be evaluated is skipped for the
order with a task and an alarm, never a 500 for every order (issue 13, finding 7)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from cloud.db.models import Rule
from cloud.orders.audit_rules import MAX_RULE_CHARS, MAX_VALUES, RuleIn
from cloud.seed import seed_demo
from tests.cloud.conftest import PASSWORD, account_id_of, login

GOOD = {
    "kind": "hold",
    "name": "big orders",
    "conditions": [{"field": "total", "op": "gte", "value": 10_000}],
    "action": {"hold": "check big orders"},
}


@pytest.fixture
def demo(app_client: TestClient) -> TestClient:
    with app_client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=["n-1"])
    app_client.headers.update(login(app_client, "admin", account="demo"))
    return app_client


def _order(no: str) -> dict:  # type: ignore[type-arg]
    return {
        "order_no": no,
        "buyer_nick": "b",
        "recipient": {
            "name": "张三",
            "phone": "13800000000",
            "province": "湖南省",
            "city": "长沙市",
            "district": "岳麓区",
            "address": "麓山南路 1 号",
        },
        "lines": [{"line_id": "1", "sku_code": "GIFT 贴膜", "qty": 1, "price_cents": 100}],
    }


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        10**20,
        2**64,
        "abc",  # a total compared as a number
        "nan",  # float("nan") reads it
        "1e309",
    ],
)
def test_rule_numbers_are_finite_and_in_range(value: object) -> None:
    rule = {**GOOD, "conditions": [{"field": "total", "op": "gte", "value": value}]}
    with pytest.raises(ValidationError):
        RuleIn.model_validate(rule)
    ok = {**GOOD, "conditions": [{"field": "total", "op": "gte", "value": 999.5}]}
    RuleIn.model_validate(ok)


def test_rule_sizes_are_capped(demo: TestClient) -> None:
    before = demo.get("/api/v1/rules").json()
    long_list = [f"SKU-{i}" for i in range(MAX_VALUES + 1)]
    long_text = "x" * 10_000
    many = [{"field": "sku", "op": "in", "value": ["a"]}] * 21
    big_total = [
        {"field": "sku", "op": "in", "value": ["y" * 200] * 300},
    ]
    for conditions in (
        [{"field": "sku", "op": "in", "value": long_list}],
        [{"field": "address", "op": "contains", "value": long_text}],
        many,
        big_total,
    ):
        r = demo.put("/api/v1/rules/big", json={**GOOD, "conditions": conditions})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][:2] == ["body", "conditions"] or (
            str(MAX_RULE_CHARS) in r.text
        )
    # Over the API, non-finite and beyond-64-bit numbers are 422 too, naming the field.
    for token in ("NaN", "Infinity", "1e309", str(2**64)):
        text = (
            '{"kind": "hold", "name": "n", "action": {"hold": "h"}, '
            '"conditions": [{"field": "total", "op": "gte", "value": ' + token + "}]}"
        )
        r = demo.put(
            "/api/v1/rules/nan", content=text, headers={"content-type": "application/json"}
        )
        assert r.status_code == 422, (token, r.text)
        assert r.json()["detail"][0]["loc"][:3] == ["body", "conditions", 0]
    assert demo.get("/api/v1/rules").json() == before
    assert demo.put("/api/v1/rules/big", json=GOOD).status_code == 200


@pytest.mark.parametrize(
    "conditions",
    [
        [{"field": "total", "op": "gte", "value": float("nan")}],
        [{"field": "total", "op": "gt", "value": "not a number"}],
        [{"field": "weight_g", "op": "between", "value": [1]}],
        [{"field": "total", "op": "in", "value": 5}],
        [{"field": "nope", "op": "eq", "value": 1}],
    ],
    ids=["nan", "text-total", "between-one", "in-scalar", "unknown-field"],
)
def test_a_stored_rule_that_cannot_be_evaluated_is_skipped_with_a_task_and_an_alarm(
    demo: TestClient, conditions: list[dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    """A rule stored before the bounds (inserted raw): orders still arrive and audit."""
    sessions = demo.app.state.sessions  # type: ignore[attr-defined]
    account = account_id_of(demo)
    with sessions() as s, s.begin():
        s.add(
            Rule(
                account_id=account,
                rule_key="legacy",
                version=1,
                kind="hold",
                name="legacy rule",
                priority=1,
                conditions=conditions,
                action={"hold": "legacy"},
                active=True,
                superseded_at=None,
                created_by="old",
                created_at=datetime.now(UTC),
            )
        )
    with caplog.at_level(logging.ERROR, logger="guanjia.cloud.rules"):
        r1 = demo.post("/api/v1/orders", json={"orders": [_order("L1"), _order("L2")]})
        assert r1.status_code == 201, r1.text
        r2 = demo.post("/api/v1/orders", json={"orders": [_order("L3")]})
        assert r2.status_code == 201, r2.text
    for no in ("L1", "L2", "L3"):
        o = demo.get(f"/api/v1/orders/{no}").json()
        skipped = [d for d in o["decisions"] if d["check"] == "rule"]
        assert [(d["outcome"], d["rule_key"]) for d in skipped] == [("skip", "legacy")], o[
            "decisions"
        ]
        assert "legacy" not in (o["hold_reason"] or "")
    # Re-auditing by hand skips it too.
    assert demo.post("/api/v1/orders/L1/save").status_code < 500
    tasks = [t for t in demo.get("/api/v1/tasks").json() if t["kind"] == "rule_broken"]
    assert len(tasks) == 1 and "legacy@1" in tasks[0]["detail"], tasks
    assert any("legacy@1" in rec.getMessage() for rec in caplog.records)
    # Saving the rule again, within the bounds, mends it; the next order applies it.
    assert demo.put("/api/v1/rules/legacy", json=GOOD).status_code == 200
    assert demo.post("/api/v1/orders", json={"orders": [_order("L4")]}).status_code == 201
    o = demo.get("/api/v1/orders/L4").json()
    assert not [d for d in o["decisions"] if d["check"] == "rule"]
    with sessions() as s:
        assert s.execute(select(Rule.version).where(Rule.rule_key == "legacy")).scalars().all()
