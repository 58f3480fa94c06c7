"""Pooled PostgreSQL connections the server has dropped are replaced, not handed out.

cloud/db/engine.py checks an idle connection's socket at checkout instead of a round trip per
request (``pool_pre_ping``). These tests end the pooled backends from another connection,
as a database restart or an administrator does, and expect the next requests to succeed.
"""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import Engine, text

from cloud.db.engine import make_engine, session_factory

pytestmark = pytest.mark.skipif(
    not os.environ.get("GUANJIA_TEST_DATABASE_URL"), reason="needs PostgreSQL"
)


def _backend_pids(engine: Engine, n: int) -> list[int]:
    """Check out ``n`` connections at once (so they are distinct) and return them to the pool."""
    conns = [engine.connect() for _ in range(n)]
    try:
        return [c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in conns]
    finally:
        for c in conns:
            c.close()


def _terminate(url: str, pids: list[int]) -> None:
    admin = make_engine(url)
    try:
        with admin.connect() as c:
            for pid in pids:
                assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    finally:
        admin.dispose()


@pytest.fixture
def pg_url() -> str:
    return os.environ["GUANJIA_TEST_DATABASE_URL"]


def test_terminated_pooled_connections_are_replaced_before_use(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=3, max_overflow=0)
    try:
        old = _backend_pids(engine, 3)
        _terminate(pg_url, old)
        time.sleep(0.2)  # the FATAL message and the close reach our sockets
        sessions = session_factory(engine)
        # Every pooled connection is dead: each of these requests must get a live one.
        seen = []
        for _ in range(3):
            with sessions() as s, s.begin():
                seen.append(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
        assert not set(seen) & set(old)
    finally:
        engine.dispose()


def test_live_pooled_connections_are_kept(pg_url: str) -> None:
    """The check must not throw good connections away (each reconnect costs a new backend)."""
    engine = make_engine(pg_url, pool_size=2, max_overflow=0)
    try:
        first = set(_backend_pids(engine, 2))
        for _ in range(20):
            with engine.begin() as c:
                c.execute(text("SELECT 1"))
        assert set(_backend_pids(engine, 2)) == first
    finally:
        engine.dispose()
