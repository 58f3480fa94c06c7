"""``guanjia finance settlement import|show|match-again`` (docs/finance.md, "Platform
settlements")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cloud.finance.cli import AccountOpt, DatabaseOpt, _factory, _seller

settlement_app = typer.Typer(
    help="Platform settlement bills: import, show, match again.", no_args_is_help=True
)


def _fail(err: Exception) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(1) from None


@settlement_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The bill: Alipay's zip or its 账务明细 CSV.")],
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
