"""Nodes' statuses recorded as plain rows (cloud/sync/presence.py), on each database: what
each kind of status writes and keeps, and that no ORM node is loaded for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Node, NodeSample
from cloud.settings import Settings
from cloud.sync.ingest import hello
from cloud.sync.worker import IngestWorker
from protocol.messages import DeviceStatus, NodeState

T0 = datetime(2026, 12, 7, 12, 0, 5, tzinfo=UTC)


def _state(node: str, **kw: object) -> NodeState:
    return NodeState.model_validate({"node": node, "online": True, "epoch": 1} | kw)


def test_each_status_writes_what_it_says_and_keeps_the_rest(engine: Engine) -> None:
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        for n in ("p-full", "p-bare", "p-off", "p-twice"):
            hello(s, n, 0, T0 - timedelta(minutes=5))
    worker = IngestWorker(Settings(), sessions)
    full = {"last_seq": 9, "acked_through": 4, "backlog": 5, "oldest_unacked_age_s": 1.5}
    worker._presence(
        _state("p-full", software="edge 1.2", **full, alarm="sync stalled"),
        _state("p-bare", software="edge 1.1", **full),
        _state("p-off", software="edge 1.0", **full),
        _state("p-twice", **full),
        now=T0,
    )
    t1 = T0 + timedelta(seconds=10)
    devices = [DeviceStatus(name="zebra-sf", kind="printer", connected=False, errors=2)]
    worker._presence(
        _state("p-full", **(full | {"backlog": 0}), devices=devices),
        _state("p-bare"),  # online, no figures: the figures and software stay
        NodeState(node="p-off", online=False),  # the last will: offline, figures stay
        _state("p-twice", **(full | {"backlog": 7})),
        _state("p-twice", **(full | {"backlog": 8}), software="edge 2"),  # the later wins
        _state("p-unknown", **full),  # not enrolled: skipped
        now=t1,
    )
    with sessions() as s:
        got = {
            n.node_id: (n.online, n.software, n.backlog, n.last_seq, n.alarm, n.last_seen)
            for n in s.scalars(select(Node))
        }
        assert s.get_one(Node, "p-full").devices == [d.model_dump(mode="json") for d in devices]
        samples = s.execute(select(NodeSample.node_id, NodeSample.online, NodeSample.backlog)).all()
    assert got == {
        "p-full": (True, "edge 1.2", 0, 9, None, t1),
        "p-bare": (True, "edge 1.1", 5, 9, None, t1),
        "p-off": (False, "edge 1.0", 5, 9, None, t1),
        "p-twice": (True, "edge 2", 8, 9, None, t1),
    }
    # One sample a minute: the first status's, but a node gone offline within the minute
    # overwrites it, so the chart ends where the node went away.
    assert sorted(samples) == [
        ("p-bare", True, 5),
        ("p-full", True, 5),
        ("p-off", False, None),
        ("p-twice", True, 5),
    ]


def test_statuses_load_no_orm_node(engine: Engine) -> None:
    sessions = session_factory(engine)
    nodes = [f"p-load-{i}" for i in range(50)]
    with transaction(sessions) as s:
        for n in nodes:
            hello(s, n, 0, T0)
    loaded: list[object] = []

    def on_load(target: object, _context: object) -> None:
        loaded.append(target)

    event.listen(Node, "load", on_load)
    try:
        worker = IngestWorker(Settings(), sessions)
        worker._presence(*[_state(n, backlog=1, last_seq=1) for n in nodes], now=T0)
    finally:
        event.remove(Node, "load", on_load)
    assert loaded == []
    with Session(engine) as s:
        assert s.scalar(select(func.count()).where(Node.backlog == 1)) == 50
