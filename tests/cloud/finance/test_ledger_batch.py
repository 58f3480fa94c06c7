"""``ledger.post_many``: a batch is all or nothing, and a retried batch posts once (issue 18).

On PostgreSQL a batch goes as one INSERT per table with the rows as array literals, and the
guards check each statement's rows together (migration 0048); on SQLite per row (0021).
Each refusal is checked twice: by the ledger before anything is written, and by the
database alone with the ledger's own check switched off (fault injection), so a bug in
either cannot let part of a batch in.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.errors import ConflictError, InvalidError
from cloud.finance import ledger
from cloud.finance.ledger import Draft, Leg

from .conftest import NOW, SELLER

D = Decimal
DEC = date(2026, 12, 3)


def _sale(n: int, day: date = DEC, memo: str = "") -> Draft:
    gross = D(100 + n) + D("0.13")
    return Draft(
        f"SO{n}",
        "order_paid",
        day,
        (Leg("1002", gross), Leg("2203", -gross + 1), Leg("6001", D(-1))),
        memo=memo,
    )


def _batch(n: int = 40) -> list[Draft]:
    return [_sale(i) for i in range(n)]


def _stored(engine: Engine) -> tuple[int, int, int, int]:
    """Entries, legs, balance rows and the legs they count."""
    with engine.connect() as c:
        entries = c.execute(text("SELECT count(*) FROM fin_entry")).scalar_one()
        legs = c.execute(text("SELECT count(*) FROM fin_leg")).scalar_one()
        rows, counted = c.execute(
            text("SELECT count(*), coalesce(sum(legs), 0) FROM fin_balance")
        ).one()
    return int(entries), int(legs), int(rows), int(counted)


def _nothing_stored(engine: Engine) -> None:
    assert _stored(engine) == (0, 0, 0, 0)


def _unbalanced(n: int) -> Draft:
    return Draft(f"SO{n}", "order_paid", DEC, (Leg("1002", D("10.00")), Leg("2203", D("-9.99"))))


def test_a_batch_with_one_unbalanced_entry_is_refused_whole(
    books: sessionmaker[Session], engine: Engine
) -> None:
    drafts = _batch()
    drafts[27] = _unbalanced(27)
    with (
        pytest.raises(InvalidError, match=r"SO27 order_paid: the legs sum to 0.01 CNY"),
        transaction(books) as s,
    ):
        ledger.post_many(s, SELLER, drafts, NOW)
    _nothing_stored(engine)


def test_the_database_refuses_the_whole_batch_when_one_entry_does_not_balance(
    books: sessionmaker[Session], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection: the ledger's own check lets the bad entry through.
    monkeypatch.setattr(ledger, "check", lambda draft: None)
    drafts = _batch()
    drafts[27] = _unbalanced(27)
    with pytest.raises(DBAPIError, match=r"does not balance|sum to zero"), transaction(books) as s:
        ledger.post_many(s, SELLER, drafts, NOW)
    _nothing_stored(engine)


def test_a_batch_with_one_entry_in_a_closed_period_is_refused_whole(
    books: sessionmaker[Session], engine: Engine
) -> None:
    with transaction(books) as s:
        ledger.close_period(s, SELLER, "2026-11", "test", NOW)
    drafts = _batch()
    drafts[13] = _sale(13, day=date(2026, 11, 30))
    with pytest.raises(ConflictError, match="period 2026-11 is closed"), transaction(books) as s:
        ledger.post_many(s, SELLER, drafts, NOW)
    _nothing_stored(engine)


def test_the_database_refuses_the_whole_batch_with_one_entry_in_a_closed_period(
    books: sessionmaker[Session], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(books) as s:
        ledger.close_period(s, SELLER, "2026-11", "test", NOW)
    monkeypatch.setattr(ledger, "_refuse_closed", lambda *a: None)
    drafts = _batch()
    drafts[13] = _sale(13, day=date(2026, 11, 30))
    with pytest.raises(DBAPIError, match="closed"), transaction(books) as s:
        ledger.post_many(s, SELLER, drafts, NOW)
    _nothing_stored(engine)


def test_a_retried_batch_posts_once(books: sessionmaker[Session], engine: Engine) -> None:
    drafts = _batch()
    with transaction(books) as s:
        first = ledger.post_many(s, SELLER, drafts, NOW)
    assert all(p.created for p in first)
    with transaction(books) as s:
        before = (ledger.ledger_hash(s, SELLER), ledger.trial_balance(s, SELLER))
    stored = _stored(engine)
    assert stored == (40, 120, 3, 120)

    # The same batch again (a retry after a lost acknowledgement), then a batch half old
    # and half new: the old half answers the entries it made, only the new half posts.
    with transaction(books) as s:
        again = ledger.post_many(s, SELLER, drafts, NOW)
    assert [p.entry_id for p in again] == [p.entry_id for p in first]
    assert not any(p.created for p in again)
    assert _stored(engine) == stored
    with transaction(books) as s:
        assert (ledger.ledger_hash(s, SELLER), ledger.trial_balance(s, SELLER)) == before

    mixed = drafts[20:] + [_sale(i) for i in range(40, 60)]
    with transaction(books) as s:
        third = ledger.post_many(s, SELLER, mixed, NOW)
    assert [p.created for p in third] == [False] * 20 + [True] * 20
    assert [p.entry_id for p in third[:20]] == [p.entry_id for p in first[20:]]
    assert _stored(engine)[:2] == (60, 180)
    with transaction(books) as s:
        table = {r.code: r.balance for r in ledger.trial_balance(s, SELLER)}
        assert table == ledger.replayed_balances(s, SELLER)
    assert table["6001"] == D(-60)


def test_texts_with_quotes_braces_and_null_are_stored_as_given(
    books: sessionmaker[Session], engine: Engine
) -> None:
    # PostgreSQL gets the batch as array literals: quoting must keep every character.
    odd = ['a"b', "c\\d", "NULL", "{x,y}", " lead", "订单,一", "e'f", ""]
    drafts = [
        Draft(
            f"DOC{i}{text_}" if text_ else f"DOC{i}",
            f"k{text_[:20]}" if text_ else "k",
            DEC,
            (Leg("1002", D("1.00")), Leg("4001", D("-1.00"))),
            memo=text_,
        )
        for i, text_ in enumerate(odd)
    ]
    with transaction(books) as s:
        posted = ledger.post_many(s, SELLER, drafts, NOW)
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT id, source_doc, event_kind, memo FROM fin_entry ORDER BY id")
        ).all()
    assert [(r.id, r.source_doc, r.event_kind, r.memo) for r in rows] == [
        (p.entry_id, d.source_doc, d.event_kind, d.memo)
        for p, d in zip(posted, drafts, strict=True)
    ]
