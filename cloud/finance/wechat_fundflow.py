"""WeChat Pay's fund-flow bill (资金账单): reconciled against the trade bill, never posted.

**Why not posted** (issue 18): the trade bill (交易账单, cloud/finance/wechat_bill.py) already
posts every payment, its fee and every refund into 1012.02 WeChat Pay. The fund-flow bill
is the same money seen from the account's side — each payment arriving, each fee taken,
each refund paid, plus what the trade bill does not know (withdrawals to the bank, top-ups,
adjustments). Posting it as well would post every fee and sale twice. So it is used only to
*check*: each movement must be a trade-bill row already posted, for the same amount in the
same direction; a movement that is not (a withdrawal, a fee the trade bill did not show, a
payment whose trade bill was never imported) is listed with the reason and a task is opened
for a person, who posts what is right by hand (a bank transfer, say) or imports the missing
trade bill. With every movement matched, the account moved exactly as the books say.

**The file** (pay.weixin.qq.com, "申请资金账单" and "下载账单" 文件格式说明; research/finance-
einvoice.md): a header line (记账时间, 微信支付业务单号, 资金流水单号, 业务名称, 业务类型, 收支类型,
收支金额（元）, 账户结余（元）, 资金变更提交申请人, 备注, 业务凭证号), one line per movement, every
value behind a backtick; then the summary header (资金流水总笔数, 收入笔数, 收入金额, 支出笔数,
支出金额) and its totals. Columns are found by name. The layout of the columns is as public
write-ups show it, not verified against a live merchant account.

**Matching** (each movement to the trade bill's rows, by the flow numbers the trade bill's
rows carry, cloud/finance/wechat_bill.py):

=================================  ==============================================
业务类型 / 收支类型                  the trade-bill row
=================================  ==============================================
…手续费…, 支出                       ``wx:<业务单号>:fee``, its ``amount_out``
…手续费…, 收入 (a fee given back)     ``wx:<业务单号>:fee``, its ``amount_in``
…退款…, 支出                         ``wx:<业务单号>`` (the refund's id), ``amount_out``
…交易… or …支付…, 收入                ``wx:<业务单号>`` (the payment's id), ``amount_in``
anything else                      none: listed (a withdrawal, a top-up, …)
=================================  ==============================================

The bill's checks are the shared ones (cloud/finance/bill_checks.py): the balance chain,
each 资金流水单号 once, the summary's counts and totals; any failure is a 422 naming the
line, with nothing stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import new_public_id
from cloud.db.settlement import SettlementBill, SettlementRow
from cloud.db.wechat_bills import FundflowBill, FundflowRow
from cloud.errors import N_, ConflictError, InvalidError
from cloud.finance import bill_checks
from cloud.finance.settlements import add_head, known_file, reason_json
from cloud.orders.audit_rules import CHINA
from cloud.tasks import open_task

ZERO = Decimal("0.00")
COLUMNS = {
    "记账时间": "at",
    "微信支付业务单号": "business_no",
    "资金流水单号": "flow_no",
    "业务名称": "name",
    "业务类型": "business_type",
    "收支类型": "direction",
    "收支金额（元）": "amount",
    "账户结余（元）": "balance",
    "备注": "remark",
}
REQUIRED = tuple(c for c in COLUMNS if c != "备注")
SUMMARY = "资金流水总笔数"
CHECKED = ("资金流水总笔数", "收入笔数", "收入金额", "支出笔数", "支出金额")
#: Shown in a task: at most this many movements by line.
LISTED = 10


def looks_like(data: bytes) -> bool:
    head = bill_checks.gunzipped(data)[:4096]
    return "资金流水单号".encode() in head or "资金流水单号".encode("gbk") in head


@dataclass(frozen=True)
class Movement:
    line_no: int
    at: datetime  # China time, naive as written
    business_no: str
    flow_no: str
    business_type: str
    amount_in: Decimal
    amount_out: Decimal
    balance: Decimal

    @property
    def net(self) -> Decimal:
        return self.amount_in - self.amount_out


@dataclass(frozen=True)
class FundBill(bill_checks.Balances):
    rows: tuple[Movement, ...]


def _name(header: str) -> str:
    return header.replace("(", "（").replace(")", "）")


def parse(data: bytes) -> FundBill:
    """The bill in ``data`` (text or gzip); InvalidError naming the line at fault."""
    table = bill_checks.wechat_table(data, COLUMNS, REQUIRED, SUMMARY, _name)
    rows = [_row(cells, table.where, line_no) for line_no, cells in table.rows]
    summary = table.figures(CHECKED)
    ins = [r.amount_in for r in rows if r.amount_in]
    outs = [r.amount_out for r in rows if r.amount_out]
    got = {
        "资金流水总笔数": Decimal(len(rows)),
        "收入笔数": Decimal(len(ins)),
        "收入金额": sum(ins, ZERO),
        "支出笔数": Decimal(len(outs)),
        "支出金额": sum(outs, ZERO),
    }
    for name in CHECKED:
        bill_checks.agrees(name, summary.get(name), got[name])
    bill_checks.once((r.line_no, r.flow_no) for r in rows)
    bill_checks.chained(rows)
    return FundBill(tuple(rows))


def _row(cells: list[str], where: dict[str, int], line_no: int) -> Movement:
    v = {f: cells[i] for f, i in where.items()}
    at = bill_checks.when(v["at"], line_no, "记账时间")
    flow_no = v["flow_no"]
    if not flow_no or len(flow_no) > 64 or len(v["business_no"]) > 64:
        raise InvalidError(
            N_(
                "line %(line)s: 资金流水单号 is empty, or it or 微信支付业务单号 is longer than 64 "
                "characters"
            ),
            "file",
            line=line_no,
        )
    if v["direction"] not in ("收入", "支出"):
        raise InvalidError(
            N_("line %(line)s: 收支类型 %(value)r is neither 收入 nor 支出"),
            "file",
            line=line_no,
            value=v["direction"],
        )
    amount = bill_checks.amount(v["amount"], line_no, "收支金额（元）")
    if amount <= 0:
        raise InvalidError(
            N_("line %(line)s: 收支金额（元） %(value)s is not more than 0.00"),
            "file",
            line=line_no,
            value=amount,
        )
    if not v["balance"]:
        raise InvalidError(N_("line %(line)s: 账户结余（元） is empty"), "file", line=line_no)
    income = v["direction"] == "收入"
    return Movement(
        line_no=line_no,
        at=at,
        business_no=v["business_no"],
        flow_no=flow_no,
        business_type=(v["business_type"] or v["name"])[:64],
        amount_in=amount if income else ZERO,
        amount_out=ZERO if income else amount,
        balance=bill_checks.amount(v["balance"], line_no, "账户结余（元）"),
    )


def counterpart_of(m: Movement) -> str | None:
    """The flow number of the trade-bill row this movement is (None: the trade bill has
    none of this kind)."""
    kind = m.business_type
    if not m.business_no:
        return None
    if "手续费" in kind:
        return f"wx:{m.business_no}:fee"
    if "退款" in kind and m.amount_out:
        return f"wx:{m.business_no}"
    if ("交易" in kind or "支付" in kind) and m.amount_in:
        return f"wx:{m.business_no}"
    return None


@dataclass(frozen=True)
class Reconciled:
    bill_id: int
    public_id: str
    rows: int
    matched: int
    unmatched: int
    task: str | None


def reconcile(
    session: Session, account_id: int, data: bytes, file_name: str, actor: str, now: datetime
) -> Reconciled:
    """Import a fund-flow bill in the caller's transaction: match each movement to a posted
    trade-bill row, list the rest and open a task for them. Posts nothing."""
    digest = hashlib.sha256(data).hexdigest()
    known = known_file(session, FundflowBill, account_id, digest)
    if known is not None:
        raise ConflictError(
            N_(
                "this fund-flow bill was imported already (bill %(bill)s, %(name)s): nothing "
                "was imported again"
            ),
            bill=known.public_id,
            name=known.file_name,
        )
    bill = parse(data)
    if not bill.rows:
        raise InvalidError(N_("the bill has no rows"), "file")
    flows = [m.flow_no for m in bill.rows]
    again = session.execute(
        select(FundflowRow.flow_no)
        .where(FundflowRow.account_id == account_id, FundflowRow.flow_no.in_(flows))
        .order_by(FundflowRow.flow_no)
        .limit(3)
    ).scalars()
    seen_before = list(again)
    if seen_before:
        raise ConflictError(
            N_(
                "资金流水单号 %(flows)s were imported already: nothing of this fund-flow bill "
                "was imported"
            ),
            flows=", ".join(seen_before),
        )
    keys = {k for m in bill.rows if (k := counterpart_of(m)) is not None}
    posted: dict[str, SettlementRow] = {}
    if keys:
        for r in session.execute(
            select(SettlementRow)
            .join(SettlementBill, SettlementBill.id == SettlementRow.bill_id)
            .where(
                SettlementRow.account_id == account_id,
                SettlementBill.platform == "wechat",
                SettlementRow.flow_no.in_(sorted(keys)),
            )
        ).scalars():
            posted[r.flow_no] = r
    taken = set(
        session.execute(
            select(FundflowRow.settlement_row_id).where(
                FundflowRow.account_id == account_id,
                FundflowRow.settlement_row_id.in_([r.id for r in posted.values()]),
            )
        ).scalars()
    )
    days = [m.at.date() for m in bill.rows]
    head = FundflowBill(
        public_id=new_public_id(),
        account_id=account_id,
        file_name=file_name[:200] or "fundflow",
        file_hash=digest,
        period_from=min(days),
        period_to=max(days),
        opening=bill.opening,
        closing=bill.closing,
        rows=len(bill.rows),
        matched=0,
        unmatched=0,
        imported_at=now,
        imported_by=actor[:120],
    )
    add_head(session, head)
    listed: list[str] = []
    for m in bill.rows:
        key = counterpart_of(m)
        row = posted.get(key) if key else None
        reason = None
        if key is None:
            reason = reason_json(
                N_("%(type)s is not in the trade bill: post it by hand if it is right"),
                type=m.business_type or "?",
            )
        elif row is None:
            reason = reason_json(
                N_("no trade-bill row %(flow)s was imported: import that day's trade bill"),
                flow=key.removeprefix("wx:"),
            )
        elif row.state != "posted":
            reason = reason_json(
                N_("its trade-bill row %(flow)s is not posted (%(state)s)"),
                flow=key.removeprefix("wx:"),
                state=row.state,
            )
        elif (row.amount_in, row.amount_out) != (m.amount_in, m.amount_out):
            reason = reason_json(
                N_("the trade bill has %(flow)s at %(theirs)s, this movement %(ours)s"),
                flow=key.removeprefix("wx:"),
                theirs=row.amount_in or -row.amount_out,
                ours=m.net,
            )
        elif row.id in taken:
            reason = reason_json(
                N_("trade-bill row %(flow)s is matched by another movement already"),
                flow=key.removeprefix("wx:"),
            )
        matched = reason is None and row is not None
        if matched and row is not None:
            taken.add(row.id)
        else:
            listed.append(f"{m.line_no} {m.business_type} {m.net}")
        session.add(
            FundflowRow(
                account_id=account_id,
                bill_id=head.id,
                line_no=m.line_no,
                flow_no=m.flow_no,
                business_no=m.business_no,
                business_type=m.business_type,
                occurred_at=m.at.replace(tzinfo=CHINA),
                amount_in=m.amount_in,
                amount_out=m.amount_out,
                balance=m.balance,
                state="matched" if matched else "unmatched",
                settlement_row_id=row.id if matched and row is not None else None,
                reason=reason,
            )
        )
    head.unmatched = len(listed)
    head.matched = len(bill.rows) - len(listed)
    task = None
    if listed:
        more = len(listed) - LISTED
        t = open_task(
            session,
            account_id,
            "fundflow",
            N_(
                "WeChat Pay fund-flow bill %(bill)s (%(day)s): %(count)s movements match no "
                "posted trade-bill row (lines %(lines)s); see the bill and post or explain each"
            ),
            now,
            params={
                "bill": head.public_id,
                "day": _days(head.period_from, head.period_to),
                "count": len(listed),
                "lines": "; ".join(listed[:LISTED]) + (f"; +{more}" if more > 0 else ""),
            },
        )
        session.flush()
        task = t.public_id
    session.flush()
    return Reconciled(head.id, head.public_id, len(bill.rows), head.matched, head.unmatched, task)


def _days(first: date | None, last: date | None) -> str:
    if first is None or last is None:
        return "-"
    return first.isoformat() if first == last else f"{first} – {last}"
