"""The receiving runtime through the real scanner port and the label printer simulator;
its store: a receipt's rows and its fact commit together, and a kill -9 between scans
loses nothing committed (the receipt resumes where its last light left it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from edge.config import EdgeConfig
from edge.devices.lights import Lights
from edge.devices.printer import LabelPrinter
from edge.node import EdgeNode
from edge.runtimes.common import StationRuntime
from edge.runtimes.receive import ReceiveRuntime, open_receipt, po_view
from edge.stations.common import Signal
from edge.store.store import Store
from protocol.messages import (
    DownBatch,
    PoReceivedPayload,
    PoReleased,
)
from simulators.devices.printer import LabelPrinterSimulator
from tests.support import free_port, until

from .harness import BOOK, NODE, RED, Recorder, _send, push, run, seed
from .receiving import PHONE, changes, receive_config

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Rig:
    node: EdgeNode
    runtime: ReceiveRuntime
    lights: Recorder
    printer: LabelPrinterSimulator

    async def scan(self, *lines: str) -> None:
        before = len(self.lights.shown)
        data = b"".join(s.encode() + b"\r\n" for s in lines)
        await asyncio.to_thread(_send, self.node.scanner.port, data)
        await until(lambda: len(self.lights.shown) >= before + len(lines))
        await asyncio.sleep(0.035)  # past the double-read window

    def signals(self, n: int) -> list[Signal]:
        return [s for s, _ in self.lights.shown[-n:]]


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, **receive: Any) -> AsyncIterator[Rig]:
    async with LabelPrinterSimulator() as printer_sim:
        cfg = receive_config(tmp_path / "edge", printer_sim.port, **receive)
        lights = Recorder(cfg.node.data_dir / "edge.db")
        built: list[ReceiveRuntime] = []

        def build(store: Store, li: Lights, kick: Callable[[], None]) -> StationRuntime:
            if store.down_applied == 0:
                seed(store)
                push(store, changes())
            printer = LabelPrinter("127.0.0.1", printer_sim.port, name="items")
            built.append(ReceiveRuntime(store, li, cfg, printer=printer, kick=kick))
            return built[0]

        node = EdgeNode(cfg, lights=lights, runtime=build)
        ready = asyncio.Event()
        task = asyncio.create_task(node.run(ready))
        await until(ready.is_set)
        try:
            yield Rig(node, built[0], lights, printer_sim)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert lights.not_durable == [], "a light came before its verdict was committed"


def facts(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT body FROM outbox WHERE type = 'po.received' ORDER BY seq")
        return [orjson.loads(r[0])["payload"] for r in rows]
    finally:
        conn.close()


def test_a_po_is_received_offline_with_qc_labels_and_putaway(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            await r.scan("PO-9", "BIN-R01", RED)
            assert r.signals(3) == [Signal.UNKNOWN, Signal.WRONG_ITEM, Signal.WRONG_ITEM]
            await r.scan("PO-7", RED)  # two reads of one barcode in one write: a double read
            await r.scan(RED, BOOK, "777", PHONE, "6900000000103")
            assert r.signals(6) == [
                Signal.OK,
                Signal.OK,
                Signal.NOT_IN_ORDER,
                Signal.UNKNOWN,
                Signal.OK,
                Signal.OK,
            ]
            await r.scan("#GJ:FAIL:crushed box", RED, "#GJ:FAIL:wet", RED)
            assert r.signals(4) == [Signal.PROMPT, Signal.OK, Signal.PROMPT, Signal.OVER_QTY]
            await until(lambda: len(r.printer.printed) == 1)  # the phone's serial label
            (label,) = r.printer.printed
            serial = f"{NODE}-S0000001"
            assert label.layout.barcodes() == ["PHONE-1", serial]
            await r.scan("#GJ:FINISH")
            assert "put 2 TEE-A-RED away in bin R-01 (reserve)" in r.lights.shown[-1][1]
            await r.scan("BIN-D01")  # passed goods into the damaged bin: refused
            assert r.signals(1) == [Signal.WRONG_ITEM]
            await r.scan("BIN-F01", "BIN-R01")  # the tees (another bin), the phone
            assert r.signals(2) == [Signal.PROMPT, Signal.PROMPT]
            await r.scan("BIN-D01", "BIN-R01", "BIN-D01")  # NEW-1 not damaged; the failed tee
            assert r.signals(3) == [Signal.WRONG_ITEM, Signal.PROMPT, Signal.COMPLETE]
            assert r.runtime.store.backlog() > 0  # nothing acked: the uplink is down
        (fact,) = facts(tmp_path / "edge" / "edge.db")
        assert fact["receipt_id"] == f"{NODE}-R000001" and fact["warehouse"] == "wh1"
        lines = {(ln["sku_code"], ln["verdict"]): (ln["qty"], ln["bin"]) for ln in fact["lines"]}
        assert lines == {
            ("TEE-A-RED", "pass"): (2, "F-01"),
            ("PHONE-1", "pass"): (1, "R-01"),
            ("NEW-1", "pass"): (1, "R-01"),
            ("TEE-A-RED", "fail"): (1, "D-01"),
        }
        phone = next(ln for ln in fact["lines"] if ln["sku_code"] == "PHONE-1")
        assert phone["serials"] == [f"{NODE}-S0000001"]
        fail = next(ln for ln in fact["lines"] if ln["verdict"] == "fail")
        assert fail["reason"] == "crushed box"

    run(main())


def test_a_fact_that_cannot_commit_leaves_the_receipt_open_and_books_nothing(
    tmp_path: Path,
) -> None:
    """The fact and the receipt's stage are one transaction: a failure takes both back."""

    class Failing(ReceiveRuntime):
        fail = True

        def on_record(self, conn: sqlite3.Connection, payload: object, at_ms: int) -> None:
            super().on_record(conn, payload, at_ms)
            if self.fail and isinstance(payload, PoReceivedPayload):
                raise sqlite3.OperationalError("disk I/O error (injected)")

    cfg = receive_config(tmp_path / "edge", free_port(), labels="off")
    store = Store(cfg.node.data_dir / "edge.db", NODE)
    store.start_epoch("test", "inbound")
    seed(store)
    push(store, changes())
    lights = Recorder(cfg.node.data_dir / "edge.db")
    rt = Failing(store, lights, cfg)
    _drain(rt, "PO-7", RED, "#GJ:FINISH", "BIN-F01")
    assert lights.shown[-1][0] is Signal.FAULT
    lights.not_durable.clear()  # the FAULT light reports the failed commit: no journal row
    assert facts(cfg.node.data_dir / "edge.db") == []
    stage = store.conn.execute("SELECT stage FROM receive_receipt").fetchall()
    assert stage == [("putaway",)]
    rt.fail = False
    _drain(rt, "BIN-F01")
    assert lights.shown[-1][0] is Signal.COMPLETE
    assert len(facts(cfg.node.data_dir / "edge.db")) == 1
    assert store.conn.execute("SELECT stage FROM receive_receipt").fetchall() == [("finished",)]


def _line(text: str) -> Any:
    from edge.devices.scanner import ScanInput

    return ScanInput(text=text)


def _drain(rt: ReceiveRuntime, *lines: str) -> None:
    """Feed lines to the runtime as the scanner would, 100 ms apart (no double reads)."""
    for i, text in enumerate(lines):
        now = rt.clock_ms()
        rt.clock_ms = lambda n=now + 100 * (i + 1): n  # type: ignore[misc]
        asyncio.run(rt.on_scan(_line(text)))


KILLED = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from edge.devices.scanner import ScanInput
    from edge.runtimes.receive import ReceiveRuntime
    from edge.store.store import Store
    from tests.edge.runtimes.receiving import Recorder, changes, push, receive_config, seed

    data = Path(sys.argv[1])
    cfg = receive_config(data, 9, labels="off")
    store = Store(data / "edge.db", cfg.node.id)
    store.start_epoch("test", "inbound")
    seed(store)
    push(store, changes(allowed_red=99))
    rt = ReceiveRuntime(store, Recorder(data / "edge.db"), cfg)
    clock = iter(range(10_000, 10**9, 1000))
    rt.clock_ms = lambda: next(clock)
    for n, text in enumerate(sys.stdin, 1):
        asyncio.run(rt.on_scan(ScanInput(text=text.strip())))
        print(n, rt.lights.shown[-1][0].value, flush=True)
    """
)


def test_kill_9_between_scans_loses_nothing_committed(tmp_path: Path) -> None:
    data = tmp_path / "edge"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    shown = []
    for text in ("PO-7", RED, RED, PHONE, "#GJ:FAIL:torn", RED):
        proc.stdin.write(text + "\n")
        proc.stdin.flush()
        shown.append(proc.stdout.readline().split())
    os.kill(proc.pid, signal.SIGKILL)  # between two scans: the last light is on
    proc.wait(10)
    assert [s[1] for s in shown] == ["prompt", "ok", "ok", "ok", "prompt", "ok"]
    store = Store(data / "edge.db", NODE)
    resumed = open_receipt(store.conn, "rcv-1", 0)
    assert resumed is not None and resumed.receipt_id == f"{NODE}-R000001" and not resumed.putaway
    assert [(u.sku_code, u.verdict, u.reason) for u in resumed.units] == [
        ("TEE-A-RED", "pass", None),
        ("TEE-A-RED", "pass", None),
        ("PHONE-1", "pass", None),
        ("TEE-A-RED", "fail", "torn"),
    ]
    assert resumed.units[2].serial == f"{NODE}-S0000001"
    # The restarted station goes on with the next numbers, never the ones used.
    cfg = receive_config(data, 9, labels="off")
    lights = Recorder(data / "edge.db")
    rt = ReceiveRuntime(store, lights, cfg)
    assert (rt.station.next_receipt, rt.station.next_serial) == (2, 2)

    async def restart() -> None:  # what the daemon does at start: the open receipt goes on
        await rt.start()
        await rt.stop()

    asyncio.run(restart())
    assert "resumed: 4 unit(s) counted" in lights.shown[-1][1]
    assert rt.station.state.value == "counting" and len(rt.station.units) == 4
    _drain(rt, PHONE)  # a second phone: over the PO's allowed 1
    assert lights.shown[-1][0] is Signal.OVER_QTY
    assert store.integrity_ok()


def test_a_finished_receipt_counts_against_the_po_until_a_release_holds_it(
    tmp_path: Path,
) -> None:
    """Offline, the node's own receipts narrow the allowance; a newer ``po.release`` that
    arrives after the hub acked the fact holds them, and a close reaches the open receipt."""
    cfg = receive_config(tmp_path / "edge", free_port(), labels="off")
    store = Store(cfg.node.data_dir / "edge.db", NODE)
    store.start_epoch("test", "inbound")
    seed(store)
    push(store, changes())
    lights = Recorder(cfg.node.data_dir / "edge.db")
    rt = ReceiveRuntime(store, lights, cfg)
    _drain(rt, "PO-7", RED, "#GJ:FINISH", "BIN-F01")
    assert lights.shown[-1][0] is Signal.COMPLETE
    view = po_view(store.conn, "PO-7")
    assert view is not None and view.pending == {"TEE-A-RED": 1}
    # The same release again before the hub acked the fact: still pending.
    push(store, changes()[2:])
    assert po_view(store.conn, "PO-7").pending == {"TEE-A-RED": 1}  # type: ignore[union-attr]
    # Acked, then the hub's newer release (received 1, allowed 2): held by the release.
    store.mark_acked(store.last_seq)
    newer = changes(allowed_red=2)[2]
    push(store, [newer])
    assert po_view(store.conn, "PO-7").pending == {}  # type: ignore[union-attr]
    # A second receipt takes 2 more, not 3; then the PO is closed in the cloud meanwhile.
    _drain(rt, "PO-7", RED)
    _drain(rt, RED)
    _drain(rt, RED)
    assert [s for s, _ in lights.shown[-3:]] == [Signal.OK, Signal.OK, Signal.OVER_QTY]
    assert isinstance(newer, PoReleased)
    closed = newer.model_copy(
        update={"payload": newer.payload.model_copy(update={"status": "closed"})}
    )
    push(store, [closed])
    rt.on_down_applied(DownBatch(node=NODE, changes=[closed], head=closed.seq))
    assert lights.shown[-1][0] is Signal.HOLD and "closed in the cloud" in lights.shown[-1][1]
    _drain(rt, RED)
    assert lights.shown[-1][0] is Signal.HOLD  # nothing more is counted
    assert len(rt.station.units) == 2


def test_the_receiving_bench_times_every_scan_and_each_is_counted() -> None:
    """`guanjia bench receive` at a small size: every timed scan got its green light."""
    from edge.bench.receive import bench_receive_latency

    got = bench_receive_latency(po_lines=600, orders=20, scans=40, opens=4, serials=30)
    assert got["scans"] == 40 and got["ok_lights"] == 40
    # A serial-tracked transfer's units by their serials: each counted (a green light).
    assert got["serial_scans"] == 30 and got["serial_ok_lights"] == 30
    assert 0 < got["serial_p50_ms"] <= got["serial_p99_ms"]
    assert 0 < got["p50_ms"] <= got["p99_ms"] <= got["max_ms"]
    # Every waybill scan opened its PO (a prompt light), and the PDA desk was timed too.
    assert got["asn_opens"] == 4 and got["asn_opened_prompts"] == 4
    assert got["asn_open_p99_ms"] > 0 and got["pda_p99_ms"] > 0


def test_a_receiving_config_names_what_is_missing(tmp_path: Path) -> None:
    base = {"node": {"id": NODE, "data_dir": str(tmp_path)}, "station": {"kind": "inbound"}}
    with pytest.raises(ValueError, match=r"needs a \[receive\] section"):
        EdgeConfig.model_validate(base)
    with pytest.raises(ValueError, match="labels need printer_host"):
        EdgeConfig.model_validate({**base, "receive": {"warehouse": "WH1"}})
    ok = EdgeConfig.model_validate({**base, "receive": {"warehouse": "WH1", "labels": "off"}})
    assert ok.receive is not None and ok.receive.labels == "off"
