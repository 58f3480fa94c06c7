"""``python -m cloud.bench.ingest_cost [--database-url URL] [--nodes 2000] [--group 500]``: the
hub's CPU per ingested event in small batches, in process, without the broker.

The fan-in's shape (``guanjia bench fanin``: 2,000 nodes × 5 events/s, a status per node
every 10 s): groups of ``--group`` messages, each a batch of ``--events`` events from a
different node, with one status for every 50 batches, decoded (``Group.add``) and applied
through the ingest worker's own ``_apply_group``; acks are handed to a stand-in for paho's
client that keeps them. Prints CPU (``time.process_time``: every thread of this process,
the database thread included; the PostgreSQL server's own CPU is not counted) per event
for ``--rounds`` rounds. Runs against a checkout without this file too
(``PYTHONPATH=/other/checkout python cloud/bench/ingest_cost.py``), for a before figure.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloud.bench.api import private_database
from cloud.db.engine import make_engine, migrate, session_factory, transaction
from cloud.settings import Settings
from cloud.sync.group import Group
from cloud.sync.ingest import hellos
from cloud.sync.worker import IngestWorker
from protocol import codec, topics
from protocol.hlc import pack
from protocol.messages import NodeState, ScanPayload, ScanRecorded


class _Info:
    rc = 0

    def is_published(self) -> bool:
        return True


class _Paho:
    def __init__(self) -> None:
        self.sent = 0

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> _Info:
        self.sent += 1
        return _Info()


class _Client:
    def __init__(self) -> None:
        self._client = _Paho()


def _messages(
    ids: list[str], seqs: dict[str, int], group: int, events: int
) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    for k in range(group):
        node = ids[(seqs["_next"] + k) % len(ids)]
        first = seqs[node] + 1
        evs = [
            codec.encode_event(
                ScanRecorded(
                    node=node,
                    epoch=1,
                    seq=seq,
                    id=uuid.uuid4(),
                    hlc=pack(now_ms, 0),
                    payload=ScanPayload(station="pack-1", barcode=f"69{seq:011d}", verdict="ok"),
                )
            )
            for seq in range(first, first + events)
        ]
        seqs[node] = first + events - 1
        out.append(
            (topics.topic(node, topics.Channel.EVENTS), codec.encode_batch(node, evs, now_ms))
        )
        if k % 50 == 49:
            state = NodeState(
                node=node, online=True, epoch=1, last_seq=seqs[node], acked_through=0, backlog=0
            )
            out.append((topics.topic(node, topics.Channel.STATE), codec.encode(state)))
    seqs["_next"] += group
    return out


def run(url: str, nodes: int, group: int, events: int, rounds: int) -> list[float]:
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    ids = [f"f0-n{i:05d}" for i in range(nodes)]
    with transaction(sessions) as s:
        hellos(s, dict.fromkeys(ids, 0), datetime.now(UTC))
    worker = IngestWorker(Settings(), sessions)
    client: Any = _Client()
    seqs: dict[str, int] = dict.fromkeys(ids, 0)
    seqs["_next"] = 0
    out: list[float] = []

    async def one(msgs: list[tuple[str, bytes]]) -> None:
        taken = Group()
        for name, payload in msgs:
            taken.add(name, payload)
        await worker._apply_group(client, taken)

    async def main() -> None:
        for r in range(rounds + 1):
            rounds_msgs = [_messages(ids, seqs, group, events) for _ in range(10)]
            t = time.process_time()
            for msgs in rounds_msgs:
                await one(msgs)
            took = time.process_time() - t
            if r:  # the first round warms the caches
                out.append(took / (10 * group * events) * 1e6)

    asyncio.run(main())
    assert worker.stats.events == (rounds + 1) * 10 * group * events, worker.stats
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--database-url")
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--group", type=int, default=500)
    ap.add_argument("--events", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        private_database(args.database_url, Path(tmp)) as url,
    ):
        got = run(url, args.nodes, args.group, args.events, args.rounds)
    print(
        f"{args.group} batches of {args.events} a group: µs CPU per event by round "
        + " ".join(f"{x:.1f}" for x in got)
        + f"; min {min(got):.1f}"
    )


if __name__ == "__main__":
    main()
