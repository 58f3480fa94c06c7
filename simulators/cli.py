"""The ``guanjia`` command.

It composes the parts by entry point (group ``guanjia.commands``), never by
import, so this package keeps its promise not to import ``edge`` or ``cloud``;
the demo runs them as separate processes, as they run in production.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from simulators.chaos.cli import app as chaos_app
from simulators.devices import hid_scanner, llrp, printer, scale, scanner
from simulators.einvoice import app as einvoice
from simulators.marketplace import app as marketplace
from simulators.marketplace import bill as marketplace_bill
from simulators.marketplace import wechat_bill as marketplace_wechat_bill

app = typer.Typer(
    help="Guanjia (管家): warehouse software for online sellers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
sim = typer.Typer(
    help="Simulators of devices and marketplaces, speaking the real wire protocols and APIs.",
    no_args_is_help=True,
)
bench = typer.Typer(
    help="Benchmarks that print figures beside the limit measured in the same run.",
    no_args_is_help=True,
)
app.add_typer(sim, name="sim")
app.add_typer(bench, name="bench")
app.add_typer(chaos_app, name="chaos")
sim.command("scanner")(scanner.command)
sim.command("printer")(printer.command)
sim.command("llrp")(llrp.command)
sim.command("scale")(scale.command)
sim.command("hid-scanner")(hid_scanner.command)
sim.command("marketplace")(marketplace.command)
sim.command("einvoice")(einvoice.command)
sim.command("marketplace-bill")(marketplace_bill.command)
sim.command("marketplace-wechat-bill")(marketplace_wechat_bill.command)


def _load_parts() -> None:
    for ep in entry_points(group="guanjia.bench"):
        try:
            bench.command(ep.name)(ep.load())
        except ImportError:
            continue  # that part's extra is not installed: its bench is not offered
    for ep in entry_points(group="guanjia.commands"):
        try:
            app.add_typer(ep.load(), name=ep.name)
        except ImportError as err:
            missing = err.name or str(err)

            def unavailable(name: str = ep.name, missing: str = missing) -> None:
                typer.echo(
                    f"guanjia {name} needs the '{name}' extra (missing {missing}): pip install 'guanjia[{name}]'",
                    err=True,
                )
                raise typer.Exit(2)

            app.command(ep.name, help=f"(unavailable: install guanjia[{ep.name}])")(unavailable)


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Run the scenario, print a summary, exit.")
    ] = False,
    workdir: Annotated[
        Path | None, typer.Option("--dir", help="Where logs, databases and labels go.")
    ] = None,
) -> None:
    """Start a broker, the cloud hub, an edge node and simulators; run the warehouse scenario."""
    from simulators.demo.run import run  # imported on use: the other commands start faster

    raise typer.Exit(run(once, workdir))


@bench.command("codec")
def bench_codec(events: Annotated[int, typer.Option(help="Events per batch.")] = 500) -> None:
    """orjson vs msgpack for event batches: why the codec is what it is."""
    from simulators.bench.codec import run

    run(events)


@bench.command("sync")
def bench_sync(
    events: Annotated[int, typer.Option(help="Events queued offline, then drained.")] = 100_000,
    batch: Annotated[int, typer.Option(help="Events per batch.")] = 500,
    scan_rate: Annotated[float, typer.Option(help="Scans per second during the drain.")] = 20.0,
    database: Annotated[
        list[str] | None, typer.Option(help="sqlite and/or postgresql (repeatable).")
    ] = None,
    pg_url: Annotated[
        str, typer.Option(help="PostgreSQL for --database postgresql.")
    ] = "postgresql+psycopg://postgres@127.0.0.1:5432/test",
) -> None:
    """Backlog drain through Mosquitto into the cloud DB, beside raw paho on the same broker."""
    from simulators.bench.sync import run

    run(events, batch, scan_rate, database or ["sqlite"], pg_url)


@bench.command("fanin")
def bench_fanin(
    nodes: Annotated[int, typer.Option(help="Simulated edge nodes.")] = 500,
    rate: Annotated[float, typer.Option(help="Events per second per node.")] = 5.0,
    duration: Annotated[float, typer.Option(help="Seconds of writing.")] = 300.0,
    processes: Annotated[int, typer.Option(help="Processes the nodes are spread over.")] = 2,
    database: Annotated[str, typer.Option(help="sqlite or postgresql.")] = "postgresql",
    pg_url: Annotated[
        str, typer.Option(help="PostgreSQL URL.")
    ] = "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    full_nodes: Annotated[
        bool,
        typer.Option(
            "--full-nodes",
            help="Simulate each node as a full edge node (own SQLite store, sync agent); "
            "by default nodes are light: the real sync protocol, state in memory.",
        ),
    ] = False,
    status_interval: Annotated[
        float,
        typer.Option(help="Seconds between a light node's retained status (a real node: 10)."),
    ] = 10.0,
    kill_hub_at: Annotated[
        float | None,
        typer.Option(
            help="Seconds after the nodes start: kill -9 the hub and start it again "
            "(every event must still be stored exactly once)."
        ),
    ] = None,
    hubs: Annotated[
        int,
        typer.Option(
            min=1,
            max=8,
            help="Hub processes on the one database and broker, sharing ingest through a "
            "$share group, as on that many machines (docs/deploy/hub.md).",
        ),
    ] = 1,
) -> None:
    """Many nodes into one hub: sync lag from event creation to the hub and back."""
    from simulators.bench.fanin import run as run_fanin

    run_fanin(
        nodes,
        rate,
        duration,
        processes,
        database,
        pg_url,
        full_nodes,
        status_interval,
        kill_hub_at,
        hubs,
    )


def main() -> None:
    _load_parts()
    app(prog_name="guanjia")


if __name__ == "__main__":
    main()
