"""Each hub process keeps every account's validated rules and carriers (issue 20).

A manual re-save (保存) audits one order: loading the account's carriers and current rules
and validating each rule's conditions again was about a fifth of its cost
(docs/benchmarks.md, issue 20). A :class:`~cloud.orders.audit_rules.Ruleset` never changes
once made, so one serves every request of the process while ``account.rules_version``
(migration 0061) is what it was when the ruleset was read: one read of the account's row by
its key instead of two statements and the validation. ``put_rule`` and ``put_carrier``
raise the counter in the transaction that changes a rule or carrier, so the next request of
any process, on any worker, reads them again.

The version is read before the ruleset, in the same session: a change committed between the
two reads leaves a ruleset newer than its version, read again at the next request, never an
older one kept.
"""

from __future__ import annotations

import threading
import weakref
from typing import Final

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from cloud.db.engine import Statements
from cloud.db.models import Account
from cloud.orders.audit_rules import Engine, Ruleset, load_ruleset

#: Accounts kept per database; past this, the least recently loaded one is let go.
MAX_ACCOUNTS: Final = 1024

_VERSION = Statements(
    lambda _d, _v: select(Account.__table__.c.rules_version).where(
        Account.__table__.c.id == bindparam("account")
    )
)

_lock = threading.Lock()
#: Per database engine (a process may open several: a test run, the read and write engines
#: of SQLite), account id → (rules_version, ruleset). Keyed by the engine object, so two
#: databases whose accounts share ids never share a ruleset.
_kept: weakref.WeakKeyDictionary[object, dict[int, tuple[int, Ruleset]]] = (
    weakref.WeakKeyDictionary()
)


def ruleset(session: Session, account_id: int) -> Ruleset:
    """The account's ruleset as of its current ``rules_version``."""
    bind = session.get_bind()
    key = getattr(bind, "engine", bind)
    version = session.execute(_VERSION.get(session), {"account": account_id}).scalar_one()
    with _lock:
        kept = _kept.setdefault(key, {})
        hit = kept.get(account_id)
    if hit is not None and hit[0] == version:
        return hit[1]
    loaded = load_ruleset(session, account_id)
    with _lock:
        kept.pop(account_id, None)
        kept[account_id] = (version, loaded)
        while len(kept) > MAX_ACCOUNTS:
            del kept[next(iter(kept))]
    return loaded


def engine(session: Session, account_id: int) -> Engine:
    """An audit :class:`Engine` over the account's kept ruleset."""
    return Engine(session, account_id, ruleset(session, account_id))
