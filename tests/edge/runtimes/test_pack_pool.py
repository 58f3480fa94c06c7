"""The offline e-waybill pool at the pack station (docs/channels.md "The offline pool"), through
the real runtime, scanner port, scale pty and printer: with the uplink down an order without
a waybill prints the courier's next pool number, its use commits with the label's intent as
a ``waybill.pool_used`` fact, an empty pool is a red light with the reason, and with the
uplink up the order waits for the hub's number as before."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge.stations.common import Signal
from edge.stations.pack import State
from edge.store import journal, waybill_pool
from protocol.messages import (
    EVENT_ADAPTER,
    OrderReleased,
    WaybillPoolToppedUp,
    WaybillPoolTopUp,
    WaybillPoolUsed,
)

from .harness import BOOK, ORDER_WEIGHT, RED, PackRig, pack_rig, push, release, run, until


def no_waybill(order_id: str) -> OrderReleased:
    bare = release(order_id, "X").model_copy(update={"waybill": None})
    return OrderReleased(seq=1, payload=bare)


def top_up(*codes: str, batch: str = "SF:1") -> WaybillPoolToppedUp:
    return WaybillPoolToppedUp(
        seq=1, payload=WaybillPoolTopUp(carrier="SF", batch=batch, waybills=list(codes))
    )


async def pack(rig: PackRig, code: str, printed: int) -> None:
    await rig.scan(code, RED, BOOK)
    await asyncio.sleep(0.04)  # past the double-read window
    await rig.scan(RED)
    assert rig.runtime.station.state is State.WEIGHING, rig.last()
    rig.scale_sim.set_weight(ORDER_WEIGHT)
    await until(lambda: len(rig.printer_sim.printed) >= printed)
    await until(lambda: rig.runtime.station.state is State.FINISHED)
    rig.scale_sim.set_weight(0)


def pool(rig: PackRig) -> list[tuple[str, str, str | None]]:
    return [
        (str(c), str(s), o)
        for c, s, o in rig.store.conn.execute(
            "SELECT waybill_code, state, order_id FROM waybill_pool ORDER BY waybill_code"
        )
    ]


def test_offline_labels_take_pool_numbers_an_empty_pool_is_red(tmp_path: Path) -> None:
    async def main() -> None:
        async with pack_rig(tmp_path) as rig:
            assert not rig.runtime.uplink()  # nobody listens on the MQTT port: offline
            push(rig.store, [no_waybill("O-7"), no_waybill("O-8"), no_waybill("O-9")])
            push(rig.store, [top_up("SFP0001", "SFP0002")])
            push(rig.store, [top_up("SFP0001", batch="SF:again")])  # a repeat adds nothing
            push(rig.store, [top_up(batch="SF:1")])  # the batch again, all used: removes nothing
            assert pool(rig) == [("SFP0001", "free", None), ("SFP0002", "free", None)]

            await pack(rig, "O-7", 1)
            assert b"SFP0001" in rig.printer_sim.printed[0].raw
            assert journal.label_of(rig.store.conn, "O-7") == ("printed", "SFP0001", "sf-1", "SF")
            assert pool(rig)[0] == ("SFP0001", "used", "O-7")
            facts = rig.facts()
            assert facts[-2:] == ["waybill.pool_used", "order.labelled"]
            assert facts.count("waybill.pool_used") == 1
            body = rig.store.conn.execute(
                "SELECT body FROM outbox WHERE type = 'waybill.pool_used'"
            ).fetchone()[0]
            used = EVENT_ADAPTER.validate_json(body)
            assert isinstance(used, WaybillPoolUsed)
            assert (used.payload.order_id, used.payload.waybill_code) == ("O-7", "SFP0001")
            # The label's number finds the order; it is done, nothing prints again.
            await rig.scan("SFP0001")
            assert rig.last()[0] is Signal.ALREADY_DONE

            await pack(rig, "O-8", 2)
            assert b"SFP0002" in rig.printer_sim.printed[1].raw
            assert waybill_pool.free(rig.store.conn, "SF") == 0

            # The pool is empty: a red light that says why, and no label.
            await rig.scan("O-9")
            signal, text = rig.last()
            assert signal is Signal.HOLD and "offline waybill pool of SF is empty" in text
            assert rig.verdicts()[-1] == "order.pool_empty"
            assert rig.runtime.station.state is State.IDLE
            # Online, an order without a number waits for the hub's, as before.
            rig.runtime.uplink = lambda: True
            push(rig.store, [top_up("SFP0003", batch="SF:2")])
            await asyncio.sleep(0.04)
            await rig.scan("O-9")
            assert rig.verdicts()[-1] == "order.no_waybill"
            await asyncio.sleep(0.2)
            assert len(rig.printer_sim.printed) == 2
            assert rig.facts().count("waybill.pool_used") == 2

    run(main())


def test_the_hubs_number_arriving_mid_scan_replaces_an_unprinted_pool_number(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with pack_rig(tmp_path) as rig:
            push(rig.store, [no_waybill("O-7"), top_up("SFP0001")])
            await rig.scan("O-7", RED)
            assert "from the pool" in rig.lights.shown[-2][1]
            # The uplink comes back and the hub's own number arrives before the label.
            push(rig.store, [OrderReleased(seq=1, payload=release("O-7", "SF7777", version=2))])
            rig.runtime.check_order_version()
            await rig.scan(BOOK)
            await asyncio.sleep(0.04)
            await rig.scan(RED)
            rig.scale_sim.set_weight(ORDER_WEIGHT)
            await until(lambda: len(rig.printer_sim.printed) >= 1)
            assert b"SF7777" in rig.printer_sim.printed[0].raw
            assert pool(rig) == [("SFP0001", "free", None)]  # still the pool's
            assert "waybill.pool_used" not in rig.facts()

    run(main())


def test_uplink_up_a_late_draw_takes_a_pool_number(tmp_path: Path) -> None:
    """The uplink is up but the hub's number has not come for ``pool_late_draw_s`` (a courier
    outage): the order takes the pool's number, reported as an offline print is; before that
    it waits as before, and a node set not to (``pool_when_draw_late = false``) waits."""

    def age(rig: PackRig, order_id: str, seconds: float) -> None:
        rig.store.conn.execute(
            "UPDATE order_release SET waiting_since_ms = waiting_since_ms - ? WHERE order_id = ?",
            (int(seconds * 1000), order_id),
        )

    async def main() -> None:
        async with pack_rig(tmp_path, pool_late_draw_s=120) as rig:
            rig.runtime.uplink = lambda: True
            push(rig.store, [no_waybill("O-7"), no_waybill("O-8"), top_up("SFP0001", "SFP0002")])
            await rig.scan("O-7")
            assert rig.verdicts()[-1] == "order.no_waybill"  # just released: the hub draws
            age(rig, "O-7", 119)
            await asyncio.sleep(0.04)
            await rig.scan("O-7")
            assert rig.verdicts()[-1] == "order.no_waybill"
            # A later version still without a number keeps the wait's start.
            bare = no_waybill("O-7").payload.model_copy(update={"version": 2})
            push(rig.store, [OrderReleased(seq=1, payload=bare)])
            age(rig, "O-7", 2)
            await asyncio.sleep(0.04)
            await pack(rig, "O-7", 1)
            assert b"SFP0001" in rig.printer_sim.printed[0].raw
            assert any("the hub's waybill is late" in text for _, text in rig.lights.shown)
            assert pool(rig)[0] == ("SFP0001", "used", "O-7")
            assert rig.facts()[-2:] == ["waybill.pool_used", "order.labelled"]

            # Switched off: a late order waits for the hub's number, nothing printed.
            rig.runtime.pool_late_ms = None
            age(rig, "O-8", 3600)
            await rig.scan("O-8")
            assert rig.verdicts()[-1] == "order.no_waybill"
            assert len(rig.printer_sim.printed) == 1 and pool(rig)[1][1] == "free"
            # The hub's number arriving clears the wait: a later bare version starts anew.
            rig.runtime.pool_late_ms = 120_000
            push(rig.store, [OrderReleased(seq=1, payload=release("O-8", "SF8888", version=2))])
            bare = no_waybill("O-8").payload.model_copy(update={"version": 3})
            push(rig.store, [OrderReleased(seq=1, payload=bare)])
            await asyncio.sleep(0.04)
            await rig.scan("O-8")
            assert rig.verdicts()[-1] == "order.no_waybill"
            assert pool(rig)[1] == ("SFP0002", "free", None)
            # Late with an empty pool: red, saying why.
            rig.store.conn.execute("DELETE FROM waybill_pool WHERE state = 'free'")
            age(rig, "O-8", 3600)
            await asyncio.sleep(0.04)
            await rig.scan("O-8")
            assert rig.verdicts()[-1] == "order.pool_empty"
            assert "the hub's waybill is late" in rig.last()[1], rig.last()
            assert len(rig.printer_sim.printed) == 1

    run(main())
