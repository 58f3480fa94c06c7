"""The books as a plain-text ledger in beancount's syntax, for beancount/fava to open.

Written by our code from the syntax's documentation (Beancount Language Syntax: ``open``
directives, transactions with ``*``, postings ``Account  amount CURRENCY``, metadata
``key: "value"``). beancount itself is GPL-2.0-only and is not imported (issue 18).
Account names: the type's root (Assets, Liabilities, Equity, Income, Expenses) then the
code's parts, each made to start with a capital or a digit as the syntax asks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.finance import FinAccount, FinEntry, FinLeg

ROOTS = {
    "asset": "Assets",
    "liability": "Liabilities",
    "equity": "Equity",
    "income": "Income",
    "expense": "Expenses",
}
_NOT_NAME = re.compile(r"[^A-Za-z0-9-]")


def account_name(type_: str, code: str) -> str:
    parts = []
    for part in code.split("."):
        clean = _NOT_NAME.sub("-", part) or "X"
        parts.append(clean[0].upper() + clean[1:] if clean[0].isalpha() else clean)
    return ":".join([ROOTS[type_], *parts])


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def export_ledger(session: Session, account_id: int, opened: date) -> Iterator[str]:
    """Lines of the ledger: the accounts opened on ``opened``, then each posted entry."""
    accounts = {
        a.id: a
        for a in session.execute(
            select(FinAccount).where(FinAccount.account_id == account_id).order_by(FinAccount.code)
        ).scalars()
    }
    yield "; Guanjia books, exported in beancount syntax (docs/finance.md)"
    yield 'option "operating_currency" "CNY"'
    yield ""
    for a in accounts.values():
        yield f"{opened.isoformat()} open {account_name(a.type, a.code)} {a.currency}"
        yield f"  name: {_quote(a.name)}"
    yield ""
    entries = session.execute(
        select(FinEntry)
        .where(FinEntry.account_id == account_id, FinEntry.posted.is_(True))
        .order_by(FinEntry.entry_date, FinEntry.id)
    ).scalars()
    for e in entries:
        yield f"{e.entry_date.isoformat()} * {_quote(e.source_doc)} {_quote(e.memo or e.event_kind)}"
        yield f"  source: {_quote(e.source_doc)}"
        yield f"  kind: {_quote(e.event_kind)}"
        for leg in session.execute(
            select(FinLeg).where(FinLeg.entry_id == e.id).order_by(FinLeg.id)
        ).scalars():
            a = accounts[leg.fin_account_id]
            yield f"  {account_name(a.type, a.code)}  {leg.amount} {leg.currency}"
        yield ""
