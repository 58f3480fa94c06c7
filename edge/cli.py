"""``guanjia edge ...``: run a node daemon."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from edge.config import ConfigError, load_config

app = typer.Typer(help="Edge node: stations, devices, offline store, sync.", no_args_is_help=True)


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="The node's TOML config file.")],
    log_format: Annotated[str, typer.Option(help="text or json (one object per line).")] = "text",
) -> None:
    """Run the node daemon until stopped (SIGTERM/Ctrl-C)."""
    from edge import logs
    from edge.runtime import EdgeNode

    try:
        cfg = load_config(config)
    except ConfigError as err:
        typer.echo(f"guanjia edge: {err}", err=True)
        raise typer.Exit(2) from None
    logs.setup(log_format)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(EdgeNode(cfg).run())


@app.command("check-config")
def check_config(config: Annotated[Path, typer.Option("--config", "-c")]) -> None:
    """Validate a config file and exit."""
    try:
        load_config(config)
    except ConfigError as err:
        typer.echo(f"guanjia edge: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{config}: ok")
