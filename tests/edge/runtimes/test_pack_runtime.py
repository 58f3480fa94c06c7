"""Operator safety of the pack station through the real runtime, scanner port, scale pty and printer.

Each test runs the daemon's EdgeNode in-process with the real drivers against the
simulators; the light recorder proves every light's verdict was committed first.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge.stations.common import Signal
from edge.stations.pack import State
from edge.store import journal
from protocol.messages import OrderReleased

from .harness import (
    BLUE,
    BOOK,
    LEAD_PIN,
    ORDER_WEIGHT,
    RED,
    PackRig,
    pack_rig,
    push,
    release,
    run,
    until,
)

O1 = release("O-1", "SF1001")
O2 = release("O-2", "SF1002")


async def verify_all(rig: PackRig, waybill: str = "SF1001") -> None:
    await rig.scan(waybill, RED, BOOK)
    await asyncio.sleep(0.04)  # past the double-read window: a second RED is a real item
    await rig.scan(RED)
    assert rig.last()[0] is Signal.COMPLETE
    assert rig.runtime.station.state is State.WEIGHING


async def labelled(rig: PackRig, count: int = 1) -> None:
    await until(lambda: len(rig.printer_sim.printed) >= count)
    await until(lambda: rig.runtime.station.state is State.FINISHED)


def test_happy_path_commits_each_fact_before_its_light_and_prints_once(tmp_path: Path) -> None:
    async def main() -> None:
        async with pack_rig(tmp_path, [O1]) as rig:
            await verify_all(rig)
            rig.scale_sim.set_weight(ORDER_WEIGHT + 12)
            await labelled(rig)
            assert rig.last()[0] is Signal.COMPLETE
            assert b"SF1001" in rig.printer_sim.printed[0].raw
            assert rig.facts() == [
                "node.started",
                "order.packed",
                "order.weighed",
                "order.labelled",
            ]
            assert journal.label_of(rig.store.conn, "O-1") == ("printed", "SF1001", "sf-1", "SF")
            # Rescanning the finished order says so and prints nothing.
            await rig.scan("SF1001")
            assert rig.last()[0] is Signal.ALREADY_DONE
            await asyncio.sleep(0.2)
            assert len(rig.printer_sim.printed) == 1
            assert rig.runtime.latencies and max(rig.runtime.latencies) < 1.0

    run(main())


def test_no_label_while_an_item_is_wrong_or_missing(tmp_path: Path) -> None:
    async def main() -> None:
        async with pack_rig(tmp_path, [O1]) as rig:
            await rig.scan("SF1001", RED, BLUE)
            assert rig.last()[0] is Signal.WRONG_ITEM  # the blue tee is the red one's variant
            rig.scale_sim.set_weight(ORDER_WEIGHT)  # a parcel on the scale changes nothing
            await asyncio.sleep(0.4)
            assert rig.printer_sim.printed == []
            assert rig.runtime.station.state is State.SCANNING
            assert rig.runtime.station.progress() == (1, 3)
            assert "order.packed" not in rig.facts()
            assert rig.verdicts()[-1] == "item.wrong"

    run(main())


def test_no_label_out_of_tolerance_until_a_lead_overrides(tmp_path: Path) -> None:
    async def main() -> None:
        async with pack_rig(tmp_path, [O1]) as rig:
            await verify_all(rig)
            rig.scale_sim.set_weight(ORDER_WEIGHT + 400)
            await until(lambda: rig.runtime.station.state is State.WEIGHT_HOLD)
            assert rig.last()[0] is Signal.HOLD
            await rig.scan("#GJ:OVERRIDE:lead7:0000")  # wrong PIN
            assert rig.last()[0] is Signal.HOLD and "refused" in rig.last()[1]
            await rig.scan("#GJ:OVERRIDE:nobody:4711")
            await asyncio.sleep(0.3)
            assert rig.printer_sim.printed == []
            await rig.scan(f"#GJ:OVERRIDE:lead7:{LEAD_PIN}")
            await labelled(rig)
            leads = rig.store.conn.execute("SELECT lead, kind FROM lead_action").fetchall()
            assert leads == [
                ("lead7", "weight.override_refused"),
                ("nobody", "weight.override_refused"),
                ("lead7", "weight.override"),
            ]
            # The PIN itself is never journalled.
            texts = " ".join(r[0] for r in rig.store.conn.execute("SELECT text FROM journal"))
            assert LEAD_PIN not in texts

    run(main())


def test_cancel_arriving_mid_scan_stops_the_order(tmp_path: Path) -> None:
    async def main() -> None:
        async with pack_rig(tmp_path, [O1]) as rig:
            await rig.scan("SF1001", RED)
            batch = push(
                rig.store, [OrderReleased(seq=1, payload=release("O-1", "SF1001", 2, "cancelled"))]
            )
            rig.runtime.on_down_applied(batch)  # the sync agent's downlink hook
            assert rig.runtime.station.state is State.DO_NOT_SHIP
            assert rig.last()[0] is Signal.DO_NOT_SHIP
            await rig.scan(BOOK)
            assert rig.last()[0] is Signal.DO_NOT_SHIP
            rig.scale_sim.set_weight(ORDER_WEIGHT)
            await asyncio.sleep(0.3)
            assert rig.printer_sim.printed == []
            assert "order.packed" not in rig.facts()

    run(main())


def test_cancel_without_the_hook_still_stops_the_label(tmp_path: Path) -> None:
    """The cancel lands while the printer is out of paper; the label must never come."""

    async def main() -> None:
        async with pack_rig(tmp_path, [O1]) as rig:
            rig.printer_sim.set_state(paper_out=True)
            await verify_all(rig)
            rig.scale_sim.set_weight(ORDER_WEIGHT)
            await until(lambda: rig.runtime.station.state is State.PRINTER_PROBLEM)
            assert rig.last()[0] is Signal.FAULT and "paper out" in rig.last()[1]
            # Only the store changes (no hook call): the runtime's version check finds it.
            push(
                rig.store, [OrderReleased(seq=1, payload=release("O-1", "SF1001", 2, "cancelled"))]
            )
            await until(lambda: rig.runtime.station.state is State.DO_NOT_SHIP)
            rig.printer_sim.set_state(paper_out=False)
            await asyncio.sleep(0.4)
            assert rig.printer_sim.printed == []
            assert "order.labelled" not in rig.facts()

    run(main())


def test_bad_input_gets_a_clear_verdict_and_leaves_the_order_alone(tmp_path: Path) -> None:
    async def main() -> None:
        async with pack_rig(tmp_path, [O1, O2]) as rig:
            await rig.scan("SF1001", RED)
            await rig.scan("9999999999999")
            assert rig.last() == (Signal.UNKNOWN, "unknown barcode 9999999999999")
            await rig.scan("69\x0700")
            assert rig.last()[0] is Signal.UNKNOWN and "control characters" in rig.last()[1]
            assert rig.store.conn.execute(
                "SELECT barcode FROM journal WHERE kind = 'scan.unreadable'"
            ).fetchone() == (repr("69\x0700"),)
            await rig.scan("SF1002")
            assert rig.last()[0] is Signal.WRONG_ITEM and "mid-order" in rig.last()[1]
            await rig.scan(raw=b"\xff\xfe\r\n", settle=1)
            assert rig.last()[0] is Signal.UNKNOWN and "UTF-8" in rig.last()[1]
            await rig.scan("#GJ:LAUNCH")
            assert rig.last()[0] is Signal.UNKNOWN and "operator key" in rig.last()[1]
            # Two scans in the same write (the same millisecond): a double read is not counted,
            # two different items both are.
            await rig.scan(BOOK, BOOK)
            assert rig.lights.signals()[-2:] == [Signal.OK, Signal.NOTICE]
            assert rig.runtime.station.progress() == (2, 3)
            assert rig.runtime.station.release is not None
            assert rig.runtime.station.release.order_id == "O-1"
            assert rig.runtime.station.state is State.SCANNING
            assert rig.printer_sim.printed == []

    run(main())


def test_scale_going_away_mid_weigh_then_coming_back(tmp_path: Path) -> None:
    async def main() -> None:
        async with pack_rig(tmp_path, [O1]) as rig:
            await verify_all(rig)
            rig.scale_sim.set_silent(True)
            await until(lambda: rig.runtime.station.state is State.NO_WEIGHT)
            assert rig.last()[0] is Signal.FAULT and "scale unavailable" in rig.last()[1]
            rig.scale_sim.set_weight(ORDER_WEIGHT)
            await asyncio.sleep(0.3)
            assert rig.printer_sim.printed == []
            rig.scale_sim.set_silent(False)
            await labelled(rig)
            assert rig.facts().count("order.weighed") == 1

    run(main())


def test_one_retry_pressed_while_the_scale_reconnects_is_enough(tmp_path: Path) -> None:
    """Issue 19, finding 8b: a RETRY during the scale's reconnect needed a second RETRY."""

    async def main() -> None:
        async with pack_rig(tmp_path, [O1]) as rig:
            await verify_all(rig)
            rig.scale_sim.set_silent(True)
            await until(lambda: rig.runtime.station.state is State.NO_WEIGHT)
            rig.scale_sim.set_weight(ORDER_WEIGHT)
            await rig.scan("#GJ:RETRY")  # the scale is still away: weighing again, in vain
            assert rig.runtime.station.state is State.WEIGHING
            await asyncio.sleep(1.2)  # longer than one wait for a weight (0.5 s): it gives up
            rig.scale_sim.set_silent(False)  # it comes back: no second RETRY
            await labelled(rig)
            assert rig.facts().count("order.weighed") == 1

    run(main())


def test_printer_out_of_paper_prints_once_when_fixed(tmp_path: Path) -> None:
    async def main() -> None:
        async with pack_rig(tmp_path, [O1]) as rig:
            rig.printer_sim.set_state(paper_out=True)
            await verify_all(rig)
            rig.scale_sim.set_weight(ORDER_WEIGHT)
            await until(lambda: rig.runtime.station.state is State.PRINTER_PROBLEM)
            await asyncio.sleep(0.3)  # polled again and again: the same problem, no new light
            faults = rig.lights.signals().count(Signal.FAULT)
            assert faults == 1 and rig.printer_sim.printed == []
            rig.printer_sim.set_state(paper_out=False)
            await labelled(rig)
            await asyncio.sleep(0.3)
            assert len(rig.printer_sim.printed) == 1

    run(main())


def test_a_label_sent_before_a_crash_is_never_printed_again_by_itself(tmp_path: Path) -> None:
    async def main() -> None:
        async with pack_rig(tmp_path, [O1, O2]) as rig:
            # As if the daemon died after committing the print intent, before the answer.
            with rig.store.atomic() as conn:
                journal.label_intent(conn, "O-2", "sf-1", "SF", "SF1002", 1)
            await rig.scan("SF1002")
            assert rig.last()[0] is Signal.ALREADY_DONE
            await rig.scan(BOOK)
            assert rig.last()[0] is Signal.ALREADY_DONE
            await asyncio.sleep(0.2)
            assert rig.printer_sim.printed == []
            # A lead's reprint weighs the parcel again and prints, flagged as a reprint.
            await rig.scan(f"#GJ:REPRINT:lead7:{LEAD_PIN}")
            rig.scale_sim.set_weight(ORDER_WEIGHT)
            await labelled(rig)
            row = rig.store.conn.execute(
                "SELECT body FROM outbox WHERE type = 'order.labelled'"
            ).fetchone()
            assert b'"reprint":true' in row[0] and b"lead7" in row[0]

    run(main())
