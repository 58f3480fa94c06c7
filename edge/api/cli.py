"""Typer commands the lead registers: ``guanjia edge pick-api`` and ``guanjia edge hash-pin``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edge.config import ConfigError, load_config


def pick_api(
    config: Annotated[Path, typer.Option("--config", "-c", help="The node's TOML config file.")],
    operators: Annotated[
        Path, typer.Option("--operators", help="Operators TOML file: ids, PIN hashes, roles.")
    ],
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0: every LAN interface).")
    ] = "0.0.0.0",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8710,
    warehouse: Annotated[
        str | None, typer.Option(help="Only this warehouse's bins (default: all).")
    ] = None,
    log_format: Annotated[str, typer.Option(help="text or json (one object per line).")] = "text",
) -> None:
    """Serve the pick API for PDAs on the LAN (one process: it owns the pick sessions)."""
    import uvicorn

    from edge.api.app import create_pick_app
    from edge.api.operators import OperatorError
    from edge.ops import logs

    try:
        cfg = load_config(config)
        app = create_pick_app(
            cfg.node.data_dir / "edge.db",
            cfg.node.id,
            operators,
            station=cfg.station.name,
            warehouse=warehouse,
        )
    except (ConfigError, OperatorError) as err:
        typer.echo(f"guanjia edge: {err}", err=True)
        raise typer.Exit(2) from None
    logs.setup(log_format)
    uvicorn.run(app, host=host, port=port, workers=1, log_config=None, access_log=False)


def hash_pin(
    pin: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="4 to 12 digits."
        ),
    ],
) -> None:
    """Print the pin_hash for an operators file entry."""
    from edge.api.operators import hash_pin as make_hash

    try:
        typer.echo(make_hash(pin))
    except ValueError as err:
        typer.echo(f"guanjia edge: {err}", err=True)
        raise typer.Exit(2) from None
