"""Login attempt limits: failed logins counted per username and per client address.

OWASP API Security Top 10 2023, API2 (broken authentication) and API4 (unrestricted resource
consumption): without a limit a password can be guessed at the server's speed. Counters live
in the database (table ``login_attempts``), so every worker of the hub sees the same counts;
each row is one (kind, key) with its window, so memory is bounded by the rows kept, and rows
whose window and lockout are over are pruned. A client is limited by ``client_failures``
across usernames, so one address cannot fill the table with usernames either.

An attempt is counted *before* its password is checked (:func:`reserve`, a short write
transaction) and given back when it succeeds (:func:`succeeded`): concurrent attempts cannot
all be checked before the first failure is counted, so no more than the limit are ever
evaluated (the PDA's PIN lockout let 17 of 60 concurrent attempts through a limit of 5
because it counted after checking). The password itself is checked between the two
transactions, holding no lock (cloud/auth.py ``HashPool``).

A locked key is refused with 429 and ``Retry-After`` (RFC 6585 §4, RFC 9110 §10.2.3) even for
the right password; each lockout of the same key lasts twice as long as the one before, up
to ``max_lockout_s``, until a window passes without one.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cloud.db.engine import dialect_of
from cloud.db.models import LoginAttempts
from cloud.errors import N_, DomainError

Key = tuple[str, str]


@dataclass(frozen=True)
class LoginPolicy:
    #: Failed logins of one username, then it is locked (whoever tries it).
    user_failures: int = 10
    #: Failed logins from one client address (any usernames), then it is locked.
    client_failures: int = 100
    #: Failures older than this are forgotten.
    window_s: float = 900.0
    #: The first lockout; each next one of the same key doubles it.
    lockout_s: float = 60.0
    max_lockout_s: float = 3600.0

    def limit(self, kind: str) -> int:
        return self.user_failures if kind == "user" else self.client_failures


class TooManyAttempts(DomainError):
    """Too many failed logins for this username or client (HTTP 429, RFC 6585 §4)."""

    status = 429

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after_s))
        super().__init__(
            N_(
                "too many failed logins; try again in %(seconds)s s"
                " (the right password is refused too until then)"
            ),
            seconds=self.retry_after,
        )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def keys(username: str, client: str) -> list[Key]:
    """The counters one attempt counts against. Usernames are compared case-insensitively
    here, so "Admin" and "admin" share a counter whatever the user table does."""

    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    return [("user", digest(username.casefold())), ("client", digest(client))]


class KnownLocks:
    """Locks this process has seen, by key (one per app: one database).

    A lock is never lifted early, so until it ends it can be answered from here without the
    database: a flood against a locked name costs no query. Bounded: when full, ended locks
    are dropped, and if none has ended, all (the database still has them).
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._until: dict[Key, float] = {}

    def wait(self, keys_: Sequence[Key], now: float) -> float:
        """Seconds a lock seen here still holds on any of the keys (0: none)."""
        if not self._until:
            return 0.0
        return max(0.0, *(self._until.get(k, 0.0) - now for k in keys_))

    def remember(self, key: Key, until: float, now: float) -> None:
        if len(self._until) >= self.size:
            for k in [k for k, u in self._until.items() if u <= now]:
                del self._until[k]
            if len(self._until) >= self.size:
                self._until.clear()
        self._until[key] = until


def locked_for(session: Session, keys_: Sequence[Key], now: float, known: KnownLocks) -> float:
    """Seconds until every key is unlocked (0: none is locked). Reads only."""
    rows = session.execute(
        select(LoginAttempts.kind, LoginAttempts.key, LoginAttempts.locked_until).where(
            or_(*(and_(LoginAttempts.kind == k, LoginAttempts.key == v) for k, v in keys_))
        )
    ).all()
    wait = 0.0
    for kind, key, until in rows:
        if until > now:
            known.remember((kind, key), until, now)
            wait = max(wait, until - now)
    return wait


def reserve(
    session: Session, keys_: Sequence[Key], now: float, policy: LoginPolicy, known: KnownLocks
) -> float:
    """Count one attempt as failed, before its password is checked; 0 if it may be checked,
    else the seconds until it may (the attempt is then not counted). Locks a key whose
    failures reached its limit. Run in a write transaction of its own."""
    insert = pg_insert if dialect_of(session) == "postgresql" else sqlite_insert
    rows: list[LoginAttempts] = []
    for kind, key in keys_:
        session.execute(
            insert(LoginAttempts)
            .values(kind=kind, key=key, window_start=now, failures=0, strikes=0, locked_until=0.0)
            .on_conflict_do_nothing()
        )
        # FOR UPDATE on PostgreSQL; SQLite's writer already holds the database (BEGIN IMMEDIATE).
        rows.append(
            session.execute(
                select(LoginAttempts)
                .where(LoginAttempts.kind == kind, LoginAttempts.key == key)
                .with_for_update()
            ).scalar_one()
        )
    wait = 0.0
    for row in rows:
        if row.locked_until > now:
            known.remember((row.kind, row.key), row.locked_until, now)
            wait = max(wait, row.locked_until - now)
            continue
        if now - row.window_start >= policy.window_s:
            if now - row.locked_until >= policy.window_s:
                row.strikes = 0  # a whole window without a lockout: back to the first step
            row.window_start, row.failures = now, 0
        if row.failures >= policy.limit(row.kind):
            lockout = min(policy.lockout_s * 2**row.strikes, policy.max_lockout_s)
            row.locked_until = now + lockout
            known.remember((row.kind, row.key), row.locked_until, now)
            row.strikes += 1
            row.window_start, row.failures = now, 0
            wait = max(wait, lockout)
    if wait == 0.0:
        for row in rows:
            row.failures += 1
    _prune(session, now, policy)
    return wait


def succeeded(session: Session, keys_: Sequence[Key]) -> None:
    """Give back the attempt :func:`reserve` counted: the username starts afresh; the client
    keeps its other failures (a client's own good login must not wipe out its guesses)."""
    for kind, key in keys_:
        row = session.get(LoginAttempts, (kind, key), with_for_update=True)
        if row is None:
            continue
        if kind == "user":
            session.delete(row)
        else:
            row.failures = max(0, row.failures - 1)


_PRUNE_EVERY_S = 60.0
_last_prune = 0.0


def _prune(session: Session, now: float, policy: LoginPolicy) -> None:
    """Forget keys whose window and lockout have been over for a window (at most once a
    minute per process: the delete scans the index on ``window_start``)."""
    global _last_prune
    tick = time.monotonic()
    if tick - _last_prune < _PRUNE_EVERY_S:
        return
    _last_prune = tick
    old = now - policy.window_s
    session.execute(
        delete(LoginAttempts).where(
            LoginAttempts.window_start < old, LoginAttempts.locked_until < old
        )
    )
