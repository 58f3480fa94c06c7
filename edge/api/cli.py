"""``guanjia edge pick-api``: the pick API on its own, outside the node daemon."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edge.api.limits import HttpLimits
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
    head_timeout: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds a connection has to send a whole request head."),
    ] = HttpLimits.head_timeout_s,
    keep_alive: Annotated[
        int, typer.Option(min=1, help="Seconds an idle keep-alive connection is kept.")
    ] = HttpLimits.keep_alive_s,
    max_connections: Annotated[
        int,
        typer.Option(min=1, help="Open connections; beyond, the longest-idle one is closed."),
    ] = HttpLimits.max_connections,
) -> None:
    """Serve the pick API for PDAs on the LAN (one process: it owns the pick sessions)."""
    import uvicorn

    from edge.api.app import create_pick_app
    from edge.api.operators import OperatorError
    from edge.api.server import uvicorn_options
    from edge.ops import logs

    limits = HttpLimits(
        head_timeout_s=head_timeout, keep_alive_s=keep_alive, max_connections=max_connections
    )
    try:
        cfg = load_config(config)
        app = create_pick_app(
            cfg.node.data_dir / "edge.db",
            cfg.node.id,
            operators,
            station=cfg.station.name,
            warehouse=warehouse,
            pda_service_worker=cfg.pick is not None and cfg.pick.pda_service_worker,
        )
    except (ConfigError, OperatorError) as err:
        typer.echo(f"guanjia edge: {err}", err=True)
        raise typer.Exit(2) from None
    logs.setup(log_format)
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=1,
        log_config=None,
        access_log=False,
        **uvicorn_options(limits),
    )
