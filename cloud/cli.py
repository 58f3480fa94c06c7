"""``guanjia cloud ...``: run the hub, apply migrations."""

from __future__ import annotations

import logging
import os
import tempfile
from typing import TYPE_CHECKING, Annotated, Any

import typer

# Commands import what they use inside themselves: `guanjia --help` and every other part's
# commands load without FastAPI, SQLAlchemy or the domain.

if TYPE_CHECKING:
    from cloud.settings import Settings

app = typer.Typer(help="Cloud hub: API, ingest of edge events.", no_args_is_help=True)
account_app = typer.Typer(help="Seller accounts (tenants).", no_args_is_help=True)
app.add_typer(account_app, name="account")
#: ``guanjia channels ...`` (an entry point of its own, see pyproject.toml).
channels_app = typer.Typer(
    help="Marketplace shops: order download (订单下载). See docs/channels.md.",
    no_args_is_help=True,
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides GUANJIA_HTTP_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides GUANJIA_HTTP_PORT.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")
    ] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="Overrides GUANJIA_MQTT_PORT.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Overrides GUANJIA_HTTP_WORKERS.")
    ] = None,
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
            "http_workers": workers,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)  # type: ignore[arg-type]
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.http_workers == 1:
        from cloud.serve.protocol import uvicorn_options

        uvicorn.run(
            create_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            **uvicorn_options(settings),
        )
        return
    from cloud.serve.workers import supervise

    # Each worker listens on a socket of its own (cloud/serve/workers.py says why).
    os.environ.update(_worker_environment(settings))
    # The workers' metrics are added up from files in one directory, fresh for this serve
    # (cloud/metrics.py); set before any worker starts, so each imports prometheus_client
    # in multiprocess mode.
    with tempfile.TemporaryDirectory(prefix="guanjia-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        status = supervise(settings.http_workers, settings.http_host, settings.http_port)
    raise typer.Exit(status)


def _worker_environment(settings: Settings) -> dict[str, str]:
    """What every worker process must agree on, decided once here before they start.

    Migrations run here, once, not in each worker at the same time. Tokens one worker signs
    must verify in the others, so an unset secret is drawn here for all of them (and dies
    with this server, as a single process's would). Ingest is shared, not repeated: without
    a share group every worker would receive, apply and ack every batch.
    """
    import secrets

    from cloud.db.engine import make_engine, migrate

    if settings.migrate_on_start:
        engine = make_engine(settings.database_url)
        migrate(engine)
        engine.dispose()
    if settings.jwt_secret is None:
        logging.getLogger("guanjia.cloud").warning(
            "GUANJIA_JWT_SECRET unset: tokens are signed with a secret drawn for this run"
        )
    return {
        "GUANJIA_DATABASE_URL": settings.database_url,
        "GUANJIA_MQTT_HOST": settings.mqtt_host,
        "GUANJIA_MQTT_PORT": str(settings.mqtt_port),
        "GUANJIA_HTTP_WORKERS": str(settings.http_workers),
        "GUANJIA_MIGRATE_ON_START": "false",
        "GUANJIA_JWT_SECRET": settings.jwt_secret or secrets.token_urlsafe(32),
        "GUANJIA_INGEST_SHARE_GROUP": settings.ingest_share_group or "guanjia-hub",
    }


@app.command()
def migrate(
    database_url: Annotated[
        str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")
    ] = None,
) -> None:
    """Apply database migrations up to the newest."""
    from cloud.db.engine import make_engine
    from cloud.db.engine import migrate as run_migrations
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

    from cloud.db.engine import make_engine, session_factory, transaction
    from cloud.db.engine import migrate as run_migrations
    from cloud.seed import seed_demo as run_seed
    from cloud.settings import Settings

    settings = Settings(**({"database_url": database_url} if database_url else {}))  # type: ignore[arg-type]
    engine = make_engine(settings.database_url)
    run_migrations(engine)
    with transaction(session_factory(engine)) as s:
        summary = run_seed(s, datetime.now(UTC), password=password, node_ids=node or [])
    typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))


@account_app.command("create")
def account_create(
    name: Annotated[str, typer.Argument(help="The seller account's name (named at login).")],
    admin: Annotated[str, typer.Option(help="Username of the account's first admin.")],
    password_file: Annotated[
        typer.FileText | None,
        typer.Option(
            help="Read the admin's password from this file ('-': stdin), first line. "
            "Without it a password is drawn and printed once."
        ),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")
    ] = None,
) -> None:
    """Create a seller account with its first admin (the platform operator's command).

    Prints the account as one JSON line; with a drawn password it is in the line, shown
    this once (the hub keeps only its hash). The password is never an option: a command
    line is visible to every user of the machine (ps) and kept in shell history.
    """
    import json
    from datetime import UTC, datetime

    from cloud import accounts
    from cloud.db.engine import make_engine, session_factory, transaction
    from cloud.db.engine import migrate as run_migrations
    from cloud.errors import DomainError
    from cloud.settings import Settings

    password = None
    if password_file is not None:
        password = password_file.readline().rstrip("\r\n")
    settings = Settings(**({"database_url": database_url} if database_url else {}))  # type: ignore[arg-type]
    engine = make_engine(settings.database_url)
    try:
        run_migrations(engine)
        with transaction(session_factory(engine)) as s:
            acct, user, drawn = accounts.create_seller(
                s, name, admin, password, "cli:account-create", datetime.now(UTC)
            )
            out = {"account_id": acct.id, "account": acct.name, "admin": user.username}
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    finally:
        engine.dispose()
    if drawn is not None:
        out["admin_password"] = drawn
    typer.echo(json.dumps(out, ensure_ascii=False))


@app.command()
def compact(
    database_url: Annotated[
        str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")
    ] = None,
) -> None:
    """Drop downlink changes superseded by newer ones (run from cron; safe at any time)."""
    from cloud.db.engine import make_engine, session_factory, transaction
    from cloud.nodes import downlink
    from cloud.settings import Settings

    settings = Settings(**({"database_url": database_url} if database_url else {}))  # type: ignore[arg-type]
    with transaction(session_factory(make_engine(settings.database_url))) as s:
        n = downlink.compact(s)
    typer.echo(f"compacted: {n} superseded downlink changes dropped")


@app.command("event-stats")
def event_stats(
    database_url: Annotated[
        str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")
    ] = None,
    lag_type: Annotated[
        str | None,
        typer.Option(help="Per event of this type: received_at minus its HLC time (ms)."),
    ] = None,
) -> None:
    """What the hub holds of the nodes' event streams, as one JSON line (read-only)."""
    import orjson

    from cloud.db.engine import make_engine, session_factory
    from cloud.settings import Settings
    from cloud.sync.stats import event_stats as stats

    settings = Settings(**({"database_url": database_url} if database_url else {}))  # type: ignore[arg-type]
    from sqlalchemy.exc import DBAPIError

    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as s:
            typer.echo(orjson.dumps(stats(s, lag_type)).decode())
    except DBAPIError as err:
        # Unreachable, or not a hub database (no migrations applied): say so, no traceback.
        typer.echo(f"event-stats: cannot read the hub's events: {err.orig}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


# --- guanjia channels ... ------------------------------------------------------------------

DatabaseOpt = Annotated[str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")]
AccountOpt = Annotated[str, typer.Option(help="The seller account the shop belongs to.")]
HubUrlOpt = Annotated[
    str | None,
    typer.Option(
        envvar="GUANJIA_PUBLIC_URL",
        help="Shopify: the hub's address as Shopify reaches it; the shop's webhooks are "
        "subscribed there before it is saved (nothing is saved if Shopify refuses).",
    ),
]


def _channels_factory(database_url: str | None) -> Any:
    from cloud.db.engine import make_engine, migrate, session_factory
    from cloud.settings import Settings

    settings = Settings(**({"database_url": database_url} if database_url else {}))  # type: ignore[arg-type]
    engine = make_engine(settings.database_url)
    migrate(engine)
    return session_factory(engine)


@channels_app.command("add-shop")
def channels_add_shop(
    code: Annotated[str, typer.Argument(help="The shop's code in Guanjia.")],
    account: AccountOpt,
    api_url: Annotated[
        str,
        typer.Option(
            help="Taobao: the TOP gateway, .../router/rest; "
            "Shopify: https://<shop>.myshopify.com/admin/api/<version>."
        ),
    ],
    app_key: Annotated[
        str, typer.Option(help="Taobao: the app's key; Shopify: the shop's myshopify domain.")
    ],
    session_key: Annotated[
        str, typer.Option(help="Taobao: the seller's session key; Shopify: the access token.")
    ],
    secret_file: Annotated[
        typer.FileText, typer.Option(help="Read the app secret from this file ('-': stdin).")
    ],
    start_from: Annotated[
        str, typer.Option(help="ISO time with zone: where the first download starts.")
    ],
    sign_method: Annotated[str, typer.Option(help="md5, hmac or hmac-sha256.")] = "hmac-sha256",
    kind: Annotated[
        str, typer.Option(help="taobao or shopify: which adapter downloads the shop.")
    ] = "taobao",
    hub_url: HubUrlOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Add a Taobao or Shopify shop (the secret is never an option: command lines are visible
    to all). Shopify's secret is the app's, which signs its webhooks."""
    from datetime import UTC, datetime

    from cloud.channels import runner, shops
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    try:
        begin = datetime.fromisoformat(start_from)
    except ValueError:
        typer.echo("error: --start-from is not an ISO time", err=True)
        raise typer.Exit(2) from None
    factory = _channels_factory(database_url)
    body = shops.ShopIn(
        code=code,
        api_url=api_url,
        app_key=app_key,
        app_secret=secret_file.readline().rstrip("\r\n"),
        session_key=session_key,
        start_from=begin,
        sign_method=sign_method,
        platform=kind,
    )
    try:
        with transaction(factory) as s:
            shops.check_new(s, runner.account_id_of(s, account), body)
        subscribed = _subscribe(hub_url, shops.draft(body))
        with transaction(factory) as s:
            shops.add_shop(s, runner.account_id_of(s, account), body, datetime.now(UTC))
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"shop {code} added{subscribed}")


def _subscribe(hub_url: str | None, shop: Any) -> str:
    """A Shopify shop's webhooks subscribed at the hub's address (runner.register_webhooks),
    said as the end of the command's line; DomainError when Shopify refuses."""
    from cloud.channels import runner

    if shop.platform != "shopify":
        return ""
    if not hub_url:
        return "; webhooks not subscribed (no --hub-url or GUANJIA_PUBLIC_URL)"
    done = runner.register_webhooks(shop, hub_url)
    return "; webhooks: " + ", ".join(f"{topic} {how}" for topic, how in done.items())


@channels_app.command("reauthorise")
def channels_reauthorise(
    code: Annotated[str, typer.Argument(help="The shop's code in Guanjia.")],
    account: AccountOpt,
    key_file: Annotated[
        typer.FileText,
        typer.Option(
            help="Read the new session key (Shopify: access token) from this file ('-': stdin)."
        ),
    ],
    hub_url: HubUrlOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Save a shop's new session key after the seller authorised the app again: a shop that
    needs re-authorisation runs again from where its downloads stopped."""
    from datetime import UTC, datetime

    from cloud.channels import runner, shops
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    factory = _channels_factory(database_url)
    key = key_file.readline().rstrip("\r\n")
    try:
        with transaction(factory) as s:
            found = shops.shop_by_code(s, runner.account_id_of(s, account), code)
            shops.check_key(key)
            s.expunge(found)
        subscribed = _subscribe(hub_url, shops.with_key(found, key))
        with transaction(factory) as s:
            shop = shops.shop_by_code(s, runner.account_id_of(s, account), code)
            shops.reauthorise(s, shop, key, datetime.now(UTC))
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"shop {code} re-authorised; its download is due now{subscribed}")


@channels_app.command("download")
def channels_download(
    shop: Annotated[str, typer.Option(help="The shop's code.")],
    account: AccountOpt,
    queue: Annotated[
        bool, typer.Option(help="Queue it for the hub's scheduler instead of running it here.")
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Download the shop's changed orders now; prints the run as one JSON line."""
    from datetime import UTC, datetime

    import orjson

    from cloud.channels import runner, schedule
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    factory = _channels_factory(database_url)
    try:
        if queue:
            with transaction(factory) as s:
                run = schedule.request_download(
                    s, runner.account_id_of(s, account), shop, datetime.now(UTC)
                )
                typer.echo(orjson.dumps({"run_id": run.id, "outcome": run.outcome}).decode())
            return
        result = runner.download_now(factory, account, shop)
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(orjson.dumps(result.__dict__, default=str).decode())
    raise typer.Exit(0 if result.outcome == "ok" else 1)


@channels_app.command("schedule")
def channels_schedule(
    shop: Annotated[str, typer.Option(help="The shop's code.")],
    account: AccountOpt,
    every: Annotated[int | None, typer.Option(help="Seconds between downloads (60-86400).")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--on/--off", help="Scheduled downloads on or off.")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Set the shop's download schedule (the hub's scheduler runs it)."""
    from cloud.channels import runner, schedule
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    try:
        with transaction(_channels_factory(database_url)) as s:
            row = schedule.set_schedule(
                s, runner.account_id_of(s, account), shop, interval_s=every, enabled=enabled
            )
            state = f"every {row.interval_s} s, {'on' if row.schedule_enabled else 'off'}"
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"shop {shop}: {state}")


@channels_app.command("courier")
def channels_courier(
    shop: Annotated[str, typer.Option(help="The shop's code.")],
    account: AccountOpt,
    carrier: Annotated[str, typer.Option(help="Our courier code (as in the courier rules).")],
    company_code: Annotated[str, typer.Option(help="The marketplace's code for it.")],
    database_url: DatabaseOpt = None,
) -> None:
    """Map our courier code to the marketplace's, for shipment confirmations."""
    from cloud.channels import runner, shipments
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    try:
        with transaction(_channels_factory(database_url)) as s:
            shipments.map_courier(s, runner.account_id_of(s, account), shop, carrier, company_code)
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"shop {shop}: {carrier} is {company_code}")


@channels_app.command("waybill-source")
def channels_waybill_source(
    carrier: Annotated[str, typer.Option(help="Our courier code (as in the courier rules).")],
    shop: Annotated[str, typer.Option(help="The shop whose Cainiao account draws the waybills.")],
    account: AccountOpt,
    cp_code: Annotated[str, typer.Option(help="The courier as Cainiao names it (cp_code).")],
    sender_name: Annotated[str, typer.Option(help="Sender printed on the label.")],
    sender_phone: Annotated[str, typer.Option(help="Sender's phone.")],
    sender_province: Annotated[str, typer.Option(help="Sender's province.")],
    sender_city: Annotated[str, typer.Option(help="Sender's city.")],
    sender_address: Annotated[str, typer.Option(help="Sender's street address.")],
    sender_district: Annotated[str | None, typer.Option(help="Sender's district.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Release orders of a courier with e-waybills (电子面单) drawn from Cainiao."""
    from datetime import UTC, datetime

    from pydantic import ValidationError

    from cloud.channels import runner, waybills
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    try:
        body = waybills.WaybillSourceIn(
            shop=shop,
            cp_code=cp_code,
            sender=waybills.SenderIn(
                name=sender_name,
                phone=sender_phone,
                province=sender_province,
                city=sender_city,
                district=sender_district,
                address=sender_address,
            ),
        )
        with transaction(_channels_factory(database_url)) as s:
            waybills.put_source(
                s, runner.account_id_of(s, account), carrier, body, datetime.now(UTC)
            )
    except (DomainError, ValidationError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{carrier}: waybills from {cp_code} on shop {shop}'s Cainiao account")


pool_app = typer.Typer(
    help='Each pack node\'s offline e-waybill pool (docs/channels.md "The offline pool").',
    no_args_is_help=True,
)
channels_app.add_typer(pool_app, name="waybill-pool")


@pool_app.command("set")
def waybill_pool_set(
    node: Annotated[str, typer.Argument(help="The pack node.")],
    carrier: Annotated[str, typer.Argument(help="Our courier code (with an e-waybill source).")],
    target: Annotated[int, typer.Argument(help="Numbers the node keeps (0 to 500).")],
    account: AccountOpt,
    database_url: DatabaseOpt = None,
) -> None:
    """How many numbers of the courier the node keeps for printing with its uplink down; a
    lower target gives the surplus back (the node confirms, then the courier cancels)."""
    from datetime import UTC, datetime

    from pydantic import ValidationError

    from cloud.channels import runner, waybill_pool
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    try:
        body = waybill_pool.PoolIn(target=target)
        with transaction(_channels_factory(database_url)) as s:
            waybill_pool.set_target(
                s, runner.account_id_of(s, account), node, carrier, body, datetime.now(UTC)
            )
    except ValidationError:
        typer.echo(
            f"error: the target is a whole number from 0 to {waybill_pool.MAX_TARGET}", err=True
        )
        raise typer.Exit(1) from None
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{node}: keeps {target} {carrier} numbers")


@pool_app.command("retire")
def waybill_pool_retire(
    node: Annotated[str, typer.Argument(help="The pack node leaving service.")],
    account: AccountOpt,
    database_url: DatabaseOpt = None,
) -> None:
    """Every pool of the node to 0: all its unused numbers are given back."""
    from datetime import UTC, datetime

    from cloud.channels import runner, waybill_pool
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    try:
        with transaction(_channels_factory(database_url)) as s:
            pools = waybill_pool.retire(
                s, runner.account_id_of(s, account), node, datetime.now(UTC)
            )
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{node}: {len(pools)} pool(s) set to 0; their unused numbers are given back")


@pool_app.command("force")
def waybill_pool_force(
    node: Annotated[str, typer.Argument(help="The pack node that never answered.")],
    account: AccountOpt,
    database_url: DatabaseOpt = None,
) -> None:
    """Give back, without the node's word, the numbers it was asked back and has not answered
    for GUANJIA_WAYBILL_POOL_FORCE_AFTER_H hours (a destroyed or lost node): cancelled at the
    courier; a late print of one of them from the node becomes a task."""
    from datetime import UTC, datetime, timedelta

    from cloud.channels import pool_force, runner
    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.settings import Settings

    wait = timedelta(hours=Settings().waybill_pool_force_after_h)
    try:
        with transaction(_channels_factory(database_url)) as s:
            done = pool_force.force(
                s, runner.account_id_of(s, account), node, datetime.now(UTC), wait
            )
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    each = ", ".join(f"{n} {carrier}" for carrier, n in sorted(done.carriers.items()))
    typer.echo(f"{node}: given back by force ({each}); the courier cancels them next")


@pool_app.command("list")
def waybill_pool_list(account: AccountOpt, database_url: DatabaseOpt = None) -> None:
    """The pools' levels as JSON, one line each."""
    import json

    from cloud.channels import runner, waybill_pool
    from cloud.errors import DomainError

    try:
        with _channels_factory(database_url)() as s:
            rows = waybill_pool.levels(s, runner.account_id_of(s, account))
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    for row in rows:
        typer.echo(json.dumps(row, sort_keys=True))


@channels_app.command("map-sku")
def channels_map_sku(
    shop: Annotated[str, typer.Option(help="The shop's code.")],
    account: AccountOpt,
    outer_sku_id: Annotated[str, typer.Option(help="The seller's code on the marketplace.")],
    sku: Annotated[str, typer.Option(help="Our SKU code.")],
    database_url: DatabaseOpt = None,
) -> None:
    """Map a marketplace SKU code to ours; the shop's trades held for it are tried again."""
    from datetime import UTC, datetime

    from cloud.channels import remap, runner, shops
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    try:
        with transaction(_channels_factory(database_url)) as s:
            row = shops.shop_by_code(s, runner.account_id_of(s, account), shop)
            done = remap.map_sku(s, row, outer_sku_id, sku, "cli", datetime.now(UTC))
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"shop {shop}: {done.outer_sku_id} is {done.sku_code}; held trades tried again "
        f"{done.retried}, now orders {done.imported}, still held {done.held}"
    )


@channels_app.command("push-stock")
def channels_push_stock(
    shop: Annotated[str, typer.Option(help="The shop's code.")],
    account: AccountOpt,
    on: Annotated[
        bool | None, typer.Option("--on/--off", help="Turn the shop's stock push on or off.")
    ] = None,
    safety_stock: Annotated[
        int | None, typer.Option(min=0, help="Units kept back from the shop (with --on).")
    ] = None,
    share: Annotated[
        int | None, typer.Option(min=0, max=100, help="Percent the shop is shown (with --on).")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Push the shop's stock now (同步库存): every SKU is pushed; prints the counts as JSON."""
    from datetime import UTC, datetime

    import orjson

    from cloud.channels import runner, stock_policy
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    factory = _channels_factory(database_url)
    try:
        if on is not None:
            with transaction(factory) as s:
                aid = runner.account_id_of(s, account)
                now = stock_policy.policy_of(s, aid, shop)
                stock_policy.set_policy(
                    s,
                    aid,
                    shop,
                    enabled=on,
                    safety_stock=now["safety_stock"] if safety_stock is None else safety_stock,
                    share_pct=now["share_pct"] if share is None else share,
                    now=datetime.now(UTC),
                )
            if not on:
                typer.echo(f"shop {shop}: stock push off")
                return
        totals = runner.push_stock_now(factory, account, shop)
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(orjson.dumps(totals).decode())
    raise typer.Exit(1 if totals.get("failed") or totals.get("retry") else 0)


# ``guanjia channels locations …`` (a module of its own: this one is long enough).
from cloud.cli_locations import locations_app  # noqa: E402

channels_app.add_typer(locations_app, name="locations")


@channels_app.command("list")
def channels_list(account: AccountOpt, database_url: DatabaseOpt = None) -> None:
    """Each shop: status, watermark, last run (JSON lines)."""
    import orjson

    from cloud.channels import runner
    from cloud.errors import DomainError

    try:
        rows = runner.overview(_channels_factory(database_url), account)
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    for row in rows:
        typer.echo(orjson.dumps(row).decode())
