"""A lead's decision on a serial seen twice at the same moment as a node's fact of that
serial (issue 17; docs/inbound.md "Concurrency", cloud/inbound/serial_conflicts.py
``resolve``, cloud/sync/locks.py).

Serial X is received on the API (R1) and again by the warehouse's receiving node (R2): one
task. Then, released together by a barrier, the lead gives R2's unit a new serial (or
declares it a mislabel) while the node's third receipt of X (R3) is ingested. Whichever
commits first, the outcome is one: the task of R1 and R2 closed, R3 flagged against R1 in
exactly one open task (a task naming R2 opened before the decision is closed by it, one
opened after it would name a unit that no longer carries X), and exactly one label request
for the new serial, sent once to the node. The same with another node of the warehouse
packing X instead (a unit leaving: the decision's task closed, nothing left open, one pack
step, one label request). Run :data:`ROUNDS` times with no retry (a
deadlock broken by PostgreSQL fails the test), the reads of the serial's steps slowed so
that without the locks both would read before either wrote. On SQLite one writer runs at a
time, so the race passes there trivially; the outcome is checked all the same."""

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
from cloud.inbound.serial_conflicts import Action, resolve
from cloud.stock import serials as trace
from tests.cloud.inbound.conftest import Po, station
from tests.cloud.inbound.test_ingest_locks import ROUNDS, _at_once
from tests.cloud.inbound.test_serial_conflicts import _api_receipt, _conflict_tasks
from tests.cloud.inbound.test_serial_labels import _label_changes, _receiving_node
from tests.cloud.inbound.test_serial_trace import _ingest, _packed, _receipt


def _slow_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    read = trace.rows_of

    def slow(*args: Any, **kwargs: Any) -> Any:
        got = read(*args, **kwargs)
        time.sleep(0.3)
        return got

    monkeypatch.setattr(trace, "rows_of", slow)


def _account(demo: TestClient) -> int:
    engine = demo.app.state.engine  # type: ignore[attr-defined]
    with transaction(session_factory(engine)) as s:
        return int(s.execute(select(Account.id).where(Account.name == "demo")).scalar_one())


def _race(
    demo: TestClient, po: Po, monkeypatch: pytest.MonkeyPatch, action: Action, pack: bool = False
) -> None:
    """``pack``: the node's fact is another node of the warehouse packing X into an order
    (a unit leaving: no task), not a third receipt."""
    node = _receiving_node(demo)  # its node.started is seq 1
    packer = station(demo)
    account = _account(demo)
    engine = demo.app.state.engine  # type: ignore[attr-defined]
    tag = uuid.uuid4().hex[:6].upper()
    rounds = [f"SR-{tag}-{r}" for r in range(ROUNDS)]
    seq = 2
    for x in rounds:
        assert _api_receipt(demo, po, f"R1-{x}", [x]).status_code == 201
        _ingest(demo, _receipt(node, seq, po.number, f"R2-{x}", po.sku, [x]))
        seq += 1
        assert [t["status"] for t in _conflict_tasks(demo, x)] == ["open"]
    first = seq
    _slow_reads(monkeypatch)
    decided: dict[str, str | None] = {}

    def work(x: str, seq: int, i: int) -> None:
        if i == 0:
            with transaction(session_factory(engine)) as s:
                done = resolve(s, account, x, f"R2-{x}", action, "user:t", datetime.now(UTC))
                decided[x] = done.new_serial
        elif pack:
            # The packer's own stream: its first fact is seq 1.
            _ingest(demo, _packed(packer, seq - first + 1, f"JY-{x}", po.sku, x))
        else:
            _ingest(demo, _receipt(node, seq, po.number, f"R3-{x}", po.sku, [x]))

    for r, x in enumerate(rounds):
        errors = _at_once(partial(work, x, seq + r))
        assert errors == [], f"round {r}: {errors}"
        tasks = _conflict_tasks(demo, x)
        open_ = [t["detail"] for t in tasks if t["status"] == "open"]
        assert any(t["status"] == "done" and f"R2-{x}" in t["detail"] for t in tasks)
        steps = demo.get(f"/api/v1/serials/{x}").json()["steps"]
        receipts = [s["receipt"] for s in steps if s["kind"] == "received"]
        if pack:
            # A unit packed out is no conflict: nothing left open either way.
            assert open_ == [], f"round {r}: {tasks}"
            assert sorted(receipts) == [f"R1-{x}", f"R2-{x}"], f"round {r}"
            assert [s["doc"] for s in steps if s["kind"] == "packed"] == [f"JY-{x}"]
        else:
            # R3 is in stock beside R1 only: one open task names both, none names R2.
            assert len(open_) == 1, f"round {r}: {tasks}"
            assert f"R1-{x}" in open_[0] and f"R3-{x}" in open_[0], f"round {r}: {open_}"
            assert f"R2-{x}" not in open_[0], f"round {r}: {open_}"
            assert sorted(receipts) == sorted(f"R{n}-{x}" for n in (1, 2, 3)), f"round {r}"
        decisions = [s for s in steps if s["kind"] in ("relabelled", "mislabel")]
        assert [s["receipt"] for s in decisions] == [f"R2-{x}"], f"round {r}: {decisions}"
        new = decided[x]
        if action == "new_serial":
            assert new is not None
            labels = demo.get(f"/api/v1/serials/{new}").json()["labels"]
            assert len(labels) == 1 and labels[0]["node_id"] == node, f"round {r}: {labels}"
            sent = [c for c in _label_changes(demo, node) if c["serial"] == new]
            assert len(sent) == 1 and sent[0]["replaces"] == x, f"round {r}: {sent}"
        else:
            assert new is None


def test_a_new_serial_decided_while_the_node_receives_the_serial_again(
    demo: TestClient, po: Po, monkeypatch: pytest.MonkeyPatch
) -> None:
    _race(demo, po, monkeypatch, "new_serial")


def test_a_mislabel_declared_while_the_node_receives_the_serial_again(
    demo: TestClient, po: Po, monkeypatch: pytest.MonkeyPatch
) -> None:
    _race(demo, po, monkeypatch, "mislabel")


def test_a_new_serial_decided_while_another_node_packs_the_serial(
    demo: TestClient, po: Po, monkeypatch: pytest.MonkeyPatch
) -> None:
    _race(demo, po, monkeypatch, "new_serial", pack=True)
