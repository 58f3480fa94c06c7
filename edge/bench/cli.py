"""``guanjia bench ...`` commands of the edge (registered by entry point ``guanjia.bench``)."""

from __future__ import annotations

import platform
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
