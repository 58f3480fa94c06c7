"""A worker warms up before its first request (cloud/serve/warmup.py), and it only reads."""

from __future__ import annotations

from datetime import UTC, datetime

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
