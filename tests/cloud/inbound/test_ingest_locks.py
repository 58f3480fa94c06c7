"""The lock order of receipts (issue 17; cloud/sync/locks.py, cloud/stock/serial_locks.py):
two nodes of one warehouse ingesting receipts at the same moment never deadlock, and two
receipts of one serial on two different POs committed at the same moment see each other.

Run many times with two threads released by a barrier, with no retry (a deadlock broken by
PostgreSQL is an ``OperationalError`` and fails the test). The hub's own steps are slowed
where the race is: right after an ingest locked its nodes (both ingests then hold their own
node before either books), and right after a receipt read a serial's steps. On SQLite one
writer runs at a time, so the tests pass there trivially; they check the outcome all the
same."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Account
from cloud.inbound import receipts
from cloud.nodes.registry import lock_cursors
from cloud.stock import serials as trace
from cloud.sync import ingest
from tests.cloud.inbound.conftest import station
from tests.cloud.inbound.test_serial_trace import (
    _as_node,
    _ingest,
    _phone,
    _receipt,
    _received,
    _ship,
)
from tests.cloud.inbound.test_serial_trace import _tasks as _conflicts
from tests.cloud.inbound.test_transfer_ship import Node, _picker
from tests.cloud.inbound.transfer_helpers import TR, new_transfer, wh2

ROUNDS = 6


def now() -> datetime:
    return datetime.now(UTC)


def _at_once(work: Callable[[int], None]) -> list[BaseException]:
    """``work(0)`` and ``work(1)`` in two threads started together; what they raised."""
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            work(i)
        except BaseException as e:  # reported by the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_two_nodes_receiving_one_transfer_at_once_never_deadlock(
    demo: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the fix each ingest locked its node, then the transfer, then (to send the
    release) every node of the warehouse: A held A and the transfer and waited for B, B held
    B and waited for the transfer; PostgreSQL broke it by failing one."""
    wh2(demo)
    Node(demo, "WH1")
    receivers = [station(demo, "WH2"), station(demo, "WH2")]
    sku = _phone(demo, qty=2 * ROUNDS)
    shipped: list[tuple[str, list[str]]] = []
    for _ in range(ROUNDS):
        number = new_transfer(demo, sku, 2)
        picker = _picker(demo, number)
        serials = [f"SN-{uuid.uuid4().hex[:6]}-{i}" for i in range(2)]
        picker.send(picker.shipped(_ship(picker, number, sku, serials)))
        shipped.append((number, serials))
    locked = lock_cursors

    def slow(*args: Any, **kwargs: Any) -> Any:
        got = locked(*args, **kwargs)
        time.sleep(0.15)
        return got

    monkeypatch.setattr(ingest, "lock_cursors", slow)

    def receive(r: int, number: str, serials: list[str], i: int) -> None:
        node = receivers[i]
        fact = _received(node, r + 1, number, f"{node}-R{r}", sku, serials[i : i + 1])
        Node.send(_as_node(demo, node), fact)

    for r, (number, serials) in enumerate(shipped):
        errors = _at_once(partial(receive, r, number, serials))
        assert errors == [], f"round {r}: {errors}"
        assert demo.get(f"{TR}/{number}").json()["lines"][0]["received"] == 2
        assert demo.get(f"{TR}/{number}").json()["status"] == "done"


def _po(demo: TestClient, warehouse: str, sku: str) -> str:
    number = f"PO-LK-{uuid.uuid4().hex[:8].upper()}"
    r = demo.post(
        "/api/v1/purchase-orders",
        json={
            "number": number,
            "warehouse": warehouse,
            "lines": [{"sku_code": sku, "qty": 10 * ROUNDS, "unit_price": "9.90"}],
            "confirm": True,
        },
    )
    assert r.status_code == 201, r.text
    return number


def _sku(demo: TestClient) -> str:
    tag = uuid.uuid4().hex[:8].upper()
    r = demo.put(
        f"/api/v1/skus/LK-{tag}",
        json={"sku_code": f"LK-{tag}", "name": f"锁 {tag}", "barcodes": [f"67{tag}"]},
    )
    assert r.status_code < 300, r.text
    return f"LK-{tag}"


def test_two_nodes_receiving_two_pos_at_once_never_deadlock(
    demo: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No document in common: before the fix A held node A and waited for B's row to send
    its PO's release, B held B and waited for A's."""
    nodes = [station(demo), station(demo)]
    sku = _sku(demo)
    pos = [_po(demo, "WH1", sku), _po(demo, "WH1", sku)]
    locked = lock_cursors

    def slow(*args: Any, **kwargs: Any) -> Any:
        got = locked(*args, **kwargs)
        time.sleep(0.15)
        return got

    monkeypatch.setattr(ingest, "lock_cursors", slow)

    def receive(r: int, i: int) -> None:
        node = nodes[i]
        _ingest(demo, _receipt(node, r + 1, pos[i], f"{node}-R{r}", sku, [f"{node}-u{r}"]))

    for r in range(ROUNDS):
        errors = _at_once(partial(receive, r))
        assert errors == [], f"round {r}: {errors}"
    for number in pos:
        line = demo.get(f"/api/v1/purchase-orders/{number}").json()["lines"][0]
        assert line["received"] == ROUNDS


def test_one_serial_on_two_pos_at_the_same_moment_is_flagged(
    demo: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two receipts of one serial on two POs of a warehouse without nodes (nothing else
    serialises them), booked at once with the read of the serial's steps slowed: the second
    waits for the first's serial lock and sees its step: both red, one task, every round
    (the check is by the serial, cloud/stock/serials.py)."""
    tag = uuid.uuid4().hex[:6].upper()
    wh = f"WL{tag}"
    assert demo.post("/api/v1/warehouses", json={"code": wh, "name": wh}).status_code == 201
    # Two SKUs: one SKU's stock row, locked by both bookings, would serialise them too.
    skus = [_sku(demo), _sku(demo)]
    pos = [_po(demo, wh, skus[0]), _po(demo, wh, skus[1])]
    engine = demo.app.state.engine  # type: ignore[attr-defined]
    with transaction(session_factory(engine)) as s:
        account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
    read = trace.rows_of

    def slow(*args: Any, **kwargs: Any) -> Any:
        got = read(*args, **kwargs)
        time.sleep(0.3)
        return got

    monkeypatch.setattr(trace, "rows_of", slow)

    def book(serial: str, i: int) -> None:
        line = receipts.ReceiptLine(skus[i], 1, serials=(serial,))
        with transaction(session_factory(engine)) as s:
            receipts.book(s, account, pos[i], f"{pos[i]}-{serial}", wh, [line], "user:t", now())

    for r in range(ROUNDS):
        serial = f"LK-{tag}-{r}"
        errors = _at_once(partial(book, serial))
        assert errors == [], f"round {r}: {errors}"
        got = demo.get(f"/api/v1/serials/{serial}").json()
        assert got["conflicts"] == 2, f"round {r}: {got}"
        assert len(_conflicts(demo, serial)) == 1
