"""``guanjia bench finance``: postings per second beside a raw INSERT of the same rows, and a
trial balance over many postings (issue 18: >= 10,000 entries/s, <= 1 s over 1,000,000).

Runs on a private copy: a schema of its own on a PostgreSQL server (dropped afterwards), or
a temporary SQLite file.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from sqlalchemy import text

from cloud.db.engine import make_engine, migrate, session_factory, transaction
from cloud.finance import ledger
from cloud.finance.chart import open_party_accounts, seed_chart
from cloud.finance.ledger import Draft, Leg
from cloud.finance.money import split_tax_inclusive

VAT = Decimal("0.13")


@contextmanager
def _private(url: str | None) -> Iterator[str]:
    if url is None or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        return
    schema = f"fin_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


_RAW_E = text(
    "INSERT INTO raw_entry (id, account_id, source_doc, event_kind, entry_date, memo, posted,"
    " created_at) SELECT i, 1, d, k, :day, '', true, :now FROM unnest(CAST(:id AS integer[]),"
    " CAST(:d AS text[]), CAST(:k AS text[])) AS x(i, d, k)"
)
_RAW_L = text(
    "INSERT INTO raw_leg (id, entry_id, account_id, fin_account_id, amount, currency)"
    " SELECT i, e, 1, a, m, 'CNY' FROM unnest(CAST(:id AS integer[]), CAST(:e AS integer[]),"
    " CAST(:a AS integer[]), CAST(:m AS numeric[])) AS x(i, e, a, m)"
)


def _drafts(start: int, n: int, day: date) -> list[Draft]:
    """Shipped-order entries of three legs: 2203 / 6001 + 22210101 (varied amounts)."""
    out = []
    for i in range(start, start + n):
        gross = Decimal(1000 + (i * 7919) % 99000) / 100
        net, tax = split_tax_inclusive(gross, VAT)
        legs = (Leg("2203", gross), Leg("6001", -net), Leg("22210101", -tax))
        out.append(Draft(f"B{i}", "order_shipped", day, legs))
    return out


def bench_finance(
    database_url: str | None, entries: int, batch: int, postings: int
) -> dict[str, Any]:
    now = datetime.now(UTC)
    day = date(2026, 12, 1)
    with _private(database_url) as url:
        engine = make_engine(url)
        migrate(engine)
        factory = session_factory(engine)
        with transaction(factory) as s:
            seed_chart(s, 1)
            open_party_accounts(s, 1, ["1122.bench"])
        drafts = _drafts(0, entries, day)

        t0 = time.perf_counter()
        for i in range(0, entries, batch):
            with transaction(factory) as s:
                ledger.post_many(s, 1, drafts[i : i + batch], now)
        post_s = time.perf_counter() - t0

        # The same rows into tables of the same shape without the guards, keys or balances.
        with transaction(factory) as s:
            accounts: dict[str, int] = dict(
                s.execute(text("SELECT code, id FROM fin_account WHERE account_id = 1")).all()
            )
            s.execute(text("CREATE TABLE raw_entry AS SELECT * FROM fin_entry WHERE 1 = 0"))
            s.execute(text("CREATE TABLE raw_leg AS SELECT * FROM fin_leg WHERE 1 = 0"))
        ins_e = text(
            "INSERT INTO raw_entry (id, account_id, source_doc, event_kind, entry_date, memo,"
            " posted, created_at) VALUES (:id, 1, :d, :k, :day, '', :p, :now)"
        )
        ins_l = text(
            "INSERT INTO raw_leg (id, entry_id, account_id, fin_account_id, amount, currency)"
            " VALUES (:id, :e, 1, :a, :m, 'CNY')"
        )
        pg = engine.dialect.name == "postgresql"
        t0 = time.perf_counter()
        leg_id = 0
        for i in range(0, entries, batch):
            chunk = drafts[i : i + batch]
            erows, lrows = [], []
            for n, d in enumerate(chunk, start=i + 1):
                erows.append(
                    {"id": n, "d": d.source_doc, "k": d.event_kind, "day": day, "p": pg, "now": now}
                )
                for leg in d.legs:
                    leg_id += 1
                    amount: Any = leg.amount if pg else str(leg.amount)
                    lrows.append({"id": leg_id, "e": n, "a": accounts[leg.code], "m": amount})
            with transaction(factory) as s:
                if pg:  # as the ledger does it: one INSERT per table from arrays
                    s.execute(
                        _RAW_E,
                        {k: [r[k] for r in erows] for k in ("id", "d", "k")}
                        | {"day": day, "now": now},
                    )
                    s.execute(_RAW_L, {k: [r[k] for r in lrows] for k in ("id", "e", "a", "m")})
                else:
                    s.execute(ins_e, erows)
                    s.execute(ins_l, lrows)
        raw_s = time.perf_counter() - t0

        # Fill up to ``postings`` legs, then time the trial balance two ways.
        have = entries * 3
        n = entries
        while have < postings:
            more = min(batch * 5, (postings - have + 2) // 3)
            with transaction(factory) as s:
                ledger.post_many(s, 1, _drafts(n, more, day), now)
            n += more
            have += more * 3
        if pg:
            with engine.connect() as c:
                c.execute(text("ANALYZE"))
                c.commit()
        timings = {}
        for name, fn in (
            ("trial_balance_table_ms", lambda s: ledger.trial_balance(s, 1)),
            ("trial_balance_aggregate_ms", lambda s: ledger.replayed_balances(s, 1)),
        ):
            best = float("inf")
            for _ in range(3):
                with transaction(factory) as s:
                    t = time.perf_counter()
                    fn(s)
                    best = min(best, time.perf_counter() - t)
            timings[name] = round(best * 1000, 1)
        engine.dispose()
    return {
        "database": engine.dialect.name,
        "entries": entries,
        "batch": batch,
        "ledger_entries_per_s": round(entries / post_s),
        "raw_insert_entries_per_s": round(entries / raw_s),
        "postings_in_books": have,
        **timings,
    }


def finance(
    database_url: Annotated[
        str | None,
        typer.Option(help="A PostgreSQL server URL (a private schema is used), or SQLite."),
    ] = None,
    entries: Annotated[
        int, typer.Option(help="Entries (three legs each) posted and timed.")
    ] = 20_000,
    batch: Annotated[int, typer.Option(help="Entries per transaction (post_many).")] = 1000,
    postings: Annotated[
        int, typer.Option(help="Legs in the books for the trial balance.")
    ] = 1_000_000,
) -> None:
    """Ledger postings/s beside a raw INSERT of the same rows; trial balance over N postings."""
    for k, v in bench_finance(database_url, entries, batch, postings).items():
        typer.echo(f"{k:28} {v}")
