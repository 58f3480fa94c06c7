"""PostgreSQL checks a statement's entries together at COMMIT (migration
0056_finance_balance_per_statement): one deferred check per INSERT statement, queued in
``fin_entry_check``. Whatever the batch, every entry in it is checked, and emptying the
queue before COMMIT skips nothing (issue 18, "Proof": raw SQL inserting an unbalanced entry
fails at COMMIT)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.finance import ledger
from cloud.finance.ledger import Draft, Leg

from .conftest import NOW, SELLER

pytestmark = pytest.mark.usefixtures("books")


@pytest.fixture(autouse=True)
def _postgresql_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite checks each entry when its draft is posted (0021), no queue")


def _account(conn: Connection, code: str) -> int:
    return int(
        conn.execute(
            text("SELECT id FROM fin_account WHERE account_id = :a AND code = :c"),
            {"a": SELLER, "c": code},
        ).scalar_one()
    )


def _insert(conn: Connection, docs: list[str], legs: list[tuple[int, str, str, str]]) -> list[int]:
    """The entries in one INSERT, then their legs (entry index, code, amount, currency) in
    one INSERT, as a script batching raw SQL would."""
    ids = [
        int(i)
        for i in conn.execute(
            text(
                "INSERT INTO fin_entry (account_id, source_doc, event_kind, entry_date, memo,"
                " posted, created_at) SELECT :a, d, 'raw', DATE '2026-12-01', '', true, :now"
                " FROM unnest(CAST(:docs AS text[])) WITH ORDINALITY AS x(d, n) ORDER BY n"
                " RETURNING id"
            ),
            {"a": SELLER, "docs": docs, "now": NOW},
        ).scalars()
    ]
    conn.execute(
        text(
            "INSERT INTO fin_leg (entry_id, account_id, fin_account_id, amount, currency)"
            " SELECT e, :a, f, m, c FROM unnest(CAST(:e AS integer[]), CAST(:f AS integer[]),"
            " CAST(:m AS numeric[]), CAST(:c AS text[])) AS x(e, f, m, c)"
        ),
        {
            "a": SELLER,
            "e": [ids[i] for i, _, _, _ in legs],
            "f": [_account(conn, code) for _, code, _, _ in legs],
            "m": [Decimal(m) for _, _, m, _ in legs],
            "c": [c for _, _, _, c in legs],
        },
    )
    return sorted(ids)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _balanced(i: int) -> list[tuple[int, str, str, str]]:
    return [(i, "1002", "10.00", "CNY"), (i, "4001", "-10.00", "CNY")]


def test_a_balanced_batch_commits_and_leaves_the_queue_empty(engine: Engine) -> None:
    with engine.begin() as conn:
        _insert(conn, ["S1", "S2", "S3"], _balanced(0) + _balanced(1) + _balanced(2))
        assert conn.execute(text("SELECT count(*) FROM fin_entry_check")).scalar_one() == 1
    assert _count(engine, "fin_entry") == 3
    assert _count(engine, "fin_entry_check") == 0


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (
            [(1, "1002", "10.00", "CNY"), (1, "4001", "-9.99", "CNY")],
            r"does not balance.*0\.01 CNY",
        ),
        ([(1, "1002", "10.00", "CNY")], "has 1 legs"),
        ([], "has 0 legs"),
    ],
    ids=["off-by-a-cent", "one-leg", "no-legs"],
)
def test_one_bad_entry_among_a_statement_s_entries_fails_the_commit(
    engine: Engine, bad: list[tuple[int, str, str, str]], said: str
) -> None:
    # The middle one of three entries inserted by one statement: the check names it, and
    # nothing of the transaction is stored.
    conn = engine.connect()
    tx = conn.begin()
    ids = _insert(conn, ["S1", "S2", "S3"], _balanced(0) + bad + _balanced(2))
    with pytest.raises(DBAPIError, match=rf"journal entry {ids[1]} {said}"):
        tx.commit()
    conn.close()
    assert _count(engine, "fin_entry") == 0
    assert _count(engine, "fin_leg") == 0


@pytest.mark.parametrize(
    "tamper",
    [
        "DELETE FROM fin_entry_check",
        "UPDATE fin_entry_check SET entry_ids = '{}'",
        "SET CONSTRAINTS ALL IMMEDIATE",
    ],
)
def test_touching_the_queue_before_commit_skips_no_check(engine: Engine, tamper: str) -> None:
    # A deferred trigger's event keeps the row version it was queued for (trigger.c,
    # AfterTriggerExecute): deleting or changing the row does not change what is checked.
    conn = engine.connect()
    tx = conn.begin()
    _insert(conn, ["T1"], [(0, "1002", "10.00", "CNY"), (0, "4001", "-9.00", "CNY")])
    with pytest.raises(DBAPIError, match="does not balance"):
        conn.execute(text(tamper))
        tx.commit()
    conn.close()
    assert _count(engine, "fin_entry") == 0


def test_each_currency_of_a_batch_s_entries_sums_to_zero(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO fin_account (account_id, code, name, type, currency) VALUES"
                " (:a, '1002.usd', 'Bank USD', 'asset', 'USD'),"
                " (:a, '4001.usd', 'Revenue USD', 'income', 'USD')"
            ),
            {"a": SELLER},
        )
    two_currencies = [
        *_balanced(0),
        (0, "1002.usd", "3.00", "USD"),
        (0, "4001.usd", "-3.00", "USD"),
    ]
    with engine.begin() as conn:
        _insert(conn, ["M1"], two_currencies)
    assert _count(engine, "fin_entry") == 1

    # Zero in total, but 1.00 CNY and -1.00 USD: refused, naming both sums.
    off = [
        (0, "1002", "11.00", "CNY"),
        (0, "4001", "-10.00", "CNY"),
        (0, "1002.usd", "2.00", "USD"),
        (0, "4001.usd", "-3.00", "USD"),
    ]
    conn = engine.connect()
    tx = conn.begin()
    _insert(conn, ["M2"], off)
    with pytest.raises(DBAPIError, match=r"sum to 1\.00 CNY, -1\.00 USD"):
        tx.commit()
    conn.close()
    assert _count(engine, "fin_entry") == 1


def test_the_ledger_s_batches_leave_the_queue_empty(
    books: sessionmaker[Session], engine: Engine
) -> None:
    drafts = [
        Draft(
            f"Q{i}", "order_paid", NOW.date(), (Leg("1002", Decimal(i)), Leg("4001", -Decimal(i)))
        )
        for i in range(1, 6)
    ]
    for i in (0, 3):
        with transaction(books) as s:
            ledger.post_many(s, SELLER, drafts[i : i + 3], NOW)
    assert _count(engine, "fin_entry") == 5
    assert _count(engine, "fin_entry_check") == 0


def test_an_entry_of_no_seller_is_refused_at_insert(engine: Engine) -> None:
    # The entries' statement trigger checks the seller (0056; was a foreign key per entry).
    with (
        pytest.raises(DBAPIError, match="seller account 999, which does not exist"),
        engine.begin() as conn,
    ):
        conn.execute(
            text(
                "INSERT INTO fin_entry (account_id, source_doc, event_kind, entry_date, memo,"
                " posted, created_at) VALUES (1, 'U1', 'raw', DATE '2026-12-01', '', true,"
                " :now), (999, 'U2', 'raw', DATE '2026-12-01', '', true, :now)"
            ),
            {"now": NOW},
        )
    assert _count(engine, "fin_entry") == 0
