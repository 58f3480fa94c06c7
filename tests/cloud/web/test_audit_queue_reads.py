"""The audit queue reads what it shows (issue 20: the dashboard pages in the API mix).

Its two tables show each order's number, buyer and status or hold reason, never its lines:
reading the lines of up to 250 orders per table was ~14 % of the page's CPU (S35). The
chosen order's panel reads its own order whole. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.models import SalesOrder
from cloud.orders import views
from cloud.orders.views import OrderFilter
from tests.cloud.web.conftest import HELD

ZH = {"Accept-Language": "zh-CN"}


def test_the_queue_lists_no_lines_and_its_panel_still_shows_them(
    browser_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = browser_client()
    whole = c.get(f"/web/audit?order={HELD}", headers=ZH)
    assert whole.status_code == 200

    def no_lines(*_: Any) -> list[dict[str, Any]]:
        raise AssertionError("the audit queue read the lines of its lists")

    monkeypatch.setattr(views, "_with_lines", no_lines)
    page = c.get(f"/web/audit?order={HELD}", headers=ZH)
    assert page.status_code == 200, page.text[-2000:]
    # The same page: the held order listed with its reason, its panel with its lines.
    strip = re.compile(r'name="csrf" value="[^"]*"')
    assert strip.sub("", page.text) == strip.sub("", whole.text)
    assert f">{HELD}</a>" in page.text
    assert 'class="reason"' in page.text


def test_a_page_without_lines_is_the_page_less_its_lines(demo_app: TestClient) -> None:
    sessions = demo_app.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        account = s.execute(
            select(SalesOrder.account_id).where(SalesOrder.order_no == HELD)
        ).scalar_one()
        for f in (OrderFilter(), OrderFilter(on_hold=True), OrderFilter(status="audited")):
            full = views.page(s, account, f, limit=50, offset=0)
            bare = views.page(s, account, f, limit=50, offset=0, lines=False)
            assert full, f
            assert bare == [{k: v for k, v in o.items() if k != "lines"} for o in full]
            assert all("lines" in o for o in full)
