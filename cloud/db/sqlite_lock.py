"""SQLite's writers queue on a lock file beside the database, and wake the moment it frees.

SQLite has one writer at a time. A writer that finds the write lock taken gets SQLITE_BUSY,
and the busy handler Python installs (``sqlite3.connect(timeout=…)``, i.e.
``sqlite3_busy_timeout``) retries after sleeping 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and
then 100 ms at a time (sqliteDefaultBusyCallback, sqlite.org/c3ref/busy_timeout.html): it
never learns when the lock frees, so a waiting writer sleeps past that moment, and a writer
that arrives later may take the lock first. Under the API bench (issue 20: three hub
processes, 300 req/s, one write in seven) a hold or re-save waited up to 2 s for a write of
a few milliseconds.

Here every writer of a database file first takes an exclusive ``flock(2)`` on
``<file>-writelock``, blocking: the kernel wakes a waiter when the holder lets go, with no
polling. It is taken before ``BEGIN IMMEDIATE`` (cloud/db/engine.py ``make_engine``) and let
go after COMMIT or ROLLBACK, so SQLite's own lock is then always free when a hub writer asks
for it; SQLite's busy handler stays as the fallback for writers that do not know this lock
(the ``sqlite3`` shell, an older hub). Readers never take it: in WAL mode they do not wait
for the writer (sqlite.org/wal.html), and the hub's read engine is ``query_only``.

One open file per database file per process: ``flock`` locks belong to an open file
description, so every process's writers exclude every other's. Within a process, writers
queue first on a ``threading.Lock`` (it also wakes at once) and only its holder waits on the
file, so a writer nested inside another of the same process fails after ``timeout_s`` as it
did with the busy handler, instead of waiting for itself for good. A process that dies lets
go of the file lock with its last descriptor (the kernel does it); the lock is advisory and
holds no data, so a stale file beside the database is harmless.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from typing import Any

#: Suffix of the lock file beside the database (SQLite's own are ``-wal``, ``-shm``, ``-journal``).
SUFFIX = "-writelock"
#: Suffix of the file a writer passes through to reach the lock (``WriteLock.acquire``).
GATE_SUFFIX = "-writegate"


class WriteLock:
    """The write lock of one SQLite database file, for this process."""

    def __init__(self, db_path: str, timeout_s: float) -> None:
        self.path = db_path + SUFFIX
        self.gate_path = db_path + GATE_SUFFIX
        self.timeout_s = timeout_s
        self._local = threading.Lock()
        self._fd = self._gate = -1
        self._pid = -1

    def _files(self) -> tuple[int, int]:
        # A forked child shares its parent's open file descriptions, and with them the
        # parent's flocks: it must open its own (the hub forks no writers today).
        if self._pid != os.getpid():
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
            self._fd = os.open(self.path, flags, 0o600)
            self._gate = os.open(self.gate_path, flags, 0o600)
            self._pid = os.getpid()
        return self._gate, self._fd

    def acquire(self) -> None:
        if not self._local.acquire(timeout=self.timeout_s):
            raise sqlite3.OperationalError(
                f"database is locked: another writer of this process held it {self.timeout_s:g} s"
            )
        try:
            gate, fd = self._files()
            # Through the gate to the lock: at most one process waits on the lock itself, and
            # it holds the gate while it waits, so a holder that lets go and at once wants the
            # lock again (a loop of writes) queues at the gate behind it. ``flock`` alone
            # wakes every waiter and the first to run wins: measured, one process writing in
            # a loop then kept the lock for 0.5 s while two others waited.
            fcntl.flock(gate, fcntl.LOCK_EX)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)
        except BaseException:
            self._local.release()
            raise

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._local.release()


_locks: dict[str, WriteLock] = {}
_locks_guard = threading.Lock()


def write_lock(db_path: str, timeout_s: float) -> WriteLock:
    """This process's write lock of the database file at ``db_path`` (one per file, shared by
    every engine on it: the app's, the import jobs', a CLI's)."""
    key = os.path.realpath(db_path)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = WriteLock(key, timeout_s)
        return lock


def connection_class(lock: WriteLock) -> type[sqlite3.Connection]:
    """A ``sqlite3.Connection`` that lets go of ``lock`` when its transaction ends.

    The end is where sqlite3 ends it (commit, rollback, close), so every path lets go: the
    session's commit, a rollback on error, the pool's rollback when a connection is given
    back, a connection closed or invalidated mid-transaction.
    """

    class LockingConnection(sqlite3.Connection):
        holding = False

        def take_write_lock(self) -> None:
            lock.acquire()
            self.holding = True

        def _let_go(self) -> None:
            if self.holding:
                self.holding = False
                lock.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                # A COMMIT that failed may leave the transaction open: the rollback that
                # follows lets go.
                if not self.in_transaction:
                    self._let_go()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                if not self.in_transaction:
                    self._let_go()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._let_go()

    return LockingConnection


def take(dbapi_conn: Any) -> None:
    """Take the write lock of the connection's database (before its ``BEGIN IMMEDIATE``)."""
    dbapi_conn.take_write_lock()


def let_go(dbapi_conn: Any) -> None:
    """Let go of it again (the ``BEGIN IMMEDIATE`` failed)."""
    dbapi_conn._let_go()
