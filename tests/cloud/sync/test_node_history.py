"""The hub's history of each node's backlog, oldest unacked age and lag (cloud/nodes/history.py):
written where the node's status is recorded, one sample a minute at most, pruned beyond the
retention, and read through ``GET /api/v1/nodes/{id}/history`` by the node's account only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Node, NodeSample
from cloud.nodes import history, ownership
from cloud.settings import Settings
from cloud.sync.ingest import hello
from cloud.sync.worker import IngestWorker
from protocol.messages import NodeState
from tests.cloud.conftest import make_account

NODE = "wh1-pack-1"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def state(backlog: int, online: bool = True) -> NodeState:
    if not online:
        return NodeState(node=NODE, online=False)
    return NodeState(
        node=NODE,
        online=True,
        epoch=1,
        last_seq=backlog,
        acked_through=0,
        backlog=backlog,
        oldest_unacked_age_s=backlog / 2,
    )


def rows(engine: Engine) -> list[tuple[datetime, bool, int | None, float | None]]:
    with session_factory(engine)() as s:
        return [
            tuple(r)  # type: ignore[misc]
            for r in s.execute(
                select(
                    NodeSample.at,
                    NodeSample.online,
                    NodeSample.backlog,
                    NodeSample.oldest_unacked_age_s,
                ).order_by(NodeSample.at)
            )
        ]


def worker(engine: Engine) -> IngestWorker:
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        hello(s, NODE, 0, T0)
    return IngestWorker(Settings(), sessions)


def test_one_sample_a_minute_from_statuses_every_ten_seconds(engine: Engine) -> None:
    w = worker(engine)
    for i in range(12):  # 12:00:00 … 12:01:50, as a node's default status_interval_s
        w._presence(state(i + 1), now=T0 + timedelta(seconds=10 * i))
    assert rows(engine) == [(T0, True, 1, 0.5), (T0 + timedelta(minutes=1), True, 7, 3.5)]


def test_a_status_within_the_minute_writes_nothing_to_the_history(engine: Engine) -> None:
    """No write amplification: a status that is not due touches no sample (not even a read)."""
    w = worker(engine)
    w._presence(state(1), now=T0)
    seen: list[str] = []

    def spy(conn, cursor, statement, params, context, many) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", spy)
    try:
        w._presence(state(2), now=T0 + timedelta(seconds=30))
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert seen and not [q for q in seen if "node_sample" in q], seen
    assert rows(engine) == [(T0, True, 1, 0.5)]


def test_going_offline_within_the_minute_overwrites_its_sample(engine: Engine) -> None:
    w = worker(engine)
    w._presence(state(4), now=T0)
    w._presence(state(0, online=False), now=T0 + timedelta(seconds=20))
    assert rows(engine) == [(T0, False, None, None)]
    w._presence(state(3), now=T0 + timedelta(seconds=40))  # back within the minute
    assert rows(engine) == [(T0, True, 3, 1.5)]


def test_samples_beyond_the_retention_are_pruned_once_an_hour(engine: Engine) -> None:
    w = worker(engine)  # retention: 14 days (Settings' default)
    sessions = session_factory(engine)
    old, kept = T0 - timedelta(days=15), T0 - timedelta(days=13)
    w._presence(state(1), now=T0)  # the node's first sample: it has none older to prune
    with transaction(sessions) as s:
        for at in (old, kept):
            s.add(NodeSample(node_id=NODE, at=at, online=True, backlog=9))
    w._presence(state(1), now=T0 + timedelta(minutes=5))  # same hour: no prune
    assert [r[0] for r in rows(engine)] == [old, kept, T0, T0 + timedelta(minutes=5)]
    w._presence(state(1), now=T0 + timedelta(hours=1))  # the next hour: pruned
    assert [r[0] for r in rows(engine)] == [
        kept,
        T0,
        T0 + timedelta(minutes=5),
        T0 + timedelta(hours=1),
    ]
    with sessions() as s:
        assert s.get_one(Node, NODE).sampled_at == T0 + timedelta(hours=1)
    with sessions() as s:  # all nodes' samples at once (rolled back: not committed)
        assert history.prune(s, T0 + timedelta(days=30)) == 4


def test_buckets_keep_the_worst_of_each_period() -> None:
    s = [
        history.Sample(T0, True, 3, 1.0, 100),
        history.Sample(T0 + timedelta(minutes=5), False, None, None, None),
        history.Sample(T0 + timedelta(minutes=9), True, 7, 0.5, 50),
        history.Sample(T0 + timedelta(minutes=12), True, 1, 0.1, None),
    ]
    got = history.buckets(s, T0, timedelta(minutes=10))
    assert got == [
        history.Sample(T0, False, 7, 1.0, 100),
        history.Sample(T0 + timedelta(minutes=10), True, 1, 0.1, None),
    ]


def test_history_route_per_account(client: TestClient) -> None:
    app = client.app
    sessions = app.state.sessions  # type: ignore[attr-defined]
    mine = make_account(client, "seller-a")
    theirs = make_account(client, "seller-b")
    picker = make_account(client, "seller-p", role="picker")
    with sessions() as s, s.begin():
        ownership.enroll(s, NODE, "seller-a", "test", T0)
    w = IngestWorker(Settings(), sessions)
    with transaction(sessions) as s:
        hello(s, NODE, 0, T0)
    now = datetime.now(UTC)
    w._presence(state(5), now=now - timedelta(hours=30))
    w._presence(state(6), now=now - timedelta(hours=2))
    w._presence(state(7), now=now - timedelta(minutes=3))
    url = f"/api/v1/nodes/{NODE}/history"
    r = client.get(url, headers=mine)
    assert r.status_code == 200, r.text
    assert [x["backlog"] for x in r.json()] == [6, 7]  # the last 24 h by default
    since = (now - timedelta(days=2)).isoformat()
    r = client.get(url, params={"since": since}, headers=mine)
    assert [x["backlog"] for x in r.json()] == [5, 6, 7]
    assert set(r.json()[0]) == {"at", "online", "backlog", "oldest_unacked_age_s", "sync_lag_ms"}
    naive = (now - timedelta(hours=1)).replace(tzinfo=None).isoformat()  # read as UTC
    assert [
        x["backlog"] for x in client.get(url, params={"since": naive}, headers=mine).json()
    ] == [7]
    # another account's node and no node at all: one 404; bad input: 422; no scope: 403
    other = client.get(url, headers=theirs)
    none = client.get("/api/v1/nodes/no-such-node/history", headers=mine)
    assert (other.status_code, none.status_code) == (404, 404)
    assert other.json() == none.json()
    assert client.get(url, params={"since": "yesterday"}, headers=mine).status_code == 422
    assert client.get(url, headers=picker).status_code == 403


def test_statuses_of_several_nodes_in_one_batch_are_one_upsert(engine: Engine) -> None:
    other = "wh1-pick-9"
    w = worker(engine)
    with transaction(session_factory(engine)) as s:
        hello(s, other, 0, T0)
    seen: list[str] = []

    def spy(conn, cursor, statement, params, context, many) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", spy)
    try:
        w._presence(state(2), state(3).model_copy(update={"node": other}), now=T0)
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert len([q for q in seen if "node_sample" in q]) == 1
    with session_factory(engine)() as s:
        got = s.execute(select(NodeSample.node_id, NodeSample.backlog).order_by(NodeSample.node_id))
        assert got.all() == [(NODE, 2), (other, 3)]
