"""Group commit never lets one node's failing batch hold the others back (fault injection)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cloud.db.engine import session_factory
from cloud.db.models import Event
from cloud.settings import Settings
from cloud.sync import ingest
from cloud.sync.worker import IngestWorker
from protocol import codec
from protocol.messages import Ack, ScanPayload, ScanRecorded


class RecordingClient:
    """Stands in for the broker connection: records what would be published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self.published.append((topic, payload))


def batch(node: str, seqs: range) -> codec.Batch:
    events = [
        codec.encode_event(
            ScanRecorded(
                node=node,
                epoch=1,
                seq=s,
                id=uuid.uuid4(),
                hlc=s,
                payload=ScanPayload(station="pack-1", barcode=f"B{s}", verdict="unknown"),
            )
        )
        for s in seqs
    ]
    return codec.decode_batch(codec.encode_batch(node, events), node)


def test_a_failing_node_is_isolated(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ingest._apply_one

    def flaky(node: Any, b: codec.Batch, *args: Any) -> ingest.ApplyResult:
        if b.node == "bad-node":
            raise RuntimeError("injected fault")
        return real(node, b, *args)

    monkeypatch.setattr(ingest, "_apply_one", flaky)
    worker = IngestWorker(Settings(), session_factory(engine))
    client = RecordingClient()
    groups = {
        "good-a": [batch("good-a", range(1, 4))],
        "bad-node": [batch("bad-node", range(1, 3))],
        "good-b": [batch("good-b", range(1, 2))],
    }
    asyncio.run(worker._on_batches(client, groups))  # type: ignore[arg-type]
    acks = {
        codec.decode(Ack, p).node: codec.decode(Ack, p).acked_through for _, p in client.published
    }
    assert acks == {"good-a": 3, "good-b": 1}  # no ack for the failed node: it resends
    assert worker.stats.failed == 1
    with session_factory(engine)() as s:
        stored = sorted(s.execute(select(Event.node_id, Event.seq)).all())
    assert stored == [("good-a", 1), ("good-a", 2), ("good-a", 3), ("good-b", 1)]
