"""``guanjia channels locations list|map|unmap``: which of our warehouses each of a Shopify
shop's locations is (docs/channels.md "Several Shopify locations"). The same domain
functions as ``PUT``/``DELETE /api/v1/channels/shops/{code}/locations/{warehouse}`` and the
shop's page: the shop's ``locations.json`` is read with no transaction open, then a short
write checks again what may have changed (cloud/channels/stock_locations.py)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

locations_app = typer.Typer(
    help="A Shopify shop's locations and our warehouses (docs/channels.md \"Several Shopify "
    'locations").',
    no_args_is_help=True,
)

ShopOpt = Annotated[str, typer.Option(help="The shop's code.")]
AccountOpt = Annotated[str, typer.Option(help="The seller account the shop belongs to.")]
DatabaseOpt = Annotated[str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")]
WarehouseOpt = Annotated[str, typer.Option(help="Our warehouse's code.")]


def _channels_factory(database_url: str | None) -> Any:
    """As cloud/cli.py's (which imports this module: not imported back)."""
    from cloud.db.engine import make_engine, migrate, session_factory
    from cloud.settings import Settings

    settings = Settings(**({"database_url": database_url} if database_url else {}))  # type: ignore[arg-type]
    engine = make_engine(settings.database_url)
    migrate(engine)
    return session_factory(engine)


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(1)


@locations_app.command("list")
def locations_list(shop: ShopOpt, account: AccountOpt, database_url: DatabaseOpt = None) -> None:
    """The shop's mapping, one JSON line per warehouse (warehouse, location id and name)."""
    import orjson

    from cloud.channels import runner, stock_locations
    from cloud.errors import DomainError

    factory = _channels_factory(database_url)
    try:
        with factory() as s:
            rows = stock_locations.listed(s, runner.account_id_of(s, account), shop)
    except DomainError as err:
        raise _fail(err) from None
    for row in rows:
        typer.echo(orjson.dumps(row).decode())


@locations_app.command("map")
def locations_map(
    shop: ShopOpt,
    account: AccountOpt,
    warehouse: WarehouseOpt,
    location_id: Annotated[str, typer.Option(help="Shopify's location id (digits).")],
    database_url: DatabaseOpt = None,
) -> None:
    """Map our warehouse to one of the shop's active locations (checked against the shop's
    locations.json, read now); every SKU then owes the shop a push."""
    from datetime import UTC, datetime

    import orjson
    from pydantic import ValidationError

    from cloud.channels import runner, stock_locations
    from cloud.errors import DomainError

    try:
        body = stock_locations.LocationIn(location_id=location_id)
    except ValidationError:
        typer.echo(f"error: a Shopify location id is digits, not {location_id[:20]!r}", err=True)
        raise typer.Exit(2) from None
    factory = _channels_factory(database_url)
    try:
        with factory() as s:
            account_id = runner.account_id_of(s, account)
        row = stock_locations.map_location(
            factory,
            account_id,
            shop,
            warehouse,
            body,
            runner.locations_of,
            "cli",
            datetime.now(UTC),
        )
    except DomainError as err:
        raise _fail(err) from None
    typer.echo(orjson.dumps(row).decode())


@locations_app.command("unmap")
def locations_unmap(
    shop: ShopOpt, account: AccountOpt, warehouse: WarehouseOpt, database_url: DatabaseOpt = None
) -> None:
    """Stop pushing our warehouse to the shop (its location keeps the level it has)."""
    from cloud.channels import runner, stock_locations
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    try:
        with transaction(_channels_factory(database_url)) as s:
            stock_locations.remove_location(s, runner.account_id_of(s, account), shop, warehouse)
    except DomainError as err:
        raise _fail(err) from None
    typer.echo(f"shop {shop}: warehouse {warehouse} is no longer pushed")
