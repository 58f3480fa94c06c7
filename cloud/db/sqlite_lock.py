"""SQLite's writers wait on a lock file beside the database, and wake the moment it frees.

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

**Checkpoints outside the lock.** SQLite's automatic checkpoint (every 1,000 WAL pages)
runs inside the COMMIT that crosses the mark, so inside this lock: measured 5-47 ms on the
API bench's copy (docs/benchmarks.md, issue 20), one every 1-2 s added to one writer's hold
and to the wait of every writer queued behind it. The hub's write connections turn it off
(``PRAGMA wal_autocheckpoint=0``, cloud/db/engine.py) and the commit that brings this
process's count to :data:`CHECKPOINT_COMMITS` commits, or :data:`CHECKPOINT_CHANGES` changed
rows, runs a PASSIVE checkpoint itself once it has let go of the lock. A PASSIVE checkpoint
takes no writer's lock (sqlite.org/wal.html#ckpt, c3ref/wal_checkpoint_v2.html): the next
writer goes on meanwhile. Writers that do not know this lock keep SQLite's own.

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
#: A checkpoint after this many commits of this process, or rows changed, whichever first:
#: the API's writes are 10-20 pages, so about SQLite's own 1,000 pages; an import's large
#: transaction reaches the row count at once.
CHECKPOINT_COMMITS = 64
CHECKPOINT_CHANGES = 5_000


class WriteLock:
    """The write lock of one SQLite database file, for this process."""

    def __init__(self, db_path: str, timeout_s: float) -> None:
        self.path = db_path + SUFFIX
        self.timeout_s = timeout_s
        self._local = threading.Lock()
        self._fd = -1
        self._pid = -1
        #: Commits and changed rows since this process's last checkpoint; checkpoints run
        #: (read by the tests and the bench). Counted while the lock is held.
        self.commits = 0
        self.changes = 0
        self.checkpoints = 0

    def _file(self) -> int:
        # A forked child shares its parent's open file description, and with it the parent's
        # flock: it must open its own (the hub forks no writers today).
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        if not self._local.acquire(timeout=self.timeout_s):
            raise sqlite3.OperationalError(
                f"database is locked: another writer of this process held it {self.timeout_s:g} s"
            )
        try:
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return  # free: the common case, no wait
        except BlockingIOError:
            pass  # another process writes: wait for it, below
        except BaseException:
            self._local.release()
            raise
        self._wait(fd)

    def _wait(self, fd: int) -> None:
        """Wait for another process to let go, at most ``timeout_s`` (as the busy handler
        did: a hub process stuck inside a write must not hold every other writer for good).

        ``flock`` cannot be given a timeout, so a thread of its own waits on it, blocking:
        the kernel wakes it when the holder lets go. If the time runs out first, the caller
        gets SQLite's own error and the thread, once it has the lock, lets go of it and of
        this process's turn. Not a strict queue: every waiter wakes when the holder lets go
        and the first to run takes it. A strict turn (tried: a second flock as a gate, one
        waiter on the lock at a time) hands the lock to a waiter that may not get a core for
        tens of ms on a loaded machine, the lock idle meanwhile: in bench runs at load 17-20
        fewer writes got through than with the busy handler alone (875 and 1,074 against
        1,186 and 1,789); this way as many did (docs/benchmarks.md, issue 20)."""
        handoff = threading.Lock()
        ended = threading.Event()
        failed: list[OSError] = []
        abandoned = False

        def wait() -> None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as err:
                failed.append(err)
            with handoff:
                if abandoned:  # too late: the caller left; let the next writer have it
                    if not failed:
                        fcntl.flock(fd, fcntl.LOCK_UN)
                    self._local.release()
                    return
                ended.set()

        threading.Thread(target=wait, name="sqlite-write-lock", daemon=True).start()
        ended.wait(self.timeout_s)
        with handoff:
            if ended.is_set():
                if not failed:
                    return
                self._local.release()
                raise sqlite3.OperationalError(f"the write lock file failed: {failed[0]}")
            abandoned = True
        raise sqlite3.OperationalError(
            f"database is locked: another process has been writing for {self.timeout_s:g} s"
        )

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._local.release()

    def committed(self, changes: int) -> bool:
        """Count a commit (the caller still holds the lock); True when it is the one that
        should checkpoint, after letting go."""
        self.commits += 1
        self.changes += max(changes, 0)
        if self.commits < CHECKPOINT_COMMITS and self.changes < CHECKPOINT_CHANGES:
            return False
        self.commits = self.changes = 0
        return True


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
        #: ``total_changes`` when this connection's write transaction began.
        changes_at_begin = 0

        def take_write_lock(self) -> None:
            lock.acquire()
            self.holding = True
            self.changes_at_begin = self.total_changes

        def _let_go(self) -> None:
            if self.holding:
                self.holding = False
                lock.release()

        def commit(self) -> None:
            checkpoint = False
            try:
                super().commit()
            finally:
                # A COMMIT that failed may leave the transaction open: the rollback that
                # follows lets go.
                if not self.in_transaction:
                    if self.holding:
                        checkpoint = lock.committed(self.total_changes - self.changes_at_begin)
                    self._let_go()
            if checkpoint:
                self.checkpoint()

        def checkpoint(self) -> None:
            """A PASSIVE checkpoint, with the write lock free (module docstring). A failure
            is not the commit's: it has happened; the next checkpoint carries on."""
            try:
                self.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                lock.checkpoints += 1
            except sqlite3.Error:
                pass

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
