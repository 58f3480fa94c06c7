"""Pick leases on the hub: one pick node per order, chosen at release, moved by a lead.

WH1 has two pick nodes and a pack node, each known by the ``node.started`` it reported.
Every refusal is checked to change nothing: the order, its history, its lease, the
downlink of every node.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import (
    BinLevel,
    Downlink,
    Event,
    OrderLog,
    PickLease,
    SalesOrder,
    StockMovement,
    Task,
)
from cloud.seed import seed_demo
from cloud.sync.ingest import apply_batch
from protocol.codec import Batch
from protocol.hlc import pack
from protocol.messages import (
    NodeStarted,
    NodeStartedPayload,
    OrderPicked,
    OrderPickedPayload,
    PickedLine,
)
from tests.cloud.conftest import PASSWORD, login, make_account

PICK1, PICK2, PACK = "wh1-pick-1", "wh1-pick-2", "wh1-pack-1"
PHONE_CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"  # the seed's: 80 in WH1 bin A-02
ORDER = "/api/v1/orders/{}"


def send(engine: Engine, node: str, seq: int, event: Any) -> None:
    """One event of ``node`` through ingest, as its sync agent would deliver it."""
    now = datetime.now(UTC)
    ev = event.model_copy(
        update={
            "node": node,
            "epoch": 1,
            "seq": seq,
            "id": uuid.uuid4(),
            "hlc": pack(int(now.timestamp() * 1000), 0),
        }
    )
    with transaction(session_factory(engine)) as s:
        apply_batch(s, Batch(node=node, events=(ev,)), now)


def started(kind: str) -> NodeStarted:
    payload = NodeStartedPayload(software="test", station_kind=kind)  # type: ignore[arg-type]
    return NodeStarted(node="x", epoch=1, seq=1, id=uuid.uuid4(), hlc=1, payload=payload)


def picked(order_no: str, version: int, qty: int) -> OrderPicked:
    payload = OrderPickedPayload(
        order_id=order_no,
        version=version,
        station="pick",
        lines=[PickedLine(line_id="1", sku_code=PHONE_CASE, qty=qty, bin="A-02")],
    )
    return OrderPicked(node="x", epoch=1, seq=1, id=uuid.uuid4(), hlc=1, payload=payload)


class Hub:
    def __init__(self, client: TestClient) -> None:
        app: Any = client.app
        self.client, self.engine = client, app.state.engine
        with app.state.sessions() as s, s.begin():
            made = seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=[PICK1, PICK2, PACK])
        a_id = int(made["account_id"])
        self.admin = login(client, "admin", account="demo")
        self.lead = make_account(client, "demo", role="warehouse_lead", account_id=a_id)
        self.picker = make_account(client, "demo", role="picker", account_id=a_id)
        for node, kind in ((PICK1, "pick"), (PICK2, "pick"), (PACK, "pack")):
            send(self.engine, node, 1, started(kind))

    def post(self, path: str, who: dict[str, str], body: Any = None) -> Any:
        return self.client.post(path, headers=who, json=body)

    def release(self, no: str, body: Any = None) -> dict[str, Any]:
        r = self.post(ORDER.format(no) + "/release", self.admin, body)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def sent(self, node: str, order_no: str) -> list[dict[str, Any]]:
        """The releases of ``order_no`` on ``node``'s downlink, oldest first."""
        with session_factory(self.engine)() as s:
            rows = s.execute(
                select(Downlink.payload)
                .where(Downlink.node_id == node, Downlink.key == f"order:{order_no}")
                .order_by(Downlink.seq)
            ).scalars()
            return list(rows)

    def state(self, order_no: str) -> tuple[Any, ...]:
        """All a lease move or a release could change."""
        with session_factory(self.engine)() as s:
            o = s.execute(select(SalesOrder).where(SalesOrder.order_no == order_no)).scalar_one()
            lease = s.get(PickLease, o.id)
            return (
                (o.status, o.version, o.changed_by, o.tracking_number),
                None if lease is None else (lease.wave, lease.node_id, lease.changed_by),
                s.execute(select(func.count()).where(OrderLog.order_id == o.id)).scalar_one(),
                s.execute(
                    select(Downlink.node_id, func.max(Downlink.seq)).group_by(Downlink.node_id)
                ).all(),
            )


@pytest.fixture
def hub(app_client: TestClient) -> Hub:
    return Hub(app_client)


def test_release_leases_the_pick_to_one_pick_node(hub: Hub) -> None:
    first = hub.release("JY1300001", {"wave": "W-1"})
    holder = hub.sent(PICK1, "JY1300001")[-1]["pick_node"]
    assert holder in (PICK1, PICK2)
    assert f"wave W-1, pick node {holder}" == first["history"][-1]["reason"]
    # Every node of the warehouse gets the release (any bench packs it), naming the holder.
    for node in (PICK1, PICK2, PACK):
        assert [(m["wave"], m["pick_node"]) for m in hub.sent(node, "JY1300001")] == [
            ("W-1", holder)
        ]
    # The wave stays on one node.
    hub.release("JY1300002", {"wave": "W-1"})
    assert hub.sent(PACK, "JY1300002")[-1]["pick_node"] == holder
    # Named at release: that node, whatever the wave says.
    other = PICK2 if holder == PICK1 else PICK1
    hub.release("JY1300005", {"wave": "W-1", "pick_node": other})
    assert hub.sent(PACK, "JY1300005")[-1]["pick_node"] == other


def test_a_hold_keeps_the_wave_and_the_lease(hub: Hub) -> None:
    hub.release("JY1300001", {"wave": "W-1", "pick_node": PICK2})
    r = hub.post(ORDER.format("JY1300001") + "/hold", hub.admin, {"reason": "buyer called"})
    assert r.status_code == 200, r.text
    held = hub.sent(PICK1, "JY1300001")[-1]
    assert (held["status"], held["wave"], held["pick_node"]) == ("on_hold", "W-1", PICK2)


@pytest.mark.parametrize(
    ("node", "why"),
    [
        (PACK, f"node {PACK} runs a pack station, not a pick station"),
        ("wh2-pick-9", "node wh2-pick-9 does not serve warehouse WH1"),
    ],
)
def test_release_to_a_node_that_may_not_pick_is_refused(hub: Hub, node: str, why: str) -> None:
    before = hub.state("JY1300001")
    r = hub.post(ORDER.format("JY1300001") + "/release", hub.admin, {"pick_node": node})
    assert r.status_code == 409 and why in r.json()["detail"]
    assert hub.state("JY1300001") == before


def test_a_lead_moves_the_lease(hub: Hub) -> None:
    hub.release("JY1300001", {"wave": "W-1", "pick_node": PICK1})
    r = hub.post(
        ORDER.format("JY1300001") + "/pick-node",
        hub.lead,
        {"node": PICK2, "reason": f"{PICK1} is dead"},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["status"], out["version"]) == ("released", 2)
    last = out["history"][-1]
    assert last["action"] == "pick_node" and last["actor"] == "user:demo-warehouse_lead"
    assert last["reason"] == f"pick lease {PICK1} → {PICK2}: {PICK1} is dead"
    # The old holder learns it lost the order, the new one that it has it; the wave stays.
    for node in (PICK1, PICK2, PACK):
        latest = hub.sent(node, "JY1300001")[-1]
        assert (latest["version"], latest["wave"], latest["pick_node"]) == (2, "W-1", PICK2)


def test_an_old_holder_moved_to_another_warehouse_still_hears_of_the_move(hub: Hub) -> None:
    hub.release("JY1300001", {"wave": "W-1", "pick_node": PICK1})
    r = hub.client.put(
        f"/api/v1/nodes/{PICK1}/assignment", headers=hub.admin, json={"warehouse": "BCP"}
    )
    assert r.status_code == 200, r.text
    r = hub.post(ORDER.format("JY1300001") + "/pick-node", hub.lead, {"node": PICK2, "reason": "r"})
    assert r.status_code == 200, r.text
    assert hub.sent(PICK1, "JY1300001")[-1]["pick_node"] == PICK2


def test_an_order_released_before_leases_keeps_its_wave_when_leased(hub: Hub) -> None:
    hub.release("JY1300001", {"wave": "W-1"})
    with transaction(session_factory(hub.engine)) as s:
        s.execute(delete(PickLease))  # as an order released before migration 0009
    r = hub.post(ORDER.format("JY1300001") + "/pick-node", hub.lead, {"node": PICK2, "reason": "r"})
    assert r.status_code == 200, r.text
    assert hub.sent(PICK1, "JY1300001")[-1]["wave"] == "W-1"
    assert r.json()["history"][-1]["reason"] == f"pick lease none → {PICK2}: r"


def _move(hub: Hub, no: str, body: Any, who: dict[str, str] | None = None) -> Any:
    return hub.post(ORDER.format(no) + "/pick-node", who or hub.lead, body)


def test_moving_the_lease_is_refused_with_a_reason_and_changes_nothing(hub: Hub) -> None:
    hub.release("JY1300001", {"pick_node": PICK1})
    hub.release("JY1300002", {"pick_node": PICK1})
    send(hub.engine, PICK1, 2, picked("JY1300002", 1, 2))  # JY1300002 is picked now
    refused = [
        ("JY1300001", {"node": PICK1, "reason": "r"}, 409, f"already leased to {PICK1}"),
        ("JY1300001", {"node": PACK, "reason": "r"}, 409, "runs a pack station"),
        ("JY1300001", {"node": "nobody", "reason": "r"}, 409, "does not serve warehouse WH1"),
        ("JY1300002", {"node": PICK2, "reason": "r"}, 409, "JY1300002 is picked"),
        ("JY1300005", {"node": PICK2, "reason": "r"}, 409, "JY1300005 is audited"),
        ("JY9999999", {"node": PICK2, "reason": "r"}, 404, "no order"),
    ]
    for no, body, status, why in refused:
        before = hub.state(no) if status != 404 else None
        r = _move(hub, no, body)
        assert r.status_code == status and why in r.json()["detail"], (no, body, r.text)
        if before is not None:
            assert hub.state(no) == before, (no, body)
    before = hub.state("JY1300001")
    for body in (
        {"node": PICK2},
        {"node": PICK2, "reason": ""},
        {"node": PICK2, "reason": "   "},
        {"node": "bad node/id", "reason": "r"},
        {"node": PICK2, "reason": "r" * 301},
        {"node": PICK2, "reason": "r", "extra": 1},
        None,
    ):
        assert _move(hub, "JY1300001", body).status_code == 422, body
    assert _move(hub, "JY1300001", {"node": PICK2, "reason": "r"}, hub.picker).status_code == 403
    assert hub.state("JY1300001") == before


def _stock(hub: Hub) -> tuple[int, int]:
    with session_factory(hub.engine)() as s:
        level = s.execute(
            select(BinLevel.qty).where(BinLevel.bin_code == "A-02", BinLevel.sku_code == PHONE_CASE)
        ).scalar_one()
        picks = s.execute(select(func.count()).where(StockMovement.kind == "pick")).scalar_one()
    return level, picks


@pytest.mark.parametrize("old_first", [True, False])
def test_a_pick_by_the_old_holder_becomes_a_task_and_stock_counts_once(
    hub: Hub, old_first: bool
) -> None:
    hub.release("JY1300002", {"pick_node": PICK1})  # two phone cases
    assert _move(hub, "JY1300002", {"node": PICK2, "reason": "dead"}).status_code == 200
    level, picks = _stock(hub)
    # PICK1 picked offline before it heard of the move (version 1); PICK2 picks version 2.
    facts = [(PICK1, picked("JY1300002", 1, 2)), (PICK2, picked("JY1300002", 2, 2))]
    for node, fact in facts if old_first else facts[::-1]:
        send(hub.engine, node, 2, fact)
    assert _stock(hub) == (level - 2, picks + 1)  # the holder's pick, once
    with session_factory(hub.engine)() as s:
        task = s.execute(select(Task).where(Task.kind == "pick_lease_conflict")).scalar_one()
        assert (task.order_no, task.node_id, task.status) == ("JY1300002", PICK1, "open")
        assert f"leased to {PICK2}: nothing booked" in task.detail
        assert "2 × " in task.detail and "from A-02" in task.detail
        assert s.execute(select(Event.event_id).where(Event.node_id == PICK1, Event.seq == 2)).one()
        o = s.execute(select(SalesOrder).where(SalesOrder.order_no == "JY1300002")).scalar_one()
        assert o.status == "picked"
    tasks = hub.client.get("/api/v1/tasks", headers=hub.admin).json()
    assert [t["kind"] for t in tasks if t["order_no"] == "JY1300002"] == ["pick_lease_conflict"]
