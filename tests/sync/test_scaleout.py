"""Two ingest workers share one node's stream through a shared subscription and
still apply every (node, seq) exactly once (on PostgreSQL when configured)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from simulators.broker import PrivateBroker
from tests.support import wait
from tests.sync.harness import EdgeDaemon, Feeder, cloud_acked, cloud_events, ingest_in_thread

pytestmark = pytest.mark.e2e


def test_two_workers_share_the_load_exactly_once(
    broker: PrivateBroker, engine: Engine, tmp_path: Path
) -> None:
    edge = EdgeDaemon(tmp_path, broker.port, retry_s=0.3)
    with (
        ingest_in_thread(engine, broker.port, share_group="ingest", client_id="cloud-w1") as w1,
        ingest_in_thread(engine, broker.port, share_group="ingest", client_id="cloud-w2") as w2,
    ):
        try:
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
        assert w1.stats.batches > 0, "worker 1 took part"
        assert w2.stats.batches > 0, "worker 2 took part"
