"""Barcode scanner simulator: types barcodes into a node's line port, as a scanner would.

Real scanners are usually configured with a CR or CR LF suffix; we send CR LF.
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Annotated

import typer


def send(host: str, port: int, barcodes: list[str], interval: float = 0.0) -> None:
    with socket.create_connection((host, port), timeout=5) as conn:
        for code in barcodes:
            conn.sendall(code.encode("utf-8") + b"\r\n")
            if interval:
                time.sleep(interval)


def command(
    barcodes: Annotated[
        list[str] | None, typer.Argument(help="Barcodes to scan; none: read stdin lines.")
    ] = None,
    host: Annotated[str, typer.Option(help="The node's scanner line port host.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The node's scanner line port.")] = 7001,
    interval: Annotated[float, typer.Option(help="Seconds between scans.")] = 0.2,
) -> None:
    """Scan barcodes into an edge node's line port."""
    codes = barcodes or [line.strip() for line in sys.stdin if line.strip()]
    send(host, port, codes, interval)
    typer.echo(f"scanned {len(codes)} barcode(s) into {host}:{port}")
