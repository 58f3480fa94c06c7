"""``guanjia finance wechat add-job|jobs|park|resume|refetch|run|fundflow-import``
(docs/finance.md, "WeChat Pay bills fetched by the hub"); park, resume and refetch are the
API's and the dashboard's functions (cloud/finance/wechat_admin.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from cloud.finance.settlement_cli import AccountOpt, DatabaseOpt, _factory, _fail, _seller

wechat_app = typer.Typer(
    help="WeChat Pay bills: the hub's daily fetch (API v3) and fund-flow bills reconciled.",
    no_args_is_help=True,
)


@wechat_app.command("add-job")
def add_job(
    account: AccountOpt,
    mchid: Annotated[str, typer.Option(help="商户号, the merchant number.")],
    serial_no: Annotated[str, typer.Option(help="The merchant API certificate's serial number.")],
    private_key: Annotated[Path, typer.Option(help="The merchant's API private key (PEM).")],
    first_day: Annotated[str, typer.Option(help="The first day to fetch, like 2026-11-11.")],
    platform_key: Annotated[
        Path | None,
        typer.Option(help="WeChat Pay's public key (微信支付公钥) or platform certificate."),
    ] = None,
    api_v3_key_file: Annotated[
        Path | None,
        typer.Option(
            help="A file holding the APIv3 key (32 characters): without --platform-key, the "
            "hub downloads WeChat Pay's platform certificates with it."
        ),
    ] = None,
    platform_serial: Annotated[
        str, typer.Option(help="Its id (Wechatpay-Serial); empty: not checked.")
    ] = "",
    api_url: Annotated[
        str, typer.Option(help="WeChat Pay's API (the simulator's address for tests).")
    ] = "https://api.mch.weixin.qq.com",
    database_url: DatabaseOpt = None,
) -> None:
    """Fetch the merchant's bills every day from FIRST_DAY on (each hub process's finance
    worker runs the due jobs)."""
    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance import wechat_jobs

    try:
        first = date.fromisoformat(first_day)
    except ValueError:
        typer.echo(f"error: --first-day {first_day!r} is not a day like 2026-11-11", err=True)
        raise typer.Exit(2) from None
    try:
        with transaction(_factory(database_url)) as s:
            job = wechat_jobs.add_job(
                s,
                _seller(s, account),
                mchid=mchid,
                serial_no=serial_no,
                api_url=api_url,
                private_key=private_key.read_bytes(),
                platform_key=platform_key.read_bytes() if platform_key else b"",
                platform_serial=platform_serial,
                first_day=first,
                now=datetime.now(UTC),
                api_v3_key=api_v3_key_file.read_text("ascii").strip() if api_v3_key_file else "",
                box=_box(),
            )
            typer.echo(f"job {job.id}: 商户号 {job.mchid} from {job.first_day}")
    except (DomainError, OSError) as err:
        _fail(err)


@wechat_app.command("jobs")
def jobs(account: AccountOpt, database_url: DatabaseOpt = None) -> None:
    """The account's jobs: state, cursor, next run, last error."""
    from cloud.finance import wechat_admin, wechat_jobs

    now = datetime.now(UTC)
    with _factory(database_url)() as s:
        for j in wechat_admin.jobs(s, _seller(s, account)):
            typer.echo(
                f"{j.id}  {j.mchid}  in to {j.last_day or '-'}  next {j.next_run_at or 'now'}  "
                f"{wechat_admin.state(j, now)}  {wechat_jobs.error_text(j.last_error)}"
            )


def _change(account: str, database_url: str | None, what: str, mchid: str, *args: object) -> None:
    """One of wechat_admin's changes to a job, in a transaction; a refusal said."""
    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance import wechat_admin

    change = getattr(wechat_admin, what)
    try:
        with transaction(_factory(database_url)) as s:
            j = change(s, _seller(s, account), mchid, *args, datetime.now(UTC))
            typer.echo(
                f"job {j.id}: 商户号 {j.mchid} {'parked' if not j.enabled else 'due now'}, "
                f"in to {j.last_day or '-'}"
            )
    except DomainError as err:
        _fail(err)


MchidArg = Annotated[str, typer.Argument(help="商户号 of the job.")]


@wechat_app.command("park")
def park(mchid: MchidArg, account: AccountOpt, database_url: DatabaseOpt = None) -> None:
    """No run starts for the job until it is resumed; its cursor is kept."""
    _change(account, database_url, "park", mchid)


@wechat_app.command("resume")
def resume(mchid: MchidArg, account: AccountOpt, database_url: DatabaseOpt = None) -> None:
    """Due now: the finance worker runs the job at its next poll."""
    _change(account, database_url, "resume", mchid)


@wechat_app.command("refetch")
def refetch(
    mchid: MchidArg,
    day: Annotated[str, typer.Argument(help="The day to fetch again, like 2026-11-11.")],
    account: AccountOpt,
    database_url: DatabaseOpt = None,
) -> None:
    """Set the cursor back before DAY: that day and the later ones are fetched again
    (bills in already are skipped)."""
    try:
        when = date.fromisoformat(day)
    except ValueError:
        typer.echo(f"error: {day!r} is not a day like 2026-11-11", err=True)
        raise typer.Exit(2) from None
    _change(account, database_url, "refetch", mchid, when)


def _box() -> Any:
    """The hub's box from ``GUANJIA_SECRETS_KEY`` (cloud/finance/sealed.py), as the hub's."""
    from cloud.finance import sealed
    from cloud.settings import Settings

    return sealed.box_of(Settings().secrets_key)


@wechat_app.command("run")
def run(
    database_url: DatabaseOpt = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            envvar="GUANJIA_WECHATPAY_CA_BUNDLE",
            help="WeChat Pay's CA (PEM or CertTrustChain.p7b): platform certificates must "
            "chain to it (the hub's setting of the same name).",
        ),
    ] = None,
) -> None:
    """Run the due jobs once, now (what the hub's worker does every poll)."""
    import os
    import socket

    import httpx

    from cloud.finance import wechat_jobs

    owner = f"{socket.gethostname()[:40]}:{os.getpid()}"  # as the hub's workers name theirs

    factory, box = _factory(database_url), _box()
    with httpx.Client() as http:
        ran = wechat_jobs.drain(
            factory,
            lambda job: wechat_jobs.client_for(job, http, factory, ca_bundle, box),
            owner,
            datetime.now(UTC),
        )
    for r in ran:
        days = ", ".join(d.isoformat() for d in r.days) or "none"
        typer.echo(
            f"job {r.job_id}: days {days}; {r.imported} trade bills imported, {r.reconciled} "
            f"fund-flow bills reconciled, {r.unmatched} movements unmatched"
            + (f"; stopped: {r.error}" if r.error else "")
        )


@wechat_app.command("fundflow-import")
def fundflow_import(
    file: Annotated[Path, typer.Argument(help="A WeChat Pay 资金账单 (text or gzip).")],
    account: AccountOpt,
    database_url: DatabaseOpt = None,
) -> None:
    """Reconcile a fund-flow bill against the trade bills posted: posts nothing; the
    movements that match no posted row are listed and a task is opened."""
    from cloud.db.engine import transaction
    from cloud.errors import DomainError
    from cloud.finance import wechat_fundflow

    try:
        data = file.read_bytes()
        with transaction(_factory(database_url)) as s:
            got = wechat_fundflow.reconcile(
                s, _seller(s, account), data, file.name, "cli", datetime.now(UTC)
            )
    except (DomainError, OSError) as err:
        _fail(err)
    typer.echo(
        f"fund-flow bill {got.public_id}: {got.rows} movements, {got.matched} matched, "
        f"{got.unmatched} unmatched" + (f" (task {got.task})" if got.task else "")
    )
