"""/finance/wechat-jobs: the hub's daily WeChat Pay bill fetch per merchant (cloud/finance/
wechat_jobs.py, wechat_admin.py; docs/finance.md "WeChat Pay bills fetched by the hub") —
what ``guanjia finance wechat add-job | jobs`` does and what an operator needs besides:
park, resume (also "fetch now") and re-fetch a day, through the same domain functions.

A job is named by its 商户号 (unique per seller); another seller's is a 404. Reading needs
``finance:read``, every change ``finance:write`` (the finance and admin roles). The
merchant's private key goes in and never comes out: no answer carries it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from cloud.api.deps import FinanceRead, FinanceWrite, SessionDep, SettingsDep
from cloud.api.schemas import RefetchIn, WechatJobIn
from cloud.auth import Principal
from cloud.db.wechat_bills import WechatBillJob
from cloud.finance import sealed, wechat_admin, wechat_certs, wechat_jobs
from cloud.settings import Settings

router = APIRouter(prefix="/api/v1/finance/wechat-jobs", tags=["finance"])
MchidPath = Annotated[str, Path(max_length=12, pattern=r"^\d{8,12}$")]


class WechatJobOut(BaseModel):
    mchid: str
    serial_no: str
    platform_serial: str
    api_url: str
    #: parked, running, stopped (the last run was refused: last_error) or waiting.
    state: str
    enabled: bool
    first_day: date
    #: The cursor: the last day whose bills are in (None: none yet).
    last_day: date | None
    days_fetched: int
    #: Days WeChat Pay has made bills of that the job has not fetched yet.
    days_behind: int
    next_run_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    last_run_at: datetime | None
    last_error: str | None
    created_at: datetime


class JobBillOut(BaseModel):
    #: trade (交易账单, a settlement bill) or fundflow (资金账单).
    kind: str
    id: str
    file_name: str
    day: date | None
    rows: int
    unmatched: int


class PlatformCertOut(BaseModel):
    """A WeChat Pay platform certificate the job downloaded (cloud/finance/wechat_certs.py):
    what identifies it, never the certificate's text or any key."""

    serial_no: str
    not_before: datetime
    not_after: datetime
    #: The issuer's name (RFC 4514), e.g. WeChat Pay's ``CN=Tenpay.com Root CA,…``.
    issuer: str | None
    #: SHA-256 of the certificate (DER), ``AB:CD:…`` as ``openssl x509 -fingerprint -sha256``.
    fingerprint_sha256: str | None
    #: current (the newest valid one), superseded (still valid: answers may be signed with
    #: it during a rotation) or expired (dropped at the next download).
    status: str


class WechatJobBillsOut(BaseModel):
    job: WechatJobOut
    bills: list[JobBillOut]


def job_out(j: WechatBillJob, now: datetime) -> WechatJobOut:
    return WechatJobOut(
        mchid=j.mchid,
        serial_no=j.serial_no,
        platform_serial=j.platform_serial,
        api_url=j.api_url,
        state=wechat_admin.state(j, now),
        enabled=j.enabled,
        first_day=j.first_day,
        last_day=j.last_day,
        days_fetched=wechat_admin.days_in(j),
        days_behind=wechat_admin.behind(j, now),
        next_run_at=j.next_run_at,
        lease_owner=j.lease_owner,
        lease_until=j.lease_until,
        last_run_at=j.last_run_at,
        last_error=wechat_jobs.error_text(j.last_error) or None,
        created_at=j.created_at,
    )


def add(session: Session, who: Principal, body: WechatJobIn, settings: Settings) -> WechatBillJob:
    """The job of ``body`` (the API's route and the dashboard's form)."""
    return wechat_jobs.add_job(
        session,
        who.account_id,
        mchid=body.mchid,
        serial_no=body.serial_no,
        api_url=body.api_url,
        private_key=body.private_key.encode(),
        platform_key=body.platform_key.encode(),
        platform_serial=body.platform_serial,
        first_day=body.first_day,
        now=datetime.now(UTC),
        api_v3_key=body.api_v3_key,
        box=sealed.box_of(settings.secrets_key),
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def add_job(
    body: WechatJobIn, session: SessionDep, who: FinanceWrite, settings: SettingsDep
) -> WechatJobOut:
    """Fetch the merchant's bills every day from ``first_day`` on; 409 for a 商户号 fetched
    already, 422 for a key that does not load or a day not over or too old."""
    return job_out(add(session, who, body, settings), datetime.now(UTC))


@router.get("")
def list_jobs(session: SessionDep, who: FinanceRead) -> list[WechatJobOut]:
    """The seller's jobs: state, cursor, lease, last error."""
    now = datetime.now(UTC)
    return [job_out(j, now) for j in wechat_admin.jobs(session, who.account_id)]


@router.get("/{mchid}")
def get_job(mchid: MchidPath, session: SessionDep, who: FinanceRead) -> WechatJobBillsOut:
    """One job and the bills it brought in (newest first)."""
    now = datetime.now(UTC)
    j = wechat_admin.job(session, who.account_id, mchid)
    got = wechat_admin.bills_of(session, who.account_id, mchid)
    bills = [
        JobBillOut(
            kind=kind,
            id=b.public_id,
            file_name=b.file_name,
            day=b.period_from,
            rows=b.rows,
            unmatched=b.unmatched,
        )
        for kind, found in (("trade", got.trade), ("fundflow", got.fundflow))
        for b in found
    ]
    return WechatJobBillsOut(job=job_out(j, now), bills=bills)


@router.get("/{mchid}/certificates")
def certificates(mchid: MchidPath, session: SessionDep, who: FinanceRead) -> list[PlatformCertOut]:
    """The platform certificates the job downloaded, newest first (none for a job given
    WeChat Pay's public key instead); another seller's job is a 404."""
    now = datetime.now(UTC)
    j = wechat_admin.job(session, who.account_id, mchid)
    return [
        PlatformCertOut(
            serial_no=c.serial_no,
            not_before=c.effective_at,
            not_after=c.expire_at,
            issuer=c.issuer,
            fingerprint_sha256=c.fingerprint,
            status=c.status,
        )
        for c in wechat_certs.views(session, who.account_id, j.id, now)
    ]


@router.post("/{mchid}/park")
def park(mchid: MchidPath, session: SessionDep, who: FinanceWrite) -> WechatJobOut:
    """No run starts until it is resumed (a run under way ends its days)."""
    now = datetime.now(UTC)
    return job_out(wechat_admin.park(session, who.account_id, mchid, now), now)


@router.post("/{mchid}/resume")
def resume(mchid: MchidPath, session: SessionDep, who: FinanceWrite) -> WechatJobOut:
    """Due now: each hub process's finance worker takes it at its next poll."""
    now = datetime.now(UTC)
    return job_out(wechat_admin.resume(session, who.account_id, mchid, now), now)


@router.post("/{mchid}/refetch")
def refetch(
    mchid: MchidPath, body: RefetchIn, session: SessionDep, who: FinanceWrite
) -> WechatJobOut:
    """Fetch ``day`` and the days after it again (bills in already are skipped); 409 while
    a run holds the job, 422 for a day not fetched yet or more than three months back."""
    now = datetime.now(UTC)
    return job_out(wechat_admin.refetch(session, who.account_id, mchid, body.day, now), now)
