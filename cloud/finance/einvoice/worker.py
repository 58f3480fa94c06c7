"""The e-invoice worker: sends queued invoices, polls them until final, never issues twice.

A tick (like the poster's, cloud/finance/poster.py) works in three steps per invoice, so no
database transaction is held while the provider is asked (SQLite would hold its one write
lock for the length of an HTTP call):

1. **claim** (one transaction): due rows — an active state, ``next_try_at`` passed — are
   read ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a second hub process skips what the first
   claims instead of waiting) and get ``next_try_at = now + LEASE``: no other worker takes
   them up before the lease ends. A ``queued`` row becomes ``sending`` here, *before* the
   request leaves: a crash or timeout afterwards leaves ``sending``, which means "the
   provider may have it".
2. **ask** the provider, outside any transaction.
3. **record** (one transaction): the row, if still in the state claimed, takes the answer.

Never twice: a ``sending`` row is *queried* by its request number before anything is sent
again (port.py: Unreachable = outcome unknown); only a provider that does not know the
number gets the request again. The provider's own idempotency on the order number (Nuonuo
E9106) is the second guard, not the first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.einvoice import ACTIVE, EInvoice, EInvoiceLine, EInvoiceSeller
from cloud.db.engine import transaction
from cloud.finance.einvoice import auto
from cloud.finance.einvoice.nuonuo import NuonuoProvider
from cloud.finance.einvoice.port import (
    BlueRequest,
    FormStatus,
    LimitReached,
    PortLine,
    Provider,
    RedRequest,
    Rejected,
    Status,
    Unreachable,
)
from cloud.periodic import Periodic

log = logging.getLogger("guanjia.finance.einvoice")
LEASE = timedelta(seconds=60)
POLL = timedelta(seconds=5)
CONFIRM_POLL = timedelta(minutes=10)
BACKOFF = (timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
BATCH = 50
CHINA = timezone(timedelta(hours=8))

Connect = Callable[[EInvoiceSeller], Provider]


def connect(seller: EInvoiceSeller) -> Provider:
    """The adapter for a seller's provider (one per API shape)."""
    if seller.provider == "nuonuo":
        return NuonuoProvider(
            seller.url, seller.app_key, seller.app_secret, seller.access_token, seller.seller_tax_id
        )
    raise ValueError(f"no adapter for e-invoice provider {seller.provider!r}")


@dataclass
class Tick:
    claimed: int = 0
    changed: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Job:
    id: int
    account_id: int
    kind: str
    state: str
    request_no: str
    serial: str | None
    #: Claimed from ``queued``: never sent before, so nothing to ask about first.
    fresh: bool = False


def tick(
    factory: sessionmaker[Session],
    now: datetime,
    connect_to: Connect = connect,
    query_after: timedelta = POLL,
) -> Tick:
    out = Tick()
    # The invoices buyers asked for with the orders shipped since the last tick (auto.py).
    auto.tick(factory, now)
    with transaction(factory) as s:
        rows = list(
            s.execute(
                select(EInvoice)
                .where(
                    EInvoice.state.in_(ACTIVE),
                    or_(EInvoice.next_try_at.is_(None), EInvoice.next_try_at <= now),
                )
                .order_by(EInvoice.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        jobs = []
        for inv in rows:
            if inv.state == "waiting":
                _wake(s, inv, now, query_after)
                continue
            claimed_state = inv.state
            if inv.state == "queued":
                inv.state, inv.attempts = "sending", inv.attempts + 1
            inv.next_try_at, inv.updated_at = now + LEASE, now
            jobs.append(
                _Job(
                    inv.id,
                    inv.account_id,
                    inv.kind,
                    inv.state,
                    inv.request_no,
                    inv.serial_no,
                    fresh=claimed_state == "queued",
                )
            )
            out.claimed += 1
            log.debug("claimed %s (%s)", inv.request_no, claimed_state)
    providers: dict[int, Provider | None] = {}
    for job in jobs:
        if job.account_id not in providers:
            with transaction(factory) as s:
                seller = s.get(EInvoiceSeller, job.account_id)
                providers[job.account_id] = connect_to(seller) if seller is not None else None
        provider = providers[job.account_id]
        if provider is None:
            _record(factory, job, now, error="no e-invoice provider is connected")
            continue
        new_state = _work(factory, provider, job, now, query_after)
        out.changed[new_state] = out.changed.get(new_state, 0) + 1
    for provider in providers.values():
        close = getattr(provider, "close", None)
        if close is not None:
            close()  # the adapter's HTTP connections
    return out


def _wake(s: Session, inv: EInvoice, now: datetime, query_after: timedelta = POLL) -> None:
    """A title change's new blue: sent once its red is issued; failed if the red won't be."""
    red = s.get_one(EInvoice, inv.after_id)
    if red.state == "issued":
        inv.state, inv.next_try_at = "queued", None
    elif red.state in ("failed", "voided"):
        inv.state = "failed"
        inv.reason = f"the red invoice {red.request_no} was not issued ({red.state}): the title was not changed"
    else:
        inv.next_try_at = now + query_after
    inv.updated_at = now


def _blue_request(factory: sessionmaker[Session], job: _Job) -> BlueRequest:
    with transaction(factory) as s:
        inv = s.get_one(EInvoice, job.id)
        return BlueRequest(
            inv.request_no, inv.buyer_name, inv.buyer_tax_id, inv.buyer_email, _lines(s, inv)
        )


def _red_request(factory: sessionmaker[Session], job: _Job) -> RedRequest:
    with transaction(factory) as s:
        inv = s.get_one(EInvoice, job.id)
        blue = s.get_one(EInvoice, inv.blue_id)
        return RedRequest(inv.request_no, blue.number or "", inv.red_reason or "01", _lines(s, inv))


def _lines(s: Session, inv: EInvoice) -> tuple[PortLine, ...]:
    rows = s.execute(
        select(EInvoiceLine)
        .where(EInvoiceLine.einvoice_id == inv.id)
        .order_by(EInvoiceLine.line_no)
    ).scalars()
    return tuple(
        PortLine(x.blue_line or x.line_no, x.name, x.tax_code, x.rate, x.quantity, x.amount, x.tax)
        for x in rows
    )


def _work(
    factory: sessionmaker[Session],
    p: Provider,
    job: _Job,
    now: datetime,
    query_after: timedelta = POLL,
) -> str:
    try:
        if job.kind == "blue":
            if job.state == "sending":
                # Sent before, answer lost: it may have arrived; ask before sending again.
                status = None if job.fresh else p.query(job.request_no)
                if status is None:
                    p.issue(_blue_request(factory, job))
                    return _record(factory, job, now, state="issuing", delay=query_after)
                return _record(factory, job, now, status=status, query_after=query_after)
            if job.state == "issuing":
                status = p.query(job.request_no)
                if status is None:  # accepted once, unknown now: the provider's trouble
                    raise Unreachable(f"the provider no longer knows {job.request_no}")
                return _record(factory, job, now, status=status, query_after=query_after)
            if job.state == "seal_failed":
                try:
                    p.reissue(job.serial or "")
                except LimitReached as err:
                    return _record(factory, job, now, error=str(err), until=_tomorrow(now))
                return _record(factory, job, now, state="issuing", delay=query_after)
        else:
            if job.state == "sending":
                form = None if job.fresh else p.query_red_form(job.request_no)
                if form is None:
                    form = p.red_form(_red_request(factory, job))
                return _record(factory, job, now, form=form, query_after=query_after)
            if job.state == "confirming":
                form = p.query_red_form(job.request_no)
                if form is None:
                    raise Unreachable(f"the provider no longer knows form {job.request_no}")
                return _record(factory, job, now, form=form, query_after=query_after)
            if job.state in ("issuing", "seal_failed"):
                if job.state == "seal_failed":
                    try:
                        p.reissue(job.serial or "")
                    except LimitReached as err:
                        return _record(factory, job, now, error=str(err), until=_tomorrow(now))
                    return _record(factory, job, now, state="issuing", delay=query_after)
                status = p.query(job.request_no)
                if status is None:
                    return _record(
                        factory, job, now, error="the red is not issued yet", delay=query_after
                    )
                return _record(factory, job, now, status=status, query_after=query_after)
    except Rejected as err:
        return _record(factory, job, now, state="failed", error=str(err))
    except Unreachable as err:
        return _record(factory, job, now, error=str(err), backoff=True)
    raise AssertionError(f"no work for {job}")  # pragma: no cover - ACTIVE covers the states


def _tomorrow(now: datetime) -> datetime:
    local = now.astimezone(CHINA)
    return (local + timedelta(days=1)).replace(hour=0, minute=5, second=0, microsecond=0)


def _record(
    factory: sessionmaker[Session],
    job: _Job,
    now: datetime,
    *,
    state: str | None = None,
    status: Status | None = None,
    form: FormStatus | None = None,
    error: str | None = None,
    delay: timedelta | None = None,
    until: datetime | None = None,
    backoff: bool = False,
    query_after: timedelta = POLL,
) -> str:
    with transaction(factory) as s:
        inv = s.get_one(EInvoice, job.id, with_for_update=True)
        if inv.state != job.state:  # changed under us (cannot while leased): leave it
            return inv.state
        if status is not None:
            inv.serial_no = status.serial or inv.serial_no
            if status.state == "issued":
                state = "issued"
                inv.number, inv.pdf_url, inv.ofd_url = status.number, status.pdf_url, status.ofd_url
                inv.issued_at, inv.reason = now, None
            elif status.state == "failed":
                state, error = "failed", status.reason or "the provider could not issue it"
            elif status.state == "seal_failed":
                state, error = "seal_failed", status.reason or "signature seal failed"
                delay = timedelta(0)
            else:
                state, delay = "issuing", query_after
        if form is not None:
            inv.form_id, inv.form_state = form.form_id, form.state
            if form.stands:
                state, delay = "issuing", query_after
            elif form.waiting:
                state, delay = "confirming", CONFIRM_POLL
            else:
                state = "voided"
                error = f"the red-letter form {form.form_id} is void (state {form.state})"
        if state is not None:
            inv.state = state
        if error is not None:
            inv.reason = error[:500]
        if inv.state not in ACTIVE:
            inv.next_try_at = None
        elif until is not None:
            inv.next_try_at = until
        elif backoff:
            inv.next_try_at = now + BACKOFF[min(max(inv.attempts - 1, 0), len(BACKOFF) - 1)]
            inv.attempts += 1
        else:
            inv.next_try_at = now + (delay if delay is not None else query_after)
        inv.updated_at = now
        return inv.state


class Worker(Periodic):
    """A thread of the hub that ticks every ``poll`` (cloud/app.py)."""

    name = "einvoice"
    failed = "e-invoice tick failed"

    def __init__(
        self, factory: sessionmaker[Session], poll: timedelta, query_after: timedelta = POLL
    ) -> None:
        super().__init__(poll, log)
        self.factory, self.query_after = factory, query_after

    def step(self, now: datetime) -> None:
        tick(self.factory, now, query_after=self.query_after)
