"""An API GET ends its session on the event loop, not on the commit pool (issue 20;
cloud/api/deps.py ``_reading``): on PostgreSQL in autocommit, on SQLite through an engine that
refuses writes. Writes still end on the commit pool, and every connection comes back."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from cloud.api.deps import _end_read
from cloud.db.engine import make_engine, migrate
from cloud.db.models import Account


class CountingPool(ThreadPoolExecutor):
    """The commit pool, counting the jobs it is given."""

    def __init__(self) -> None:
        super().__init__(max_workers=2, thread_name_prefix="commit")
        self.jobs = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


def test_a_get_ends_on_the_event_loop_and_a_write_on_the_commit_pool(client: TestClient) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    pool = CountingPool()
    real, state.commit_pool = state.commit_pool, pool
    try:
        r = client.post("/api/v1/warehouses", json={"code": "RS1", "name": "读仓"})
        assert r.status_code == 201, r.text
        assert pool.jobs == 1  # the write's commit
        for path in ("/api/v1/orders?limit=5", "/api/v1/skus?q=x", "/api/v1/auth/me"):
            assert client.get(path).status_code == 200, path
        r = client.get("/api/v1/orders/NO-SUCH-ORDER")  # refused: its session rolls back
        assert r.status_code == 404, r.text
        assert "NO-SUCH-ORDER" in r.json()["detail"]
        assert pool.jobs == 1  # no GET used the pool
        # The write is there, once, and read back through a GET's session.
        codes = [w["code"] for w in client.get("/api/v1/warehouses").json()]
        assert codes.count("RS1") == 1
    finally:
        state.commit_pool = real
        pool.shutdown(wait=True)
    engine = state.engine
    assert engine.pool.checkedout() == 0  # every GET gave its connection back
    session = state.api_read_sessions()
    try:
        session.execute(text("SELECT 1"))
        dbapi = session.connection().connection.dbapi_connection
        if engine.dialect.name == "postgresql":
            # Autocommit: no BEGIN was sent, no transaction is open on the server.
            assert dbapi.autocommit is True
            assert dbapi.info.transaction_status.name == "IDLE"
        else:
            with pytest.raises(OperationalError, match="readonly"):
                session.execute(text("DELETE FROM warehouse"))
    finally:
        session.close()
    if engine.dialect.name == "postgresql":
        # The API's write sessions are not in autocommit: a handler's writes commit together.
        with state.sessions() as s, s.begin():
            s.execute(text("SELECT 1"))
            assert s.connection().connection.dbapi_connection.autocommit is False
    assert engine.pool.checkedout() == 0


def test_sqlite_read_engine_refuses_writes_and_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    writer = make_engine(url)
    migrate(writer)
    with writer.begin() as c:
        c.execute(text("INSERT INTO account (name, created_at) VALUES ('a', '2026-12-06')"))
        before = c.execute(text("SELECT name FROM account ORDER BY name")).scalars().all()
    assert "a" in before
    reader = make_engine(url, read_only=True)
    try:
        with reader.connect() as c:
            with pytest.raises(OperationalError, match="attempt to write a readonly database"):
                c.execute(text("UPDATE account SET name = name || '-x'"))
            c.rollback()
            after = c.execute(text("SELECT name FROM account ORDER BY name")).scalars().all()
            assert after == before
    finally:
        reader.dispose()
        writer.dispose()


def test_a_get_that_changed_nothing_is_closed_without_a_commit(client: TestClient) -> None:
    """A clean GET session is closed, not committed (cloud/api/deps.py ``_end_read``): the
    commit walked the session's machinery for nothing. One holding an ORM change still takes
    the commit path, as before: written on PostgreSQL (autocommit), refused on SQLite's
    read-only engine, never dropped without a word."""
    state = client.app.state  # type: ignore[attr-defined]
    engine = state.engine
    reads = state.read_sessions.kw["bind"]  # SQLite: the read-only engine; else the engine
    commits: list[int] = []
    rollbacks: list[int] = []

    def _commit(_conn: Any) -> None:
        commits.append(1)

    def _rollback(_conn: Any) -> None:
        rollbacks.append(1)

    event.listen(reads, "commit", _commit)
    event.listen(reads, "rollback", _rollback)
    try:
        for path in ("/api/v1/orders?limit=5", "/api/v1/warehouses", "/api/v1/skus?q=x"):
            assert client.get(path).status_code == 200, path
        assert commits == []
        # Each GET's transaction ended by the close (the token check's read may add one).
        assert len(rollbacks) >= 3
        assert engine.pool.checkedout() == 0
        if reads is not engine:
            assert reads.pool.checkedout() == 0

        # A GET session that changed an object: the commit path, as before.
        session = state.api_read_sessions()
        session.begin()
        account = session.get(Account, 1)
        assert account is not None
        account.name = "renamed-in-a-get"
        if engine.dialect.name == "postgresql":
            _end_read(session)
            assert commits == [1]
            with state.sessions() as s:
                assert s.get(Account, 1).name == "renamed-in-a-get"  # type: ignore[union-attr]
        else:
            with pytest.raises(OperationalError, match="readonly"):
                _end_read(session)
            session.close()
            with state.sessions() as s:
                assert s.get(Account, 1).name != "renamed-in-a-get"  # type: ignore[union-attr]
    finally:
        event.remove(reads, "commit", _commit)
        event.remove(reads, "rollback", _rollback)
    assert engine.pool.checkedout() == 0
