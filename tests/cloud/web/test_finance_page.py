"""/web/finance and GET /api/v1/finance/trial-balance: the books after the poster, by scope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient

from cloud.api.finance import current_period
from cloud.finance import poster
from tests.cloud.conftest import login
from tests.cloud.web.conftest import HELD, add_user


def _post(app: TestClient) -> None:
    poster.tick(app.app.state.sessions, datetime.now(UTC) + timedelta(minutes=1))  # type: ignore[attr-defined]


def test_trial_balance_api_balances_and_is_for_finance_and_admin_only(
    demo_app: TestClient,
) -> None:
    _post(demo_app)
    add_user(demo_app, "demo", "kuaiji", "finance")
    add_user(demo_app, "demo", "shenhe", "auditor")
    period = current_period()
    for user in ("admin", "kuaiji"):
        r = demo_app.get(
            "/api/v1/finance/trial-balance",
            params={"period": period},
            headers=login(demo_app, user, account="demo"),
        )
        assert r.status_code == 200, r.text
        tb = r.json()
        assert tb["balanced"] is True and tb["debit"] == tb["credit"] != "0.00"
        assert sum(Decimal(row["balance"]) for row in tb["rows"]) == 0
        assert {"2203", "6001"} & {row["code"] for row in tb["rows"]} == {"2203"}
    auditor = login(demo_app, "shenhe", account="demo")
    r = demo_app.get("/api/v1/finance/trial-balance", headers=auditor)
    assert r.status_code == 403
    admin = login(demo_app, "admin", account="demo")
    bad = demo_app.get("/api/v1/finance/trial-balance?period=2026-13", headers=admin)
    assert bad.status_code == 422 and "is not a month like 2026-12" in bad.text
    # An earlier month: nothing posted in it, nothing carried into it.
    empty = demo_app.get("/api/v1/finance/trial-balance?period=2020-01", headers=admin).json()
    assert empty["rows"] == [] and empty["balanced"] is True


def test_finance_page_in_chinese_with_ledger_lines(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    _post(demo_app)
    a = browser_client()
    html = a.get("/web/finance?account=2203", headers={"Accept-Language": "zh-CN"}).text
    assert "试算平衡表" in html and "账簿平衡" in html and HELD in html
    assert 'href="/web/finance"' in html  # the nav link, for an admin
    add_user(demo_app, "demo", "shenhe", "auditor")
    auditor = browser_client("demo", "shenhe")
    assert auditor.get("/web/finance").status_code == 403
    assert 'href="/web/finance"' not in auditor.get("/web/").text
    missing = a.get("/web/finance?account=9999")
    assert missing.status_code == 404
