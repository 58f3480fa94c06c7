"""The receiving station prints the label of a serial the hub issued (``serial.label``,
docs/inbound.md "The new serial's label") on the label printer simulator: once, after the
downlink's commit; nothing more when the request comes again; after a restart when it had
not printed yet, and never again when it had been sent."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from edge.runtimes.receive import ReceiveRuntime
from edge.stations.common import Signal
from edge.store import serial_labels
from edge.store.store import Store
from protocol.messages import SerialLabel, SerialLabelAsked
from simulators.devices.printer import LabelPrinterSimulator
from tests.support import until

from .harness import NODE, Recorder, push, seed
from .receiving import PHONE, changes, receive_config

ASK = SerialLabel(
    request="HUB-S0000042-1",
    serial="HUB-S0000042",
    sku_code="PHONE-1",
    name="phone",
    barcodes=[PHONE],
    warehouse="wh1",
    receipt="wh1-pack-1-R000001",
    replaces="SN-0001",
)


def printed_facts(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT body FROM outbox WHERE type = 'serial.label_printed' ORDER BY seq"
        )
        return [orjson.loads(r[0])["payload"] for r in rows]
    finally:
        conn.close()


def open_store(tmp_path: Path) -> Store:
    cfg = receive_config(tmp_path / "edge", 1)
    store = Store(cfg.node.data_dir / "edge.db", NODE)
    store.start_epoch("test", "inbound")
    if store.down_applied == 0:
        seed(store)
        push(store, changes())
    return store


async def station(store: Store, tmp_path: Path, port: int) -> tuple[ReceiveRuntime, Recorder]:
    cfg = receive_config(tmp_path / "edge", port, labels="off")
    lights = Recorder(cfg.node.data_dir / "edge.db")
    rt = ReceiveRuntime(store, lights, cfg)
    await rt.start()
    return rt, lights


def test_a_label_the_hub_asks_for_prints_once_even_when_the_request_comes_again(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            store = open_store(tmp_path)
            rt, lights = await station(store, tmp_path, sim.port)
            push(store, [SerialLabelAsked(seq=1, payload=ASK)])
            rt.hub_labels.wake()
            await until(lambda: len(printed_facts(store.path)) == 1, what="the printed fact")
            (label,) = sim.printed
            assert label.layout.barcodes() == ["PHONE-1", "HUB-S0000042"]
            (fact,) = printed_facts(store.path)
            assert fact == {
                "request": "HUB-S0000042-1",
                "serial": "HUB-S0000042",
                "sku_code": "PHONE-1",
                "printer": "item-labels",
                "reprint": False,
                "unconfirmed": False,
            }
            signal, text = lights.shown[-1]
            assert signal is Signal.PROMPT and "HUB-S0000042" in text and "SN-0001" in text
            # Redelivered (the same request in a later batch, the hub's re-send): kept
            # once, printed once, reported once.
            push(store, [SerialLabelAsked(seq=1, payload=ASK)])
            rt.hub_labels.wake()
            await asyncio.sleep(0.3)
            assert len(sim.printed) == 1 and len(printed_facts(store.path)) == 1
            # A lead's re-print is a new request: it prints again, reported as a re-print.
            again = ASK.model_copy(update={"request": "HUB-S0000042-2", "reprint": True})
            push(store, [SerialLabelAsked(seq=1, payload=again)])
            rt.hub_labels.wake()
            await until(lambda: len(printed_facts(store.path)) == 2, what="the re-print")
            assert len(sim.printed) == 2 and printed_facts(store.path)[1]["reprint"] is True
            await rt.stop()
            assert lights.not_durable == []

    asyncio.run(main())


def test_a_refused_job_waits_and_a_restart_prints_it_once(tmp_path: Path) -> None:
    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            sim.set_state(paper_out=True)
            store = open_store(tmp_path)
            rt, lights = await station(store, tmp_path, sim.port)
            push(store, [SerialLabelAsked(seq=1, payload=ASK)])
            rt.hub_labels.wake()
            await until(lambda: bool(lights.shown), what="the fault light")
            assert lights.shown[-1][0] is Signal.FAULT
            assert serial_labels.state_of(store.conn, ASK.request) == "pending"
            await rt.stop()
            store.close()
            assert sim.printed == [] and printed_facts(store.path) == []
            # The node restarts with the paper back: the pending label prints now.
            sim.set_state(paper_out=False)
            store = open_store(tmp_path)
            rt, lights = await station(store, tmp_path, sim.port)
            await until(lambda: len(printed_facts(store.path)) == 1, what="the printed fact")
            assert len(sim.printed) == 1
            await rt.stop()
            store.close()
            # And again: printed already, nothing more.
            store = open_store(tmp_path)
            rt, lights = await station(store, tmp_path, sim.port)
            await asyncio.sleep(0.3)
            await rt.stop()
            assert len(sim.printed) == 1 and len(printed_facts(store.path)) == 1

    asyncio.run(main())


def test_a_job_sent_before_a_stop_is_never_printed_again(tmp_path: Path) -> None:
    """Stopped between the job's intent and the printer's answer: it may have printed, so
    the restart reports it printed (unconfirmed) and prints nothing by itself."""

    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            store = open_store(tmp_path)
            push(store, [SerialLabelAsked(seq=1, payload=ASK)])
            with store.atomic() as conn:
                assert serial_labels.send(conn, ASK.request, "item-labels", 1)
            store.close()
            store = open_store(tmp_path)
            rt, _ = await station(store, tmp_path, sim.port)
            await asyncio.sleep(0.3)
            await rt.stop()
            assert sim.printed == []
            (fact,) = printed_facts(store.path)
            assert fact["unconfirmed"] is True and fact["serial"] == "HUB-S0000042"
            assert serial_labels.state_of(store.conn, ASK.request) == "printed"

    asyncio.run(main())


def test_a_store_that_cannot_be_written_still_starts_the_station(tmp_path: Path) -> None:
    """Fault injection: the store turns read-only (a disk fault) with a label to report and
    one to print; the station starts all the same, printing and reporting nothing."""

    async def main() -> None:
        async with LabelPrinterSimulator() as sim:
            store = open_store(tmp_path)
            push(store, [SerialLabelAsked(seq=1, payload=ASK)])
            other = ASK.model_copy(update={"request": "HUB-S0000042-2"})
            push(store, [SerialLabelAsked(seq=1, payload=other)])
            with store.atomic() as conn:
                assert serial_labels.send(conn, ASK.request, "item-labels", 1)
            store.conn.close()
            store.conn = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
            rt, _ = await station(store, tmp_path, sim.port)
            await asyncio.sleep(0.3)
            await rt.stop()
            assert sim.printed == [] and printed_facts(store.path) == []

    asyncio.run(main())
