"""``guanjia finance settlement import|show|match-again`` (docs/finance.md, "Platform
settlements")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

# Not imported from cloud/finance/cli.py: that module adds this one to its commands.
DatabaseOpt = Annotated[str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")]
AccountOpt = Annotated[str, typer.Option(help="The seller account whose books to use.")]


def _factory(database_url: str | None) -> Any:
    from cloud.db.engine import make_engine, migrate, session_factory
    from cloud.settings import Settings

    settings = Settings(**({"database_url": database_url} if database_url else {}))  # type: ignore[arg-type]
    engine = make_engine(settings.database_url)
    migrate(engine)
    return session_factory(engine)


def _seller(session: Any, name: str) -> int:
    from sqlalchemy import select

    from cloud.db.models import Account
    from cloud.errors import N_, NotFoundError

    found = session.execute(select(Account.id).where(Account.name == name)).scalar_one_or_none()
    if found is None:
        raise NotFoundError(N_("no seller account %(name)s"), name=name)
    return int(found)


settlement_app = typer.Typer(
    help="Platform settlement bills: import, show, match again.", no_args_is_help=True
)


def _fail(err: Exception) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(1) from None


@settlement_app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="The bill: Alipay's zip or its 账务明细 CSV, or a WeChat Pay 交易账单 (text or gzip)."
        ),
    ],
    account: AccountOpt,
    database_url: DatabaseOpt = None,
) -> None:
    """Import a bill: match its rows to orders, post them; refused when imported already."""
    from datetime import UTC, datetime

    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance import settlements

    try:
        data = file.read_bytes()
    except OSError as err:
        _fail(err)
    try:
        with transaction(_factory(database_url)) as s:
            got = settlements.import_bill(
                s, _seller(s, account), data, file.name, "cli", datetime.now(UTC)
            )
    except DomainError as err:
        _fail(err)
    typer.echo(
        f"bill {got.public_id}: {got.rows} rows, {got.posted} posted, {got.suspense} to "
        f"suspense, {got.unmatched} unmatched"
    )


@settlement_app.command("show")
def show(
    account: AccountOpt,
    bill: Annotated[str | None, typer.Option(help="One bill's rows (its id).")] = None,
    unmatched: Annotated[
        bool, typer.Option("--unmatched", help="The rows not posted, of every bill.")
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """The bills imported; with --bill, one bill's rows; with --unmatched, what is left."""
    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance import settlements

    try:
        with transaction(_factory(database_url)) as s:
            seller = _seller(s, account)
            if bill is None and not unmatched:
                for b in settlements.bills(s, seller):
                    typer.echo(
                        f"{b.public_id}  {b.file_name}  {b.period_from or '-'}  rows {b.rows}  "
                        f"posted {b.posted}  unmatched {b.unmatched}  "
                        f"{b.opening} -> {b.closing}"
                    )
                return
            rows: list[Any]
            if bill is not None:
                head, rows = settlements.bill(s, seller, bill)
                typer.echo(f"{head.file_name}: {head.opening} -> {head.closing}")
            else:
                rows = settlements.unmatched(s, seller)
            for r in rows:
                amount = r.amount_in if r.amount_in else -r.amount_out
                typer.echo(
                    f"{r.line_no:5} {r.flow_no:24} {r.kind:10} {amount:>12} {r.state:9} "
                    f"{r.order_no or r.merchant_order_no or '-'}  "
                    f"{settlements.reason_text(r.reason)}"
                )
    except DomainError as err:
        _fail(err)


@settlement_app.command("match-again")
def match_again(account: AccountOpt, database_url: DatabaseOpt = None) -> None:
    """Match the unmatched sale and refund rows again (their orders may be here now)."""
    from datetime import UTC, datetime

    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance import settlements

    try:
        with transaction(_factory(database_url)) as s:
            n = settlements.match_again(s, _seller(s, account), datetime.now(UTC))
    except DomainError as err:
        _fail(err)
    typer.echo(f"{n} rows posted")


@settlement_app.command("fetch")
def fetch(
    account: AccountOpt,
    day: Annotated[str, typer.Option("--date", help="The bill's day, like 2026-11-11.")],
    gateway: Annotated[
        str, typer.Option(help="Alipay's gateway (the simulator's /gateway.do for tests).")
    ] = "https://openapi.alipay.com/gateway.do",
    app_id: Annotated[str, typer.Option(help="The app's id on Alipay's open platform.")] = "",
    auth_token: Annotated[
        str, typer.Option(help="app_auth_token: the seller's authorisation of the app.")
    ] = "",
    private_key: Annotated[
        Path | None,
        typer.Option(
            help="The app's RSA private key (PEM): requests are signed RSA2, as Alipay "
            "requires; without one they go unsigned (the simulator answers those)."
        ),
    ] = None,
    alipay_public_key: Annotated[
        Path | None,
        typer.Option(
            help="Alipay's public key (PEM, 支付宝公钥): answers are acted on only when their "
            "signature checks out; required with --private-key (the simulator serves its "
            "own at /_sim/alipay-public-key)."
        ),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Fetch the day's account-flow bill from Alipay (download-URL method, then the file)
    and import it; a day imported before is refused, nothing doubled."""
    from datetime import UTC, date, datetime

    import httpx

    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance import alipay_sign, settlements
    from cloud.finance.bill_source import AlipayBills

    try:
        when = date.fromisoformat(day)
    except ValueError:
        typer.echo(f"error: --date {day!r} is not a day like 2026-11-11", err=True)
        raise typer.Exit(2) from None
    try:
        sign = alipay_sign.signer(private_key.read_bytes()) if private_key else None
        public = alipay_public_key.read_bytes() if alipay_public_key else None
        with httpx.Client() as http:
            source = AlipayBills(
                http, gateway, app_id, auth_token, signer=sign, alipay_public_key=public
            )
            data = source.fetch(when)
        with transaction(_factory(database_url)) as s:
            got = settlements.import_bill(
                s, _seller(s, account), data, f"alipay-{when:%Y%m%d}.zip", "cli", datetime.now(UTC)
            )
    except DomainError as err:
        _fail(err)
    typer.echo(
        f"bill {got.public_id}: {got.rows} rows, {got.posted} posted, {got.suspense} to "
        f"suspense, {got.unmatched} unmatched"
    )
