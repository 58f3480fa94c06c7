"""Two ingest workers and one node's stream: the node's batches go to the worker that
leases its partition (docs/sync.md, "Partitions"), all of them, in order, and every
(node, seq) is applied exactly once (on PostgreSQL when configured). Many nodes over two
workers, both taking part: tests/cloud/sync/test_two_ingest_workers.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from simulators.broker import PrivateBroker
from tests.support import wait
from tests.sync.harness import EdgeDaemon, Feeder, cloud_acked, cloud_events, ingest_in_thread

pytestmark = pytest.mark.e2e


def test_one_nodes_stream_goes_to_one_of_two_workers_exactly_once(
    broker: PrivateBroker, engine: Engine, tmp_path: Path
) -> None:
    edge = EdgeDaemon(tmp_path, broker.port, retry_s=0.3)
    with (
        ingest_in_thread(engine, broker.port, share_group="ingest", client_id="cloud-w1") as w1,
        ingest_in_thread(engine, broker.port, share_group="ingest", client_id="cloud-w2") as w2,
    ):
        try:
            # Shared out before the node comes: during a hand-over both receive a partition.
            wait(
                lambda: (
                    len(w1.stats.partitions) + len(w2.stats.partitions) == 64
                    and bool(w1.stats.partitions and w2.stats.partitions)
                ),
                30,
                "the partitions shared",
            )
            edge.start()
            with Feeder(edge.scanner_port, interval=0.001):
                time.sleep(3)
            seen = [-1]

            def settled() -> bool:
                last = edge.last_seq()
                ok = last == seen[0] and cloud_acked(engine) == last
                seen[0] = last
                time.sleep(0 if ok else 0.3)
                return ok

            wait(settled, 60, "the cloud to ack everything")
        finally:
            edge.stop()
        count, top, scans = cloud_events(engine)
        assert count == top == seen[0]
        assert scans == edge.scans()
        # One node, one partition, one worker: the other applied none of it, and the one
        # that did never saw its batches out of order (on one shared subscription both
        # took turns and asked for resends at every gap).
        assert sorted((w1.stats.events, w2.stats.events)) == [0, count], (w1.stats, w2.stats)
        assert w1.stats.gaps == w2.stats.gaps == 0
