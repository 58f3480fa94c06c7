"""Two pick nodes of one warehouse, through the real sync path: only the lease holder picks.

Hub (API, ingest, downlink) and two edge nodes (store, pick API) are the real ones; what
joins them is the sync agent's work done by hand: the node's outbox encoded as a batch
and applied by ingest, the hub's downlink encoded as a DownBatch and applied by the node.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import BinLevel, Node, SalesOrder, StockMovement, Task
from cloud.nodes import downlink
from cloud.seed import seed_demo
from cloud.sync.ingest import apply_batch
from edge.api.app import create_pick_app
from edge.api.operators import Operator
from edge.pins import hash_pin
from edge.store.store import Store
from protocol import codec
from protocol.messages import DownBatch
from tests.cloud.conftest import PASSWORD, login, make_account

PICK1, PICK2 = "wh1-pick-1", "wh1-pick-2"
ORDERS = ("JY1300001", "JY1300002")  # the seed's: 1 and 2 phone cases, all in bin A-02
PHONE_CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"
PIN = "246810"


class Edge:
    """One pick node: its pick API, and its store as its sync agent sees it."""

    def __init__(self, client: TestClient, node: str) -> None:
        self.client, self.node = client, node
        self.store: Store = client.app.state.store  # type: ignore[attr-defined]
        r = client.post("/api/v1/login", json={"operator": "li.lei", "pin": PIN})
        assert r.status_code == 200, r.text
        self.h = {"Authorization": f"Bearer {r.json()['token']}"}

    def up(self, engine: Engine) -> None:
        rows = self.store.pending(self.store.acked_through, 500, 1 << 20)
        if not rows:
            return
        data = codec.encode_batch(self.node, [body for _, body in rows])
        with transaction(session_factory(engine)) as s:
            result = apply_batch(s, codec.decode_batch(data, self.node), datetime.now(UTC))
        self.store.mark_acked(result.acked_through)

    def down(self, engine: Engine) -> None:
        with session_factory(engine)() as s:
            node = s.get(Node, self.node)
            assert node is not None
            while self.store.down_applied < node.down_head:
                batch = downlink.downlink_after(s, node, self.store.down_applied)
                self.store.apply_down(codec.decode(DownBatch, codec.encode(batch)))

    def start(self, wave: str) -> Any:
        return self.client.post(f"/api/v1/waves/{wave}/start", headers=self.h)

    def scan(self, barcode: str) -> Any:
        r = self.client.post("/api/v1/scan", headers=self.h, json={"barcode": barcode})
        assert r.status_code == 200, r.text
        return r.json()

    def pick_all(self) -> Any:
        """Walk the wave: each stop's bin, then its item as many times as it asks."""
        while stop := self.client.get("/api/v1/picks/current", headers=self.h).json()["stop"]:
            barcode = self.store.conn.execute(
                "SELECT barcode FROM barcode WHERE sku_code = ? ORDER BY barcode",
                (stop["sku_code"],),
            ).fetchone()[0]
            self.scan(stop["bin"])
            for _ in range(stop["remaining"]):
                last = self.scan(barcode)
        return last

    def picked(self) -> list[dict[str, Any]]:
        rows = self.store.conn.execute("SELECT body FROM outbox ORDER BY seq").fetchall()
        events = [orjson.loads(r[0]) for r in rows]
        return [e for e in events if e["type"] == "order.picked"]


@pytest.fixture
def world(app_client: TestClient, tmp_path: Path) -> Iterator[tuple[Any, Engine, dict[str, Edge]]]:
    app: Any = app_client.app
    with app.state.sessions() as s, s.begin():
        made = seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[PICK1, PICK2])
    hub = {
        "client": app_client,
        "admin": login(app_client, "admin", account="demo"),
        "lead": make_account(
            app_client, "demo", role="warehouse_lead", account_id=int(made["account_id"])
        ),
    }
    operators = [Operator(id="li.lei", pin_hash=hash_pin(PIN, scheme="scrypt"))]
    with ExitStack() as stack:
        edges = {}
        for node in (PICK1, PICK2):
            # A hand is slower than the double-read window: each reading a second later.
            ticks = iter(range(1_790_000_000_000, 1_800_000_000_000, 1000))
            pick = create_pick_app(
                tmp_path / f"{node}.db",
                node,
                operators,
                warehouse="WH1",
                wall_ms=lambda ticks=ticks: next(ticks),
            )
            edge = Edge(stack.enter_context(TestClient(pick)), node)
            edge.up(app.state.engine)  # its node.started: the hub learns it runs a pick station
            edge.down(app.state.engine)
            edges[node] = edge
        yield hub, app.state.engine, edges


def _stock(engine: Engine) -> tuple[int, int]:
    with session_factory(engine)() as s:
        level = s.execute(
            select(BinLevel.qty).where(BinLevel.bin_code == "A-02", BinLevel.sku_code == PHONE_CASE)
        ).scalar_one()
        picks = s.execute(select(func.count()).where(StockMovement.kind == "pick")).scalar_one()
    return level, picks


def test_only_the_lease_holder_starts_the_wave_and_a_lead_moves_it(
    world: tuple[Any, Engine, dict[str, Edge]],
) -> None:
    hub, engine, edges = world
    client = hub["client"]
    for no in ORDERS:
        r = client.post(f"/api/v1/orders/{no}/release", headers=hub["admin"], json={"wave": "W-1"})
        assert r.status_code == 200, r.text
    for edge in edges.values():
        edge.down(engine)
    chosen = PICK1 if f"pick node {PICK1}" in r.json()["history"][-1]["reason"] else PICK2
    holder = edges[chosen]
    other = edges[PICK2 if holder.node == PICK1 else PICK1]

    # Both nodes have both orders (offline, each could start a wave): only the holder may.
    listed = other.client.get("/api/v1/waves", headers=other.h).json()
    assert [w["wave"] for w in listed] == []
    refused = other.start("W-1")
    assert refused.status_code == 409
    assert f"wave W-1 is leased to pick node {holder.node}" in refused.json()["detail"]
    assert holder.start("W-1").status_code == 200

    # The holder dies mid-wave. A lead moves both orders to the other node.
    for no in ORDERS:
        r = client.post(
            f"/api/v1/orders/{no}/pick-node",
            headers=hub["lead"],
            json={"node": other.node, "reason": f"{holder.node} is dead"},
        )
        assert r.status_code == 200, r.text
    other.down(engine)
    level, picks = _stock(engine)
    assert other.start("W-1").status_code == 200
    assert other.pick_all()["kind"] == "wave.done"
    other.up(engine)
    with session_factory(engine)() as s:
        statuses = s.execute(
            select(SalesOrder.status).where(SalesOrder.order_no.in_(ORDERS))
        ).scalars()
        assert set(statuses) == {"picked"}
    booked = _stock(engine)
    lines = sum(len(e["payload"]["lines"]) for e in other.picked())
    assert booked == (level - 3, picks + lines)  # three phone cases off A-02, each line once

    # The old holder comes back: its wave no longer holds the orders; nothing is picked twice.
    holder.down(engine)
    back = holder.scan("A-02")
    assert [a["kind"] for a in back["alerts"]] == ["order.do_not_ship", "order.do_not_ship"]
    assert back["state"] == "done"
    assert holder.picked() == []
    holder.up(engine)
    assert _stock(engine) == booked
    with session_factory(engine)() as s:
        conflicts = select(func.count()).where(Task.kind == "pick_lease_conflict")
        assert s.execute(conflicts).scalar_one() == 0
