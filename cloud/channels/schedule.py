"""Per-shop schedules and "download now", durable in the database (issue 16: "per-shop
schedules and a download-now action, durable in the database (no in-memory-only scheduler),
several hub processes never running the same shop at once").

A shop is *due* when its schedule is on (or a "download now" is queued) and ``next_run_at``
has passed. A hub process *claims* a due shop with one conditional UPDATE that takes the
shop's lease and moves ``next_run_at`` one interval on: another process's UPDATE of the same
row waits for the row lock (PostgreSQL, READ COMMITTED re-reads the row) or for the write lock
(SQLite), then finds the shop no longer due. So each due run is claimed once; a process that
dies keeps the shop until its lease runs out (``Tuning.lease``), then the next due time is
anyone's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from cloud.channels.download import ABANDONED
from cloud.channels.shops import shop_by_code
from cloud.db.models import ChannelRun, ChannelShop
from cloud.errors import N_, ConflictError, InvalidError

MIN_INTERVAL_S, MAX_INTERVAL_S = 60, 86_400


def set_schedule(
    session: Session, account_id: int, code: str, *, interval_s: int | None, enabled: bool | None
) -> ChannelShop:
    shop = shop_by_code(session, account_id, code)
    if interval_s is not None:
        if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
            raise InvalidError(
                N_("the interval must be %(min_s)s to %(max_s)s seconds"),
                "interval_s",
                min_s=MIN_INTERVAL_S,
                max_s=MAX_INTERVAL_S,
            )
        shop.interval_s = interval_s
    if enabled is not None:
        shop.schedule_enabled = enabled
    return shop


def _lease_free(now: datetime) -> object:
    return or_(
        ChannelShop.lease_owner.is_(None),
        ChannelShop.lease_until.is_(None),
        ChannelShop.lease_until < now,
    )


def request_download(session: Session, account_id: int, code: str, now: datetime) -> ChannelRun:
    """Queue a "download now" of the shop: a run row in state ``queued``, picked up by the
    next scheduler tick of any hub process. Refused (409) while one is queued or running."""
    shop = shop_by_code(session, account_id, code)
    # Lock the shop's row first (an UPDATE), so two requests at once queue one run: the
    # second waits here and then sees the first's run.
    session.execute(
        update(ChannelShop)
        .where(ChannelShop.id == shop.id)
        .values(next_run_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(shop)
    if shop.status == "needs_reauth":
        raise ConflictError(
            N_(
                "shop %(code)s needs the seller to authorise the app again (%(reason)s); nothing "
                "is downloaded until then"
            ),
            code=code,
            reason=shop.status_reason or "the marketplace refused its session",
        )
    going = session.execute(
        select(ChannelRun)
        .where(ChannelRun.shop_id == shop.id, ChannelRun.outcome.in_(("queued", "running")))
        .order_by(ChannelRun.id)
    ).scalars()
    lease_running = shop.lease_owner is not None and (
        shop.lease_until is not None and shop.lease_until >= now
    )
    for run in going:
        if run.outcome == "running" and not lease_running:
            run.outcome, run.error, run.finished_at = "failed", ABANDONED, now
            continue
        raise ConflictError(
            N_(
                "a download of shop %(code)s is %(outcome)s already (run %(run)s); wait for it to "
                "finish"
            ),
            code=code,
            outcome=run.outcome,
            run=run.id,
        )
    if lease_running:
        raise ConflictError(
            N_("shop %(code)s is being downloaded by another hub process right now"), code=code
        )
    run = ChannelRun(
        account_id=account_id,
        shop_id=shop.id,
        stream="orders",
        owner="",
        started_at=now,
        outcome="queued",
    )
    session.add(run)
    session.flush()
    return run


@dataclass(frozen=True)
class Claimed:
    shop_id: int
    #: The queued "download now" run this claim carries out, if any.
    run_id: int | None


def claim_due(
    session: Session,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int = 20,
    rescan_every: timedelta = timedelta(hours=1),
) -> list[Claimed]:
    """Take the lease of due shops (all accounts: the scheduler is the hub's)."""
    queued = exists().where(ChannelRun.shop_id == ChannelShop.id, ChannelRun.outcome == "queued")
    due_now = or_(ChannelShop.next_run_at.is_(None), ChannelShop.next_run_at <= now)
    candidates = session.execute(
        select(ChannelShop.id, ChannelShop.interval_s, ChannelShop.next_rescan_at)
        .where(
            ChannelShop.status == "active",
            or_(ChannelShop.schedule_enabled.is_(True), queued),
            due_now,
            _lease_free(now),  # type: ignore[arg-type]
        )
        .order_by(ChannelShop.next_run_at, ChannelShop.id)
        .limit(limit)
    ).all()
    out = []
    for shop_id, interval_s, rescan_at in candidates:
        values = {
            "lease_owner": owner,
            "lease_until": now + lease,
            "next_run_at": now + timedelta(seconds=interval_s),
        }
        if rescan_at is None:  # the first re-scan one period after the first run
            values["next_rescan_at"] = now + rescan_every
        done = session.execute(
            update(ChannelShop)
            .where(ChannelShop.id == shop_id, due_now, _lease_free(now))  # type: ignore[arg-type]
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another process claimed it between our read and our write
        run_id = session.execute(
            select(ChannelRun.id)
            .where(ChannelRun.shop_id == shop_id, ChannelRun.outcome == "queued")
            .order_by(ChannelRun.id)
            .limit(1)
        ).scalar_one_or_none()
        out.append(Claimed(shop_id, run_id))
    return out


def claim_rescans(
    session: Session, owner: str, now: datetime, lease: timedelta, every: timedelta, limit: int = 20
) -> list[int]:
    """Take the lease of shops whose re-scan of the last day is due (schedule on), moving
    ``next_rescan_at`` one period on in the same conditional UPDATE (as :func:`claim_due`)."""
    due_now = (ChannelShop.next_rescan_at.is_not(None), ChannelShop.next_rescan_at <= now)
    ids = session.execute(
        select(ChannelShop.id)
        .where(
            ChannelShop.status == "active",
            ChannelShop.schedule_enabled.is_(True),
            *due_now,
            _lease_free(now),  # type: ignore[arg-type]
        )
        .order_by(ChannelShop.next_rescan_at, ChannelShop.id)
        .limit(limit)
    ).scalars()
    out = []
    for shop_id in list(ids):
        done = session.execute(
            update(ChannelShop)
            .where(ChannelShop.id == shop_id, *due_now, _lease_free(now))  # type: ignore[arg-type]
            .values(lease_owner=owner, lease_until=now + lease, next_rescan_at=now + every)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            out.append(shop_id)
    return out


def runs(
    session: Session,
    account_id: int,
    code: str | None = None,
    limit: int = 50,
    stream: str = "orders",
) -> list[tuple[str, ChannelRun]]:
    """The account's latest runs of ``stream``, newest first, with their shop's code."""
    q = (
        select(ChannelShop.code, ChannelRun)
        .join(ChannelShop, ChannelShop.id == ChannelRun.shop_id)
        .where(ChannelRun.account_id == account_id, ChannelRun.stream == stream)
    )
    if code is not None:
        q = q.where(ChannelShop.code == code)
    rows = session.execute(q.order_by(ChannelRun.id.desc()).limit(limit)).all()
    return [(c, r) for c, r in rows]


def going(session: Session, account_id: int) -> dict[str, ChannelRun]:
    """Each shop's queued or running run, by shop code (for the dashboard's list: a shop
    with one cannot be asked for another download now; ``request_download`` refuses it)."""
    rows = session.execute(
        select(ChannelShop.code, ChannelRun)
        .join(ChannelShop, ChannelShop.id == ChannelRun.shop_id)
        .where(
            ChannelRun.account_id == account_id,
            ChannelRun.outcome.in_(("queued", "running")),
            ChannelRun.stream == "orders",
        )
        .order_by(ChannelRun.id)
    ).all()
    return {c: r for c, r in rows}
