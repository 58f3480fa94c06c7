"""The import job runner of one hub process: claims jobs from the database and runs each in a
worker process of its own (cloud/catalogue/jobs.py says what a job is).

Why a process, not a thread: a job is seconds of Python (parsing, checking 20,000 rows with
pydantic, building the bulk writes) and hundreds of thousands of objects. In a thread of
the hub it shares the GIL and the garbage collector with the event loop and every handler:
on a 2-core machine the health check's p99 went from 7 ms to 228 ms during a 20,000-row
import (tests/cloud/api/test_import_jobs.py). A worker process shares neither, and what it
allocates for a large file is not the hub's to keep.

The hub side stays small: per slot, a thread that claims a job (a compare-and-set in the
database), hands it to its worker process over a pipe, renews the job's heartbeat while it
runs and gives the downlink pushes of its commit to the hub's MQTT client. Worker processes
come from a ``forkserver`` that has the import code loaded: no fork of the threaded hub
(unsafe), and a new worker starts in tens of milliseconds instead of importing everything.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess

from sqlalchemy.orm import Session, sessionmaker

from cloud.catalogue import jobs

log = logging.getLogger("guanjia.cloud.jobs")

WORKER_NICE = 10
_PRELOAD = ["cloud.catalogue.job_runner", "cloud.catalogue.jobs", "openpyxl"]


def _context() -> ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    # Read when the fork server starts (once per hub process); later calls change nothing.
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def _warm() -> None:
    """Start this process's fork server (with the import code loaded) if it is not running."""
    _context()
    forkserver.ensure_running()


def _worker_main(conn: Connection, database_url: str) -> None:
    """A worker process: runs the jobs it is sent, one at a time, until told to stop.

    At a lower priority (nice 10, as the hub's password checks, cloud/auth.py): on a machine
    whose cores the hub's workers need, an import takes what they leave. Its transactions
    hold no lock that a request waits for, except SQLite's write lock while the rows are
    written (one transaction, seconds at most)."""
    from cloud.db.engine import make_engine, session_factory

    with contextlib.suppress(OSError, AttributeError):
        os.nice(WORKER_NICE)

    engine = make_engine(database_url, pool_size=2, max_overflow=2)
    read_engine = (
        make_engine(database_url, read_only=True, pool_size=2, max_overflow=2)
        if engine.dialect.name == "sqlite"
        else engine
    )
    work = jobs.Work(session_factory(engine), session_factory(read_engine))
    try:
        while True:
            try:
                claimed = conn.recv()
            except EOFError:  # the hub is gone
                return
            if claimed is None:
                return
            conn.send(work.run(claimed))
    finally:
        engine.dispose()
        read_engine.dispose()


class WorkerDied(Exception):
    """The worker process ended while it ran a job (killed, out of memory)."""


class _Worker:
    """One worker process and the pipe to it."""

    def __init__(self, database_url: str) -> None:
        ctx = _context()
        self.conn, theirs = ctx.Pipe()
        self.proc: BaseProcess = ctx.Process(
            target=_worker_main, args=(theirs, database_url), name="import-worker", daemon=True
        )
        self.proc.start()
        theirs.close()

    def run(self, claimed: jobs.Claimed, stop: threading.Event) -> dict[str, int]:
        self.conn.send(claimed)
        while not self.conn.poll(0.2):
            if stop.is_set():
                raise Stopping
            if not self.proc.is_alive():
                raise WorkerDied(f"exit code {self.proc.exitcode}")
        try:
            pushes: dict[str, int] = self.conn.recv()
        except EOFError as err:
            raise WorkerDied("closed its pipe") from err
        return pushes

    def close(self, *, kill: bool) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                self.proc.kill()
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class Stopping(Exception):
    """The hub is shutting down: the job goes back to the queue for another runner."""


class Runner:
    """Runs import jobs, ``threads`` at a time, in worker processes (0: this hub process only
    accepts jobs; others run them). Bounded on purpose: a job is seconds of CPU and, for a
    large workbook, a few hundred MB; the rest wait queued in the database for whichever
    process is free first."""

    def __init__(
        self,
        database_url: str,
        sessions: sessionmaker[Session],
        read_sessions: sessionmaker[Session],
        threads: int,
        after_commit: Callable[[dict[str, int]], None] = lambda _p: None,
        *,
        lease_s: float = jobs.LEASE_S,
        heartbeat_s: float = jobs.HEARTBEAT_S,
        poll_s: float = jobs.POLL_S,
    ) -> None:
        self.database_url = database_url
        self.sessions, self.read_sessions = sessions, read_sessions
        self.after_commit = after_commit
        self.lease_s, self.heartbeat_s, self.poll_s = lease_s, heartbeat_s, poll_s
        self._n = threads
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._held: dict[int, str] = {}  # job id -> claim token of the runs in progress
        self._lock = threading.Lock()

    def start(self) -> None:
        for i in range(self._n):
            t = threading.Thread(target=self._loop, name=f"import-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        if self._n:
            beat = threading.Thread(target=self._beat, name="import-job-heartbeat", daemon=True)
            beat.start()
            self._threads.append(beat)

    def wake(self) -> None:
        """A job was queued here: look now, not at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop: a job in progress is stopped (its worker killed: its one write transaction
        rolls back) and queued again for another process, not counted as an attempt."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        worker: _Worker | None = None
        try:
            # The fork server is started before the first job (its first start imports the
            # import code: a second or more); the worker process itself when a job comes, in
            # tens of milliseconds. A hub that never imports keeps no idle worker (nor does
            # each test's app: ~0.1 s of setup and teardown per test, on two processes).
            try:
                _warm()
            except Exception:
                log.exception("import jobs: could not start the fork server; trying later")
            while not self._stop.is_set():
                try:
                    claimed = jobs.claim_next(self.sessions, self.read_sessions, self.lease_s)
                except Exception:
                    log.exception("import jobs: looking for work failed; trying again")
                    claimed = None
                if claimed is None:
                    self._wake.wait(self.poll_s)
                    self._wake.clear()
                    continue
                if worker is None:
                    worker = _Worker(self.database_url)
                with self._lock:
                    self._held[claimed.id] = claimed.token
                try:
                    pushes = worker.run(claimed, self._stop)
                except Stopping:
                    worker.close(kill=True)
                    worker = None
                    jobs.release(self.sessions, claimed, count=False)
                    return
                except Exception as err:
                    # The worker died: its transaction rolled back with its connection.
                    log.error("import job %s: its worker died (%s)", claimed.public_id, err)
                    worker.close(kill=True)
                    worker = None
                    self._after_death(claimed)
                    continue
                finally:
                    with self._lock:
                        self._held.pop(claimed.id, None)
                self.after_commit(pushes)
        finally:
            if worker is not None:
                worker.close(kill=False)

    def _after_death(self, claimed: jobs.Claimed) -> None:
        try:
            if claimed.attempts < jobs.MAX_ATTEMPTS:
                jobs.release(self.sessions, claimed, count=True)
            else:
                jobs.finish(
                    self.sessions,
                    claimed,
                    {
                        "status": "failed",
                        "message": f"the import stopped {claimed.attempts} times before it"
                        " finished (its worker process ended); send the file again, or split it",
                    },
                )
        except Exception:
            log.exception("import job %s: could not queue it again", claimed.public_id)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            with self._lock:
                held = list(self._held.items())
            for job_id, token in held:
                try:
                    jobs.write(self.sessions, job_id, token, {})
                except jobs.LostClaim:
                    pass  # finished meanwhile, or taken over: its run finds out itself
                except Exception:
                    log.exception("import job heartbeat failed")
