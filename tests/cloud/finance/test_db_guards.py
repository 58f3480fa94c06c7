"""The database itself refuses what must never be in the books (issue 18, "Proof"):
raw SQL, bypassing cloud/finance, on SQLite and PostgreSQL (migration 0021_finance)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.errors import ConflictError
from cloud.finance import ledger
from cloud.finance.ledger import Draft, Leg

from .conftest import NOW, SELLER


def _account(conn: Connection, code: str) -> int:
    return int(
        conn.execute(
            text("SELECT id FROM fin_account WHERE account_id = :a AND code = :c"),
            {"a": SELLER, "c": code},
        ).scalar_one()
    )


def _raw_entry(
    engine: Engine, doc: str, legs: list[tuple[str, str]], day: str = "2026-12-01"
) -> None:
    """Insert an entry and its legs with plain SQL, then COMMIT (SQLite: post the draft)."""
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        eid = conn.execute(
            text(
                "INSERT INTO fin_entry (account_id, source_doc, event_kind, entry_date, memo,"
                " posted, created_at) VALUES (:a, :d, 'raw', :day, '', :p, :now) RETURNING id"
            ),
            {"a": SELLER, "d": doc, "day": date.fromisoformat(day), "p": pg, "now": NOW},
        ).scalar_one()
        for code, amount in legs:
            conn.execute(
                text(
                    "INSERT INTO fin_leg (entry_id, account_id, fin_account_id, amount, currency)"
                    " VALUES (:e, :a, :f, :m, 'CNY')"
                ),
                {"e": eid, "a": SELLER, "f": _account(conn, code), "m": amount},
            )
        if not pg:
            conn.execute(text("UPDATE fin_entry SET posted = 1 WHERE id = :e"), {"e": eid})


def _entries(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM fin_entry")).scalar_one())


def test_balanced_raw_entry_is_taken(books: sessionmaker[Session], engine: Engine) -> None:
    _raw_entry(engine, "R1", [("1002", "100.00"), ("4001", "-100.00")])
    assert _entries(engine) == 1


@pytest.mark.parametrize(
    "legs",
    [
        [("1002", "100.00"), ("4001", "-99.99")],
        [("1002", "100.00")],
        [("1002", "0.10"), ("1002", "0.20"), ("4001", "-0.31")],
    ],
    ids=["off-by-a-cent", "one-leg", "three-legs-off"],
)
def test_unbalanced_raw_entry_fails_at_commit(
    books: sessionmaker[Session], engine: Engine, legs: list[tuple[str, str]]
) -> None:
    with pytest.raises(DBAPIError, match=r"balance|at least two|two or more"):
        _raw_entry(engine, "R2", legs)
    assert _entries(engine) == 0


def test_unbalanced_insert_fails_only_at_commit_on_postgresql(
    books: sessionmaker[Session], engine: Engine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite checks when the draft is posted (no deferred triggers)")
    conn = engine.connect()
    tx = conn.begin()
    eid = conn.execute(
        text(
            "INSERT INTO fin_entry (account_id, source_doc, event_kind, entry_date, memo, posted,"
            " created_at) VALUES (1, 'R3', 'raw', '2026-12-01', '', true, now()) RETURNING id"
        )
    ).scalar_one()
    for code, amount in (("1002", "5.00"), ("4001", "-4.00")):
        conn.execute(
            text(
                "INSERT INTO fin_leg (entry_id, account_id, fin_account_id, amount, currency)"
                " VALUES (:e, 1, :f, :m, 'CNY')"
            ),
            {"e": eid, "f": _account(conn, code), "m": amount},
        )  # each statement passes: the legs might not all be there yet
    with pytest.raises(DBAPIError, match="does not balance"):
        tx.commit()
    conn.close()
    assert _entries(engine) == 0


def test_posted_rows_refuse_update_and_delete(books: sessionmaker[Session], engine: Engine) -> None:
    with transaction(books) as s:
        draft = Draft(
            "D1",
            "capital",
            date(2026, 12, 1),
            (Leg("1002", Decimal("50.00")), Leg("4001", Decimal("-50.00"))),
        )
        ledger.post(s, SELLER, draft, NOW)
    for sql in (
        "UPDATE fin_leg SET amount = amount * 2",
        "UPDATE fin_entry SET memo = 'changed'",
        "UPDATE fin_entry SET entry_date = '2026-11-30'",
        "DELETE FROM fin_leg",
        "DELETE FROM fin_entry",
    ):
        with pytest.raises(DBAPIError, match="refused"), engine.begin() as conn:
            conn.execute(text(sql))
    with engine.connect() as conn:
        amounts = sorted(conn.execute(text("SELECT amount FROM fin_leg")).scalars())
    assert amounts == [Decimal("-50.00"), Decimal("50.00")]


def test_closed_period_refuses_postings(books: sessionmaker[Session], engine: Engine) -> None:
    with transaction(books) as s:
        ledger.post(
            s,
            SELLER,
            Draft(
                "D0",
                "capital",
                date(2026, 11, 3),
                (Leg("1002", Decimal("1.00")), Leg("4001", Decimal("-1.00"))),
            ),
            NOW,
        )
        ledger.close_period(s, SELLER, "2026-11", "test", NOW)
    with pytest.raises(DBAPIError, match="closed"):
        _raw_entry(engine, "R4", [("1002", "1.00"), ("4001", "-1.00")], day="2026-11-30")
    with pytest.raises(ConflictError, match="2026-11 is closed"), transaction(books) as s:
        ledger.post(
            s,
            SELLER,
            Draft(
                "D2",
                "capital",
                date(2026, 11, 30),
                (Leg("1002", Decimal("1.00")), Leg("4001", Decimal("-1.00"))),
            ),
            NOW,
        )
    # December is open; the closed month stays closed.
    _raw_entry(engine, "R5", [("1002", "1.00"), ("4001", "-1.00")], day="2026-12-01")
    with pytest.raises(DBAPIError, match=r"closed|refused"), engine.begin() as conn:
        conn.execute(text("DELETE FROM fin_period"))
    assert _entries(engine) == 2


def test_legs_of_an_entry_in_a_closed_period_are_refused(
    books: sessionmaker[Session], engine: Engine
) -> None:
    with transaction(books) as s:
        ledger.post(
            s,
            SELLER,
            Draft(
                "D0",
                "capital",
                date(2026, 11, 3),
                (Leg("1002", Decimal("1.00")), Leg("4001", Decimal("-1.00"))),
            ),
            NOW,
        )
        ledger.close_period(s, SELLER, "2026-11", "test", NOW)
    with pytest.raises(DBAPIError, match=r"closed|posted"), engine.begin() as conn:
        eid = conn.execute(text("SELECT id FROM fin_entry")).scalar_one()
        for code, amount in (("1002", "7.00"), ("4001", "-7.00")):
            conn.execute(
                text(
                    "INSERT INTO fin_leg (entry_id, account_id, fin_account_id, amount, currency)"
                    " VALUES (:e, 1, :f, :m, 'CNY')"
                ),
                {"e": eid, "f": _account(conn, code), "m": amount},
            )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM fin_leg")).scalar_one() == 2


def test_a_leg_in_another_currency_than_its_account_is_refused(
    books: sessionmaker[Session], engine: Engine
) -> None:
    with pytest.raises(DBAPIError), engine.begin() as conn:
        eid = conn.execute(
            text(
                "INSERT INTO fin_entry (account_id, source_doc, event_kind, entry_date, memo,"
                " posted, created_at) VALUES (1, 'R6', 'raw', '2026-12-01', '', :p, :now)"
                " RETURNING id"
            ),
            {"p": engine.dialect.name == "postgresql", "now": NOW},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO fin_leg (entry_id, account_id, fin_account_id, amount, currency)"
                " VALUES (:e, 1, :f, 1.00, 'USD')"
            ),
            {"e": eid, "f": _account(conn, "1002")},
        )
    assert _entries(engine) == 0


def test_a_posted_entry_takes_no_more_legs(books: sessionmaker[Session], engine: Engine) -> None:
    with transaction(books) as s:
        draft = Draft(
            "D1",
            "capital",
            date(2026, 12, 1),
            (Leg("1002", Decimal("3.00")), Leg("4001", Decimal("-3.00"))),
        )
        ledger.post(s, SELLER, draft, NOW)
    # Balanced, in an open period, but a later transaction: refused all the same.
    with pytest.raises(DBAPIError, match="takes no more legs"), engine.begin() as conn:
        eid = conn.execute(text("SELECT id FROM fin_entry")).scalar_one()
        for code, amount in (("1002", "8.00"), ("4001", "-8.00")):
            conn.execute(
                text(
                    "INSERT INTO fin_leg (entry_id, account_id, fin_account_id, amount, currency)"
                    " VALUES (:e, 1, :f, :m, 'CNY')"
                ),
                {"e": eid, "f": _account(conn, code), "m": amount},
            )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM fin_leg")).scalar_one() == 2


def _post_one(books: sessionmaker[Session]) -> None:
    with transaction(books) as s:
        draft = Draft(
            "D1",
            "capital",
            date(2026, 12, 1),
            (Leg("1002", Decimal("4.00")), Leg("4001", Decimal("-4.00"))),
        )
        ledger.post(s, SELLER, draft, NOW)


def _legs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM fin_leg")).scalar_one())


@pytest.mark.parametrize("whose", ["no-such-entry", "entry-of-another-seller", "other-currency"])
def test_a_leg_must_name_an_entry_and_account_of_its_seller(
    books: sessionmaker[Session], engine: Engine, whose: str
) -> None:
    # PostgreSQL: the legs' statement trigger (0048) in place of the foreign key.
    with engine.begin() as conn:
        other = conn.execute(
            text("INSERT INTO account (name, created_at) VALUES ('other', :now) RETURNING id"),
            {"now": NOW},
        ).scalar_one()
    with (
        pytest.raises(DBAPIError, match=r"does not have|FOREIGN KEY|foreign key"),
        engine.begin() as conn,
    ):
        eid = conn.execute(
            text(
                "INSERT INTO fin_entry (account_id, source_doc, event_kind, entry_date,"
                " memo, posted, created_at) VALUES (1, 'R7', 'raw', '2026-12-01', '',"
                " :p, :now) RETURNING id"
            ),
            {"p": engine.dialect.name == "postgresql", "now": NOW},
        ).scalar_one()
        for code, amount in (("1002", "2.00"), ("4001", "-2.00")):
            conn.execute(
                text(
                    "INSERT INTO fin_leg (entry_id, account_id, fin_account_id, amount,"
                    " currency) VALUES (:e, :a, :f, :m, :c)"
                ),
                {
                    "e": eid + 1000 if whose == "no-such-entry" else eid,
                    "a": other if whose == "entry-of-another-seller" else SELLER,
                    # Balanced in USD, on accounts that keep CNY.
                    "c": "USD" if whose == "other-currency" else "CNY",
                    "f": _account(conn, code),
                    "m": amount,
                },
            )
    assert _entries(engine) == 0 and _legs(engine) == 0


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM fin_account WHERE code = '1002'",
        "UPDATE fin_account SET currency = 'USD' WHERE code = '1002'",
        "UPDATE fin_account SET id = id + 100000 WHERE code = '1002'",
    ],
    ids=["delete", "currency", "id"],
)
def test_an_account_with_legs_keeps_its_id_and_currency(
    books: sessionmaker[Session], engine: Engine, sql: str
) -> None:
    _post_one(books)
    with (
        pytest.raises(DBAPIError, match=r"refused|never change|FOREIGN KEY|foreign key"),
        engine.begin() as conn,
    ):
        conn.execute(text(sql))
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT id, currency FROM fin_account WHERE code = '1002' AND account_id = 1")
        ).one()
        assert row.currency == "CNY"
        assert (
            conn.execute(
                text("SELECT count(*) FROM fin_leg WHERE fin_account_id = :f"), {"f": row.id}
            ).scalar_one()
            == 1
        )


def test_truncate_of_the_books_is_refused_on_postgresql(
    books: sessionmaker[Session], engine: Engine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    _post_one(books)
    for table in ("fin_leg", "fin_entry CASCADE", "fin_account CASCADE", "fin_period"):
        with pytest.raises(DBAPIError, match=r"TRUNCATE .* refused"), engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table}"))
    assert _entries(engine) == 1 and _legs(engine) == 2
