"""Clock suspicion end to end: real edge stores and sync agents, a real broker, the hub.

Each batch says when the node sent it (``sent_ms``), and the hub judges the node's clock by
that, not by how old each event is when it arrives (issue 19: after a 15-minute partition
7,270 of 8,000 events were flagged ``clock_suspect``). Wall clocks are the stores'
injectable ones; the hub's is the real one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from sqlalchemy import Engine, select

from cloud.db.engine import session_factory
from cloud.db.models import Event
from cloud.settings import Settings
from cloud.sync.worker import IngestWorker
from edge.config import MqttSection, SyncSection
from edge.store.store import Store
from edge.sync import SyncAgent
from protocol.messages import ScanPayload
from simulators.broker import PrivateBroker
from tests.support import run_bounded, stop_tasks, until

MINUTE_MS = 60_000
SCANS = 30


def test_late_events_are_not_suspect_and_a_wrong_clock_is(
    broker: PrivateBroker, engine: Engine, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:6]
    # Per node, the wall clock's offset from the real one while its scans are written,
    # then while it syncs: "late" wrote them 20 minutes ago (a partition) and syncs with
    # a right clock; "fast" and "slow" are 6 minutes off throughout (the bound is 5).
    plan = {
        f"late-{run}": (-20 * MINUTE_MS, 0),
        f"fast-{run}": (6 * MINUTE_MS, 6 * MINUTE_MS),
        f"slow-{run}": (-6 * MINUTE_MS, -6 * MINUTE_MS),
    }
    offsets = {node: [written] for node, (written, _) in plan.items()}
    stores: dict[str, Store] = {}
    for node in plan:
        off = offsets[node]
        store = Store(
            tmp_path / f"{node}.db", node, wall_ms=lambda off=off: time.time_ns() // 10**6 + off[0]
        )
        store.start_epoch("test", "demo")
        for i in range(SCANS):
            with store.atomic():
                store.record_scan(
                    ScanPayload(station="s", barcode=f"B{i}", sku_code=None, verdict="unknown")
                )
        offsets[node][0] = plan[node][1]  # the link is back: "late"'s clock was right all along
        stores[node] = store
    agents = [
        SyncAgent(store, MqttSection(port=broker.port), SyncSection(), software="test")
        for store in stores.values()
    ]
    worker = IngestWorker(
        Settings(mqtt_port=broker.port, mqtt_client_id=f"cloud-{run}"), session_factory(engine)
    )

    async def main() -> None:
        tasks = [asyncio.create_task(worker.run())] + [asyncio.create_task(a.run()) for a in agents]
        try:
            await until(
                lambda: all(s.backlog() == 0 for s in stores.values()), 30, "every node synced"
            )
        finally:
            await stop_tasks(tasks)

    run_bounded(main())
    got: dict[str, list[int]] = {node: [0, 0] for node in plan}
    with session_factory(engine)() as s:
        for node, suspect in s.execute(select(Event.node_id, Event.clock_suspect)):
            got[node][0] += 1
            got[node][1] += suspect
    n = SCANS + 1  # the scans and the node's start
    assert got == {f"late-{run}": [n, 0], f"fast-{run}": [n, n], f"slow-{run}": [n, n]}
