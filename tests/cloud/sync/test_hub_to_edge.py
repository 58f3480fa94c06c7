"""What the hub sends the warehouse: waybills and waves at release, bin stock after every
movement, and counts that book nothing until a lead approves them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from cloud import facts
from cloud.auth import ROLES
from cloud.db.engine import session_factory, transaction
from cloud.db.models import BinLevel, Downlink, StockMovement, Task
from cloud.errors import InvalidError
from cloud.orders import release as releases
from cloud.seed import seed_demo
from cloud.stock import ledger as stock
from cloud.sync.ingest import apply_batch
from protocol import codec
from protocol.messages import CountedLine, StocktakeCounted, StocktakeCountedPayload

NODE = "wh1-count-1"
NOW = datetime(2026, 11, 26, 10, tzinfo=UTC)


@pytest.fixture
def world(engine: Engine) -> tuple[int, str]:
    with transaction(session_factory(engine)) as s:
        made = seed_demo(s, NOW, password="pw-123456", node_ids=[NODE])
    return int(made["account_id"]), str(made["orders"][0]["order_no"])


def changes(engine: Engine, kind: str) -> list[dict[str, object]]:
    with session_factory(engine)() as s:
        rows = s.execute(
            select(Downlink.payload)
            .where(Downlink.node_id == NODE, Downlink.type == kind)
            .order_by(Downlink.seq)
        ).scalars()
        return list(rows)


def test_release_draws_a_waybill_and_carries_the_wave(
    engine: Engine, world: tuple[int, str]
) -> None:
    account, order_no = world
    with transaction(session_factory(engine)) as s:
        o, pushes = releases.release(s, account, order_no, "lead", NOW, wave="W-1")
        waybill = o.tracking_number
    assert waybill
    assert NODE in pushes
    sent = changes(engine, "order.release")[-1]
    assert (sent["order_id"], sent["waybill"], sent["wave"]) == (order_no, waybill, "W-1")


def test_bin_movements_send_expected_stock(engine: Engine, world: tuple[int, str]) -> None:
    account, _ = world
    with session_factory(engine)() as s:
        level = s.execute(select(BinLevel).where(BinLevel.qty > 0)).scalars().first()
        assert level is not None
        b, sku, before = level.bin_code, level.sku_code, level.qty
    with transaction(session_factory(engine)) as s:
        stock.receive(s, account, "WH1", sku, 5, "lead", NOW, bin_code=b)
    latest = [c for c in changes(engine, "stock.expected") if b in c["bins"]][-1]
    assert {"bin": b, "sku_code": sku, "qty": before + 5} in latest["levels"]


LEAD = ROLES["warehouse_lead"]


def test_count_variance_waits_for_a_lead(engine: Engine, world: tuple[int, str]) -> None:
    account, _ = world
    sessions = session_factory(engine)
    with sessions() as s:
        level = s.execute(select(BinLevel).where(BinLevel.qty > 1)).scalars().first()
        assert level is not None
        b, sku, qty = level.bin_code, level.sku_code, level.qty
    count = StocktakeCounted(
        node=NODE,
        epoch=1,
        seq=1,
        id=uuid.uuid4(),
        hlc=1,
        payload=StocktakeCountedPayload(
            count_id="C-1",
            warehouse="WH1",
            method="rfid",
            scope="partial",
            station="count-1",
            lines=[CountedLine(bin=b, sku_code=sku, expected=qty, counted=qty - 1)],
        ),
    )
    batch = codec.decode_batch(codec.encode_batch(NODE, [codec.encode_event(count)]), NODE)
    with transaction(sessions) as s:
        apply_batch(s, batch, NOW)

    def adjustments() -> int:
        with sessions() as s:
            return len(
                s.execute(select(StockMovement).where(StockMovement.document == "count:C-1")).all()
            )

    assert adjustments() == 0  # never a silent overwrite
    with sessions() as s:
        task = s.execute(select(Task).where(Task.kind == "count_variance")).scalar_one()
    assert f"{b} {sku} -1" in task.detail
    with pytest.raises(InvalidError, match="approve"), transaction(sessions) as s:
        facts.resolve_task(s, account, task.public_id, "looked", "lead", NOW, scopes=LEAD)
    with transaction(sessions) as s:
        done = facts.resolve_task(
            s,
            account,
            task.public_id,
            "recounted, one missing",
            "lead",
            NOW,
            approve=True,
            scopes=LEAD,
        )
        assert done.resolution is not None
        assert done.resolution.startswith("approved, 1 adjustment")
    assert adjustments() == 1
    with sessions() as s:
        assert (
            s.execute(
                select(BinLevel.qty).where(BinLevel.bin_code == b, BinLevel.sku_code == sku)
            ).scalar_one()
            == qty - 1
        )
    with pytest.raises(Exception, match="resolved already"), transaction(sessions) as s:
        facts.resolve_task(
            s, account, task.public_id, "again", "lead", NOW, approve=True, scopes=LEAD
        )
    assert adjustments() == 1
