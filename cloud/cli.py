"""``guanjia cloud ...``: run the hub, apply migrations."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

app = typer.Typer(help="Cloud hub: API, ingest of edge events.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides GUANJIA_HTTP_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides GUANJIA_HTTP_PORT.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")
    ] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="Overrides GUANJIA_MQTT_PORT.")] = None,
) -> None:
    """Serve the API and run MQTT ingest (settings from GUANJIA_* environment variables)."""
    import uvicorn

    from cloud.app import create_app
    from cloud.settings import Settings

    overrides = {
        k: v
        for k, v in {
            "http_host": host,
            "http_port": port,
            "database_url": database_url,
            "mqtt_port": mqtt_port,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)  # type: ignore[arg-type]
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings), host=settings.http_host, port=settings.http_port, log_level="warning"
    )


@app.command()
def migrate(
    database_url: Annotated[
        str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")
    ] = None,
) -> None:
    """Apply database migrations up to the newest."""
    from cloud.db import make_engine
    from cloud.db import migrate as run_migrations
    from cloud.settings import Settings

    settings = Settings(**({"database_url": database_url} if database_url else {}))  # type: ignore[arg-type]
    run_migrations(make_engine(settings.database_url))
    typer.echo("migrations applied")


@app.command("seed-demo")
def seed_demo(
    database_url: Annotated[
        str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")
    ] = None,
    password: Annotated[
        str, typer.Option(help="Password of the demo's admin user.")
    ] = "guanjia-demo",
    node: Annotated[
        list[str] | None, typer.Option(help="Edge node(s) that serve WH1 (repeatable).")
    ] = None,
) -> None:
    """Create the demo seller: admin user, catalogue, WH1 with bins, stock, rules, orders."""
    import json
    from datetime import UTC, datetime

    from cloud.db import make_engine, session_factory, transaction
    from cloud.db import migrate as run_migrations
    from cloud.seed import seed_demo as run_seed
    from cloud.settings import Settings

    settings = Settings(**({"database_url": database_url} if database_url else {}))  # type: ignore[arg-type]
    engine = make_engine(settings.database_url)
    run_migrations(engine)
    with transaction(session_factory(engine)) as s:
        summary = run_seed(s, datetime.now(UTC), password=password, node_ids=node or [])
    typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))


@app.command()
def compact(
    database_url: Annotated[
        str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")
    ] = None,
) -> None:
    """Drop downlink changes superseded by newer ones (run from cron; safe at any time)."""
    from cloud import downlink
    from cloud.db import make_engine, session_factory, transaction
    from cloud.settings import Settings

    settings = Settings(**({"database_url": database_url} if database_url else {}))  # type: ignore[arg-type]
    with transaction(session_factory(make_engine(settings.database_url))) as s:
        n = downlink.compact(s)
    typer.echo(f"compacted: {n} superseded downlink changes dropped")
