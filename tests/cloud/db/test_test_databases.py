"""The suite's PostgreSQL databases (tests/support/pgpool.py): a reused database is
indistinguishable from a fresh copy of the template, or it is not reused."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from cloud import accounts
from cloud.db.engine import make_engine
from tests.support.pgpool import PgPool

pytestmark = pytest.mark.skipif(
    not os.environ.get("GUANJIA_TEST_DATABASE_URL"), reason="needs GUANJIA_TEST_DATABASE_URL"
)


def _state(url: str) -> tuple[list[str], int, list[str]]:
    eng = make_engine(url)
    try:
        with eng.begin() as c:
            names = sorted(c.execute(text("SELECT name FROM account")).scalars())
            nxt = c.execute(
                text("INSERT INTO account (name, created_at) VALUES ('probe', now()) RETURNING id")
            ).scalar_one()
            c.execute(text("DELETE FROM account WHERE name = 'probe'"))
            users = list(c.execute(text("SELECT username FROM app_user")).scalars())
        return names, int(nxt), users
    finally:
        eng.dispose()


def test_a_reset_database_equals_a_fresh_copy_and_a_changed_schema_is_dropped(
    pg_pool: PgPool,
) -> None:
    pool = pg_pool
    fresh = pool.take()
    expected = _state(pool.url_of(fresh))
    # Dirty it: rows in a seeded table and an unseeded one, a sequence moved on, a
    # connection left open (a test's leaked engine) holding a lock.
    eng = make_engine(pool.url_of(fresh))
    with Session(eng) as s, s.begin():
        now = datetime.now(UTC)
        acct = accounts.create_account(s, "dirty", now).id
        accounts.create_user(s, acct, "someone", "pw-of-someone", "admin", "test", now)
    leaked = eng.connect()
    leaked.execute(text("LOCK TABLE account IN ACCESS SHARE MODE"))
    pool.give_back(fresh)
    assert fresh in pool.free
    again = pool.take()
    assert again == fresh
    assert _state(pool.url_of(again)) == expected
    eng.dispose()

    # A schema change a reset cannot undo: the database is dropped, not pooled.
    eng = make_engine(pool.url_of(again))
    with eng.begin() as c:
        c.execute(text("ALTER TABLE account ADD COLUMN extra integer"))
    eng.dispose()
    pool.give_back(again)
    assert again not in pool.free and again not in pool.made
    admin = pool.admin
    with admin.connect() as c:
        assert (
            c.execute(
                text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": again}
            ).scalar_one()
            == 0
        )
