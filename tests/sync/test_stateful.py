"""A hypothesis state machine: batches duplicated, reordered, dropped and replayed in any
interleaving leave the cloud in the state of delivering each event once.

The channel between the edge and the cloud is modelled as a bag of batches the
rules may send (any range: fresh, overlapping, or a replay), copy, drop, and
deliver in any order. After every step the cloud must hold exactly events
``1..acked_through`` with the content the edge wrote; at the end the edge's own
recovery (resend from ``acked_through + 1``, what go-back-N does) must bring it
to every event exactly once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import create_engine, select
from sqlalchemy.pool import StaticPool

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Base, Event, Node
from cloud.sync.ingest import apply_batch
from protocol import codec
from protocol.hlc import pack
from protocol.messages import ScanPayload, ScanRecorded

NODE = "wh1-pack-1"
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def event(seq: int) -> bytes:
    return codec.encode_event(
        ScanRecorded(
            node=NODE,
            epoch=1,
            seq=seq,
            id=uuid.UUID(int=seq),
            hlc=pack(1_790_000_000_000 + seq, 0),
            payload=ScanPayload(station="pack-1", barcode=f"B{seq}", verdict="unknown"),
        )
    )


class SyncChannel(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        engine = create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        Base.metadata.create_all(engine)
        self.sessions = session_factory(engine)
        self.written: list[bytes] = []
        self.channel: list[bytes] = []
        self.acked = 0
        self.resend_requests = 0

    @rule(n=st.integers(1, 8))
    def write(self, n: int) -> None:
        start = len(self.written) + 1
        self.written.extend(event(s) for s in range(start, start + n))

    @precondition(lambda self: self.written)
    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        first = data.draw(st.integers(1, len(self.written)), label="first")
        last = data.draw(st.integers(first, min(len(self.written), first + 9)), label="last")
        self.channel.append(codec.encode_batch(NODE, self.written[first - 1 : last]))

    @precondition(lambda self: self.channel)
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        self.channel.append(data.draw(st.sampled_from(self.channel), label="dup"))

    @precondition(lambda self: self.channel)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        self.channel.pop(data.draw(st.integers(0, len(self.channel) - 1), label="drop"))

    @precondition(lambda self: self.channel)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        raw = self.channel.pop(data.draw(st.integers(0, len(self.channel) - 1), label="deliver"))
        self._apply(raw)

    def _apply(self, raw: bytes) -> None:
        with transaction(self.sessions) as s:
            result = apply_batch(s, codec.decode_batch(raw, NODE), NOW)
        assert result.acked_through >= self.acked, "the cumulative ack never goes back"
        self.acked = result.acked_through
        self.resend_requests += result.resend_from is not None

    @invariant()
    def cloud_holds_exactly_the_acked_prefix(self) -> None:
        if not hasattr(self, "sessions"):
            return
        with self.sessions() as s:
            rows = s.execute(select(Event.seq, Event.payload).order_by(Event.seq)).all()
            node = s.get(Node, NODE)
        assert [r.seq for r in rows] == list(range(1, self.acked + 1))
        assert all(r.payload["barcode"] == f"B{r.seq}" for r in rows)
        assert (node.acked_through if node else 0) == self.acked

    def teardown(self) -> None:
        if not hasattr(self, "sessions"):
            return
        # The edge's recovery: resend everything after the cloud's ack, in bounded batches.
        while self.acked < len(self.written):
            self._apply(codec.encode_batch(NODE, self.written[self.acked : self.acked + 10]))
        self.cloud_holds_exactly_the_acked_prefix()
        assert self.acked == len(self.written)


# max_examples comes from the active Hypothesis profile: 100 by default, fewer in make test-fast.
SyncChannel.TestCase.settings = settings(stateful_step_count=40, deadline=None)
TestSyncChannel = SyncChannel.TestCase
