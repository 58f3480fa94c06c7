"""Packs and transfer picks of one serial under the serial's lock (issue 17;
cloud/sync/locks.py, cloud/stock/serial_locks.py), and two units of one serial leaving.

Two nodes packing one serial into two orders, or shipping it on two transfers, at the same
moment: both facts are booked (a fact is physical truth, never lost) and the second sees the
first, so the serial is flagged every round: both steps red, one ``serial_conflict`` task.
Run :data:`ROUNDS` times with two threads released by a barrier and no retry (a deadlock
broken by PostgreSQL fails the test), the read of the serial's steps slowed so both would
read before either wrote without the lock. The two nodes share nothing else: the packs name
two orders and no warehouse's nodes, the shipments leave two warehouses for one without
nodes. On SQLite one writer runs at a time, so the races pass there trivially; the outcome
is checked all the same."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Account
from cloud.nodes.registry import lock_cursors
from cloud.orders.workflow import set_hold
from cloud.stock import serials as trace
from cloud.sync import ingest
from protocol.messages import (
    OrderPacked,
    OrderPackedPayload,
    PackedItem,
    ShippedLine,
    TransferShippedPayload,
)
from tests.cloud.inbound.conftest import station
from tests.cloud.inbound.test_ingest_locks import ROUNDS, _at_once
from tests.cloud.inbound.test_serial_trace import _base, _ingest, _packed
from tests.cloud.inbound.test_serial_trace import _tasks as _conflicts
from tests.cloud.inbound.test_transfer_ship import Node, _picker
from tests.cloud.inbound.transfer_helpers import TR, new_transfer


def _slow_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    read = trace.rows_of

    def slow(*args: Any, **kwargs: Any) -> Any:
        got = read(*args, **kwargs)
        time.sleep(0.3)
        return got

    monkeypatch.setattr(trace, "rows_of", slow)


def _both_flagged(steps: list[dict[str, Any]], again: str, already: str) -> bool:
    """One step says the serial left again in the other's document, the other that it had
    left already in the first's (the trace sorts by the nodes' clocks, not by who wrote
    first)."""
    a, b = steps
    return any(
        f"{again} {y['doc']}" in (x["conflict"] or "") and f"{already} {x['doc']}" in y["conflict"]
        for x, y in ((a, b), (b, a))
    )


def _serial_tracked(demo: TestClient, stock: dict[str, int]) -> str:
    tag = uuid.uuid4().hex[:8].upper()
    sku = f"SO-{tag}"
    r = demo.put(
        f"/api/v1/skus/{sku}",
        json={
            "sku_code": sku,
            "name": f"串号 {tag}",
            "barcodes": [f"68{tag}"],
            "serial_tracked": True,
        },
    )
    assert r.status_code < 300, r.text
    for wh, qty in stock.items():
        r = demo.post("/api/v1/stock/receipts", json={"warehouse": wh, "sku_code": sku, "qty": qty})
        assert r.status_code == 201, r.text
    return sku


def _warehouse(demo: TestClient, prefix: str) -> str:
    code = f"{prefix}{uuid.uuid4().hex[:6].upper()}"
    r = demo.post("/api/v1/warehouses", json={"code": code, "name": code})
    assert r.status_code == 201, r.text
    return code


def test_two_nodes_packing_one_serial_at_once_flag_it_every_time(
    demo: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    packers = [station(demo), station(demo)]
    sku = _serial_tracked(demo, {})
    tag = uuid.uuid4().hex[:6].upper()
    _slow_reads(monkeypatch)

    def pack(r: int, serial: str, i: int) -> None:
        _ingest(demo, _packed(packers[i], r + 1, f"JY-LK{tag}-{r}-{i}", sku, serial))

    for r in range(ROUNDS):
        serial = f"SP-{tag}-{r}"
        errors = _at_once(partial(pack, r, serial))
        assert errors == [], f"round {r}: {errors}"
        got = demo.get(f"/api/v1/serials/{serial}").json()
        assert [s["kind"] for s in got["steps"]] == ["packed", "packed"], f"round {r}"
        assert got["conflicts"] == 2, f"round {r}: {got}"
        assert _both_flagged(got["steps"], "was packed again into order", "already packed in order")
        assert len(_conflicts(demo, serial)) == 1, f"round {r}"
    # Each pack resent (a node's retry under a new seq): one step each, no new task.
    last = f"SP-{tag}-{ROUNDS - 1}"
    steps = demo.get(f"/api/v1/serials/{last}").json()["steps"]
    for seq, step in enumerate(steps, ROUNDS + 1):
        _ingest(demo, _packed(step["node_id"], seq, step["doc"], sku, last))
    assert demo.get(f"/api/v1/serials/{last}").json()["steps"] == steps
    assert len(_conflicts(demo, last)) == 1


def test_two_nodes_shipping_one_serial_at_once_book_both_and_flag_it(
    demo: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two warehouses' pick nodes each ship a unit labelled with one serial on a transfer
    of its own: both shipments are booked (the units left; nothing is lost), the serial is
    flagged on both, one task; the second shipment sent again adds nothing."""
    senders = [_warehouse(demo, "WS"), _warehouse(demo, "WS")]
    to = _warehouse(demo, "WR")
    pickers = [Node(demo, wh) for wh in senders]
    sku = _serial_tracked(demo, {wh: ROUNDS for wh in senders})
    rounds: list[tuple[str, list[str]]] = []
    for r in range(ROUNDS):
        numbers = [new_transfer(demo, sku, 1, from_warehouse=wh, to_warehouse=to) for wh in senders]
        assert [_picker(demo, n).id for n in numbers] == [p.id for p in pickers]
        rounds.append((f"SS-{uuid.uuid4().hex[:6]}-{r}", numbers))
    _slow_reads(monkeypatch)

    def ship(serial: str, numbers: list[str], i: int) -> None:
        picker, number = pickers[i], numbers[i]
        p = TransferShippedPayload(
            shipment_id=f"{picker.id}:{number}:s1",
            transfer_number=number,
            shipment=1,
            warehouse=senders[i],
            station=picker.id,
            operator="P07",
            lines=[
                ShippedLine(line_no=1, sku_code=sku, qty=1, bin=None, short=False, serials=[serial])
            ],
        )
        picker.send(picker.shipped(p))

    for r, (serial, numbers) in enumerate(rounds):
        errors = _at_once(partial(ship, serial, numbers))
        assert errors == [], f"round {r}: {errors}"
        for number in numbers:
            assert demo.get(f"{TR}/{number}").json()["lines"][0]["shipped"] == 1, f"round {r}"
        got = demo.get(f"/api/v1/serials/{serial}").json()
        assert [s["kind"] for s in got["steps"]] == ["transfer_shipped"] * 2, f"round {r}"
        assert got["conflicts"] == 2, f"round {r}: {got}"
        assert _both_flagged(got["steps"], "left again on transfer", "already left on transfer")
        assert len(_conflicts(demo, serial)) == 1, f"round {r}"
    serial, numbers = rounds[-1]
    steps = demo.get(f"/api/v1/serials/{serial}").json()["steps"]
    second = next(s for s in steps if "already left" in s["conflict"])
    i = [p.id for p in pickers].index(second["node_id"])
    ship(serial, numbers, i)  # the same shipment again, under a new seq
    assert demo.get(f"/api/v1/serials/{serial}").json()["steps"] == steps
    assert len(_conflicts(demo, serial)) == 1
    assert demo.get(f"{TR}/{numbers[i]}").json()["lines"][0]["shipped"] == 1


def test_one_serial_twice_in_one_parcel_is_kept_and_flagged_once(demo: TestClient) -> None:
    """A pack station refuses the second scan of a serial (tests/edge/stations/test_pack.py);
    a pack that lists it twice anyway (an older node, a hand-edited fact) is booked, both
    units are kept in the trace, the second red, one task; sent again, nothing more."""
    node = station(demo)
    sku = _serial_tracked(demo, {})
    serial = f"SD-{uuid.uuid4().hex[:6]}"
    items = [PackedItem(line_id=str(n), sku_code=sku, qty=1, serials=[serial]) for n in (1, 2)]

    def packed(seq: int) -> OrderPacked:
        return OrderPacked(
            **_base(node, seq, seq),
            payload=OrderPackedPayload(
                order_id=f"JY-SD-{node[-8:]}", version=1, station=node, items=items
            ),
        )

    _ingest(demo, packed(1))
    got = demo.get(f"/api/v1/serials/{serial}").json()
    assert [s["kind"] for s in got["steps"]] == ["packed", "packed"]
    assert got["conflicts"] == 1
    assert "appears twice in this packed fact" in got["steps"][1]["conflict"]
    assert len(_conflicts(demo, serial)) == 1
    _ingest(demo, packed(2))
    assert demo.get(f"/api/v1/serials/{serial}").json() == got
    assert len(_conflicts(demo, serial)) == 1


def _released_order(demo: TestClient, sku: str, node: str) -> str:
    """An order of this test at WH1, audited and released with ``node`` as its pick node."""
    no = f"JY-OL{uuid.uuid4().hex[:8].upper()}"
    body = {
        "order_no": no,
        "buyer_nick": "锁买家",
        "recipient": {
            "name": "赵六",
            "phone": "13900000009",
            "province": "北京市",
            "city": "北京市",
            "district": "海淀区",
            "address": "学院路9号",
        },
        "lines": [{"line_id": "1", "sku_code": sku, "qty": 1, "price_cents": 100}],
    }
    r = demo.post("/api/v1/orders", json={"orders": [body]})
    assert r.status_code == 201, r.text
    for step in ("save", "confirm", "audit"):
        got = demo.get(f"/api/v1/orders/{no}").json()
        if got["status"] == "audited":
            break
        r = demo.post(f"/api/v1/orders/{no}/{step}")
        assert r.status_code == 200, r.text
    r = demo.post(f"/api/v1/orders/{no}/release", json={"pick_node": node})
    assert r.status_code == 200, r.text
    return no


def test_a_pack_and_a_hold_of_one_order_at_once_never_deadlock(
    demo: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hold (or its release) locks the order, then sends its order.release to the
    warehouse's nodes, locking their rows. An ingest used to lock its node first and the
    order only while applying the pack: it held node A and waited for the order, the hold
    held the order and waited for node A, and PostgreSQL broke the deadlock by failing one.
    An order's facts now lock it with the documents, before the nodes (cloud/sync/locks.py)."""
    node = station(demo)
    sku = _serial_tracked(demo, {"WH1": 2})
    no = _released_order(demo, sku, node)
    engine = demo.app.state.engine  # type: ignore[attr-defined]
    with transaction(session_factory(engine)) as s:
        account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
    locked = lock_cursors

    def slow(*args: Any, **kwargs: Any) -> Any:
        got = locked(*args, **kwargs)
        time.sleep(0.15)
        return got

    monkeypatch.setattr(ingest, "lock_cursors", slow)

    def work(r: int, i: int) -> None:
        if i == 0:
            _ingest(demo, _packed(node, r + 1, no, sku, f"SH-{no}-{r}"))
        else:
            with transaction(session_factory(engine)) as s:
                set_hold(s, account, no, r % 2 == 0, "锁测试", "user:t", datetime.now(UTC))

    for r in range(ROUNDS):
        errors = _at_once(partial(work, r))
        assert errors == [], f"round {r}: {errors}"
        assert demo.get(f"/api/v1/orders/{no}").json()["on_hold"] is (r % 2 == 0)
        assert demo.get(f"/api/v1/serials/SH-{no}-{r}").status_code == 200
