"""How long a hub writer holds SQLite's write lock, with the WAL checkpoint inside COMMIT
(SQLite's automatic one, every 1,000 pages) and after letting go (cloud/db/sqlite_lock.py,
"Checkpoints outside the lock"), in one run, alternating.

``python -m cloud.bench.sqlite_checkpoint [--commits 3000] [--rounds 2]``: a fresh file per
form; each commit writes ~12 pages (10 rows of 1 KB and their index), about an API write's
10-20. Prints per form the lock hold per commit (p50 / p99 / max, ms) — what every writer
queued behind it waits — and the checkpoints run. Issue 20, docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from cloud.db import sqlite_lock
from cloud.db.engine import make_engine, session_factory, transaction


def _run(path: Path, commits: int, inside: bool) -> dict[str, float]:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    if inside:  # SQLite's own checkpoint, as before: inside the COMMIT, inside the lock

        @event.listens_for(engine, "connect")
        def _own(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA wal_autocheckpoint=1000")

    lock = sqlite_lock.write_lock(str(path), 30.0)
    holds: list[float] = []
    taken_at = 0.0
    acquire, release = lock.acquire, lock.release

    def timed_acquire() -> None:
        nonlocal taken_at
        acquire()
        taken_at = time.perf_counter()

    def timed_release() -> None:
        holds.append(time.perf_counter() - taken_at)
        release()

    lock.acquire, lock.release = timed_acquire, timed_release  # type: ignore[method-assign]
    saved = sqlite_lock.CHECKPOINT_COMMITS, sqlite_lock.CHECKPOINT_CHANGES
    if inside:
        sqlite_lock.CHECKPOINT_COMMITS = sqlite_lock.CHECKPOINT_CHANGES = 10**9
    try:
        sessions = session_factory(engine)
        with transaction(sessions) as s:
            s.execute(text("CREATE TABLE w (id INTEGER PRIMARY KEY, k TEXT UNIQUE, body BLOB)"))
        holds.clear()
        before = lock.checkpoints
        blob = os.urandom(1024)
        for i in range(commits):
            with transaction(sessions) as s:
                s.execute(
                    text("INSERT INTO w (k, body) VALUES (:k, :b)"),
                    [{"k": f"{i}-{j}", "b": blob} for j in range(10)],
                )
        ran = lock.checkpoints - before
        wal_mb = os.path.getsize(f"{path}-wal") / 1e6
    finally:
        sqlite_lock.CHECKPOINT_COMMITS, sqlite_lock.CHECKPOINT_CHANGES = saved
        lock.acquire, lock.release = acquire, release  # type: ignore[method-assign]
        engine.dispose()
    ms = sorted(h * 1000 for h in holds)
    return {
        "p50": statistics.median(ms),
        "p99": ms[int(len(ms) * 0.99) - 1],
        "max": ms[-1],
        "checkpoints": float(ran),
        "wal_mb": wal_mb,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commits", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for inside in (True, False):
                path = Path(tmp) / f"r{r}-{'inside' if inside else 'after'}.db"
                got = _run(path, args.commits, inside)
                form = "checkpoint inside COMMIT" if inside else "checkpoint after letting go"
                print(
                    f"round {r + 1}, {form}: lock hold per commit p50 {got['p50']:.2f} ms, "
                    f"p99 {got['p99']:.2f} ms, max {got['max']:.2f} ms; "
                    f"our checkpoints {got['checkpoints']:.0f}; WAL {got['wal_mb']:.1f} MB"
                )


if __name__ == "__main__":
    main()
