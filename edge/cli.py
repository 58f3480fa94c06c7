"""``guanjia edge ...``: run a node daemon."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer

from edge.config import ConfigError, EdgeConfig, load_config

app = typer.Typer(help="Edge node: stations, devices, offline store, sync.", no_args_is_help=True)


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="The node's TOML config file.")],
    log_format: Annotated[str, typer.Option(help="text or json (one object per line).")] = "text",
) -> None:
    """Run the node daemon until stopped (SIGTERM/Ctrl-C)."""
    from edge.node import EdgeNode
    from edge.ops import logs

    try:
        cfg = load_config(config)
    except ConfigError as err:
        typer.echo(f"guanjia edge: {err}", err=True)
        raise typer.Exit(2) from None
    logs.setup(log_format)

    async def main() -> None:
        # systemd stops a service with SIGTERM: end as on Ctrl-C, through the node's cleanup
        # (devices closed, store closed, STOPPING=1), not by the default instant death.
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await EdgeNode(cfg).run()

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(main())


@app.command("check-config")
def check_config(config: Annotated[Path, typer.Option("--config", "-c")]) -> None:
    """Validate a config file and exit."""
    try:
        load_config(config)
    except ConfigError as err:
        typer.echo(f"guanjia edge: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{config}: ok")


@app.command("bench-node", hidden=True)
def bench_node(
    config: Annotated[Path, typer.Option("--config", "-c")],
    events: Annotated[int, typer.Option(help="Events to queue offline before draining.")] = 100_000,
    scan_rate: Annotated[
        float, typer.Option(help="Scans per second during the drain (0: none).")
    ] = 20.0,
    timeout: Annotated[
        float, typer.Option(help="Give up draining after this many seconds.")
    ] = 300.0,
) -> None:
    """Node side of `guanjia bench sync` (run by the orchestrator, prints JSON)."""
    import logging

    from edge.bench import node as bench

    logging.basicConfig(level=logging.WARNING)
    bench.run(load_config(config), events, scan_rate, timeout)


@app.command("bench-fleet", hidden=True)
def bench_fleet(
    prefix: Annotated[str, typer.Option(help="Node id prefix.")] = "fleet",
    nodes: Annotated[int, typer.Option(help="Simulated nodes in this process.")] = 100,
    rate: Annotated[float, typer.Option(help="Events per second per node.")] = 5.0,
    duration: Annotated[float, typer.Option(help="Seconds of writing.")] = 60.0,
    mqtt_port: Annotated[int, typer.Option(help="Broker port on 127.0.0.1.")] = 1883,
    data_dir: Annotated[Path, typer.Option(help="Where the node databases go.")] = Path(
        "fleet-data"
    ),
) -> None:
    """Node side of `guanjia bench fanin` (run by the orchestrator, prints JSON)."""
    import logging

    from edge.bench import fleet as bench

    logging.basicConfig(level=logging.WARNING)
    bench.run(prefix, nodes, rate, duration, mqtt_port, data_dir)


def _register_pick_api() -> None:
    from edge.api.cli import pick_api

    app.command("pick-api")(pick_api)


_register_pick_api()


@app.command("hash-pin")
def hash_pin(
    pin: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="4 to 12 digits."
        ),
    ],
) -> None:
    """Print a PIN's hash: an operators file's pin_hash, a [pack.leads] value."""
    from edge.pins import hash_pin as make_hash  # pwdlib loads only for this command

    try:
        typer.echo(make_hash(pin))
    except ValueError as err:
        typer.echo(f"guanjia edge: {err}", err=True)
        raise typer.Exit(2) from None


@app.command()
def backup(
    config: Annotated[Path, typer.Option("--config", "-c")],
    to: Annotated[Path, typer.Option("--to", help="Backup file to write.")],
) -> None:
    """Write an online, consistent backup of the node's database."""
    from edge.store.store import Store

    cfg = _config_or_exit(config)
    store = Store(cfg.node.data_dir / "edge.db", cfg.node.id)
    store.backup_to(to)
    typer.echo(f"backup of {cfg.node.id} written to {to} (last seq {store.last_seq})")


@app.command()
def restore(
    config: Annotated[Path, typer.Option("--config", "-c")],
    from_: Annotated[Path, typer.Option("--from", help="Backup file to restore.")],
) -> None:
    """Restore the node's database from a backup (the daemon must be stopped).

    The node re-bases on the cloud at its next connect: events the cloud already
    holds are not sent again, events written since are renumbered after them.
    """
    from edge.store.store import Store

    cfg = _config_or_exit(config)
    if not from_.exists():
        typer.echo(f"guanjia edge: no backup at {from_}", err=True)
        raise typer.Exit(2)
    store = Store.restore_from(from_, cfg.node.data_dir / "edge.db", cfg.node.id)
    typer.echo(
        f"restored {cfg.node.id} from {from_}: epoch {store.epoch}, last seq {store.last_seq}"
    )


def _config_or_exit(path: Path) -> EdgeConfig:
    try:
        return load_config(path)
    except ConfigError as err:
        typer.echo(f"guanjia edge: {err}", err=True)
        raise typer.Exit(2) from None
