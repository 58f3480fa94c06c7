"""``guanjia bench ...`` commands of the edge (registered by entry point ``guanjia.bench``)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def _table(title: str, figures: dict[str, float]) -> None:
    table = Table(title=f"{title} ({platform.machine()}, Python {platform.python_version()})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,.2f}")
    Console().print(table)


def scale(trials: Annotated[int, typer.Option(help="Weight changes to time.")] = 50) -> None:
    """Scale: from the weight settling to the driver reporting it stable (MT-SICS and Toledo)."""
    from edge.bench.scale import bench_scale

    _table("scale settle -> stable weight, ms (target p99 <= 300)", bench_scale(trials))


def station(
    lines: Annotated[int, typer.Option(help="Pick lines in the wave.")] = 200,
    bins: Annotated[int, typer.Option(help="Bins in the warehouse.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random layout seed.")] = 1,
    orders: Annotated[
        int, typer.Option(help="Released orders in the pack node's store.")
    ] = 100_000,
    events: Annotated[
        int, typer.Option(help="Outbox events in the pack node's store.")
    ] = 1_000_000,
    scans: Annotated[int, typer.Option(help="Scans timed at the pack station.")] = 2000,
) -> None:
    """Pick route beside the naive walk-order route; pack scan -> light with a durable commit."""
    from edge.bench.station import bench_pick_route
    from edge.bench.station_latency import bench_scan_latency

    _table(
        f"pick route, {lines} lines over {bins} bins (target <= 200 ms)",
        bench_pick_route(lines, bins, seed),
    )
    _table(
        f"pack scan -> light, {orders:,} orders / {events:,} events in the store, ms (target p99 <= 10)",
        bench_scan_latency(orders, events, scans),
    )


def receive(
    po_lines: Annotated[int, typer.Option(help="Open PO lines on the node.")] = 10_000,
    orders: Annotated[int, typer.Option(help="Released orders (fast-mover demand).")] = 2_000,
    scans: Annotated[int, typer.Option(help="Item scans timed.")] = 2_000,
    opens: Annotated[int, typer.Option(help="Receipts opened by waybill, timed.")] = 200,
    serials: Annotated[
        int, typer.Option(help="A serial-tracked transfer's units scanned by serial, timed.")
    ] = 2_000,
    directory: Annotated[
        str | None, typer.Option(help="Where the store goes (/dev/shm: the disk out of it).")
    ] = None,
) -> None:
    """Receiving station: item scan -> light with a durable commit, many open PO lines;
    a PO opened by its waybill; an item scan through the PDA desk."""
    from edge.bench.receive import bench_receive_latency

    if directory is not None and not Path(directory).is_dir():
        raise typer.BadParameter(f"{directory} is not a directory", param_hint="--directory")
    _table(
        f"receiving scan -> light, {po_lines:,} open PO lines, ms (target p99 <= 10)",
        bench_receive_latency(po_lines, orders, scans, opens, directory, serials),
    )


def rfid(
    reports: Annotated[int, typer.Option(help="Tag reports to push through.")] = 200_000,
) -> None:
    """RFID pipeline: sllurp decode -> aggregation -> store, beside sllurp decoding alone."""
    from edge.bench.rfid import bench_rfid

    figures = bench_rfid(reports)
    table = Table(
        title=f"RFID ingest, {reports:,} tag reports ({platform.machine()}, {platform.python_version()})"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,.2f}" if isinstance(value, float) else str(value))
    Console().print(table)


def pda(
    units: Annotated[
        int, typer.Option(help="Units of each of 3 SKUs in the wave (scans = 3 × (units + 1)).")
    ] = 333,
    seed: Annotated[
        int, typer.Option(help="Seed of the network cuts, reloads and scan modes.")
    ] = 11,
    chromium: Annotated[
        Path, typer.Option(help="Debian's Chromium (never `playwright install`).")
    ] = Path("/usr/bin/chromium"),
) -> None:
    """PDA pick page in Chromium: scan -> feedback p99 (node reachable / unreachable) and
    lost / doubled scans over random network cuts and reloads (issue 14; dev install)."""
    from edge.bench.pda import bench_pda

    result = bench_pda(units, seed, chromium)
    Console().print(result.report())
    _table("PDA churn (targets: p99 <= 50 ms, 0 lost, 0 doubled)", result.figures())
    if result.lost or result.doubled:
        raise typer.Exit(1)
