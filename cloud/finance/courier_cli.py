"""``guanjia finance courier-bill ...``: import a courier's bill, show it with its flags,
accept it into the books, resolve a disputed line, set a courier's rate card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

courier_app = typer.Typer(
    help="Courier bills reconciled against station weights and rate cards.",
    no_args_is_help=True,
)
Actor = Annotated[str, typer.Option(help="Who does it (recorded).")]
# As cloud/finance/cli.py's (which adds this group: it is not imported from here).
DatabaseOpt = Annotated[str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")]
AccountOpt = Annotated[str, typer.Option(help="The seller account.")]


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


def _run(database_url: str | None, work: Any) -> Any:
    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance.courier_bill_file import BillRefused

    try:
        with transaction(_factory(database_url)) as s:
            return work(s)
    except BillRefused as err:
        typer.echo(f"error: the bill has {err.total} bad rows; nothing was imported", err=True)
        for e in err.errors:
            typer.echo(f"  row {e.row_no}, {e.column}: {e.message}", err=True)
        raise typer.Exit(1) from None
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


def _kg(grams: int) -> str:
    from decimal import Decimal

    return str(Decimal(grams) / 1000)


def _show(s: Any, bill: Any) -> None:
    from cloud.finance import courier_bills

    typer.echo(
        f"bill {bill.id} {bill.carrier} {bill.file_name} {bill.first_day}..{bill.last_day} "
        f"{bill.state}: {bill.lines} lines, billed {bill.billed_total}, accepted "
        f"{bill.accepted_total}, disputed {bill.disputed_total}"
    )
    typer.echo(
        f"{'row':>5} {'tracking':20} {'order':16} {'billed kg':>9} {'ours kg':>8} "
        f"{'fee':>9} {'expected':>9} {'disputed':>9}  flags"
    )
    for ln in courier_bills.lines_of(s, bill):
        ours = "" if ln.weighed_g is None else _kg(ln.weighed_g)
        typer.echo(
            f"{ln.row_no:>5} {ln.tracking_number:20} {ln.order_no or '-':16} "
            f"{_kg(ln.billed_g):>9} {ours:>8} {ln.fee!s:>9} "
            f"{'' if ln.expected_fee is None else str(ln.expected_fee):>9} "
            f"{ln.disputed!s:>9}  {','.join(ln.flags)}{' ' + ln.resolution if ln.resolution else ''}"
        )
    missing = courier_bills.unbilled(s, bill)
    if missing:
        typer.echo(f"shipped but not billed ({len(missing)}):")
        for u in missing:
            typer.echo(f"  {u.order_no} {u.tracking_number}")


@courier_app.command("import")
def import_bill(
    account: AccountOpt,
    carrier: Annotated[str, typer.Option(help="The courier's code (as on the Couriers page).")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or .xlsx")],
    actor: Actor = "cli",
    database_url: DatabaseOpt = None,
) -> None:
    """Import a courier's bill and reconcile it (a file imported before is refused)."""
    from datetime import UTC, datetime

    from cloud.finance import courier_bills

    fmt: Literal["csv", "xlsx"] = "xlsx" if file.suffix.lower() == ".xlsx" else "csv"

    def work(s: Any) -> None:
        bill = courier_bills.import_bill(
            s,
            _seller(s, account),
            carrier,
            file.name,
            file.read_bytes(),
            fmt,
            actor,
            datetime.now(UTC),
        )
        _show(s, bill)

    _run(database_url, work)


@courier_app.command("show")
def show(
    account: AccountOpt,
    bill: Annotated[int | None, typer.Argument(help="A bill's id; the list without one.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """The bills, or one bill's lines with their flags and what was shipped but not billed."""
    from cloud.finance import courier_bills

    def work(s: Any) -> None:
        seller = _seller(s, account)
        if bill is not None:
            _show(s, courier_bills.get_bill(s, seller, bill))
            return
        for b in courier_bills.bills(s, seller):
            typer.echo(
                f"{b.id:>6} {b.carrier:10} {b.state:9} {b.first_day}..{b.last_day} "
                f"{b.lines:>6} lines  billed {b.billed_total}  disputed {b.disputed_total}  "
                f"{b.file_name}"
            )

    _run(database_url, work)


@courier_app.command("accept")
def accept(
    account: AccountOpt,
    bill: Annotated[int, typer.Argument(help="The bill's id.")],
    actor: Actor = "cli",
    database_url: DatabaseOpt = None,
) -> None:
    """Post the bill: accepted to courier fees, disputed to suspense (once)."""
    from datetime import UTC, datetime

    from cloud.finance import courier_bills

    def work(s: Any) -> None:
        b, posted = courier_bills.accept(s, _seller(s, account), bill, actor, datetime.now(UTC))
        said = "posted" if posted is not None and posted.created else "accepted before"
        entry = "-" if posted is None else posted.entry_id
        typer.echo(
            f"bill {b.id} {said} (entry {entry}): courier fees {b.accepted_total}, "
            f"suspense {b.disputed_total}, payable {b.billed_total}"
        )

    _run(database_url, work)


@courier_app.command("resolve")
def resolve(
    account: AccountOpt,
    bill: Annotated[int, typer.Argument(help="The bill's id.")],
    line: Annotated[int, typer.Argument(help="The line's id (the API's lines[].id).")],
    credited: Annotated[str, typer.Option(help="What the courier credits, e.g. 3.00.")],
    actor: Actor = "cli",
    database_url: DatabaseOpt = None,
) -> None:
    """Take a disputed line out of suspense: credited by the courier, the rest paid."""
    from datetime import UTC, datetime

    from cloud.finance import courier_bills

    def work(s: Any) -> None:
        ln, posted = courier_bills.resolve(
            s, _seller(s, account), bill, line, credited, actor, datetime.now(UTC)
        )
        typer.echo(
            f"line {ln.id} {ln.resolution}: {ln.credited} credited (entry {posted.entry_id})"
        )

    _run(database_url, work)


@courier_app.command("rate-card")
def rate_card(
    account: AccountOpt,
    carrier: Annotated[str, typer.Option(help="The courier's code.")],
    file: Annotated[
        Path | None, typer.Argument(exists=True, dir_okay=False, help="The card as JSON.")
    ] = None,
    actor: Actor = "cli",
    database_url: DatabaseOpt = None,
) -> None:
    """Show the courier's rate card, or set it from a JSON file (docs/finance.md)."""
    from datetime import UTC, datetime

    from cloud.errors import N_, InvalidError, NotFoundError
    from cloud.finance import rate_cards

    def work(s: Any) -> None:
        seller = _seller(s, account)
        if file is not None:
            try:
                body = json.loads(file.read_text(encoding="utf-8"), parse_float=str)
            except ValueError:
                raise InvalidError(N_("the rate card is not JSON"), "file") from None
            if not isinstance(body, dict):
                raise InvalidError(N_("the rate card is not a JSON object"), "file")
            rate_cards.put(s, seller, rate_cards.parse(carrier, body), actor, datetime.now(UTC))
        card = rate_cards.get(s, seller, carrier)
        if card is None:
            raise NotFoundError(N_("courier %(carrier)s has no rate card"), carrier=carrier)
        typer.echo(json.dumps(rate_cards.as_json(card), ensure_ascii=False, indent=2))

    _run(database_url, work)
