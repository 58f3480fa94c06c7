"""The ledger: post journal entries (one or many), reverse them, close periods, read balances.

The one write path of the books. A posting is checked here first, so a caller gets a
sentence (InvalidError 422, ConflictError 409) and nothing is written; the database checks
again whoever writes (migration 0021_finance).

Idempotency: an entry's natural key is (seller account, source document, event kind),
unique in the database. The insert says ON CONFLICT DO NOTHING, so an event delivered again
— after a crash between commit and acknowledgement, or by two workers at once — finds the
entry it made and posts nothing (formancehq/stack#1464: a journal entry and its link written
in separate transactions double-post; here they are one row).

Balances: ``fin_balance`` holds per account and month the sum of the posted legs, updated in
the posting's own transaction; a trial balance reads those rows (docs/benchmarks.md, Finance,
has the figures beside an aggregate over the legs).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar, cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from cloud.db.engine import dialect_of
from cloud.db.finance import FinAccount, FinBalance, FinEntry, FinLeg, FinPeriod
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError
from cloud.finance.money import money
from cloud.finance.upsert import insert_for

T = TypeVar("T")
_ENTRY = cast(Table, FinEntry.__table__)
_LEG = cast(Table, FinLeg.__table__)
_BALANCE = cast(Table, FinBalance.__table__)
_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_CHUNK = 500


@dataclass(frozen=True)
class Leg:
    """A signed amount on one account: debit positive, credit negative."""

    code: str
    amount: Decimal
    currency: str = "CNY"


@dataclass(frozen=True)
class Draft:
    """An entry to post. ``source_doc`` + ``event_kind`` is its natural key."""

    source_doc: str
    event_kind: str
    entry_date: date
    legs: tuple[Leg, ...]
    memo: str = ""
    reverses_id: int | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_doc, self.event_kind)


@dataclass(frozen=True)
class Posted:
    entry_id: int
    created: bool


@dataclass(frozen=True)
class BalanceRow:
    code: str
    name: str
    type: str
    currency: str
    balance: Decimal


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def check(draft: Draft) -> None:
    """Refuse, with a sentence, an entry the books cannot take (before anything is written)."""
    if not draft.source_doc or len(draft.source_doc) > 64:
        raise InvalidError(N_("an entry needs a source document of 1 to 64 characters"), "source")
    if not draft.event_kind or len(draft.event_kind) > 32:
        raise InvalidError(N_("an entry needs an event kind of 1 to 32 characters"), "kind")
    if len(draft.legs) < 2:
        raise InvalidError(
            N_("%(source_doc)s: an entry needs at least two legs"),
            "legs",
            source_doc=draft.source_doc,
        )
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for leg in draft.legs:
        amount = money(leg.amount, "legs.amount")
        if amount == 0:
            raise InvalidError(
                N_("%(source_doc)s: a leg of 0.00 on %(code)s"),
                "legs",
                source_doc=draft.source_doc,
                code=leg.code,
            )
        sums[leg.currency] += amount
    off = {c: s for c, s in sums.items() if s != 0}
    if off:
        said = ", ".join(f"{s} {c}" for c, s in sorted(off.items()))
        raise InvalidError(
            N_(
                "%(source_doc)s %(event_kind)s: the legs sum to %(said)s; debits and credits must "
                "be equal in each currency"
            ),
            "legs",
            source_doc=draft.source_doc,
            event_kind=draft.event_kind,
            said=said,
        )


def post(session: Session, account_id: int, draft: Draft, now: datetime) -> Posted:
    """Post one entry (see :func:`post_many`)."""
    return post_many(session, account_id, [draft], now)[0]


def post_many(
    session: Session, account_id: int, drafts: Sequence[Draft], now: datetime
) -> list[Posted]:
    """Post entries in the caller's transaction; one :class:`Posted` per draft, in order.

    A draft whose natural key is already in the books (or earlier in ``drafts``) posts
    nothing and answers the existing entry with ``created=False``. All or nothing: one bad
    draft refuses the batch, nothing written.
    """
    for d in drafts:
        check(d)
    accounts = _accounts(session, account_id, {leg.code for d in drafts for leg in d.legs})
    for d in drafts:
        for leg in d.legs:
            cur = accounts[leg.code][1]
            if cur != leg.currency:
                raise InvalidError(
                    N_("%(source_doc)s: account %(code)s keeps %(cur)s, not %(currency)s"),
                    "legs",
                    source_doc=d.source_doc,
                    code=leg.code,
                    cur=cur,
                    currency=leg.currency,
                )
    _refuse_closed(session, account_id, {period_of(d.entry_date) for d in drafts})

    dialect = dialect_of(session)
    unique: dict[tuple[str, str], Draft] = {}
    for d in drafts:
        unique.setdefault(d.key, d)
    created = _insert_entries(session, dialect, account_id, list(unique.values()), now)
    ids = dict(created)
    missing = [k for k in unique if k not in created]
    if missing:
        ids.update(_existing(session, account_id, missing))

    legs: list[tuple[int, int, Decimal, str]] = []  # entry, account, amount, currency
    balances: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for key, eid in created.items():
        d = unique[key]
        period = period_of(d.entry_date)
        for leg in d.legs:
            acc_id = accounts[leg.code][0]
            legs.append((eid, acc_id, leg.amount, leg.currency))
            balances[(acc_id, period)] += leg.amount
            counts[(acc_id, period)] += 1
    if legs:
        _insert_legs(session, dialect, account_id, legs)
    if created and dialect != "postgresql":
        for ids_chunk in _chunks(list(created.values())):
            session.execute(_ENTRY.update().where(_ENTRY.c.id.in_(ids_chunk)).values(posted=True))
    if balances:
        _add_balances(session, dialect, account_id, balances, counts)
    return [Posted(ids[d.key], d.key in created and unique[d.key] is d) for d in drafts]


def reverse(
    session: Session, account_id: int, entry_id: int, on: date, now: datetime, memo: str = ""
) -> Posted:
    """Post the reversing entry of ``entry_id`` dated ``on`` (once: its key is the entry's)."""
    entry = session.get(FinEntry, entry_id)
    if entry is None or entry.account_id != account_id or not entry.posted:
        raise NotFoundError(N_("no posted journal entry %(entry_id)s"), entry_id=entry_id)
    if entry.reverses_id is not None:
        raise ConflictError(
            N_("entry %(entry_id)s is itself a reversal; post the original again"),
            entry_id=entry_id,
        )
    rows = session.execute(
        select(FinAccount.code, FinLeg.amount, FinLeg.currency)
        .join(FinAccount, FinAccount.id == FinLeg.fin_account_id)
        .where(FinLeg.entry_id == entry_id)
        .order_by(FinLeg.id)
    ).all()
    draft = Draft(
        source_doc=f"reversal-of-{entry_id}",
        event_kind="reversal",
        entry_date=on,
        legs=tuple(Leg(code, -amount, cur) for code, amount, cur in rows),
        memo=memo or f"reverses {entry.source_doc} {entry.event_kind}",
        reverses_id=entry_id,
    )
    return post(session, account_id, draft, now)


def close_period(session: Session, account_id: int, period: str, actor: str, now: datetime) -> None:
    """Close a month ('YYYY-MM') for good: nothing is posted into it afterwards."""
    if not _PERIOD.fullmatch(period):
        raise InvalidError(N_("%(period)r is not a month like 2026-12"), "period", period=period)
    if session.get(FinPeriod, (account_id, period)) is not None:
        raise ConflictError(N_("period %(period)s is closed already"), period=period)
    session.add(FinPeriod(account_id=account_id, period=period, closed_at=now, closed_by=actor))
    session.flush()


def trial_balance(session: Session, account_id: int, period: str | None = None) -> list[BalanceRow]:
    """Each account's balance at the end of ``period`` (all time if None), from the
    per-month balances; accounts without postings are left out."""
    q = (
        select(
            FinAccount.code,
            FinAccount.name,
            FinAccount.type,
            FinAccount.currency,
            func.sum(FinBalance.amount),
        )
        .join(FinBalance, FinBalance.fin_account_id == FinAccount.id)
        .where(FinBalance.account_id == account_id)
        .group_by(FinAccount.code, FinAccount.name, FinAccount.type, FinAccount.currency)
        .order_by(FinAccount.code)
    )
    if period is not None:
        if not _PERIOD.fullmatch(period):
            raise InvalidError(
                N_("%(period)r is not a month like 2026-12"), "period", period=period
            )
        q = q.where(FinBalance.period <= period)
    return [BalanceRow(c, n, t, cur, Decimal(b)) for c, n, t, cur, b in session.execute(q)]


def replayed_balances(session: Session, account_id: int) -> dict[str, Decimal]:
    """Each account's balance summed from every posted leg (the proof of ``fin_balance``)."""
    q = (
        select(FinAccount.code, func.sum(FinLeg.amount))
        .join(FinLeg, FinLeg.fin_account_id == FinAccount.id)
        .join(FinEntry, FinEntry.id == FinLeg.entry_id)
        .where(FinLeg.account_id == account_id, FinEntry.posted.is_(True))
        .group_by(FinAccount.code)
    )
    return {code: Decimal(total) for code, total in session.execute(q)}


def ledger_hash(session: Session, account_id: int) -> str:
    """SHA-256 of the books' content (natural keys, dates, legs), not of ids or clocks."""
    q = (
        select(
            FinEntry.source_doc,
            FinEntry.event_kind,
            FinEntry.entry_date,
            FinAccount.code,
            FinLeg.amount,
            FinLeg.currency,
        )
        .join(FinLeg, FinLeg.entry_id == FinEntry.id)
        .join(FinAccount, FinAccount.id == FinLeg.fin_account_id)
        .where(FinEntry.account_id == account_id, FinEntry.posted.is_(True))
    )
    lines = sorted("|".join(str(v) for v in row) for row in session.execute(q))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _accounts(session: Session, account_id: int, codes: set[str]) -> dict[str, tuple[int, str]]:
    found = {
        code: (aid, cur)
        for aid, code, cur in session.execute(
            select(FinAccount.id, FinAccount.code, FinAccount.currency).where(
                FinAccount.account_id == account_id, FinAccount.code.in_(codes)
            )
        )
    }
    unknown = sorted(codes - found.keys())
    if unknown:
        raise InvalidError(
            N_("no account %(accounts)s in the chart of accounts"),
            "legs",
            accounts=", ".join(unknown),
        )
    return found


def _refuse_closed(session: Session, account_id: int, periods: set[str]) -> None:
    closed = sorted(
        session.execute(
            select(FinPeriod.period).where(
                FinPeriod.account_id == account_id, FinPeriod.period.in_(periods)
            )
        ).scalars()
    )
    if closed:
        raise ConflictError(
            N_(
                "period %(periods)s is closed: date the entry in an open period (a correction is a "
                "reversing entry dated today)"
            ),
            periods=", ".join(closed),
        )


def _existing(
    session: Session, account_id: int, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    wanted = set(keys)
    docs = {doc for doc, _ in wanted}
    out: dict[tuple[str, str], int] = {}
    for chunk in _chunks(sorted(docs)):
        for eid, doc, kind in session.execute(
            select(FinEntry.id, FinEntry.source_doc, FinEntry.event_kind).where(
                FinEntry.account_id == account_id, FinEntry.source_doc.in_(chunk)
            )
        ):
            if (doc, kind) in wanted:
                out[(doc, kind)] = eid
    return out


def _add_balances(
    session: Session,
    dialect: str,
    account_id: int,
    balances: dict[tuple[int, str], Decimal],
    counts: dict[tuple[int, str], int],
) -> None:
    # Sorted: concurrent postings lock the rows in one order, never deadlocking.
    keys = sorted(balances)
    if dialect == "postgresql":
        params = {
            "account_id": account_id,
            "fin_account_id": _pg_plain(str(acc) for acc, _ in keys),
            "period": _pg_texts(period for _, period in keys),
            "amount": _pg_plain(str(balances[k]) for k in keys),
            "legs": _pg_plain(str(counts[k]) for k in keys),
        }
        session.execute(_PG_BALANCES, params)
        return
    rows = [
        {
            "account_id": account_id,
            "fin_account_id": acc,
            "period": period,
            "amount": balances[(acc, period)],
            "legs": counts[(acc, period)],
        }
        for acc, period in keys
    ]
    ins = insert_for(dialect, _BALANCE)
    stmt = ins.on_conflict_do_update(
        index_elements=["fin_account_id", "period"],
        set_={
            "amount": _BALANCE.c.amount + ins.excluded.amount,
            "legs": _BALANCE.c.legs + ins.excluded.legs,
        },
    )
    session.execute(stmt, rows)


def _insert_entries(
    session: Session, dialect: str, account_id: int, drafts: list[Draft], now: datetime
) -> dict[tuple[str, str], int]:
    """Insert the entries (natural keys unique among ``drafts``); those whose key is in the
    books already are skipped (ON CONFLICT DO NOTHING). Answers the ids of the new ones."""
    created: dict[tuple[str, str], int] = {}
    if not drafts:
        return created
    if dialect == "postgresql":
        params = {
            "account_id": account_id,
            "created_at": now,
            "source_doc": _pg_texts(d.source_doc for d in drafts),
            "event_kind": _pg_texts(d.event_kind for d in drafts),
            "entry_date": _pg_plain(d.entry_date.isoformat() for d in drafts),
            "memo": _pg_texts(d.memo[:200] for d in drafts),
            "reverses_id": _pg_plain(
                "NULL" if d.reverses_id is None else str(int(d.reverses_id)) for d in drafts
            ),
        }
        for eid, doc, kind in session.execute(_PG_ENTRIES, params):
            created[(doc, kind)] = eid
        return created
    stmt = (
        insert_for(dialect, _ENTRY)
        .on_conflict_do_nothing(index_elements=["account_id", "source_doc", "event_kind"])
        .returning(_ENTRY.c.id, _ENTRY.c.source_doc, _ENTRY.c.event_kind)
    )
    rows = [
        {
            "account_id": account_id,
            "source_doc": d.source_doc,
            "event_kind": d.event_kind,
            "entry_date": d.entry_date,
            "memo": d.memo[:200],
            # SQLite checks the balance when the draft is posted, after its legs (0021).
            "posted": False,
            "reverses_id": d.reverses_id,
            "created_at": now,
        }
        for d in drafts
    ]
    for chunk in _chunks(rows):
        for eid, doc, kind in session.execute(stmt, chunk):
            created[(doc, kind)] = eid
    return created


def _insert_legs(
    session: Session, dialect: str, account_id: int, legs: list[tuple[int, int, Decimal, str]]
) -> None:
    if dialect == "postgresql":
        session.execute(
            _PG_LEGS,
            {
                "account_id": account_id,
                "entry_id": _pg_plain(str(leg[0]) for leg in legs),
                "fin_account_id": _pg_plain(str(leg[1]) for leg in legs),
                "amount": _pg_plain(str(leg[2]) for leg in legs),
                "currency": _pg_texts(leg[3] for leg in legs),
            },
        )
        return
    session.execute(
        _LEG.insert(),
        [
            {
                "entry_id": e,
                "account_id": account_id,
                "fin_account_id": a,
                "amount": m,
                "currency": c,
            }
            for e, a, m, c in legs
        ],
    )


# PostgreSQL: one statement per table and batch, the rows as arrays (unnest): one round
# trip and one plan instead of a statement per row (docs/benchmarks.md, Finance). The arrays
# go as PostgreSQL array literals built here ("Array Value Input" in the PostgreSQL manual:
# elements in double quotes, backslash and quote escaped, unquoted NULL is null): the
# driver's generic list adapter spent more client time per batch than the server's INSERT.
_PG_ENTRIES = text(
    "INSERT INTO fin_entry (account_id, source_doc, event_kind, entry_date, memo, posted,"
    " reverses_id, created_at)"
    " SELECT :account_id, d, k, t, m, true, r, :created_at FROM unnest("
    "CAST(:source_doc AS text[]), CAST(:event_kind AS text[]), CAST(:entry_date AS date[]),"
    " CAST(:memo AS text[]), CAST(:reverses_id AS integer[])) AS x(d, k, t, m, r)"
    " ON CONFLICT (account_id, source_doc, event_kind) DO NOTHING"
    " RETURNING id, source_doc, event_kind"
)
_PG_LEGS = text(
    "INSERT INTO fin_leg (entry_id, account_id, fin_account_id, amount, currency)"
    " SELECT e, :account_id, a, m, c FROM unnest(CAST(:entry_id AS integer[]),"
    " CAST(:fin_account_id AS integer[]), CAST(:amount AS numeric[]), CAST(:currency AS text[]))"
    " AS x(e, a, m, c)"
)
_PG_BALANCES = text(
    "INSERT INTO fin_balance (account_id, fin_account_id, period, amount, legs)"
    " SELECT :account_id, a, p, m, n FROM unnest(CAST(:fin_account_id AS integer[]),"
    " CAST(:period AS text[]), CAST(:amount AS numeric[]), CAST(:legs AS integer[]))"
    " AS x(a, p, m, n)"
    " ON CONFLICT (fin_account_id, period) DO UPDATE"
    " SET amount = fin_balance.amount + excluded.amount, legs = fin_balance.legs + excluded.legs"
)


def _pg_plain(items: Iterable[str]) -> str:
    """An array literal of elements that need no quoting (numbers, ISO dates, NULL)."""
    return "{" + ",".join(items) + "}"


def _pg_texts(items: Iterable[str]) -> str:
    """An array literal of strings, each quoted (so 'NULL', commas and braces stay text)."""
    values = list(items)
    if not values:
        return "{}"
    # Escaped in one pass over the batch, not two replaces per value (the client's share of
    # a batch, docs/benchmarks.md, Finance S30): NUL joins the values, as no PostgreSQL text
    # holds one; a value that does takes the per-value path (and PostgreSQL refuses it).
    joined = "\x00".join(values)
    if joined.count("\x00") == len(values) - 1:
        escaped = joined.replace("\\", "\\\\").replace('"', '\\"')
        return '{"' + escaped.replace("\x00", '","') + '"}'
    quoted = ['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]
    return "{" + ",".join(quoted) + "}"


def _chunks(items: list[T]) -> Iterable[list[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]
