"""Start the edge daemon with a fault injected into its process: ``python -m simulators.chaos.launch``.

Takes the same arguments as ``python -m edge``; the faults come from the environment:

* ``GUANJIA_CHAOS_CLOCK_OFFSET_S``: seconds added to the wall clock (``time.time``,
  ``time.time_ns``) — what libfaketime's ``FAKETIME=+1y`` does, without needing it
  installed. The monotonic clock is left alone, as a real wall-clock jump leaves it.
* ``GUANJIA_CHAOS_IO_FAULT=K:once|forever`` and ``GUANJIA_CHAOS_IO_DB=path``: the edge
  store's SQLite connection is wrapped; its K-th operation (execute, executemany, commit,
  counted from the connect) raises SQLITE_IOERR, once or from then on — the error loop
  SQLite's own test suite runs with its fault-injecting VFS (testing.html, "I/O error
  testing"), at the level of the connection. ``GUANJIA_CHAOS_IO_MARK``: a file the wrapper
  appends to when it injects, so the scenario knows the fault fired.

The daemon module is loaded with runpy by name: this package never imports ``edge``.
"""

from __future__ import annotations

import os
import runpy
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any


def _shift_clock(offset_s: float) -> None:
    real_time, real_ns = time.time, time.time_ns
    offset_ns = int(offset_s * 1e9)
    time.time = lambda: real_time() + offset_s
    time.time_ns = lambda: real_ns() + offset_ns


class FaultyConnection:
    """A sqlite3 connection whose K-th operation fails with SQLITE_IOERR (once or forever)."""

    def __init__(self, conn: sqlite3.Connection, at: int, forever: bool, mark: Path | None) -> None:
        self._conn = conn
        self._at = at
        self._forever = forever
        self._mark = mark
        self._ops = 0

    def _tick(self, what: str) -> None:
        self._ops += 1
        if self._ops == self._at or (self._forever and self._ops > self._at):
            if self._mark is not None:
                with open(self._mark, "a", encoding="utf-8") as f:
                    f.write(f"{self._ops} {what}\n")
            err = sqlite3.OperationalError("disk I/O error (injected by the chaos suite)")
            err.sqlite_errorname = "SQLITE_IOERR"
            err.sqlite_errorcode = 10
            raise err

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self._tick(sql.split(None, 1)[0] if sql.strip() else "execute")
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self._tick("executemany")
        return self._conn.executemany(sql, *args)

    def executescript(self, sql: str) -> sqlite3.Cursor:
        self._tick("executescript")
        return self._conn.executescript(sql)

    def commit(self) -> None:
        self._tick("commit")
        self._conn.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __enter__(self) -> FaultyConnection:
        self._conn.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._conn.__exit__(*exc)


def _inject_io(spec: str, db: str, mark: str | None) -> None:
    at_s, _, mode = spec.partition(":")
    at, forever = int(at_s), mode == "forever"
    real_connect = sqlite3.connect
    target = os.path.realpath(db)

    def connect(database: Any, *args: Any, **kwargs: Any) -> Any:
        conn = real_connect(database, *args, **kwargs)
        name = str(database)
        if not name.startswith("file:") and os.path.realpath(name) == target:
            return FaultyConnection(conn, at, forever, Path(mark) if mark else None)
        return conn

    sqlite3.connect = connect


def main() -> None:
    if offset := os.environ.get("GUANJIA_CHAOS_CLOCK_OFFSET_S"):
        _shift_clock(float(offset))
    if spec := os.environ.get("GUANJIA_CHAOS_IO_FAULT"):
        _inject_io(spec, os.environ["GUANJIA_CHAOS_IO_DB"], os.environ.get("GUANJIA_CHAOS_IO_MARK"))
    sys.argv = ["edge", *sys.argv[1:]]
    runpy.run_module("edge", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
