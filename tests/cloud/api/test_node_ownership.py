"""Nodes belong to the account that enrolled or claimed them (issue 13, finding 3).

Before: any account could ``PUT /nodes/{id}/assignment`` a node no one had assigned, one
that had already sent events included, and then read those events; the 409 "serves another
account" told which ids other sellers had; nothing undid a claim; and the API showed serial
ids of users, tasks and warehouses. Each test says which of those it pins down
(docs/sync.md, "Who owns a node").
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from cloud import tasks
from cloud.db.engine import make_engine, migrate, session_factory, transaction
from cloud.db.models import NodeAssignment, NodeOwner
from cloud.nodes import ownership
from cloud.sync.enroll_cli import node_app
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import ScanPayload, ScanRecorded
from tests.cloud.conftest import account_id_of, make_account

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
A_NODE = "a-pack-1"
GHOST = "no-such-node-1"


def _sessions(client: TestClient) -> Any:
    return client.app.state.sessions  # type: ignore[attr-defined]


def _send_event(client: TestClient, node: str, seq: int = 1) -> None:
    """The node sends one scan (as ingest applies it), so the hub has seen it."""
    ev = ScanRecorded(
        node=node,
        epoch=1,
        seq=seq,
        id=uuid.uuid4(),
        hlc=pack(int(NOW.timestamp() * 1000), 0),
        payload=ScanPayload(station=node, barcode="6901234567892", verdict="ok"),
    )
    with transaction(_sessions(client)) as s:
        apply_batch(s, Batch(node=node, events=(ev,)), NOW)


def _enroll(client: TestClient, node: str, account: str | None) -> ownership.Enrolled:
    with transaction(_sessions(client)) as s:
        return ownership.enroll(s, node, account, "operator", datetime.now(UTC))


@pytest.fixture
def two(app_client: TestClient) -> tuple[TestClient, dict[str, str], dict[str, str]]:
    """Accounts alpha and beta, one admin each and a warehouse each (W-A, W-B)."""
    a = make_account(app_client, "alpha")
    b = make_account(app_client, "beta")
    for who, code in ((a, "W-A"), (b, "W-B")):
        r = app_client.post("/api/v1/warehouses", headers=who, json={"code": code, "name": code})
        assert r.status_code == 201, r.text
    return app_client, a, b


def _same(r1: httpx.Response, r2: httpx.Response, *, own: str, ghost: str) -> None:
    """One answer for "another account's node" and "no node": status, headers, body."""
    assert r1.status_code == r2.status_code == 404
    assert r1.content == r2.content  # byte for byte
    assert own.encode() not in r1.content
    assert {k: v for k, v in r1.headers.items() if k != "date"} == {
        k: v for k, v in r2.headers.items() if k != "date"
    }


def test_b_cannot_claim_see_or_read_events_of_as_node(two: Any) -> None:
    client, a, b = two
    _enroll(client, A_NODE, "alpha")
    _send_event(client, A_NODE)
    assert client.put(
        f"/api/v1/nodes/{A_NODE}/assignment", headers=a, json={"warehouse": "W-A"}
    ).is_success

    put = client.put(f"/api/v1/nodes/{A_NODE}/assignment", headers=b, json={"warehouse": "W-B"})
    put_ghost = client.put(
        f"/api/v1/nodes/{GHOST}/assignment", headers=b, json={"warehouse": "W-B"}
    )
    _same(put, put_ghost, own=A_NODE, ghost=GHOST)
    assert "another account" not in put.text
    get = client.get(f"/api/v1/nodes/{A_NODE}", headers=b)
    _same(get, client.get(f"/api/v1/nodes/{GHOST}", headers=b), own=A_NODE, ghost=GHOST)
    rel = client.delete(f"/api/v1/nodes/{A_NODE}/assignment", headers=b)
    _same(
        rel,
        client.delete(f"/api/v1/nodes/{GHOST}/assignment", headers=b),
        own=A_NODE,
        ghost=GHOST,
    )
    assert client.get("/api/v1/events", headers=b, params={"node": A_NODE}).json() == []
    assert client.get("/api/v1/events", headers=b).json() == []
    assert A_NODE not in client.get("/api/v1/nodes", headers=b).text
    assert A_NODE not in client.get("/api/v1/ingest", headers=b).text
    # A's node is A's as before: assigned to W-A, its event A's to read.
    with _sessions(client)() as s:
        row = s.get(NodeAssignment, A_NODE)
        assert row is not None and row.account_id != _account_id(client, b)
    assert [e["seq"] for e in client.get("/api/v1/events", headers=a).json()] == [1]


def _account_id(client: TestClient, headers: dict[str, str]) -> int:
    return account_id_of(client, headers)


def test_a_node_that_sent_events_unenrolled_is_not_anyones_to_take(two: Any) -> None:
    """The squat of the finding: a node the hub has seen, never assigned, claimed by B by
    naming its id; B then read what it had sent. Only the default account (the single
    seller of an install without enrollment) has such nodes."""
    client, _a, b = two
    _send_event(client, "seen-node-1")
    r = client.put("/api/v1/nodes/seen-node-1/assignment", headers=b, json={"warehouse": "W-B"})
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": "no node with this id in your account"}
    assert client.get("/api/v1/events", headers=b, params={"node": "seen-node-1"}).json() == []
    with _sessions(client)() as s:
        assert s.get(NodeAssignment, "seen-node-1") is None
        assert s.get(NodeOwner, "seen-node-1") is None


def test_404s_take_about_the_same_time(two: Any) -> None:
    """No timing oracle: the foreign node and no node run the same lookup."""
    client, _a, b = two
    _enroll(client, A_NODE, "alpha")
    _send_event(client, A_NODE)

    def timed(call: Callable[[], httpx.Response]) -> float:
        t0 = time.perf_counter()
        assert call().status_code == 404
        return (time.perf_counter() - t0) * 1000

    for method, path, body in (
        ("GET", "/api/v1/nodes/{}", None),
        ("PUT", "/api/v1/nodes/{}/assignment", {"warehouse": "W-B"}),
    ):
        foreign: list[float] = []
        ghost: list[float] = []
        for _ in range(40):  # interleaved, so load on the machine hits both alike
            for node, out in ((A_NODE, foreign), (GHOST, ghost)):
                url = path.format(node)
                out.append(
                    timed(lambda m=method, u=url, j=body: client.request(m, u, headers=b, json=j))
                )
        f, g = statistics.median(foreign), statistics.median(ghost)
        # The same queries on both paths: medians within 2x (or 5 ms) of each other.
        assert abs(f - g) < max(5.0, min(f, g)), (path, f, g)


def test_claim_code_works_once_and_expires(two: Any) -> None:
    client, a, b = two
    enrolled = _enroll(client, "spare-1", None)
    code = enrolled.claim_code
    assert code is not None and len(code) == 19  # XXXX-XXXX-XXXX-XXXX
    with _sessions(client)() as s:
        row = s.get(NodeOwner, "spare-1")
        assert row is not None and row.account_id is None
        assert row.claim_hash == ownership.claim_hash(code) and code not in row.claim_hash
    # Waiting for its claim, the node is no one's: not even the default account reads it.
    _send_event(client, "spare-1")
    default = make_account(client, "default", account_id=1)
    assert client.get("/api/v1/events", headers=default, params={"node": "spare-1"}).json() == []
    assert client.get("/api/v1/nodes/spare-1", headers=default).status_code == 404

    wrong = client.post("/api/v1/nodes/claim", headers=b, json={"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ"})
    assert wrong.status_code == 404
    # Lower case and without dashes: the same code (typed from a label).
    r = client.post("/api/v1/nodes/claim", headers=b, json={"code": code.replace("-", "").lower()})
    assert r.status_code == 201, r.text
    assert r.json()["node_id"] == "spare-1"
    again = client.post("/api/v1/nodes/claim", headers=a, json={"code": code})
    assert again.status_code == 404 and again.content == wrong.content  # spent: no hint
    assert [e["node_id"] for e in client.get("/api/v1/events", headers=b).json()] == ["spare-1"]
    assert client.get("/api/v1/events", headers=a).json() == []
    assert client.put(
        "/api/v1/nodes/spare-1/assignment", headers=b, json={"warehouse": "W-B"}
    ).is_success

    # Expired: a code past its time is refused alike, and the node stays unclaimed.
    late = _enroll(client, "spare-2", None)
    with transaction(_sessions(client)) as s:
        row = s.get(NodeOwner, "spare-2")
        assert row is not None and row.claim_expires_at is not None
        row.claim_expires_at = datetime.now(UTC) - timedelta(seconds=1)
    expired = client.post("/api/v1/nodes/claim", headers=b, json={"code": late.claim_code})
    assert expired.status_code == 404 and expired.content == wrong.content
    with _sessions(client)() as s:
        assert s.get(NodeOwner, "spare-2").account_id is None  # type: ignore[union-attr]


def test_admin_releases_own_node_and_the_platform_transfers(two: Any) -> None:
    client, a, b = two
    _enroll(client, A_NODE, "alpha")
    _send_event(client, A_NODE)
    url = f"/api/v1/nodes/{A_NODE}/assignment"
    assert client.put(url, headers=a, json={"warehouse": "W-A"}).is_success
    r = client.delete(url, headers=a)
    assert r.status_code == 204, r.text
    again = client.delete(url, headers=a)
    assert again.status_code == 409 and "serves no warehouse" in again.text
    # Released, still A's: visible to A, reassignable by A only.
    assert client.get(f"/api/v1/nodes/{A_NODE}", headers=a).status_code == 200
    assert client.put(url, headers=b, json={"warehouse": "W-B"}).status_code == 404
    assert client.put(url, headers=a, json={"warehouse": "W-A"}).is_success

    with transaction(_sessions(client)) as s:
        done = ownership.transfer(s, A_NODE, "beta", "operator", datetime.now(UTC))
    assert (done.old_account, done.new_account, done.events) == ("alpha", "beta", 1)
    assert client.get(f"/api/v1/nodes/{A_NODE}", headers=a).status_code == 404
    assert client.get("/api/v1/events", headers=a).json() == []
    assert client.get(f"/api/v1/nodes/{A_NODE}", headers=b).status_code == 200
    with _sessions(client)() as s:
        assert s.get(NodeAssignment, A_NODE) is None  # A's warehouse no longer
    assert client.put(url, headers=b, json={"warehouse": "W-B"}).is_success


def test_enrollment_refuses_another_owner(two: Any) -> None:
    client, _a, _b = two
    _enroll(client, A_NODE, "alpha")
    assert _enroll(client, A_NODE, "alpha").claim_code is None  # again: nothing changes
    with pytest.raises(ownership.ConflictError, match="transfer"):
        _enroll(client, A_NODE, "beta")
    with pytest.raises(ownership.NotFoundError, match="no account"):
        _enroll(client, "n-2", "gamma")


def test_cli_enroll_records_the_owner_or_prints_a_claim_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    from cloud import accounts

    with transaction(session_factory(engine)) as s:
        accounts.create_account(s, "alpha", NOW)
        beta = accounts.create_account(s, "beta", NOW).id
    runner = CliRunner()
    d = str(tmp_path / "broker")
    env = {"GUANJIA_DATABASE_URL": url}
    res = runner.invoke(node_app, ["enroll", "n-1", "--dir", d, "--account", "alpha"], env=env)
    assert res.exit_code == 0, res.output
    assert "enrolled node n-1 for account alpha" in res.output and "claim code" not in res.output
    res = runner.invoke(node_app, ["enroll", "n-2", "--dir", d], env=env)
    assert res.exit_code == 0, res.output
    assert "claim code of node n-2:" in res.output
    res = runner.invoke(node_app, ["enroll", "n-3", "--dir", d, "--account", "nobody"], env=env)
    assert res.exit_code == 1 and "no account 'nobody'" in res.output
    assert not (tmp_path / "broker" / "issued" / "n-3.toml").exists()  # no credentials
    # A password rotation keeps the owner; another owner needs the platform's transfer.
    res = runner.invoke(node_app, ["enroll", "n-1", "--dir", d, "--rotate"], env=env)
    assert res.exit_code == 0 and "rotated" in res.output, res.output
    res = runner.invoke(
        node_app, ["enroll", "n-1", "--dir", d, "--rotate", "--account", "beta"], env=env
    )
    assert res.exit_code == 1 and "transfer" in res.output
    res = runner.invoke(node_app, ["transfer", "n-1", "--account", "beta"], env=env)
    assert res.exit_code == 0 and "alpha -> beta" in res.output, res.output
    res = runner.invoke(node_app, ["claim-code", "n-2"], env=env)
    assert res.exit_code == 0 and "claim code of node n-2:" in res.output
    res = runner.invoke(node_app, ["claim-code", "n-1"], env=env)
    assert res.exit_code == 1 and "does not wait for a claim" in res.output
    with session_factory(engine)() as s:
        owners = dict(s.execute(select(NodeOwner.node_id, NodeOwner.account_id)).all())
    assert owners == {"n-1": beta, "n-2": None}
    engine.dispose()


# --- ids -----------------------------------------------------------------------------


def test_b_cannot_enumerate_as_ids(two: Any) -> None:
    """Users, tasks and warehouses show random public ids: B's own ids say nothing of how
    many A made, and no neighbour of one of them is a real id."""
    client, a, b = two
    a_id = _account_id(client, a)
    b_id = _account_id(client, b)
    with transaction(_sessions(client)) as s:
        for n in range(3):
            tasks.open_task(s, a_id, "fact_conflict", f"A's {n}", NOW)
        tasks.open_task(s, b_id, "fact_conflict", "B's", NOW)
    b_task = client.get("/api/v1/tasks", headers=b).json()[0]["id"]
    b_user = client.get("/api/v1/users", headers=b).json()[0]["id"]
    b_wh = client.get("/api/v1/warehouses", headers=b).json()[0]["id"]
    for pid in (b_task, b_user, b_wh):
        assert isinstance(pid, str) and uuid.UUID(pid).version == 4
    a_tasks = [t["id"] for t in client.get("/api/v1/tasks", headers=a).json()]
    assert len(a_tasks) == 3 and b_task not in a_tasks
    # The old way in: B walks the counter around its own ids; every try is refused as
    # malformed (a number is not an id), and A's real ids are B's 404s.
    for n in range(1, 12):
        r = client.post(f"/api/v1/tasks/{n}/resolve", headers=b, json={"resolution": "x"})
        assert r.status_code == 422
        assert (
            client.patch(f"/api/v1/users/{n}", headers=b, json={"active": False}).status_code == 422
        )
    for t in a_tasks:
        r = client.post(f"/api/v1/tasks/{t}/resolve", headers=b, json={"resolution": "x"})
        assert r.status_code == 404
    a_user = client.get("/api/v1/users", headers=a).json()[0]["id"]
    assert (
        client.patch(f"/api/v1/users/{a_user}", headers=b, json={"active": False}).status_code
        == 404
    )
    assert client.post(
        f"/api/v1/tasks/{a_tasks[0]}/resolve", headers=a, json={"resolution": "ok"}
    ).is_success
    # Movements name their warehouse by code, not by its serial key.
    sku = {"sku_code": "B-1", "name": "b", "barcodes": ["6909999999990"]}
    assert client.put("/api/v1/skus/B-1", headers=b, json=sku).is_success
    receipt = {"warehouse": "W-B", "sku_code": "B-1", "qty": 1}
    assert client.post("/api/v1/stock/receipts", headers=b, json=receipt).is_success
    moves = client.get("/api/v1/stock/movements", headers=b).json()
    assert len(moves) == 1 and moves[0]["warehouse"] == "W-B" and "warehouse_id" not in moves[0]
