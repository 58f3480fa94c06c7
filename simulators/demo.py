"""``guanjia demo``: a simulated warehouse, run as the real parts run.

Each part is its own process, talking only over MQTT and HTTP, exactly as in
production: a private broker, the cloud hub (SQLite), one edge node, and the
scanner simulator typing into the node's scanner port. The demo drives the
scenario through public interfaces (the API, the scanner port, the node's
JSON log) and checks each step, so ``--once`` is also an end-to-end test.

After the scan-check skeleton, simulators/demo_warehouse.py runs the warehouse: orders
released by the cloud are picked (pick node, PDA API), packed (pack node: scanner, scale
and printer simulators; one wrong item shows red; label PNGs in ``<dir>/labels``),
shipped through the API, and a zone is counted by RFID (stocktake node, LLRP simulator).
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from simulators import scanner
from simulators.broker import PrivateBroker
from simulators.net import free_port

if TYPE_CHECKING:
    from simulators.demo_warehouse import Warehouse

NODE = "wh1-check-1"
SKU: dict[str, Any] = {
    "sku_code": "MKING IPAD AIR2 金甲系列皮套-金色",
    "name": "MKING iPad Air 2 金甲系列皮套 金色",
    "barcodes": ["6901234567892"],
    "weight_g": 180,
}
UNKNOWN_BARCODE = "6900000000017"
DEMO_PASSWORD = "guanjia-demo"
#: The simulated warehouse's nodes (simulators/demo_warehouse.py): pick, pack, RFID count.
WAREHOUSE_NODES = ("wh1-pick-1", "wh1-pack-1", "wh1-count-1")


class DemoFailed(Exception):
    pass


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class EdgeProcess:
    proc: subprocess.Popen[bytes]
    records: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)
    #: Where the node's JSON log lines are kept as well (the demo reads them from the pipe).
    tee: Path | None = None

    def start_reader(self) -> None:
        def pump() -> None:
            assert self.proc.stdout is not None
            out = open(self.tee, "ab") if self.tee is not None else None  # noqa: SIM115
            try:
                for line in self.proc.stdout:
                    if out is not None:
                        out.write(line)
                        out.flush()
                    with contextlib.suppress(orjson.JSONDecodeError):
                        self.records.put(orjson.loads(line))
            finally:
                if out is not None:
                    out.close()

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        for rec in self.seen:
            if pred(rec):
                return rec
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DemoFailed(f"edge node: no sign of {what} within {timeout:.0f} s")
            if self.proc.poll() is not None:
                raise DemoFailed(f"edge node exited with code {self.proc.returncode} before {what}")
            try:
                rec = self.records.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            self.seen.append(rec)
            if pred(rec):
                return rec


class Demo:
    def __init__(self, workdir: Path, console: Console) -> None:
        self.dir = workdir
        self.console = console
        self.steps: list[Step] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.broker: PrivateBroker | None = None
        self.api = ""
        self.scanner_port = 0
        self.edge: EdgeProcess | None = None
        self.seed: dict[str, Any] = {}
        self.auth: dict[str, str] = {}
        self.orders: list[tuple[dict[str, Any], dict[str, Any], str]] = []
        self.warehouse: Warehouse | None = None
        self.t0 = time.monotonic()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        detail: list[str] = []
        t = time.monotonic()
        try:
            yield detail
        except Exception as err:
            self.steps.append(Step(name, False, str(err), time.monotonic() - t))
            self.console.print(f"[bold red]✗ {name}[/]: {err}")
            raise
        self.steps.append(Step(name, True, "; ".join(detail), time.monotonic() - t))
        self.console.print(f"[green]✓[/] {name}: {'; '.join(detail)}")

    def _spawn(
        self, args: list[str], log_name: str, stdout_pipe: bool = False
    ) -> subprocess.Popen[bytes]:
        logf = open(self.dir / log_name, "ab")  # noqa: SIM115 - closed when the demo ends
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            stdout=subprocess.PIPE if stdout_pipe else logf,
            stderr=logf,
            env=env,
        )
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        with self.step("broker") as d:
            self.broker = PrivateBroker(self.dir / "broker").start()
            d.append(f"private {self.broker.kind} on {self.broker.url}")

        with self.step("cloud hub") as d:
            port = free_port()
            self.api = f"http://127.0.0.1:{port}"
            db = self.dir / "cloud.db"
            # The demo seller: catalogue, WH1 with bins, stock, courier rules, orders audited
            # by the rules; the node is assigned to WH1 (its downlink carries all of it).
            seeded = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cloud",
                    "seed-demo",
                    "--database-url",
                    f"sqlite:///{db}",
                    "--node",
                    NODE,
                    *[a for n in WAREHOUSE_NODES for a in ("--node", n)],
                    "--password",
                    DEMO_PASSWORD,
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if seeded.returncode != 0:
                raise DemoFailed(f"seeding the demo seller failed: {seeded.stderr[-1500:]}")
            self.seed = orjson.loads(seeded.stdout)
            os.environ.setdefault("GUANJIA_JWT_SECRET", os.urandom(24).hex())
            self._spawn(
                [
                    "cloud",
                    "serve",
                    "--port",
                    str(port),
                    "--database-url",
                    f"sqlite:///{db}",
                    "--mqtt-port",
                    str(self.broker.port),
                ],
                "cloud.log",
            )
            self._wait_health()
            token = httpx.post(
                f"{self.api}/api/v1/auth/token",
                data={"username": self.seed["username"], "password": DEMO_PASSWORD},
                timeout=10,
            )
            token.raise_for_status()
            self.auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
            d.append(f"API {self.api}/docs, database {db}, seller '{self.seed['account']}' seeded")

        with self.step("audit (审单) by the rules") as d:
            for o in self.seed["orders"]:
                full = httpx.get(
                    f"{self.api}/api/v1/orders/{o['order_no']}", headers=self.auth, timeout=10
                ).json()
                why = next(
                    (
                        x["reason"]
                        for x in full.get("decisions", [])
                        if x.get("rule_key") and x["check"] == "courier"
                    ),
                    o["rule"],
                )
                self.orders.append((o, full, why))
            held = [o for o, _, _ in self.orders if o["on_hold"]]
            sf = [o for o, _, _ in self.orders if o["rule"] and o["rule"].startswith("double11")]
            if not held or not sf:
                raise DemoFailed(
                    "expected one order held for a buyer remark and one sent SF by the Double-11 rule"
                )
            d.append(
                f"{len(self.orders)} orders audited; {held[0]['order_no']} held: {held[0]['hold_reason']}"
            )
            d.append(f"{sf[0]['order_no']} ships SF by rule {sf[0]['rule']}")

        with self.step("catalogue") as d:
            r = httpx.put(
                f"{self.api}/api/v1/skus/{SKU['sku_code']}", json=SKU, headers=self.auth, timeout=10
            )
            r.raise_for_status()
            d.append(f"SKU {SKU['sku_code']} with barcode {SKU['barcodes'][0]}")

        from simulators.demo_warehouse import Warehouse

        self.warehouse = Warehouse(self)
        # The warehouse's nodes boot while the scan-check node does its steps.
        self.warehouse.start_nodes()

        with self.step("edge node") as d:
            self.scanner_port = free_port()
            cfg = self.dir / "edge.toml"
            cfg.write_text(
                f'[node]\nid = "{NODE}"\ndata_dir = "edge-data"\n\n'
                f"[mqtt]\nport = {self.broker.port}\n\n"
                '[station]\nkind = "demo"\nname = "pack-1"\n\n'
                f"[scanner]\nport = {self.scanner_port}\n\n"
                "[sync]\nretry_interval_s = 2.0\n",
                encoding="utf-8",
            )
            proc = self._spawn(
                ["edge", "run", "--config", str(cfg), "--log-format", "json"], "edge.log", True
            )
            self.edge = EdgeProcess(proc, tee=self.dir / "edge.jsonl")
            self.edge.start_reader()
            up = self.edge.wait_for(lambda r: "scanner_port" in r, 20, "start-up")
            d.append(f"node {NODE}, epoch {up['epoch']}, scanner port {self.scanner_port}")
            self.edge.wait_for(
                lambda r: r.get("down_applied", 0) >= 1, 20, "the catalogue arriving"
            )
            d.append("catalogue received over the downlink")

        with self.step("warehouse nodes") as d:
            self.warehouse.nodes_up(d)

    def _wait_health(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                h = httpx.get(f"{self.api}/api/v1/health", timeout=1).json()
                if h.get("mqtt") == "connected":
                    return
            time.sleep(0.1)
        raise DemoFailed(f"cloud hub not healthy after {timeout} s; see {self.dir / 'cloud.log'}")

    def scenario(self) -> None:
        assert self.edge is not None
        good = str(SKU["barcodes"][0])
        with self.step("scan a known barcode") as d:
            scanner.send("127.0.0.1", self.scanner_port, [good])
            rec = self.edge.wait_for(
                lambda r: r.get("barcode") == good and "seq" in r, 10, "the scan commit"
            )
            seq = int(rec["seq"])
            d.append(f"committed locally as seq {seq}")
            light = self.edge.wait_for(lambda r: r.get("signal") == "ok", 10, "the green light")
            d.append(f"light GREEN ({light['msg'].split(': ', 1)[-1]})")
        with self.step("synced to the cloud") as d:
            stored = self._wait_event(good)
            d.append(
                f"cloud stored {stored['type']} seq {stored['seq']} verdict {stored['payload']['verdict']}"
            )
            self.edge.wait_for(
                lambda r: r.get("acked_through", 0) >= seq, 15, f"the ack for seq {seq}"
            )
            d.append(f"acked back through seq {seq}")
        with self.step("scan an unknown barcode") as d:
            scanner.send("127.0.0.1", self.scanner_port, [UNKNOWN_BARCODE])
            self.edge.wait_for(lambda r: r.get("signal") == "error", 10, "the red light")
            d.append(f"{UNKNOWN_BARCODE} is not in the catalogue: light RED")
            stored = self._wait_event(UNKNOWN_BARCODE)
            d.append(f"recorded in the cloud with verdict {stored['payload']['verdict']}")

    def _wait_event(self, barcode: str, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = httpx.get(
                f"{self.api}/api/v1/events",
                params={"node": NODE, "type": "scan.recorded"},
                headers=self.auth,
                timeout=5,
            )
            rows.raise_for_status()
            for row in rows.json():
                if row["payload"]["barcode"] == barcode:
                    return dict(row)
            time.sleep(0.1)
        raise DemoFailed(f"the cloud did not store the scan of {barcode} within {timeout} s")

    def summary(self) -> None:
        table = Table(title="Guanjia demo", show_lines=False)
        table.add_column("step")
        table.add_column("")
        table.add_column("what happened")
        table.add_column("s", justify="right")
        for s in self.steps:
            table.add_row(
                s.name, "[green]ok[/]" if s.ok else "[red]FAILED[/]", s.detail, f"{s.seconds:.2f}"
            )
        self.console.print(table)
        with contextlib.suppress(httpx.HTTPError):
            rows = httpx.get(
                f"{self.api}/api/v1/events", params={"node": NODE}, headers=self.auth, timeout=5
            ).json()
            t = Table(title=f"events of {NODE} as the cloud stored them ({self.api}/api/v1/events)")
            for col in ("seq", "epoch", "type", "payload"):
                t.add_column(col)
            for r in rows:
                t.add_row(
                    str(r["seq"]), str(r["epoch"]), r["type"], orjson.dumps(r["payload"]).decode()
                )
            self.console.print(t)
        if self.orders:
            t = Table(
                title="orders audited by the rules (GET /api/v1/orders/{no} shows every decision)"
            )
            for col in ("order", "status", "carrier", "why"):
                t.add_column(col)
            for o, _full, why in self.orders:
                status = f"{o['status']} (held)" if o["on_hold"] else o["status"]
                t.add_row(o["order_no"], status, o["carrier"] or "", o["hold_reason"] or why)
            self.console.print(t)
        if self.warehouse is not None:
            for t in self.warehouse.summary_tables():
                self.console.print(t)
            self.console.print(f"label PNGs: {self.warehouse.labels}")
        self.console.print(f"API: {self.api}/docs   logs and data: {self.dir}")

    def stop(self) -> None:
        if self.warehouse is not None:
            self.warehouse.stop()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.broker is not None:
            self.broker.stop()


def run(once: bool, workdir: Path | None, console: Console | None = None) -> int:
    console = console or Console()
    wd = workdir or Path(tempfile.mkdtemp(prefix="guanjia-demo-"))
    wd.mkdir(parents=True, exist_ok=True)
    demo = Demo(wd, console)
    console.print(f"[bold]Guanjia demo[/] — working directory {wd}")
    try:
        demo.start()
        demo.scenario()
        assert demo.warehouse is not None
        demo.warehouse.run()
        demo.summary()
        console.print(f"[bold green]demo ok[/] in {time.monotonic() - demo.t0:.1f} s")
        if not once:
            console.print(
                f"Running. Scan more with: guanjia sim scanner --port {demo.scanner_port} 6901234567892\n"
                "Ctrl-C to stop."
            )
            assert demo.edge is not None
            while True:
                with contextlib.suppress(queue.Empty):
                    rec = demo.edge.records.get(timeout=1)
                    console.print(f"[dim]edge[/] {rec.get('msg')}")
        return 0
    except Exception as err:  # a bug in a leg must still end in a summary and a clean stop
        if not isinstance(err, DemoFailed):
            err = DemoFailed(f"{type(err).__name__}: {err}")
        demo.summary()
        console.print(f"[bold red]demo failed:[/] {err}\nlogs: {wd}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        demo.stop()
