"""A worker warms up before its first request (cloud/serve/warmup.py), and it only reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import OrderLog, SalesOrder, StockMovement
from cloud.seed import seed_demo
from cloud.serve.warmup import warm


def _counts(engine: Engine) -> tuple[int, int, int]:
    with session_factory(engine)() as s:
        return tuple(  # type: ignore[return-value]
            s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (SalesOrder, OrderLog, StockMovement)
        )


def test_warm_opens_the_pool_reads_and_changes_nothing(engine: Engine) -> None:
    with transaction(session_factory(engine)) as s:
        seed_demo(s, datetime.now(UTC), password="warm-pass", node_ids=[])
    before = _counts(engine)
    n = 3 if engine.dialect.name == "postgresql" else 1
    took = warm(session_factory(engine), n)
    assert took >= 0
    assert _counts(engine) == before
    # The connections it opened stay in the pool for the first requests.
    assert engine.pool.checkedin() >= n  # type: ignore[attr-defined]


def test_warm_on_an_empty_database(engine: Engine) -> None:
    """A new install has no orders or warehouses: the statements still run, nothing fails."""
    warm(session_factory(engine), 1)
    assert _counts(engine) == (0, 0, 0)


def test_the_app_warms_before_its_first_request_when_asked(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite runs with GUANJIA_WARM_ON_START=0 (tests/conftest.py); a hub does not.
    Started with it on, the app runs the real warm-up on its read sessions, with as many
    connections as its pool keeps (one on SQLite), before the first request is served."""
    from fastapi.testclient import TestClient

    from cloud.app import create_app
    from cloud.serve import warmup
    from cloud.settings import Settings

    assert Settings().warm_on_start is False  # the suite's environment
    calls: list[int] = []
    real = warmup.warm

    def watched(sessions: Any, connections: int) -> float:  # observes, then the real one
        calls.append(connections)
        return real(sessions, connections)

    monkeypatch.setattr(warmup, "warm", watched)
    on = Settings(
        database_url=db_url,
        mqtt_host="",
        jwt_secret="test-secret-of-at-least-32-bytes-long",
        channels_scheduler=False,
        finance_poster=False,
        warm_on_start=True,
    )
    with TestClient(create_app(on, ingest=False)) as c:
        assert calls == [on.db_pool_size if db_url.startswith("postgresql") else 1]
        assert c.get("/api/v1/health").status_code == 200
    with TestClient(create_app(on.model_copy(update={"warm_on_start": False}), ingest=False)):
        assert len(calls) == 1
