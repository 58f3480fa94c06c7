"""The edge's offline-first store: SQLite in WAL mode, one transaction primitive.

Rules (docs/sync.md, "Durable first"):

* Every state change and the outbox event that reports it commit in one
  transaction, opened with :meth:`Store.atomic`.
* ``synchronous=FULL``: in WAL mode a commit returns only after the WAL is
  fsynced, so anything an operator is shown after ``atomic()`` returns
  survives a power cut (SQLite docs, "PRAGMA synchronous"; NORMAL would only
  keep the database consistent, and may lose the last commits).
* The outbox sequence is gapless: it is allocated in the same transaction as
  the event, so a rolled-back transaction takes its number with it.
* Schema changes are named migrations, applied once each, in order.
* A disk that is full, read-only or failing (SQLite's ``SQLITE_FULL``,
  ``SQLITE_READONLY``, ``SQLITE_IOERR``, ``SQLITE_CANTOPEN``: "Result and Error
  Codes") is a *fault* of the store, not a bug: the failed transaction is rolled
  back whole, :attr:`Store.fault` says why (for the light, the status and the
  metrics), and the next commit that succeeds clears it. A store that cannot be
  opened for writing at all opens read-only (:attr:`Store.read_only`), so the
  daemon starts degraded instead of exiting into a restart loop (issue 19, finding 2).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import uuid6

from edge.errors import EdgeError
from edge.store import replica
from edge.store.migrations import MIGRATIONS
from edge.store.schema import Migration, apply_step
from protocol import codec
from protocol.hlc import HLC, unpack
from protocol.messages import (
    EVENT_ADAPTER,
    PAYLOAD_EVENTS,
    DownBatch,
    Event,
    Message,
    NodeStarted,
    NodeStartedPayload,
    ScanPayload,
    ScanRecorded,
    StationKind,
)

log = logging.getLogger("guanjia.edge.store")

#: SQLite result codes (primary, and every extended code under them) that say the disk,
#: not the statement, is at fault (https://www.sqlite.org/rescode.html).
STORAGE_ERRORS = (
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_PERM",
)


def storage_fault(err: BaseException) -> str | None:
    """A sentence for a disk fault behind ``err`` (full, read-only, I/O error), else None."""
    if not isinstance(err, sqlite3.Error):
        return None
    name = getattr(err, "sqlite_errorname", None) or ""
    if not name.startswith(STORAGE_ERRORS):
        return None
    return f"{err} ({name})"


class StoreError(EdgeError):
    """The store cannot do what was asked (a missing meta key, a backup that does not fit)."""

    code = "store"


class Store:
    """One node's SQLite database. Single-writer: use from one thread (the daemon's loop)."""

    def __init__(
        self,
        path: Path,
        node_id: str,
        *,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        self.path = path
        self.node_id = node_id
        self._wall_ms = wall_ms
        self._depth = 0
        self.pruned = 0  # delivered outbox rows deleted since open
        self._hlc = HLC()
        #: Why the store cannot be written now (a full or read-only disk), None while it can.
        self.fault: str | None = None
        #: Opened read-only because it could not be opened for writing (degraded mode).
        self.read_only = False
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = self._open(path, synchronous)
            self.migrate()
        except sqlite3.Error as err:
            why = storage_fault(err)
            if why is None:
                raise
            with contextlib.suppress(AttributeError, sqlite3.Error):
                self.conn.close()
            self.conn = self._open_read_only(path, why)
        # Resume the clock where it stopped: a node that boots at 1970 still moves forward.
        self._hlc.last = self._meta("hlc")

    def wall_ms(self) -> int:
        """The node's wall clock (Unix ms), the one its HLC reads: a batch says by it
        when it was sent (protocol/codec.py ``encode_batch``)."""
        return self._wall_ms()

    @staticmethod
    def _open(path: Path, synchronous: str) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves in atomic().
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL always in production (see the module docstring); NORMAL only for benchmarks
            # that simulate hundreds of nodes on one disk, where fsyncs would measure the disk.
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_read_only(self, path: Path, why: str) -> sqlite3.Connection:
        """Degraded mode: the store as it is on disk, for reading (status, sync of the backlog).

        ``mode=ro`` reads a WAL database whose -wal and -shm files exist (an unclean stop);
        after a clean stop they are gone and SQLite cannot create them on a read-only
        filesystem, so ``immutable=1`` reads the main file, which then holds every commit
        (SQLite docs, "WAL mode: read-only databases" and "URI filenames: immutable").
        """
        if not path.exists():
            raise StoreError(f"store {path} cannot be created: {why}")
        last: sqlite3.Error | None = None
        for query in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(
                    f"file:{path}?{query}", uri=True, isolation_level=None, check_same_thread=False
                )
                conn.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
            except sqlite3.Error as err:
                last = err
                continue
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            missing = [name for name, _ in MIGRATIONS if name not in done]
            if missing:
                conn.close()
                raise StoreError(
                    f"store {path} cannot be written ({why}) and lacks migrations {missing}"
                )
            self.read_only = True
            self.fault = f"store is read-only: {why}"
            log.error(
                "%s: running degraded, scans are refused with a FAULT light; "
                "fix the disk and restart the daemon",
                self.fault,
                extra={"store_fault": self.fault},
            )
            return conn
        raise StoreError(f"store {path} cannot be opened even read-only: {last}") from last

    # --- transactions -----------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """A transaction; nested calls become savepoints. Commits (fsynced) on exit."""
        if self._depth == 0:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                self._note_fault(err)
                raise
        else:
            self.conn.execute(f"SAVEPOINT sp{self._depth}")
        self._depth += 1
        hlc_before = self._hlc.last
        try:
            yield self.conn
        except BaseException as err:
            self._depth -= 1
            if self._depth == 0:
                self._rollback(hlc_before, err)
            elif self.conn.in_transaction:
                self.conn.execute(f"ROLLBACK TO sp{self._depth}")
                self.conn.execute(f"RELEASE sp{self._depth}")
            raise
        self._depth -= 1
        if self._depth == 0:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback(hlc_before, err)
                raise
            if self.fault is not None and not self.read_only:
                log.warning("store writable again (was: %s)", self.fault)
                self.fault = None
        else:
            self.conn.execute(f"RELEASE sp{self._depth}")

    def _rollback(self, hlc_before: int, err: BaseException) -> None:
        """End a failed outermost transaction; note a disk fault (full, read-only, I/O)."""
        # SQLite may have rolled back by itself (SQLITE_FULL, SQLITE_IOERR: "Result and Error
        # Codes"); a ROLLBACK then would fail and hide the error that matters.
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self._hlc.last = hlc_before
        self._note_fault(err)

    def _note_fault(self, err: BaseException) -> None:
        why = storage_fault(err)
        if why is None or self.read_only:  # a read-only store's fault already says why
            return
        if self.fault is None:  # logged once per fault, not at every refused scan
            log.error("store cannot be written: %s", why, extra={"store_fault": why})
        self.fault = f"store cannot be written: {why}"

    def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
        """Apply the migrations this database has not seen; return their names.

        Each migration and its record commit in one transaction (edge/store/schema.py).
        """
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_ms INTEGER)"
        )
        done = {r[0] for r in self.conn.execute("SELECT name FROM schema_migrations")}
        applied = []
        for name, step in migrations:
            if name in done:
                continue
            # Foreign keys off around the transaction: the pragma is a no-op inside one, and
            # a table rebuilt by a migration is dropped, which would fire ON DELETE CASCADE
            # in the tables referring to it. apply_step checks the keys before the record.
            self.conn.execute("PRAGMA foreign_keys=OFF")
            try:
                with self.atomic() as c:
                    # Another process on this store (the pick API) may have applied it since.
                    if c.execute(
                        "SELECT 1 FROM schema_migrations WHERE name = ?", (name,)
                    ).fetchone():
                        continue
                    apply_step(c, step)
                    c.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?)", (name, self._wall_ms())
                    )
            finally:
                self.conn.execute("PRAGMA foreign_keys=ON")
            applied.append(name)
        return applied

    def close(self) -> None:
        self.conn.close()

    # --- meta ---------------------------------------------------------------------------

    def _meta(self, key: str) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"meta key {key!r} missing")
        return int(row[0])

    def _set_meta(self, key: str, value: int) -> None:
        self.conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))

    @property
    def epoch(self) -> int:
        return self._meta("epoch")

    @property
    def last_seq(self) -> int:
        return self._meta("last_seq")

    @property
    def acked_through(self) -> int:
        return self._meta("acked_through")

    @property
    def down_applied(self) -> int:
        return self._meta("down_applied")

    def backlog(self) -> int:
        return self.last_seq - self.acked_through

    # --- events -------------------------------------------------------------------------

    def start_epoch(self, software: str, station_kind: StationKind) -> int:
        """Begin a new epoch at start/restore, reported by a ``node.started`` event."""
        with self.atomic():
            epoch = self.epoch + 1
            self._set_meta("epoch", epoch)
            self._append(
                lambda seq, hlc, eid: NodeStarted(
                    node=self.node_id,
                    epoch=epoch,
                    seq=seq,
                    id=eid,
                    hlc=hlc,
                    payload=NodeStartedPayload(software=software, station_kind=station_kind),
                )
            )
        return epoch

    def _append(self, build: Callable[..., Event]) -> Event:
        if self._depth == 0:
            raise StoreError("events are appended inside atomic() only")
        seq = self._meta("last_seq") + 1
        # Another process may write this store too (the PDA API): continue from the newest
        # clock on disk, read inside this write transaction, so timestamps never go back.
        self._hlc.last = max(self._hlc.last, self._meta("hlc"))
        hlc = self._hlc.now(self._wall_ms())
        event = build(seq, hlc, uuid6.uuid7())
        self.conn.execute(
            "INSERT INTO outbox (seq, event_id, type, body, hlc) VALUES (?, ?, ?, ?, ?)",
            (seq, str(event.id), event.type, codec.encode_event(event), hlc),
        )
        self._set_meta("last_seq", seq)
        self._set_meta("hlc", hlc)
        return event

    def append(self, payload: Message) -> Event:
        """Append the event that carries ``payload`` to the outbox (inside ``atomic()``)."""
        cls = PAYLOAD_EVENTS[type(payload)]
        epoch = self._meta("epoch")
        return self._append(
            lambda seq, hlc, eid: cls(
                node=self.node_id, epoch=epoch, seq=seq, id=eid, hlc=hlc, payload=payload
            )
        )

    def record_scan(self, payload: ScanPayload) -> ScanRecorded:
        """Store a scan and its outbox event in one transaction (nestable)."""
        with self.atomic():
            epoch = self._meta("epoch")
            event = self._append(
                lambda seq, hlc, eid: ScanRecorded(
                    node=self.node_id, epoch=epoch, seq=seq, id=eid, hlc=hlc, payload=payload
                )
            )
            self.conn.execute(
                "INSERT INTO scan VALUES (?, ?, ?, ?, ?, ?)",
                (
                    event.seq,
                    payload.station,
                    payload.barcode,
                    payload.sku_code,
                    payload.verdict,
                    self._wall_ms(),
                ),
            )
        assert isinstance(event, ScanRecorded)
        return event

    def pending(self, after: int, max_events: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """Outbox rows after ``after``, in order, at most ``max_events`` / about ``max_bytes``."""
        rows: list[tuple[int, bytes]] = []
        size = 0
        for seq, body in self.conn.execute(
            "SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, max_events)
        ):
            if rows and size + len(body) > max_bytes:
                break
            rows.append((seq, body))
            size += len(body) + 1
        return rows

    def mark_acked(self, through: int, prune: int = 0) -> bool:
        """Record the cloud's cumulative ack. Never moves backwards; returns True if it moved.

        ``prune`` > 0 also deletes up to that many delivered outbox rows in the
        same transaction (one fsync for both).
        """
        if through > self.last_seq:
            # The cloud claims events we never wrote: a restored or swapped database.
            raise StoreError(
                f"cloud acked through {through} but this node's last seq is {self.last_seq}"
            )
        if through <= self.acked_through:
            return False  # nothing to write: a read-only (degraded) store answers it too
        with self.atomic():
            if through <= self._meta("acked_through"):
                return False
            self._set_meta("acked_through", through)
            if prune:
                self.pruned += self.prune_delivered(prune)
        return True

    # --- backup and restore -----------------------------------------------------------

    def backup_to(self, target: Path) -> None:
        """An online, consistent copy of this database (SQLite's backup API)."""
        dest = sqlite3.connect(target)
        try:
            self.conn.backup(dest)
        finally:
            dest.close()

    @classmethod
    def restore_from(cls, backup: Path, path: Path, node_id: str) -> Store:
        """Put a backup in place of the node's database and mark the restore.

        The restored node starts a new epoch and remembers it as the restore
        epoch: at its first contact with the cloud it re-bases (see
        :meth:`rebase`), because the cloud may hold events the backup lacks.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".restoring")
        src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        dest = sqlite3.connect(tmp)
        try:
            src.backup(dest)
        finally:
            src.close()
            dest.close()
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        tmp.replace(path)  # atomic on POSIX: the old database or the backup, never half of each
        store = cls(path, node_id)
        with store.atomic():
            epoch = store.epoch + 1
            store._set_meta("epoch", epoch)
            store.conn.execute("INSERT OR REPLACE INTO meta VALUES ('restore_epoch', ?)", (epoch,))
        return store

    @property
    def restore_epoch(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'restore_epoch'").fetchone()
        return 0 if row is None else int(row[0])

    def rebase(self, cloud_acked: int) -> int:
        """After a restore, continue the node's stream after what the cloud already holds.

        The cloud has applied ``1..cloud_acked``. Rows from the backup (epochs
        before the restore) at or below that were delivered before the disk was
        lost. Rows written since the restore (epoch >= restore epoch) and rows
        above ``cloud_acked`` are renumbered, in their order, from
        ``cloud_acked + 1``, so no seq means two things. Returns how many rows
        moved. One transaction: a crash leaves the node as before the call.
        """
        r_epoch = self.restore_epoch
        if r_epoch == 0:
            return 0
        with self.atomic():
            rows = self.conn.execute(
                "SELECT seq, body FROM outbox WHERE seq > ? AND (seq > ? OR CAST(json_extract(body, '$.epoch') AS INTEGER) >= ?) "
                "ORDER BY seq",
                (self._meta("acked_through"), cloud_acked, r_epoch),
            ).fetchall()
            moved = 0
            renames: list[tuple[int, int]] = []
            self.conn.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq, _ in rows])
            for i, (seq, body) in enumerate(rows):
                new_seq = cloud_acked + 1 + i
                event = EVENT_ADAPTER.validate_json(body).model_copy(update={"seq": new_seq})
                self.conn.execute(
                    "INSERT INTO outbox (seq, event_id, type, body, hlc) VALUES (?, ?, ?, ?, ?)",
                    (new_seq, str(event.id), event.type, codec.encode_event(event), event.hlc),
                )
                renames.append((seq, new_seq))
                moved += seq != new_seq
            # Local rows keyed by event seq follow their event (negative first: no PK clash).
            self.conn.executemany(
                "UPDATE scan SET seq = ? WHERE seq = ?", [(-new, old) for old, new in renames]
            )
            self.conn.execute("UPDATE scan SET seq = -seq WHERE seq < 0")
            self._set_meta("last_seq", cloud_acked + len(rows))
            self._set_meta("acked_through", cloud_acked)
            self.conn.execute("DELETE FROM meta WHERE key = 'restore_epoch'")
        return moved

    def prune_delivered(self, limit: int = 5000) -> int:
        """Delete up to ``limit`` outbox rows the cloud has acked; return how many.

        Small batches keep each transaction (and the pause it causes a scan) short.
        """
        with self.atomic():
            cur = self.conn.execute(
                "DELETE FROM outbox WHERE seq IN "
                "(SELECT seq FROM outbox WHERE seq <= ? ORDER BY seq LIMIT ?)",
                (self._meta("acked_through"), limit),
            )
        return cur.rowcount

    def oldest_unacked_age_s(self) -> float | None:
        """Age of the oldest event the cloud has not acked, by this node's clock (None: none)."""
        row = self.conn.execute(
            "SELECT hlc FROM outbox WHERE seq > ? ORDER BY seq LIMIT 1",
            (self._meta("acked_through"),),
        ).fetchone()
        if row is None:
            return None
        return max(0.0, (self._wall_ms() - unpack(row[0])[0]) / 1000)

    # --- catalogue (downlink) -----------------------------------------------------------

    def apply_down(self, batch: DownBatch) -> int:
        """Apply a downlink batch atomically with its cursor; skip what was applied.

        A batch that continues from beyond our cursor (``after`` > cursor, or a
        first seq past cursor + 1 without ``after``) applies nothing: the
        caller pulls the missing range.
        """
        applied = 0
        with self.atomic():
            cursor = self._meta("down_applied")
            compacted = batch.after is not None and batch.after <= cursor
            if batch.after is not None and batch.after > cursor:
                return 0
            for change in batch.changes:
                if change.seq <= cursor:
                    continue
                if change.seq != cursor + 1 and not compacted:
                    break  # a gap: the caller asks for the missing range
                answer = replica.apply_change(self.conn, change, self._wall_ms())
                if answer is not None:  # the node's answer commits with the change it answers
                    self.append(answer)
                cursor = change.seq
                applied += 1
            self._set_meta("down_applied", cursor)
        return applied

    def lookup_barcode(self, barcode: str) -> replica.Sku | None:
        return replica.sku_by_barcode(self.conn, barcode)

    def readable(self) -> bool:
        """The store answers a read now (the daemon's watchdog asks before each keep-alive)."""
        self._meta("acked_through")  # raises StoreError or sqlite3.Error when it cannot
        return True

    def integrity_ok(self) -> bool:
        return bool(self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
