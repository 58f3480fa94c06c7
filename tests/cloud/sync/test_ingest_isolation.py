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
from tests.support.mqtt_fakes import RecordingClient


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


def batch_of(node: str, ids: list[uuid.UUID], first_seq: int = 1) -> codec.Batch:
    events = [
        codec.encode_event(
            ScanRecorded(
                node=node,
                epoch=1,
                seq=first_seq + k,
                id=event_id,
                hlc=first_seq + k,
                payload=ScanPayload(station="pack-1", barcode=f"B{k}", verdict="unknown"),
            )
        )
        for k, event_id in enumerate(ids)
    ]
    return codec.decode_batch(codec.encode_batch(node, events), node)


def _acks(client: RecordingClient) -> dict[str, Ack]:
    return {codec.decode(Ack, p).node: codec.decode(Ack, p) for _, p in client.published}


def _parked(engine: Engine) -> dict[tuple[str, int], str]:
    from cloud.db.models import ParkedEvent

    with session_factory(engine)() as s:
        rows = s.execute(select(ParkedEvent.node_id, ParkedEvent.seq, ParkedEvent.reason))
        return {(n, q): r for n, q, r in rows}


@pytest.mark.parametrize("together", [True, False], ids=["in-a-group", "alone"])
def test_a_reused_event_id_is_parked_for_its_node_only(engine: Engine, together: bool) -> None:
    """Issue 19, finding 1: an event reusing an event id already stored (ids are unique
    across nodes) under a new seq raised an integrity error that escaped, so the hub's whole
    ingest session failed and reconnected, the batch was never parked or acked, and another
    seller's node's backlog grew while it was resent."""
    worker = IngestWorker(Settings(), session_factory(engine))
    taken = uuid.uuid4()
    asyncio.run(worker._on_batches(RecordingClient(), {"good-a": [batch_of("good-a", [taken])]}))  # type: ignore[arg-type]
    evil = batch_of("evil", [uuid.uuid4(), taken, uuid.uuid4()])
    good = batch_of("good-b", [uuid.uuid4(), uuid.uuid4()])
    client = RecordingClient()
    if together:
        asyncio.run(worker._on_batches(client, {"evil": [evil], "good-b": [good]}))  # type: ignore[arg-type]
    else:
        asyncio.run(worker._on_batches(client, {"evil": [evil]}))  # type: ignore[arg-type]
        asyncio.run(worker._on_batches(client, {"good-b": [good]}))  # type: ignore[arg-type]
    acks = _acks(client)
    assert (acks["evil"].acked_through, acks["evil"].parked) == (3, [2])
    assert (acks["good-b"].acked_through, acks["good-b"].parked) == (2, [])
    assert worker.stats.failed == 0 and worker.stats.refused == 1
    assert _parked(engine) == {("evil", 2): f"event id {taken} is already stored as good-a seq 1"}
    with session_factory(engine)() as s:
        stored = sorted(s.execute(select(Event.node_id, Event.seq)).all())
    assert stored == [("evil", 1), ("evil", 3), ("good-a", 1), ("good-b", 1), ("good-b", 2)]
    # Resent (the node did not see the ack): a duplicate now, nothing more parked or stored.
    again = RecordingClient()
    asyncio.run(worker._on_batches(again, {"evil": [evil]}))  # type: ignore[arg-type]
    assert _acks(again)["evil"].acked_through == 3 and len(_parked(engine)) == 1


def test_an_id_repeated_inside_one_batch_parks_the_second(engine: Engine) -> None:
    worker = IngestWorker(Settings(), session_factory(engine))
    twice = uuid.uuid4()
    client = RecordingClient()
    asyncio.run(worker._on_batches(client, {"n1": [batch_of("n1", [twice, uuid.uuid4(), twice])]}))  # type: ignore[arg-type]
    assert _acks(client)["n1"].parked == [3]
    assert _parked(engine) == {("n1", 3): f"event id {twice} repeats that of seq 1"}


def test_a_refusal_nothing_explains_parks_the_whole_batch(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the database refuses the batch (an integrity error) for a reason
    no event id explains; its events are parked with the database's words, the node acked."""
    from sqlalchemy.exc import IntegrityError

    real = ingest._insert_events

    def refusing(session: Any, rows: list[Any], now: Any) -> None:
        if rows:
            raise IntegrityError("INSERT", {}, Exception("CHECK constraint failed: injected"))
        real(session, rows, now)

    monkeypatch.setattr(ingest, "_insert_events", refusing)
    worker = IngestWorker(Settings(), session_factory(engine))
    client = RecordingClient()
    asyncio.run(worker._on_batches(client, {"n1": [batch_of("n1", [uuid.uuid4(), uuid.uuid4()])]}))  # type: ignore[arg-type]
    assert _acks(client)["n1"].parked == [1, 2]
    assert set(_parked(engine).values()) == {
        "the database refused the batch: CHECK constraint failed: injected"
    }


def test_a_failing_database_still_ends_the_session(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not content: a lost connection is not parked; the session reconnects, nothing acked."""
    from sqlalchemy.exc import OperationalError

    def down(*_: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(ingest, "_apply_one", down)
    worker = IngestWorker(Settings(), session_factory(engine))
    client = RecordingClient()
    with pytest.raises(OperationalError):
        asyncio.run(worker._on_batches(client, {"n1": [batch_of("n1", [uuid.uuid4()])]}))  # type: ignore[arg-type]
    assert client.published == [] and _parked(engine) == {}
