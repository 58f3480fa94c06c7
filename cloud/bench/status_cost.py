"""``python -m cloud.bench.status_cost [--database-url URL] [--nodes 2000]``: what recording a
node's status costs the hub, per status, with the history sampling (cloud/nodes/history.py).

``--nodes`` known nodes each report six statuses a minute (edge/config.py
``status_interval_s``, 10 s): ``--rounds`` (12: two minutes) rounds, simulated time advancing
10 s a round, through the ingest worker's own ``_presence`` — batched as its drain loop hands
them over (``--batch`` states a transaction) and one by one (the worst case; 300 nodes).
Prints µs, SQL statements and writes per status, and the samples written; the statement
counts do not depend on the machine's load, the µs do. The same file runs against a checkout without sampling (``PYTHONPATH=/other/checkout
python cloud/bench/status_cost.py``) for the figure before: its ``_presence`` takes no
``now`` and writes no sample (docs/sync.md, "Node history").
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy import inspect as sa_inspect

from cloud.bench.api import private_database
from cloud.db.engine import make_engine, migrate, session_factory, transaction
from cloud.settings import Settings
from cloud.sync.ingest import hello
from cloud.sync.worker import IngestWorker
from protocol.messages import NodeState


def run(url: str, nodes: int, batch: int, rounds: int) -> dict[str, Any]:
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    ids = [f"bench-node-{i:05d}" for i in range(nodes)]
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    with transaction(sessions) as s:
        for n in ids:
            hello(s, n, 0, start)
    w = IngestWorker(Settings(), sessions)
    takes_now = "now" in inspect.signature(w._presence).parameters
    elapsed = cpu = 0.0
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]).lstrip().split()[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    for r in range(rounds):
        now = start + timedelta(seconds=10 * r + 1)
        states = [
            NodeState(
                node=n,
                online=True,
                epoch=1,
                last_seq=r,
                acked_through=0,
                backlog=r,
                oldest_unacked_age_s=float(r),
            )
            for n in ids
        ]
        t, c = time.perf_counter(), time.process_time()
        for i in range(0, nodes, batch):
            part = states[i : i + batch]
            if takes_now:
                w._presence(*part, now=now)  # type: ignore[call-arg, unused-ignore]
            else:
                w._presence(*part)
        elapsed += time.perf_counter() - t
        cpu += time.process_time() - c
    event.remove(engine, "before_cursor_execute", count)
    samples = 0
    if sa_inspect(engine).has_table("node_sample"):
        with sessions() as s:
            samples = s.execute(select(func.count()).select_from(text("node_sample"))).scalar_one()
    engine.dispose()
    total = nodes * rounds
    writes = sum(k in ("INSERT", "UPDATE", "DELETE") for k in statements)
    return {
        "us_per_status": elapsed / total * 1e6,
        # This process's CPU (the database server's not counted): what the hub spends.
        "cpu_us_per_status": cpu / total * 1e6,
        "samples": samples,
        "statements": len(statements) / total,
        "writes": writes / total,
    }


def interleaved(url: str, nodes: int, batch: int, pairs: int) -> tuple[float, float]:
    """Median µs per status of rounds with sampling off and with every status due (a new
    minute each round), alternating in one process and database so the machine's load
    weighs on both alike."""
    from cloud.nodes import history

    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    ids = [f"bench-node-{i:05d}" for i in range(nodes)]
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    with transaction(sessions) as s:
        for n in ids:
            hello(s, n, 0, start)
    w = IngestWorker(Settings(), sessions)
    due = history.due
    took: dict[bool, list[float]] = {False: [], True: []}
    for p in range(pairs):
        for sampling in (False, True):
            now = start + timedelta(minutes=2 * p + sampling, seconds=1)
            history.due = due if sampling else (lambda *_: False)
            states = [
                NodeState(node=n, online=True, epoch=1, last_seq=p, acked_through=0, backlog=p)
                for n in ids
            ]
            t = time.perf_counter()
            for i in range(0, nodes, batch):
                w._presence(*states[i : i + batch], now=now)
            took[sampling].append((time.perf_counter() - t) / nodes * 1e6)
    history.due = due
    engine.dispose()
    return statistics.median(took[False]), statistics.median(took[True])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--database-url")
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument(
        "--interleaved",
        type=int,
        metavar="PAIRS",
        help="instead: PAIRS rounds without sampling and with every status due, alternating",
    )
    args = ap.parse_args()
    if args.interleaved:
        with (
            tempfile.TemporaryDirectory() as tmp,
            private_database(args.database_url, Path(tmp)) as url,
        ):
            off, due = interleaved(url, args.nodes, args.batch, args.interleaved)
        print(
            f"{args.nodes} nodes, {args.batch} a transaction, median of {args.interleaved} "
            f"rounds: {off:.0f} µs per status without a sample, {due:.0f} µs with one; a "
            f"status every 10 s (one in six due): {off + (due - off) / 6:.0f} µs"
        )
        return
    for batch, nodes in ((args.batch, args.nodes), (1, min(args.nodes, 300))):
        with (
            tempfile.TemporaryDirectory() as tmp,
            private_database(args.database_url, Path(tmp)) as url,
        ):
            got = run(url, nodes, batch, args.rounds)
        print(
            f"{nodes} nodes × {args.rounds} statuses 10 s apart, {batch} a transaction: "
            f"{got['us_per_status']:.0f} µs ({got['cpu_us_per_status']:.0f} µs of this process's CPU), {got['statements']:.2f} statements "
            f"({got['writes']:.2f} writes) per status; {got['samples']} samples written"
        )


if __name__ == "__main__":
    main()
