"""What a person does with the hub's WeChat Pay bill jobs and reads of the fund-flow bills
(issue 18): the one write path behind ``guanjia finance wechat …``, the API's
``/api/v1/finance/wechat-jobs`` and ``/fundflow-bills/{id}``, and the dashboard's pages.

A job (cloud/finance/wechat_jobs.py) is named by its 商户号, unique per seller. A person may

* **park** it: no run starts for it until it is resumed (a run under way ends its days; its
  cursor is kept);
* **resume** it: due at once, so each hub process's finance worker takes it at its next
  poll (``finance_poll_s``) — also "fetch now" for a job that waits for its next morning or
  for the hour after a refusal;
* **re-fetch a day**: the cursor is set back to the day before it, so the next run fetches
  that day and every later one again. Nothing doubles: a bill imported before is known by
  its hash and skipped (cloud/finance/wechat_jobs.py ``_new``), and a bill of other bytes
  whose rows are in already is refused (409, kept as the job's last error) — so a re-fetch
  brings in only what is missing: a day taken for one without trades because WeChat Pay had
  no bill two days after it, or a fund-flow bill that was refused and is right now. Refused
  while a run holds the job's lease (409: its cursor is moving), for a day the job has not
  fetched yet (422: it will) and for one more than three months back (422: WeChat Pay keeps
  three). The cursor moves with a conditional UPDATE that needs the lease free, so a worker
  claiming the job at that moment either sees the new cursor or keeps it from moving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cloud.db.models import Task
from cloud.db.settlement import SettlementBill, SettlementRow
from cloud.db.wechat_bills import FundflowBill, FundflowRow, WechatBillJob
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError
from cloud.finance import wechat_pay
from cloud.finance.wechat_jobs import ready
from cloud.orders.audit_rules import CHINA

#: Bills listed on a job's page and fund-flow bills on the list (newest first).
RECENT = 200


def jobs(session: Session, account_id: int) -> list[WechatBillJob]:
    return list(
        session.execute(
            select(WechatBillJob)
            .where(WechatBillJob.account_id == account_id)
            .order_by(WechatBillJob.id)
        ).scalars()
    )


def job(session: Session, account_id: int, mchid: str) -> WechatBillJob:
    """The seller's job of ``mchid``; 404 for any other (another seller's too)."""
    found = session.execute(
        select(WechatBillJob).where(
            WechatBillJob.account_id == account_id, WechatBillJob.mchid == mchid
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(N_("no WeChat Pay bill job for 商户号 %(mchid)s"), mchid=mchid[:40])
    return found


def state(j: WechatBillJob, now: datetime) -> str:
    """parked, running (a process holds its lease), stopped (its last run was refused:
    tried again an hour later), waiting (caught up, or due at its next run)."""
    if not j.enabled:
        return "parked"
    if j.lease_until is not None and j.lease_until > now:
        return "running"
    if j.last_error:
        return "stopped"
    return "waiting"


def days_in(j: WechatBillJob) -> int:
    """How many days the job has fetched: its first day to its cursor."""
    return 0 if j.last_day is None else (j.last_day - j.first_day).days + 1


def behind(j: WechatBillJob, now: datetime) -> int:
    """Days whose bills WeChat Pay has made and the job has not fetched yet."""
    day = j.last_day + timedelta(days=1) if j.last_day else j.first_day
    n = 0
    while ready(day, now) and n < 400:
        n, day = n + 1, day + timedelta(days=1)
    return n


def park(session: Session, account_id: int, mchid: str, now: datetime) -> WechatBillJob:
    """No run starts until it is resumed; its cursor is kept."""
    j = job(session, account_id, mchid)
    j.enabled = False
    session.flush()
    return j


def resume(session: Session, account_id: int, mchid: str, now: datetime) -> WechatBillJob:
    """Due now: the finance worker takes it at its next poll."""
    j = job(session, account_id, mchid)
    j.enabled, j.next_run_at = True, now
    session.flush()
    return j


def refetch(
    session: Session, account_id: int, mchid: str, day: date, now: datetime
) -> WechatBillJob:
    """Set the cursor back to the day before ``day`` (see the module)."""
    j = job(session, account_id, mchid)
    if day < j.first_day:
        raise InvalidError(
            N_("%(day)s is before the job's first day %(first)s: nothing of it is fetched"),
            "day",
            day=day.isoformat(),
            first=j.first_day.isoformat(),
        )
    if j.last_day is None or day > j.last_day:
        raise InvalidError(
            N_("%(day)s is not fetched yet (the job is in to %(last)s): it will be, in order"),
            "day",
            day=day.isoformat(),
            last=j.last_day.isoformat() if j.last_day else "-",
        )
    wechat_pay.check_day(day, now.astimezone(CHINA).date())
    back = day - timedelta(days=1) if day > j.first_day else None
    moved = session.execute(
        update(WechatBillJob)
        .where(
            WechatBillJob.id == j.id,
            or_(WechatBillJob.lease_until.is_(None), WechatBillJob.lease_until <= now),
        )
        .values(last_day=back, next_run_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            N_(
                "a run of 商户号 %(mchid)s is under way: its cursor is moving; re-fetch once it "
                "is over (a few minutes)"
            ),
            mchid=mchid,
        )
    session.refresh(j)
    return j


@dataclass(frozen=True)
class JobBills:
    """The bills a job brought in: trade bills of its 商户号, fund-flow bills by the name
    the job gives them (``wechat-<mchid>-<day>-fundflow.csv``)."""

    trade: list[SettlementBill]
    fundflow: list[FundflowBill]


def bills_of(session: Session, account_id: int, mchid: str) -> JobBills:
    trade = session.execute(
        select(SettlementBill)
        .where(
            SettlementBill.account_id == account_id,
            SettlementBill.platform == "wechat",
            SettlementBill.payment_account == mchid,
        )
        .order_by(SettlementBill.period_from.desc(), SettlementBill.id.desc())
        .limit(RECENT)
    ).scalars()
    fund = session.execute(
        select(FundflowBill)
        .where(
            FundflowBill.account_id == account_id,
            FundflowBill.file_name.startswith(f"wechat-{mchid}-", autoescape=True),
        )
        .order_by(FundflowBill.period_from.desc(), FundflowBill.id.desc())
        .limit(RECENT)
    ).scalars()
    return JobBills(list(trade), list(fund))


# --- fund-flow bills ------------------------------------------------------------------------


def fundflow_bills(session: Session, account_id: int) -> list[FundflowBill]:
    """Newest first (at most :data:`RECENT`)."""
    return list(
        session.execute(
            select(FundflowBill)
            .where(FundflowBill.account_id == account_id)
            .order_by(FundflowBill.imported_at.desc(), FundflowBill.id.desc())
            .limit(RECENT)
        ).scalars()
    )


@dataclass(frozen=True)
class FundflowView:
    bill: FundflowBill
    rows: list[FundflowRow]
    #: The trade-bill row each matched movement is: its flow number (``wx:…``) and bill.
    matched: dict[int, tuple[str, str]]
    #: The ``fundflow`` task opened for the unmatched movements (None: all matched).
    task: Task | None


def fundflow_bill(session: Session, account_id: int, public_id: str) -> FundflowView:
    """A fund-flow bill with its movements; 404 for another seller's."""
    head = session.execute(
        select(FundflowBill).where(
            FundflowBill.account_id == account_id, FundflowBill.public_id == public_id
        )
    ).scalar_one_or_none()
    if head is None:
        raise NotFoundError(N_("no fund-flow bill %(bill)s"), bill=public_id[:40])
    rows = list(
        session.execute(
            select(FundflowRow)
            .where(FundflowRow.account_id == account_id, FundflowRow.bill_id == head.id)
            .order_by(FundflowRow.line_no, FundflowRow.id)
        ).scalars()
    )
    ids = [r.settlement_row_id for r in rows if r.settlement_row_id is not None]
    matched: dict[int, tuple[str, str]] = {}
    if ids:
        for row_id, flow, bill in session.execute(
            select(SettlementRow.id, SettlementRow.flow_no, SettlementBill.public_id)
            .join(SettlementBill, SettlementBill.id == SettlementRow.bill_id)
            .where(SettlementRow.account_id == account_id, SettlementRow.id.in_(ids))
        ):
            matched[row_id] = (flow, bill)
    task = None
    if head.unmatched:
        # The task's detail names the bill (cloud/finance/wechat_fundflow.py reconcile).
        for t in session.execute(
            select(Task)
            .where(
                Task.account_id == account_id,
                Task.kind == "fundflow",
                Task.detail.contains(head.public_id, autoescape=True),
            )
            .order_by(Task.id.desc())
        ).scalars():
            if (t.params or {}).get("bill") == head.public_id:
                task = t
                break
    return FundflowView(head, rows, matched, task)
