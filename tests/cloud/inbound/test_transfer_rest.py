"""The rest of a short transfer that nobody picks, and the rest shipped by the hub itself
(docs/inbound.md "A rest nobody picks", "The hub ships the rest"): a task after the
configured wait, with its steps (move the pick, ship from the hub, cancel the rest); a hub
shipment of the rest booked once, a late node shipment refused with a task; hostile input
refused with nothing changed. Both databases (the module's ``demo`` hub)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.engine import session_factory
from cloud.db.models import Task
from cloud.db.transfers import Transfer
from cloud.inbound import transfer_watch
from tests.cloud.inbound.test_transfer_ship import (
    Node,
    _db,
    _outbound,
    _picker,
    _refused,
    _shipment,
    _tasks,
)
from tests.cloud.inbound.transfer_helpers import TR, new_transfer, sku_with_stock, state, stock

WAIT = timedelta(hours=8)


def _short(demo: TestClient, qty: int = 5, picked: int = 2) -> tuple[str, str, Node]:
    """A transfer of ``qty`` its pick node shipped ``picked`` of (short)."""
    Node(demo, "WH1")
    sku = sku_with_stock(demo, 8, bin_code="A-01")
    number = new_transfer(demo, sku, qty)
    picker = _picker(demo, number)
    picker.send(picker.shipped(_shipment(picker, number, sku, picked, 1, short=True)))
    return number, sku, picker


def _tick(demo: TestClient, now: datetime) -> int:
    sessions = session_factory(demo.app.state.engine)  # type: ignore[attr-defined]
    return transfer_watch.tick(sessions, now, WAIT)


def _overdue(demo: TestClient, number: str) -> list[str]:
    with _db(demo) as s:
        rows = s.execute(select(Task.detail).where(Task.kind == "transfer_rest_overdue"))
        return [d for d in rows.scalars() if f"transfer {number}:" in d]


def _age_ask(demo: TestClient, number: str, by: timedelta) -> None:
    with _db(demo) as s:
        t = s.execute(select(Transfer).where(Transfer.number == number)).scalar_one()
        assert t.rest_asked_at is not None
        t.rest_asked_at = t.rest_asked_at - by


def test_a_rest_nobody_picks_opens_one_task_after_the_wait(demo: TestClient) -> None:
    number, sku, picker = _short(demo)
    assert demo.post(f"{TR}/{number}/ship-rest").status_code == 200
    now = datetime.now(UTC)
    _tick(demo, now)
    assert _overdue(demo, number) == []  # asked just now: not late
    _age_ask(demo, number, WAIT + timedelta(minutes=1))
    _tick(demo, now)
    _tick(demo, now)  # a second worker, or the next tick: still one task
    (said,) = _overdue(demo, number)
    assert picker.id in said and "move the pick" in said and "cancel the rest" in said
    assert demo.get(f"{TR}/{number}").json()["rest_overdue_at"] is not None

    # Its step: cancel the rest. The node stops offering it; the short line stays short.
    before = state(demo, number, sku)
    r = demo.post(f"{TR}/{number}/cancel-rest", json={"reason": "货找不到"})
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["rest_asked_by"] is None and t["rest_overdue_at"] is None
    assert t["lines"][0]["shipped"] == 2 and t["status"] == "shipped"
    assert _outbound(demo, picker.id, number)[-1]["status"] == "shipped"
    assert state(demo, number, sku)["movements"] == before["movements"]
    # Cancelled twice: nothing asked, nothing changed.
    _refused(
        demo,
        "POST",
        f"{TR}/{number}/cancel-rest",
        "no rest of transfer",
        number,
        sku,
        json={"reason": "再取消"},
    )
    # The node's shipment of the cancelled rest, arriving late: refused with a task.
    late = _shipment(picker, number, sku, 3, 2)
    before = state(demo, number, sku)
    picker.send(picker.shipped(late))
    assert state(demo, number, sku) == before
    assert _tasks(demo, "shipment_conflict", late.shipment_id)
    # Asked again: a new wait, a new task only after it.
    assert demo.post(f"{TR}/{number}/ship-rest").status_code == 200
    _tick(demo, now)
    assert len(_overdue(demo, number)) == 1


def test_moving_the_pick_restarts_the_wait(demo: TestClient) -> None:
    number, _sku, picker = _short(demo)
    other = Node(demo, "WH1")
    assert demo.post(f"{TR}/{number}/ship-rest").status_code == 200
    _age_ask(demo, number, WAIT * 2)
    r = demo.put(f"{TR}/{number}/pick-node", json={"node": other.id})
    assert r.status_code == 200, r.text
    _tick(demo, datetime.now(UTC))
    assert _overdue(demo, number) == []
    assert _outbound(demo, other.id, number)[-1]["pick_node"] == other.id
    assert picker.id != other.id


def test_the_hub_ships_the_rest_once_and_a_late_node_shipment_is_refused(
    demo: TestClient,
) -> None:
    number, sku, picker = _short(demo, qty=5, picked=2)
    assert stock(demo, sku, "WH1")["on_hand"] == 6
    assert demo.post(f"{TR}/{number}/ship-rest").status_code == 200
    r = demo.post(f"{TR}/{number}/ship-rest", json={"by": "hub"})
    assert r.status_code == 200, r.text
    t = r.json()
    assert (t["status"], t["lines"][0]["shipped"], t["rest_asked_by"]) == ("shipped", 5, None)
    assert stock(demo, sku, "WH1")["on_hand"] == 3
    assert stock(demo, sku, "WH2")["inbound"] == 5
    # The node is told: shipped, it offers it no more ("put it back" mid-pick).
    assert _outbound(demo, picker.id, number)[-1]["status"] == "shipped"
    # The node's shipment of the rest arrives after the hub shipped it: refused, a task.
    late = _shipment(picker, number, sku, 3, 2)
    before = state(demo, number, sku)
    picker.send(picker.shipped(late))
    picker.send(picker.shipped(late, seq=picker.seq + 1))  # replayed under a new seq
    assert state(demo, number, sku) == before
    assert len(_tasks(demo, "shipment_conflict", late.shipment_id)) == 2
    # Nothing left: the hub ships no second rest, the node is asked for none.
    for body in ({"by": "hub"}, None):
        _refused(
            demo, "POST", f"{TR}/{number}/ship-rest", "was shipped whole", number, sku, json=body
        )
    # 冲销出库 takes the hub's rest back as the newest shipment.
    r = demo.post(f"{TR}/{number}/cancel-shipment", json={"reason": "补发错了"})
    assert r.status_code == 201 and r.json()["shipment"] == 2, r.text
    assert demo.get(f"{TR}/{number}").json()["lines"][0]["shipped"] == 2
    assert stock(demo, sku, "WH1")["on_hand"] == 6


def test_the_hub_ships_the_rest_without_asking_the_node(demo: TestClient) -> None:
    number, sku, picker = _short(demo, qty=4, picked=1)
    # The node is dead: the lead ships the rest from the hub without asking it first.
    r = demo.post(f"{TR}/{number}/ship-rest", json={"by": "hub"})
    assert r.status_code == 200 and r.json()["lines"][0]["shipped"] == 4, r.text
    assert stock(demo, sku, "WH1")["on_hand"] == 4
    assert _outbound(demo, picker.id, number)[-1]["status"] == "shipped"
    # The node comes back and picks from the old release it kept: refused, a task.
    late = _shipment(picker, number, sku, 3, 2)
    before = state(demo, number, sku)
    picker.send(picker.shipped(late))
    assert state(demo, number, sku) == before
    assert _tasks(demo, "shipment_conflict", late.shipment_id)


def test_hostile_rest_requests_are_refused_and_change_nothing(demo: TestClient) -> None:
    number, sku, _picker_node = _short(demo, qty=5, picked=1)
    url = f"{TR}/{number}"
    json_type = {"Content-Type": "application/json"}
    for raw in (
        b'{"by": "truck"}',
        b'{"by": "hub", "extra": 1}',
        b'{"by": "hub\\u0000"}',
        b'{"by": "\\ud800"}',
        b'{"by": NaN}',
        b'["hub"]',
        b'{"by": "' + b"h" * 100_000 + b'"}',
    ):
        before = state(demo, number, sku)
        r = demo.post(f"{url}/ship-rest", content=raw, headers=json_type)
        assert r.status_code in (413, 422), (raw[:40], r.text)
        assert state(demo, number, sku) == before
    for body in ({"reason": ""}, {"reason": "x" * 100_000}, {"reason": "a\u0000b"}, {}):
        before = state(demo, number, sku)
        r = demo.post(f"{url}/cancel-rest", json=body)
        assert r.status_code in (413, 422), (body, r.text)
        assert state(demo, number, sku) == before
    # The rest beyond the sender's book: 409, nothing of it posted.
    with _db(demo) as s:
        t = s.execute(select(Transfer).where(Transfer.number == number)).scalar_one()
        assert t.shipments == 1
    r = demo.post(
        "/api/v1/stock/adjustments",
        json={"warehouse": "WH1", "sku_code": sku, "delta": -7, "reason": "盘亏", "bin": "A-01"},
    )
    assert r.status_code in (200, 201), r.text
    _refused(demo, "POST", f"{url}/ship-rest", "", number, sku, json={"by": "hub"})
    # Unknown transfer: 404.
    assert demo.post(f"{TR}/NOPE-0/ship-rest", json={"by": "hub"}).status_code == 404
    assert demo.post(f"{TR}/NOPE-0/cancel-rest", json={"reason": "x"}).status_code == 404
