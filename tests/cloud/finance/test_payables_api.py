"""The API of supplier payables, order money, statements and periods
(cloud/api/payables.py, statements.py): retries post once, bad input is a clear 422 with
nothing stored, the scopes, and a confirmation by hand never doubles the poster's entry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.finance import FinEntry
from cloud.db.payables import FinSupplierDoc
from cloud.finance import poster
from cloud.seed import seed_demo
from tests.cloud.conftest import PASSWORD, login
from tests.cloud.web.conftest import add_user

ORDER = "JY1300001"  # 59.00, buyer-001 (cloud/seed.py)


@pytest.fixture
def demo(app_client: TestClient) -> TestClient:
    with app_client.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[])
    app_client.headers.update(login(app_client, "admin", account="demo"))
    r = app_client.post("/api/v1/suppliers", json={"code": "SUP1", "name": "深圳壳厂"})
    assert r.status_code == 201, r.text
    return app_client


def _factory(c: TestClient) -> sessionmaker[Session]:
    return c.app.state.sessions  # type: ignore[attr-defined,no-any-return]


def _tick(c: TestClient) -> None:
    poster.tick(_factory(c), datetime.now(UTC) + timedelta(minutes=1))


def _counts(c: TestClient) -> tuple[int, int]:
    with transaction(_factory(c)) as s:
        return (
            s.execute(select(func.count()).select_from(FinEntry)).scalar_one(),
            s.execute(select(func.count()).select_from(FinSupplierDoc)).scalar_one(),
        )


def _pay(c: TestClient, **over: Any) -> Any:
    body = {"doc_no": "PAY-1", "supplier": "SUP1", "kind": "payment", "amount": "300.00"}
    body["paid_from"] = "1002"
    body.update(over)
    return c.post("/api/v1/finance/supplier-docs", json=body)


def test_a_payment_retried_posts_once(demo: TestClient) -> None:
    first = _pay(demo, doc_date="2026-11-03")
    assert first.status_code == 201, first.text
    doc = first.json()
    assert doc["amount"] == "300.00" and doc["doc_date"] == "2026-11-03"
    before = _counts(demo)
    for _ in range(3):
        again = _pay(demo, doc_date="2026-11-03")
        assert again.status_code == 200 and again.json() == doc
    assert _counts(demo) == before
    other = _pay(demo, amount="300.01", doc_date="2026-11-03")
    assert other.status_code == 409 and "exists already with other content" in other.text
    listed = demo.get("/api/v1/finance/supplier-docs", params={"supplier": "SUP1"}).json()
    assert [d["doc_no"] for d in listed] == ["PAY-1"]
    bal = demo.get("/api/v1/finance/suppliers/SUP1/balance").json()
    assert bal == {"supplier": "SUP1", "payable": "-300.00", "prepaid": "0.00"}
    assert demo.get("/api/v1/finance/suppliers/NOPE/balance").status_code == 404


@pytest.mark.parametrize(
    ("over", "said"),
    [
        ({"amount": 300.5}, "give money as a decimal string, not a float"),
        ({"amount": "1,000.00"}, "no commas"),
        ({"amount": "10.001"}, "more than two decimals"),
        ({"amount": "-5.00"}, "must be more than 0.00"),
        ({"supplier": "NOPE"}, "no supplier NOPE"),
        ({"paid_from": "6001"}, "paid_from must be one of 1002, 1012.01, 1012.02"),
    ],
)
def test_bad_input_is_a_clear_422_and_nothing_is_stored(
    demo: TestClient, over: dict[str, Any], said: str
) -> None:
    before = _counts(demo)
    r = _pay(demo, **over)
    assert r.status_code == 422, r.text
    assert said in r.text
    assert _counts(demo) == before


def test_an_invoice_through_the_api(demo: TestClient) -> None:
    body = {"doc_no": "INV-9", "supplier": "SUP1", "kind": "invoice", "amount": "200.00"}
    r = demo.post("/api/v1/finance/supplier-docs", json={**body, "tax_rate": "0.09"})
    assert r.status_code == 201, r.text
    assert (r.json()["tax"], r.json()["tax_rate"], r.json()["paid_from"]) == ("18.00", "0.09", None)
    before = _counts(demo)
    r = demo.post(
        "/api/v1/finance/supplier-docs", json={**body, "doc_no": "INV-10", "tax_rate": 0.09}
    )
    assert r.status_code == 422 and "decimal string" in r.text
    assert _counts(demo) == before


def test_write_needs_finance_write(demo: TestClient) -> None:
    add_user(demo, "demo", "kuaiji", "finance")
    add_user(demo, "demo", "shenhe", "auditor")
    r = demo.post(
        "/api/v1/finance/supplier-docs",
        json={
            "doc_no": "X",
            "supplier": "SUP1",
            "kind": "payment",
            "amount": "1.00",
            "paid_from": "1002",
        },
        headers=login(demo, "shenhe", account="demo"),
    )
    assert r.status_code == 403
    r = demo.post(
        "/api/v1/finance/supplier-docs",
        json={
            "doc_no": "X",
            "supplier": "SUP1",
            "kind": "payment",
            "amount": "1.00",
            "paid_from": "1002",
        },
        headers=login(demo, "kuaiji", account="demo"),
    )
    assert r.status_code == 201, r.text


def _entries(c: TestClient, kind: str) -> int:
    with transaction(_factory(c)) as s:
        return s.execute(
            select(func.count())
            .select_from(FinEntry)
            .where(FinEntry.source_doc == ORDER, FinEntry.event_kind == kind)
        ).scalar_one()


def test_order_money_and_a_refund_confirmed_by_hand_posts_once(demo: TestClient) -> None:
    _tick(demo)
    m = demo.get(f"/api/v1/finance/orders/{ORDER}").json()
    assert (m["paid"], m["refunded"], m["state"], m["settled"]) == ("59.00", "0.00", "paid", None)
    assert [e["event_kind"] for e in m["entries"]] == ["order_paid"]
    r = demo.post(f"/api/v1/finance/orders/{ORDER}/confirm", json={"kind": "paid", "reason": "x"})
    assert r.status_code == 409 and "is in the books already" in r.text
    too_much = {"kind": "refunded", "reason": "买家线下退款", "amount": "59.01"}
    r = demo.post(f"/api/v1/finance/orders/{ORDER}/confirm", json=too_much)
    assert r.status_code == 409 and "more than the 59.00 paid" in r.text
    r = demo.post(
        f"/api/v1/finance/orders/{ORDER}/confirm", json={"kind": "refunded", "reason": " "}
    )
    assert r.status_code == 422
    ok = {"kind": "refunded", "reason": "买家线下退款"}
    r = demo.post(f"/api/v1/finance/orders/{ORDER}/confirm", json=ok)
    assert r.status_code == 201, r.text
    m = r.json()
    assert (m["refunded"], m["state"]) == ("59.00", "refunded")
    assert m["confirmations"][0]["reason"] == "买家线下退款"
    again = demo.post(f"/api/v1/finance/orders/{ORDER}/confirm", json=ok)
    assert again.status_code == 409 and "was confirmed already" in again.text
    # The channel's own cancel arrives later: the poster finds the entry, posts nothing.
    r = demo.post(f"/api/v1/orders/{ORDER}/cancel", json={"reason": "买家退款"})
    assert r.status_code == 200, r.text
    _tick(demo)
    assert _entries(demo, "refund_unshipped") == 1
    assert demo.get("/api/v1/finance/orders/NOPE").status_code == 404


def test_a_payment_confirmed_before_the_poster_posts_once(demo: TestClient) -> None:
    r = demo.post(
        f"/api/v1/finance/orders/{ORDER}/confirm", json={"kind": "paid", "reason": "银行转账"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["paid"] == "59.00"
    _tick(demo)
    assert _entries(demo, "order_paid") == 1


def test_statements_and_periods(demo: TestClient) -> None:
    _tick(demo)
    assert _pay(demo).status_code == 201
    today = datetime.now(UTC).date()
    span = {"start": str(today - timedelta(days=40)), "end": str(today + timedelta(days=1))}
    st = demo.get("/api/v1/finance/statements/suppliers/SUP1", params=span).json()
    assert (st["opening"], st["closing"], st["name"]) == ("0.00", "-300.00", "深圳壳厂")
    assert [ln["source_doc"] for ln in st["lines"]] == ["sp:PAY-1"]
    assert demo.get("/api/v1/finance/statements/suppliers/NOPE", params=span).status_code == 404
    bad = demo.get(
        "/api/v1/finance/statements/suppliers/SUP1",
        params={"start": "2026-12-02", "end": "2026-12-01"},
    )
    assert bad.status_code == 422 and "before it starts" in bad.text
    b = demo.get("/api/v1/finance/statements/buyers", params={"buyer": "buyer-001", **span}).json()
    assert [ln["source_doc"] for ln in b["lines"]] == [ORDER]
    assert b["closing"] == "59.00"
    nobody = demo.get("/api/v1/finance/statements/buyers", params={"buyer": "nobody", **span})
    assert nobody.status_code == 200 and nobody.json()["lines"] == []
    months = demo.get("/api/v1/finance/periods").json()
    this = months[0]["period"]
    assert not months[0]["closed"] and any("has not ended yet" in b for b in months[0]["blockers"])
    r = demo.post(f"/api/v1/finance/periods/{this}/close")
    assert r.status_code == 409 and "has not ended yet" in r.text
    assert demo.post("/api/v1/finance/periods/2026-13/close").status_code == 422
    last = date(2020, 1, 1)
    r = demo.post(f"/api/v1/finance/periods/{last:%Y-%m}/close")
    assert r.status_code == 200, r.text
    assert r.json()["closed"] is True
