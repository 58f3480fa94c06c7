"""The hub fetches each merchant's WeChat Pay bills itself, day by day (issue 18).

A job (``wechat_bill_job``, one per seller and 商户号) holds the merchant's API credentials
and a **cursor**: the last day whose bills are in. Each day after it that WeChat Pay has
made (bills are made from 09:00 the next morning, China time; we ask from 10:00 as the docs
advise) is fetched over API v3 (cloud/finance/wechat_pay.py): the trade bill (交易账单),
imported and posted as an uploaded one is (cloud/finance/settlements.py), then the fund-flow
bill (资金账单), reconciled against it and never posted (cloud/finance/wechat_fundflow.py).

**Nothing doubled, nothing lost.** Both bills of a day are fetched first; then one
transaction moves the cursor from the day before to that day with a conditional UPDATE (only
while this process holds the job's lease and the cursor is where it read it), imports the
trade bill and reconciles the fund-flow bill. A failure anywhere rolls all of it back and
the day is tried again; a bill already imported (its hash is known: a person uploaded it,
or a run died after its commit but before it said so) is skipped, not refused, so a retry
moves on.

**Several hub processes** may run this worker: a due job is claimed by one conditional
UPDATE that takes its lease and moves ``next_run_at`` (as the channel schedules do,
cloud/channels/schedule.py); another process's UPDATE of the row waits for the row lock and
then finds it no longer due. A process that dies keeps the job until its lease runs out.

**Refused with a sentence, nothing stored**, kept in ``last_error`` and tried again at the
next run: an answer whose signature does not check out, a file whose SHA1 is not the one
WeChat Pay named, a bill that does not add up (the 422 of an upload). A day without a bill
(``NO_STATEMENT_EXIST``) stops the run while the day is young; two days after it is over
it is taken as a day without trades (WeChat Pay makes no bill of such a day).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Protocol

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.settlement import SettlementBill
from cloud.db.wechat_bills import FundflowBill, WechatBillJob
from cloud.errors import N_, ConflictError, DomainError, InvalidError
from cloud.finance import (
    sealed,
    settlements,
    wechat_bill,
    wechat_certs,
    wechat_fundflow,
    wechat_pay,
)
from cloud.orders.audit_rules import CHINA
from cloud.periodic import Periodic
from cloud.tasks import Gettext, said, say

log = logging.getLogger("guanjia.cloud.finance")
#: Bills are asked for from this time of the next day (China time).
READY = time(10, 0)
#: A day without a bill this long after it is over had no trades.
EMPTY_AFTER = timedelta(days=2)
LEASE = timedelta(minutes=10)
RETRY = timedelta(hours=1)
#: Days fetched per run (a job set up with a first day long ago catches up over runs).
MAX_DAYS = 7
_MCHID = re.compile(r"\d{8,12}")
#: A certificate's serial number (hex) or a public key's id (``PUB_KEY_ID_…``).
_SERIAL = re.compile(r"[0-9A-Za-z_-]{1,64}")
#: WeChat Pay's address: printable ASCII without spaces, at most 300 characters.
_URL = re.compile(r"https?://[!-~]{1,292}")


class Bills(Protocol):
    def fetch(self, kind: str, day: date, today: date) -> bytes: ...


def add_job(
    session: Session,
    account_id: int,
    *,
    mchid: str,
    serial_no: str,
    api_url: str,
    private_key: bytes,
    platform_key: bytes,
    platform_serial: str,
    first_day: date,
    now: datetime,
    api_v3_key: str = "",
    box: sealed.Box | None = None,
) -> WechatBillJob:
    """A merchant's daily fetch from ``first_day`` on; the keys are checked now. Answers
    are verified with WeChat Pay's public key when one is given, else with the platform
    certificates the hub downloads with the APIv3 key (cloud/finance/wechat_certs.py).
    With the hub's ``box`` the private key and the APIv3 key are stored sealed
    (cloud/finance/sealed.py)."""
    if not _MCHID.fullmatch(mchid):
        raise InvalidError(N_("商户号 %(mchid)r is not 8 to 12 digits"), "mchid", mchid=mchid[:40])
    if not _SERIAL.fullmatch(serial_no) or not _URL.fullmatch(api_url):
        raise InvalidError(
            N_("give the API certificate's serial number and WeChat Pay's address (https://…)"),
            "serial_no",
        )
    if platform_serial and not _SERIAL.fullmatch(platform_serial):
        raise InvalidError(
            N_("WeChat Pay's key id is letters, digits, _ and - (at most 64): %(id)r"),
            "platform_serial",
            id=platform_serial[:70],
        )
    wechat_pay.load_private_key(private_key)
    if platform_key.strip():
        wechat_pay.load_public_key(platform_key)
    elif not api_v3_key:
        raise InvalidError(
            N_(
                "give WeChat Pay's public key (微信支付公钥), or the APIv3 key (APIv3密钥) so "
                "the hub downloads the platform certificates itself"
            ),
            "platform_key",
        )
    if api_v3_key:
        wechat_certs.check_api_v3_key(api_v3_key)
    wechat_pay.check_day(first_day, now.astimezone(CHINA).date())
    known = session.execute(
        select(WechatBillJob.id).where(
            WechatBillJob.account_id == account_id, WechatBillJob.mchid == mchid
        )
    ).scalar_one_or_none()
    if known is not None:
        raise ConflictError(N_("商户号 %(mchid)s is fetched already"), mchid=mchid)
    job = WechatBillJob(
        account_id=account_id,
        mchid=mchid,
        serial_no=serial_no,
        api_url=api_url,
        private_key=_seal(
            box, private_key.decode("ascii", "replace"), account_id, mchid, "private_key"
        ),
        platform_key=platform_key.decode("ascii", "replace"),
        platform_serial=platform_serial,
        api_v3_key=_seal(box, api_v3_key, account_id, mchid, "api_v3_key") if api_v3_key else None,
        first_day=first_day,
        last_day=None,
        enabled=True,
        next_run_at=None,
        created_at=now,
    )
    session.add(job)
    session.flush()
    return job


def ready(day: date, now: datetime) -> bool:
    """Whether WeChat Pay has made the bills of ``day`` by ``now``."""
    return now.astimezone(CHINA) >= datetime.combine(day + timedelta(days=1), READY, CHINA)


def _free(now: datetime) -> object:
    return or_(WechatBillJob.lease_until.is_(None), WechatBillJob.lease_until < now)


def claim_due(session: Session, owner: str, now: datetime, limit: int = 20) -> list[int]:
    """Take the lease of due jobs (every account's: the worker is the hub's)."""
    due = and_(
        WechatBillJob.enabled.is_(True),
        or_(WechatBillJob.next_run_at.is_(None), WechatBillJob.next_run_at <= now),
        _free(now),  # type: ignore[arg-type]
    )
    ids = list(
        session.execute(
            select(WechatBillJob.id).where(due).order_by(WechatBillJob.id).limit(limit)
        ).scalars()
    )
    out = []
    for job_id in ids:
        done = session.execute(
            update(WechatBillJob)
            .where(WechatBillJob.id == job_id, due)
            .values(lease_owner=owner, lease_until=now + LEASE, next_run_at=now + RETRY)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            out.append(job_id)
    return out


@dataclass
class Run:
    job_id: int
    days: list[date] = field(default_factory=list)
    imported: int = 0
    reconciled: int = 0
    unmatched: int = 0
    error: str | None = None


class LostLease(ConflictError):
    """Another process moved the job on: this run's day is rolled back."""


def _new(
    session: Session, account_id: int, model: type[SettlementBill | FundflowBill], data: bytes
) -> bool:
    """Whether ``data`` has rows and is not imported yet (its hash is unknown)."""
    rows = (
        wechat_bill.parse(data).rows
        if model is SettlementBill
        else wechat_fundflow.parse(data).rows
    )
    digest = hashlib.sha256(data).hexdigest()
    return bool(rows) and settlements.known_file(session, model, account_id, digest) is None


def _fetch(bills: Bills, kind: str, day: date, now: datetime) -> bytes | None:
    """The bill, or None for a day WeChat Pay has no bill of (a day without trades)."""
    try:
        return bills.fetch(kind, day, now.astimezone(CHINA).date())
    except wechat_pay.NotReady:
        over = datetime.combine(day + timedelta(days=1), time(0), CHINA)
        if now - over >= EMPTY_AFTER:
            return None
        raise


def run_job(
    factory: sessionmaker[Session], job_id: int, bills: Bills, owner: str, now: datetime
) -> Run:
    """Fetch and import the job's days after its cursor, each in its own transaction."""
    out = Run(job_id)
    with factory() as s:
        job = s.get(WechatBillJob, job_id)
        assert job is not None
        account_id, cursor, first = job.account_id, job.last_day, job.first_day
        mchid = job.mchid
    day = cursor + timedelta(days=1) if cursor else first
    stored: str | None = None
    try:
        while ready(day, now) and len(out.days) < MAX_DAYS:
            trade = _fetch(bills, "trade", day, now)
            fund = _fetch(bills, "fundflow", day, now)
            with transaction(factory) as s:
                moved = s.execute(
                    update(WechatBillJob)
                    .where(
                        WechatBillJob.id == job_id,
                        WechatBillJob.lease_owner == owner,
                        WechatBillJob.last_day.is_(None)
                        if cursor is None
                        else WechatBillJob.last_day == cursor,
                    )
                    .values(last_day=day, last_run_at=now, last_error=None)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount != 1:  # type: ignore[attr-defined]
                    raise LostLease(
                        N_("商户号 %(mchid)s was moved on by another hub process"), mchid=mchid
                    )
                name = f"wechat-{mchid}-{day:%Y%m%d}"
                # An empty day (header and summary only) has nothing to import; a bill
                # imported before (by hand, or by a run that died after its commit) is skipped.
                if trade is not None and _new(s, account_id, SettlementBill, trade):
                    settlements.import_bill(s, account_id, trade, f"{name}-trade.csv", "hub", now)
                    out.imported += 1
                if fund is not None and _new(s, account_id, FundflowBill, fund):
                    got = wechat_fundflow.reconcile(
                        s, account_id, fund, f"{name}-fundflow.csv", "hub", now
                    )
                    out.reconciled += 1
                    out.unmatched += got.unmatched
            out.days.append(day)
            cursor, day = day, day + timedelta(days=1)
    except DomainError as err:
        out.error, stored = str(err), stored_error(err)
    except httpx.HTTPError as err:  # a transport fault the client did not name
        unreachable = ConflictError(
            N_("WeChat Pay could not be reached: %(fault)s"), fault=type(err).__name__
        )
        out.error, stored = str(unreachable), stored_error(unreachable)
    caught_up = not ready(day, now)
    nxt = datetime.combine(day + timedelta(days=1), READY, CHINA) if caught_up else now + RETRY
    if out.error is None and not caught_up:  # more days to fetch: at the next tick
        nxt = now
    with transaction(factory) as s:
        s.execute(
            update(WechatBillJob)
            .where(WechatBillJob.id == job_id, WechatBillJob.lease_owner == owner)
            .values(
                lease_owner=None,
                lease_until=None,
                next_run_at=nxt.astimezone(UTC),
                last_run_at=now,
                last_error=stored,
            )
            .execution_options(synchronize_session=False)
        )
    return out


def _seal(box: sealed.Box | None, plain: str, account_id: int, mchid: str, column: str) -> str:
    return plain if box is None else box.seal(plain, sealed.context(account_id, mchid, column))


def _keys(
    job: WechatBillJob, factory: sessionmaker[Session], box: sealed.Box | None
) -> tuple[str, str | None]:
    """The job's private key and APIv3 key in plain text, for this run only. Plain ones
    stored before the hub had a secret are sealed now (the first use after it is set)."""
    ctx = {c: sealed.context(job.account_id, job.mchid, c) for c in ("private_key", "api_v3_key")}
    private = sealed.open_value(box, job.private_key, ctx["private_key"])
    v3 = (
        None
        if job.api_v3_key is None
        else sealed.open_value(box, job.api_v3_key, ctx["api_v3_key"])
    )
    plain = not sealed.is_sealed(job.private_key) or (
        v3 is not None and not sealed.is_sealed(job.api_v3_key)
    )
    if box is not None and plain:
        with transaction(factory) as s:
            s.execute(
                update(WechatBillJob)
                .where(WechatBillJob.id == job.id)
                .values(
                    private_key=box.seal(private, ctx["private_key"]),
                    api_v3_key=None if v3 is None else box.seal(v3, ctx["api_v3_key"]),
                )
                .execution_options(synchronize_session=False)
            )
    return private, v3


def client_for(
    job: WechatBillJob,
    http: httpx.Client,
    factory: sessionmaker[Session],
    ca_bundle: Path | None = None,
    box: sealed.Box | None = None,
) -> wechat_pay.WechatPayBills:
    """The job's client. A job verified with platform certificates (no public key given)
    downloads them first when they are due (cloud/finance/wechat_certs.py), each checked
    against the CA file ``ca_bundle`` (the setting ``wechatpay_ca_bundle``; none: refused,
    cloud/finance/wechat_trust.py): a refusal there is the run's refusal, kept as
    ``last_error``, and no bill is fetched. Sealed keys open with ``box`` (the hub's
    secret, cloud/finance/sealed.py)."""
    private, v3 = _keys(job, factory, box)
    store = None
    if not job.platform_key.strip() and v3:
        store = wechat_certs.Store(factory, job.id, job.account_id, v3, ca_bundle)
    bills = wechat_pay.WechatPayBills(
        http,
        job.api_url,
        job.mchid,
        job.serial_no,
        private.encode(),
        job.platform_key.encode(),
        job.platform_serial,
        certificates=store,
    )
    if store is not None:
        store.bills = bills
        now = bills.now()
        if store.due(now):
            store.refresh(now)
    return bills


def drain(
    factory: sessionmaker[Session],
    clients: Callable[[WechatBillJob], Bills],
    owner: str,
    now: datetime,
) -> list[Run]:
    """Claim the due jobs and run each."""
    with transaction(factory) as s:
        claimed = claim_due(s, owner, now)
    runs = []
    for job_id in claimed:
        with factory() as s:
            job = s.get(WechatBillJob, job_id)
            assert job is not None
            s.expunge(job)
        try:
            bills = clients(job)
        except DomainError as err:  # a key that no longer loads: said, tried again later
            runs.append(run_failed(factory, job_id, owner, now, err))
            continue
        runs.append(run_job(factory, job_id, bills, owner, now))
    return runs


def run_failed(
    factory: sessionmaker[Session], job_id: int, owner: str, now: datetime, error: DomainError
) -> Run:
    with transaction(factory) as s:
        s.execute(
            update(WechatBillJob)
            .where(WechatBillJob.id == job_id, WechatBillJob.lease_owner == owner)
            .values(
                lease_owner=None, lease_until=None, last_run_at=now, last_error=stored_error(error)
            )
            .execution_options(synchronize_session=False)
        )
    return Run(job_id, error=str(error))


def stored_error(err: DomainError) -> str:
    """What ``last_error`` keeps of a refusal: its English text (what the CLI and the API
    say) with its message id and parameters, so a page says it in its own language
    (cloud/tasks.py ``said``, as a task's detail is kept)."""
    text = str(err)[:1000]
    return json.dumps({"text": text, "said": said(err)}, ensure_ascii=False, default=str)


def error_text(raw: str | None, gettext: Gettext | None = None) -> str:
    """``last_error`` as a sentence: in the language of ``gettext`` when given, else its
    English text; a row written before errors were kept so (plain English) as it is."""
    if not raw:
        return ""
    try:
        data = json.loads(raw)
        text, spoken = str(data["text"]), data["said"]
    except (ValueError, KeyError, TypeError):
        return raw
    if gettext is None or not isinstance(spoken, dict):
        return text
    return say(str(spoken["msgid"]), spoken.get("params") or {}, gettext)


class Worker(Periodic):
    """A thread of the hub that runs the due jobs every ``poll`` (cloud/app.py)."""

    name = "wechat-bills"
    failed = "finance: a WeChat Pay bill run failed; trying again"

    def __init__(
        self,
        factory: sessionmaker[Session],
        poll: timedelta,
        owner: str,
        ca_bundle: Path | None = None,
        box: sealed.Box | None = None,
    ) -> None:
        super().__init__(poll, log)
        self.factory, self.owner, self.ca_bundle, self.box = factory, owner, ca_bundle, box
        self._http: httpx.Client | None = None

    def step(self, now: datetime) -> None:
        http = self._http
        assert http is not None  # set by _loop for the thread's life
        drain(
            self.factory,
            lambda job: client_for(job, http, self.factory, self.ca_bundle, self.box),
            self.owner,
            now,
        )

    def _loop(self) -> None:
        # One HTTP client (its connection pool) for the thread's life.
        with httpx.Client() as http:
            self._http = http
            super()._loop()
