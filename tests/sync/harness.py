"""Real processes for fault tests: an edge daemon, a cloud hub, a scan feeder.

Everything here talks over real sockets to a real Mosquitto; faults are real
signals (SIGKILL), not mocks. The edge daemon and the feeder are the chaos suite's
(simulators/chaos/procs.py, ``guanjia chaos``); the ingest in a thread is the tests' own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, func, select

from cloud.db.engine import session_factory
from cloud.db.models import Event, Node
from cloud.settings import Settings
from cloud.sync.worker import IngestWorker
from simulators.chaos.procs import NODE, EdgeDaemon, Feeder
from tests.support import wait

__all__ = ["NODE", "EdgeDaemon", "Feeder", "cloud_acked", "cloud_events", "ingest_in_thread"]


@contextlib.contextmanager
def ingest_in_thread(
    engine: Engine,
    mqtt_port: int,
    share_group: str | None = None,
    client_id: str = "cloud",
    **more: Any,
) -> Iterator[IngestWorker]:
    """The cloud's ingest worker on its own event loop in a thread (``more``: other settings)."""
    settings = Settings(
        mqtt_port=mqtt_port, mqtt_client_id=client_id, ingest_share_group=share_group, **more
    )
    worker = IngestWorker(settings, session_factory(engine))
    loop = asyncio.new_event_loop()
    task: asyncio.Task[None] | None = None

    def run() -> None:
        nonlocal task
        asyncio.set_event_loop(loop)
        task = loop.create_task(worker.run())
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait(lambda: worker.stats.connected, 10, "ingest connected")
    try:
        yield worker
    finally:
        loop.call_soon_threadsafe(lambda: task.cancel() if task else None)
        t.join(10)
        loop.close()


def cloud_acked(engine: Engine) -> int:
    with session_factory(engine)() as s:
        node = s.get(Node, NODE)
        return 0 if node is None else node.acked_through


def cloud_events(engine: Engine) -> tuple[int, int, dict[int, str]]:
    """(count, max seq, seq -> barcode of scans) as the cloud stored them."""
    with session_factory(engine)() as s:
        count, top = s.execute(
            select(func.count(), func.max(Event.seq)).where(Event.node_id == NODE)
        ).one()
        scans = {
            seq: payload["barcode"]
            for seq, payload in s.execute(
                select(Event.seq, Event.payload).where(
                    Event.node_id == NODE, Event.type == "scan.recorded"
                )
            )
        }
    return int(count), int(top or 0), scans
