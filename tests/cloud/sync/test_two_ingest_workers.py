"""Two hub ingest workers on one database and one broker, many nodes (docs/sync.md,
"Partitions"; docs/deploy/hub.md): the nodes' partitions are shared out, so each node's
batches reach one worker in order (no gap, no resend), both workers carry a part of the
load, and when one is killed the other takes its partitions over and nothing is lost.

Real parts: the session's Mosquitto, the test database (PostgreSQL too when configured),
the light simulated nodes of the fan-in bench (simulators/bench/fleet.py: the real sync
protocol, go-back-N included). The one mock is the fault: the killed worker does not give
its partitions back, as a process killed with SIGKILL would not.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from cloud.db.engine import session_factory
from cloud.db.models import Event
from cloud.sync.worker import IngestWorker
from protocol import topics
from simulators.bench.fleet import Fleet, FleetConfig
from simulators.broker import PrivateBroker
from tests.support import wait
from tests.sync.harness import ingest_in_thread

pytestmark = pytest.mark.e2e

NODES = 48
#: Short leases so the test's take-over comes within seconds (production: 5 s / 1 s).
LEASE: dict[str, Any] = {"ingest_lease_s": 1.5, "ingest_lease_tick_s": 0.25}
ALL = frozenset(range(topics.PARTITIONS))


def _stored(engine: Engine) -> dict[str, tuple[int, int]]:
    """Per node: (events stored, highest seq)."""
    with session_factory(engine)() as s:
        rows = s.execute(
            select(Event.node_id, func.count(), func.max(Event.seq)).group_by(Event.node_id)
        ).all()
    return {node: (int(n), int(top)) for node, n, top in rows}


def _settled(*workers: IngestWorker) -> bool:
    held = [w.stats.partitions for w in workers]
    return sum(len(h) for h in held) == topics.PARTITIONS and all(held)


def test_two_ingest_workers_split_the_nodes_and_survive_a_kill(
    broker: PrivateBroker, engine: Engine
) -> None:
    # Go-back-N after 1 s without progress, as a node whose hub died would do after 10 s.
    cfg = FleetConfig(
        port=broker.port, rate=10, duration=6, retry_s=1.0, status_s=2, drain_timeout_s=60
    )
    fleet = Fleet("two-w", NODES, cfg)
    with contextlib.ExitStack() as stack:
        # As deployed (docs/deploy/hub.md): one share group, for hellos and older nodes.
        w1 = stack.enter_context(ingest_in_thread(engine, broker.port, "hub", "ing-1", **LEASE))
        second = contextlib.ExitStack()
        w2 = second.enter_context(ingest_in_thread(engine, broker.port, "hub", "ing-2", **LEASE))
        stack.callback(second.close)
        wait(lambda: _settled(w1, w2), 20, "the two workers to share the partitions")
        assert not w1.stats.partitions & w2.stats.partitions
        before_kill: dict[str, int] = {}

        def kill() -> None:
            before_kill.update(
                w1=w1.stats.events, w2=w2.stats.events, gaps=w1.stats.gaps + w2.stats.gaps
            )
            # SIGKILL gives nothing back: the lease must run out (the fault injected).
            w2._release_partitions = lambda: None  # type: ignore[method-assign]
            second.close()

        killer = threading.Timer(3.0, kill)
        killer.start()
        try:
            result = fleet.run()
        finally:
            killer.cancel()
        assert before_kill, "the kill came during the writing"

        # Before the kill: both carried a part, and no batch came out of order.
        assert before_kill["gaps"] == 0
        total = before_kill["w1"] + before_kill["w2"]
        assert min(before_kill["w1"], before_kill["w2"]) > total * 0.2, before_kill
        # After it: the living worker took over every partition.
        wait(lambda: w1.stats.partitions == ALL, 10, "worker 1 to take every partition")

        # Every event of every node stored, once: per node count == highest seq == written.
        written = {sim.node: sim.last_seq for sim in fleet.nodes}
        assert result["left_unacked"] == 0
        stored = _stored(engine)
        assert stored == {node: (seq, seq) for node, seq in written.items()}
        assert sum(written.values()) == result["written_total"]
