"""``guanjia demo``: a simulated warehouse, run as the real parts run.

Each part is its own process, talking only over MQTT and HTTP, exactly as in
production: a private broker, the cloud hub (SQLite), one edge node, and the
scanner simulator typing into the node's scanner port. The demo drives the
scenario through public interfaces (the API, the scanner port, the node's
JSON log) and checks each step, so ``--once`` is also an end-to-end test.

After the scan-check skeleton (scan_check.py), warehouse.py runs the warehouse: orders
released by the cloud are picked (pick node, PDA API), packed (pack node: scanner, scale
and printer simulators; one wrong item shows red; label PNGs in ``<dir>/labels``),
shipped through the API, and a zone is counted by RFID (stocktake node, LLRP simulator).

Then finance.py books it: courier bills reconciled (one parcel overcharged), the shop's
Alipay bill settled, an e-invoice issued and red-flushed, the trial balance balanced.

Last, inbound.py: a purchase order received at the dock by its delivery waybill with a QC
fail (the pick node's handheld receiving desk), stock transferred to a second warehouse,
and a return taken back to sellable and damaged at the handheld's returns desk.

This module tells the story in order; hub.py starts the broker and the hub, session.py
holds what the legs share.
"""

from __future__ import annotations

import contextlib
import queue
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from simulators.demo import scan_check
from simulators.demo.finance import Finance
from simulators.demo.hub import DEMO_PASSWORD, Hub
from simulators.demo.inbound import Inbound
from simulators.demo.scan_check import ScanCheck
from simulators.demo.session import DemoFailed, Session
from simulators.demo.warehouse import NODES as WAREHOUSE_NODES
from simulators.demo.warehouse import PICKER, PICKER_PIN, Warehouse


class Demo:
    def __init__(self, workdir: Path, console: Console) -> None:
        self.session = Session(workdir, console)
        self.hub = Hub(self.session)
        self.check = ScanCheck(self.session)
        self.warehouse: Warehouse | None = None
        self.finance: Finance | None = None
        self.inbound: Inbound | None = None

    def start(self) -> None:
        self.hub.start([scan_check.NODE, *WAREHOUSE_NODES])
        self.check.put_sku()
        self.hub.start_marketplace()
        self.warehouse = Warehouse(self.session, self.hub.market_url)
        # The warehouse's nodes boot while the scan-check node does its steps.
        self.warehouse.start_nodes()
        self.check.start_node()
        # The e-invoice provider and the seller's connection start while the nodes boot.
        self.finance = Finance(self.session, self.hub)
        self.finance.start()
        self.warehouse.nodes_up()

    def scenario(self) -> None:
        self.check.run()
        assert self.warehouse is not None
        self.warehouse.run()
        # The books of what was shipped: courier bills, a settlement, an e-invoice.
        assert self.finance is not None
        self.finance.run(self.warehouse.shipped)
        # Inbound and after-sales last: its receipt and return change stock the legs above
        # count and book.
        self.inbound = Inbound(self.session, self.warehouse)
        self.inbound.run()

    def summary(self) -> None:
        s = self.session
        table = Table(title="Guanjia demo", show_lines=False)
        table.add_column("step")
        table.add_column("")
        table.add_column("what happened")
        table.add_column("s", justify="right")
        for st in s.steps:
            table.add_row(
                st.name,
                "[green]ok[/]" if st.ok else "[red]FAILED[/]",
                st.detail,
                f"{st.seconds:.2f}",
            )
        s.console.print(table)
        for t in [*self.check.summary_tables(), *self.hub.summary_tables()]:
            s.console.print(t)
        if self.warehouse is not None:
            for t in self.warehouse.summary_tables():
                s.console.print(t)
            s.console.print(f"label PNGs: {self.warehouse.labels}")
            # The handheld's pages on the pick node (docs/pda.md): open in a browser.
            s.console.print(
                f"PDA: {self.warehouse.pick_api}/pda   operator {PICKER}, PIN {PICKER_PIN}"
            )
        if self.inbound is not None:
            for t in self.inbound.summary_tables():
                s.console.print(t)
        if self.finance is not None and self.finance.red:
            s.console.print(
                f"e-invoices: blue No. {self.finance.blue['number']}, "
                f"red No. {self.finance.red['number']}   books: {s.api}/web/finance"
            )
        s.console.print(f"API: {s.api}/docs   logs and data: {s.dir}")
        # The dashboard (docs/dashboard.md): the demo's story, page by page, while it runs.
        s.console.print(
            f"Dashboard: {s.api}/web/   log in: account {self.hub.seed['account']}, "
            f"user {self.hub.seed['username']}, password {DEMO_PASSWORD}"
        )

    def stop(self) -> None:
        if self.warehouse is not None:
            self.warehouse.stop()
        self.session.stop()


def run(once: bool, workdir: Path | None, console: Console | None = None) -> int:
    console = console or Console()
    wd = workdir or Path(tempfile.mkdtemp(prefix="guanjia-demo-"))
    wd.mkdir(parents=True, exist_ok=True)
    demo = Demo(wd, console)
    console.print(f"[bold]Guanjia demo[/] — working directory {wd}")
    try:
        demo.start()
        demo.scenario()
        demo.summary()
        console.print(f"[bold green]demo ok[/] in {time.monotonic() - demo.session.t0:.1f} s")
        if not once:
            console.print(
                f"Running. Scan more with: guanjia sim scanner --port {demo.check.scanner_port} 6901234567892\n"
                "Ctrl-C to stop."
            )
            edge = demo.check.edge
            assert edge is not None
            while True:
                with contextlib.suppress(queue.Empty):
                    rec = edge.records.get(timeout=1)
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
