"""The F9/F10 stock views plan once per connection on PostgreSQL (cloud/db/engine.py
``generic_plans``, issue 20): under "auto" PostgreSQL planned them anew on every call, about
half of the database's CPU per view. The connection's own setting is back after each view,
also when the view fails, so no other statement of the pooled connection plans differently."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cloud.db.engine import generic_plans
from cloud.db.models import Account
from cloud.errors import NotFoundError
from cloud.seed import seed_demo
from cloud.stock import views as stock_views
from tests.cloud.conftest import PASSWORD

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
F10 = ["name", "on_hand", "reserved", "available", "inbound", "channel_stock", "sales_7d"]


def _view(s: Session, acct: int, warehouse: str | None) -> list[dict[str, object]]:
    return stock_views.stock_view(
        s, acct, NOW, warehouse=warehouse, query="迪沃", columns=F10, limit=50, offset=0
    )


def _plans(s: Session) -> list[tuple[int, int]]:
    """(generic, custom) plans of the statements psycopg prepared on this connection that
    read the stock levels (the views)."""
    rows = s.execute(
        text(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%stock_level%' AND statement LIKE '%page%'"
        )
    ).all()
    return [(int(g), int(c)) for g, c in rows]


def test_views_plan_once_and_leave_the_setting_as_it_was(app_client: TestClient) -> None:
    sessions = app_client.app.state.sessions  # type: ignore[attr-defined]
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    with sessions() as s, s.begin():
        seed_demo(s, NOW, password=PASSWORD, node_ids=[])
    with sessions() as s, s.begin():
        acct = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        first = {w: _view(s, acct, w) for w in ("WH1", None)}
        assert first["WH1"] and first[None]
        # psycopg prepares a statement at its fifth use; from then on each call reuses a plan.
        for _ in range(9):
            for w in ("WH1", None):
                assert _view(s, acct, w) == first[w]  # the same answer, however planned
        plans = _plans(s)
        assert len(plans) == 2, plans
        for generic, custom in plans:
            # Under "auto" these were 0 generic and a custom plan per call.
            assert generic >= 5 and custom == 0, plans
        assert s.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"
        # A view that refuses (an unknown warehouse) leaves the setting as it was, too.
        with pytest.raises(NotFoundError):
            _view(s, acct, "NO-SUCH")
        assert s.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"


def test_a_failed_statement_inside_the_block_keeps_its_own_error(app_client: TestClient) -> None:
    """In a transaction the failure aborted, RESET cannot run: the caller sees the statement's
    error (not RESET's), and the rollback undoes the SET."""
    sessions = app_client.app.state.sessions  # type: ignore[attr-defined]
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    with sessions() as s:
        s.begin()
        with pytest.raises(Exception, match="division by zero"), generic_plans(s):
            s.execute(text("SELECT 1 / 0"))
        s.rollback()
        assert s.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"
        s.rollback()
