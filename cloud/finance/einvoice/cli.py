"""``guanjia finance invoice …``: connect a provider, issue, red, change the title, query, and
run the worker once (docs/finance.md "E-invoices")."""

from __future__ import annotations

from typing import Annotated, Any

import typer

invoice_app = typer.Typer(
    help="E-invoices (数电票): issue (blue), red, title change, query.", no_args_is_help=True
)

DatabaseOpt = Annotated[str | None, typer.Option(help="Overrides GUANJIA_DATABASE_URL.")]
AccountOpt = Annotated[str, typer.Option(help="The seller account.")]
BY = "cli"


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


def _show(inv: Any) -> str:
    number = inv.number or "-"
    extra = f"  ({inv.reason})" if inv.reason and inv.state not in ("issued",) else ""
    return (
        f"{inv.request_no}  {inv.kind:4}  {inv.state:11}  {inv.total:>12}  {number:20}  "
        f"{inv.buyer_name}{extra}"
    )


def _run(database_url: str | None, fn: Any) -> Any:
    from cloud.db.engine import transaction
    from cloud.errors import DomainError

    try:
        with transaction(_factory(database_url)) as s:
            return fn(s)
    except DomainError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


@invoice_app.command("connect")
def connect(
    account: AccountOpt,
    url: Annotated[
        str, typer.Option(help="The provider's base URL (Nuonuo: https://sdk.nuonuo.com).")
    ],
    app_key: Annotated[str, typer.Option()],
    app_secret: Annotated[str, typer.Option()],
    token: Annotated[str, typer.Option(help="The seller's access token.")],
    tax_id: Annotated[str, typer.Option(help="The seller's own tax id.")],
    name: Annotated[str, typer.Option(help="The seller's name on its invoices.")],
    auto_tax_code: Annotated[
        str | None,
        typer.Option(
            help="Request the invoices buyers ask for with channel orders at shipping, "
            "under this 19-digit tax classification code."
        ),
    ] = None,
    auto_rate: Annotated[
        str | None, typer.Option(help="The tax rate of those invoices (e.g. 0.13).")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Connect (or re-connect) a seller to its e-invoice provider (Nuonuo's API shape)."""
    from datetime import UTC, datetime

    from cloud.finance.einvoice import invoices

    def go(s: Any) -> None:
        invoices.connect_seller(
            s,
            _seller(s, account),
            url=url,
            app_key=app_key,
            app_secret=app_secret,
            access_token=token,
            seller_tax_id=tax_id,
            seller_name=name,
            now=datetime.now(UTC),
            auto_tax_code=auto_tax_code,
            auto_rate=auto_rate,
        )

    _run(database_url, go)
    typer.echo(f"connected {account} to {url}")


@invoice_app.command("issue")
def issue(
    account: AccountOpt,
    buyer_name: Annotated[str, typer.Option(help="The title; 个人 for a person.")],
    buyer_tax_id: Annotated[
        str | None, typer.Option(help="纳税人识别号 (none for a person).")
    ] = None,
    order: Annotated[str | None, typer.Option(help="Invoice this sales order's lines.")] = None,
    tax_code: Annotated[
        str | None, typer.Option(help="19-digit code of the order's lines.")
    ] = None,
    rate: Annotated[str | None, typer.Option(help="Rate of the order's lines, like 0.13.")] = None,
    line: Annotated[
        list[str] | None,
        typer.Option(help="name,tax_code,rate,quantity,total incl. tax (repeatable)."),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Request a blue invoice (the worker sends it; see ``query``)."""
    from datetime import UTC, datetime

    from cloud.errors import N_, InvalidError
    from cloud.finance.einvoice import invoices
    from cloud.finance.einvoice.lines import LineIn

    def go(s: Any) -> Any:
        seller, now, buyer = (
            _seller(s, account),
            datetime.now(UTC),
            invoices.Buyer(buyer_name, buyer_tax_id),
        )
        if line:
            raw = []
            for text in line:
                parts = text.split(",")
                if len(parts) != 5 or not parts[3].isdigit():
                    raise InvalidError(
                        N_("line %(line)r is not name,tax_code,rate,quantity,total"),
                        "lines",
                        line=text,
                    )
                raw.append(LineIn(parts[0], parts[1], parts[2], int(parts[3]), parts[4]))
            return invoices.request_blue(s, seller, buyer, raw, now, BY, order_no=order)
        if order and tax_code and rate:
            return invoices.request_for_order(s, seller, order, buyer, tax_code, rate, now, BY)
        raise InvalidError(N_("give --line, or --order with --tax-code and --rate"), "lines")

    typer.echo(_show(_run(database_url, go)))


@invoice_app.command("red")
def red(
    account: AccountOpt,
    invoice: Annotated[str, typer.Argument(help="The blue's request number.")],
    reason: Annotated[
        str, typer.Option(help="01 开票有误, 02 销货退回, 03 服务中止, 04 销售折让.")
    ] = "01",
    line: Annotated[
        list[str] | None,
        typer.Option(help="LINE or LINE:AMOUNT incl. tax (repeatable); all if none."),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Red (冲红) a blue invoice, in full (cancel) or by lines."""
    from datetime import UTC, datetime

    from cloud.errors import N_, InvalidError
    from cloud.finance.einvoice import invoices

    def go(s: Any) -> Any:
        lines = []
        for text in line or []:
            no, _, amount = text.partition(":")
            if not no.isdigit():
                raise InvalidError(
                    N_("line %(line)r is not LINE or LINE:AMOUNT"), "lines", line=text
                )
            lines.append(invoices.RedLine(int(no), amount or None))
        return invoices.request_red(
            s, _seller(s, account), invoice, reason, datetime.now(UTC), BY, lines or None
        )

    typer.echo(_show(_run(database_url, go)))


@invoice_app.command("title")
def title(
    account: AccountOpt,
    invoice: Annotated[str, typer.Argument(help="The blue's request number.")],
    buyer_name: Annotated[str, typer.Option()],
    buyer_tax_id: Annotated[str | None, typer.Option()] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Change the buyer's title: a full red, then a new blue once the red is issued."""
    from datetime import UTC, datetime

    from cloud.finance.einvoice import invoices

    def go(s: Any) -> Any:
        return invoices.change_title(
            s,
            _seller(s, account),
            invoice,
            invoices.Buyer(buyer_name, buyer_tax_id),
            datetime.now(UTC),
            BY,
        )

    for inv in _run(database_url, go):
        typer.echo(_show(inv))


@invoice_app.command("query")
def query(
    account: AccountOpt,
    invoice: Annotated[
        str | None, typer.Argument(help="One invoice; the newest 200 if none.")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Invoices with their state, number and amounts (one with its lines and links)."""
    from cloud.finance.einvoice import invoices

    def go(s: Any) -> list[str]:
        seller = _seller(s, account)
        if invoice is None:
            return [_show(inv) for inv in invoices.listing(s, seller)]
        inv = invoices.get(s, seller, invoice)
        out = [_show(inv)]
        out += [
            f"  {x.line_no:3} {x.name}  {x.tax_code}  {x.rate.normalize()}  x{x.quantity}  {x.amount}  {x.tax}"
            for x in invoices.lines_of(s, inv)
        ]
        out += [f"  pdf {inv.pdf_url}", f"  ofd {inv.ofd_url}"] if inv.pdf_url else []
        return out

    for text in _run(database_url, go):
        typer.echo(text)


@invoice_app.command("tick")
def tick(
    wait: Annotated[
        int,
        typer.Option(
            help="Seconds to keep ticking (one a second) until no invoice is being sent or "
            "issued; 0: one tick. Forms waiting for a buyer are not waited for."
        ),
    ] = 0,
    database_url: DatabaseOpt = None,
) -> None:
    """Run the e-invoice worker now (the hub runs it by itself every few seconds)."""
    import time
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from cloud.db.einvoice import EInvoice
    from cloud.finance.einvoice import worker

    busy = ("queued", "sending", "issuing", "seal_failed", "waiting")
    factory = _factory(database_url)
    deadline = time.monotonic() + wait
    while True:
        t = worker.tick(factory, datetime.now(UTC))
        typer.echo(f"claimed {t.claimed}: {dict(sorted(t.changed.items()))}")
        with factory() as s:
            left = s.execute(select(func.count()).where(EInvoice.state.in_(busy))).scalar_one()
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(1)
    typer.echo(f"{left} invoices still on their way")
