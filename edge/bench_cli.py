"""``guanjia bench ...`` commands of the edge (registered by entry point ``guanjia.bench``)."""

from __future__ import annotations

import platform
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def rfid(
    reports: Annotated[int, typer.Option(help="Tag reports to push through.")] = 200_000,
) -> None:
    """RFID pipeline: sllurp decode -> aggregation -> store, beside sllurp decoding alone."""
    from edge.bench_rfid import bench_rfid

    figures = bench_rfid(reports)
    table = Table(
        title=f"RFID ingest, {reports:,} tag reports ({platform.machine()}, {platform.python_version()})"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,.2f}" if isinstance(value, float) else str(value))
    Console().print(table)
