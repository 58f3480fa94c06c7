"""``guanjia finance ...``: the trial balance and the ledger export (docs/finance.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cloud.finance.courier_cli import courier_app
from cloud.finance.einvoice.cli import invoice_app

finance_app = typer.Typer(
    help="The books (issue 18): trial balance, ledger export.", no_args_is_help=True
)
finance_app.add_typer(invoice_app, name="invoice")
finance_app.add_typer(courier_app, name="courier-bill")

DatabaseOpt = Annotated[str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")]
AccountOpt = Annotated[str, typer.Option(help="The seller account whose books to read.")]


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


@finance_app.command("trial-balance")
def trial_balance(
    account: AccountOpt,
    period: Annotated[
        str | None,
        typer.Option(help="Balances at the end of this month (YYYY-MM); all if left out."),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Each account's balance (debit positive), and the totals of debits and credits."""
    from decimal import Decimal

    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance import ledger

    try:
        with transaction(_factory(database_url)) as s:
            rows = ledger.trial_balance(s, _seller(s, account), period)
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    debit = sum((r.balance for r in rows if r.balance > 0), Decimal("0.00"))
    credit = sum((-r.balance for r in rows if r.balance < 0), Decimal("0.00"))
    typer.echo(f"{'code':20} {'type':10} {'debit':>16} {'credit':>16}  name")
    for r in rows:
        dr = f"{r.balance:16}" if r.balance > 0 else " " * 16
        cr = f"{-r.balance:16}" if r.balance < 0 else " " * 16
        typer.echo(f"{r.code:20} {r.type:10} {dr} {cr}  {r.name}")
    typer.echo(f"{'total':31} {debit:16} {credit:16}")
    if debit != credit:  # pragma: no cover - the database refuses what would make this so
        typer.echo("error: debits and credits differ", err=True)
        raise typer.Exit(1)


@finance_app.command("export-ledger")
def export_ledger(
    account: AccountOpt,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """The books as a plain-text ledger (beancount syntax) that fava can open."""
    from datetime import date

    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance.export import export_ledger as lines

    try:
        with transaction(_factory(database_url)) as s:
            text = "\n".join(lines(s, _seller(s, account), date(2000, 1, 1))) + "\n"
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@finance_app.command("close")
def close(
    account: AccountOpt,
    period: Annotated[str, typer.Option(help="The month to close for good (YYYY-MM).")],
    database_url: DatabaseOpt = None,
) -> None:
    """Close a month: refused while it has not ended, an earlier month is open, a poster
    stream stopped or facts before its end are not posted yet (docs/finance.md)."""
    from datetime import UTC, datetime

    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance import closing

    try:
        with transaction(_factory(database_url)) as s:
            now = datetime.now(UTC)
            seller = _seller(s, account)
            found = closing.blockers(s, seller, period, now, lock=True)
            if not found:
                closing.close(s, seller, period, "cli", now)
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    if found:
        for b in found:
            typer.echo(f"error: {b.error()}", err=True)
        raise typer.Exit(1)
    typer.echo(f"closed {period}")


@finance_app.command("prepayment-refund")
def prepayment_refund(
    order_no: Annotated[str, typer.Argument(help="The order whose prepayment goes back.")],
    account: AccountOpt,
    refund_no: Annotated[
        str,
        typer.Option(
            help="The refund's number (the platform's, or yours); a retry sends it again."
        ),
    ],
    amount: Annotated[str, typer.Option(help='How much goes back, like "12.50".')],
    reason: Annotated[str, typer.Option(help="Why (1 to 300 characters).")],
    paid_from: Annotated[
        str | None,
        typer.Option(
            help="1002, 1012.01 or 1012.02; left out: the shop's clearing account (the "
            "platform refunds from escrow)."
        ),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """退预收款: refund a part of the buyer's prepayment before the order ships, once per
    refund number; never more than paid and not refunded; refused once it has shipped."""
    from datetime import UTC, datetime

    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance import order_money
    from cloud.finance.poster import day_of

    try:
        with transaction(_factory(database_url)) as s:
            now = datetime.now(UTC)
            seller = _seller(s, account)
            posted = order_money.refund_prepayment(
                s, seller, order_no, refund_no, amount, reason, day_of(now), now, paid_from
            )
            m = order_money.money_of(s, seller, order_no)
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    said = "posted" if posted.created else "booked before, nothing changed"
    typer.echo(
        f"refund {refund_no} of {order_no}: {said} (entry {posted.entry_id}); "
        f"paid {m.paid}, refunded {m.refunded}"
    )


def _settlements() -> None:
    from cloud.finance.settlement_cli import settlement_app

    finance_app.add_typer(settlement_app, name="settlement")
    from cloud.finance.wechat_cli import wechat_app

    finance_app.add_typer(wechat_app, name="wechat")


_settlements()
