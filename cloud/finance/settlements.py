"""Platform settlement reconciliation: a settlement bill into the books, row by row, once.

A bill (cloud/finance/alipay_bill.py reads Alipay's 账务明细, cloud/finance/wechat_bill.py
WeChat Pay's 交易账单, whose money is in 1012.02 where Alipay's is in 1012.01) is the platform payment
account's own record of what moved: buyers' money arriving for orders (sale), the
platform's commission and service fees taken, refunds paid back, deposits (保证金) and
compensation (赔付) taken or returned. Importing one:

1. refuses a file already imported (its SHA-256, per seller) and a row already imported
   from another file (its 账务流水号): nothing is ever posted twice;
2. refuses a bill whose rows do not add up to its balance change (each row's balance is
   the one before plus what it moved) or whose footer totals differ: nothing is stored;
3. classifies each row by its 业务类型 and 备注 (:func:`classify`);
4. matches each sale and refund row to our order by the 商户订单号 (the channel trade id,
   which is our order number for a channel order; Taobao writes it as ``T200P<tid>``),
   each order's sale once — whole, or in parts that never add up to more than the order;
5. posts (research/finance-einvoice.md, "platform settles"):

   ===========  ============================================================
   sale         1012.01 Alipay / 1122.<shop> clearing   (the order's escrow settles)
   refund       1122.<shop> / 1012.01
   commission   6601.01 / 1012.01   (a commission returned: the other way round)
   fee          6603.01 / 1012.01
   margin,      1901 suspense / 1012.01, state ``suspense``: a person clears it
   chargeback
   ===========  ============================================================

   Rows that match no order (or match one already settled, or for another amount) and
   rows of no known kind are *listed*, state ``unmatched`` with the reason, and never
   posted: a person decides, then :func:`match_again` posts those whose order has come.

Each entry's natural key is (账务流水号, ``settle_<kind>``): one row, one entry, whoever
retries. The bill, its rows and their entries are written in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.aftersales import refunds
from cloud.db.models import ChannelOrder, SalesOrder, new_public_id
from cloud.db.settlement import BillFile, SettlementBill, SettlementRow
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError
from cloud.finance import alipay_bill, ledger, order_money, wechat_bill
from cloud.finance.chart import open_party_accounts, party_code, seed_chart
from cloud.finance.ledger import Draft, Leg
from cloud.orders.audit_rules import CHINA

ZERO = Decimal("0.00")
ALIPAY = "1012.01"
#: Where each platform's money is: the Alipay or the WeChat Pay balance.
CASH = {"alipay": ALIPAY, "wechat": "1012.02"}
KINDS = ("sale", "commission", "fee", "refund", "margin", "chargeback", "other")
#: Taobao's trades appear in the seller's Alipay bill as T200P<tid> (a prefix per trade
#: kind; T200P is the common one). The hub's order number is the tid.
TAOBAO_PREFIXES = ("T200P",)
#: Words of 业务类型 / 备注 per kind, first match wins (order matters: a deposit's row may
#: say 扣款, a commission's too). As the bills of public write-ups name them; an unknown
#: wording is ``other`` and is listed for a person, never guessed into an account.
_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("margin", ("保证金",)),
    ("chargeback", ("赔付", "拒付", "罚款", "违约金", "赔偿")),
    ("refund", ("退款",)),
    ("commission", ("佣金",)),
    ("fee", ("手续费", "服务费", "收费", "技术服务费")),
    ("sale", ("在线支付", "交易付款", "交易收款", "确认收货")),
)


def classify(business_type: str, remark: str, amount_in: Decimal) -> str:
    """A row's kind from its 业务类型 and 备注 together (a commission is often 业务类型
    收费 with 佣金 in the remark: the kinds are tried in the order of ``_WORDS``)."""
    text = f"{business_type} {remark}"
    for kind, words in _WORDS:
        if any(w in text for w in words):
            if kind == "sale" and not amount_in:
                return "other"
            if kind == "refund" and amount_in:
                return "other"  # money back *in* under 退款 is no refund we paid
            return kind
    return "other"


def order_no_of(merchant_order_no: str) -> str:
    for prefix in TAOBAO_PREFIXES:
        if merchant_order_no.startswith(prefix):
            return merchant_order_no.removeprefix(prefix)
    return merchant_order_no


def reason_json(msgid: str, **params: Any) -> str:
    return json.dumps({"msgid": msgid, "params": {k: str(v) for k, v in params.items()}})


def reason_text(raw: str | None, gettext: Any = None) -> str:
    """A row's reason as a sentence (in the language of ``gettext`` when given)."""
    if not raw:
        return ""
    data = json.loads(raw)
    msgid = str(data["msgid"])
    text = gettext(msgid) if gettext else msgid
    return str(text % data["params"]) if data["params"] else str(text)


B = TypeVar("B", bound=BillFile)


def known_file(session: Session, model: type[B], account_id: int, digest: str) -> B | None:
    """The seller's bill of ``model`` whose file has SHA-256 ``digest`` (one per seller)."""
    return session.execute(
        select(model).where(model.account_id == account_id, model.file_hash == digest)
    ).scalar_one_or_none()


def add_head(session: Session, head: BillFile) -> None:
    """Insert a bill's head row; another request importing the same file at once loses on
    the hash's unique key (409), before any row of it is written."""
    try:
        with session.begin_nested():
            session.add(head)
            session.flush()
    except IntegrityError:
        raise ConflictError(
            N_("this file is being imported by another request; nothing was imported twice")
        ) from None


@dataclass(frozen=True)
class Imported:
    bill_id: int
    public_id: str
    rows: int
    posted: int
    suspense: int
    unmatched: int


def import_bill(
    session: Session, account_id: int, data: bytes, file_name: str, actor: str, now: datetime
) -> Imported:
    """Import one bill file (zip or CSV) in the caller's transaction; see the module."""
    digest = hashlib.sha256(data).hexdigest()
    known = known_file(session, SettlementBill, account_id, digest)
    if known is not None:
        raise ConflictError(
            N_(
                "this file was imported already (bill %(bill)s, %(name)s): nothing was "
                "imported or posted again"
            ),
            bill=known.public_id,
            name=known.file_name,
        )
    platform = "wechat" if wechat_bill.looks_like(data) else "alipay"
    bill = wechat_bill.parse(data) if platform == "wechat" else alipay_bill.parse(data)
    if not bill.rows:
        raise InvalidError(N_("the bill has no rows"), "file")
    flows = [r.flow_no for r in bill.rows]
    again = session.execute(
        select(SettlementRow.flow_no, SettlementBill.public_id)
        .join(SettlementBill, SettlementBill.id == SettlementRow.bill_id)
        .where(SettlementRow.account_id == account_id, SettlementRow.flow_no.in_(flows))
        .order_by(SettlementRow.flow_no)
        .limit(3)
    ).all()
    if again:
        raise ConflictError(
            N_(
                "账务流水号 %(flows)s were imported already with bill %(bill)s: nothing of this "
                "file was imported"
            ),
            flows=", ".join(f for f, _ in again),
            bill=again[0][1],
        )
    seed_chart(session, account_id)
    total_in = sum((r.amount_in for r in bill.rows), ZERO)
    total_out = sum((r.amount_out for r in bill.rows), ZERO)
    head = SettlementBill(
        public_id=new_public_id(),
        account_id=account_id,
        platform=platform,
        payment_account=bill.payment_account[:64],
        file_name=file_name[:200] or "bill",
        file_hash=digest,
        period_from=bill.period_from,
        period_to=bill.period_to,
        opening=bill.opening,
        closing=bill.closing,
        total_in=total_in,
        total_out=total_out,
        rows=len(bill.rows),
        posted=0,
        unmatched=0,
        imported_at=now,
        imported_by=actor[:120],
    )
    add_head(session, head)
    rows = [
        Pending(
            account_id=account_id,
            bill_id=head.id,
            line_no=r.line_no,
            flow_no=r.flow_no,
            business_no=r.business_no,
            merchant_order_no=r.merchant_order_no,
            item_name=r.item_name,
            occurred_at=r.occurred_at.replace(tzinfo=CHINA).astimezone(UTC),
            counterparty=r.counterparty,
            amount_in=r.amount_in,
            amount_out=r.amount_out,
            balance=r.balance,
            pay_channel=r.pay_channel,
            business_type=r.business_type,
            remark=r.remark,
            kind=r.kind or classify(r.business_type, r.remark, r.amount_in),
            state="unmatched",
        )
        for r in bill.rows
    ]
    _settle(session, account_id, rows, now, {head.id: CASH[platform]})
    try:
        with session.begin_nested():  # a row another bill brought in at the same moment
            # One executemany per chunk, not the unit of work's per-object bookkeeping
            # (a busy day's bill has tens of thousands of rows).
            values = [dict(vars(r)) for r in rows]  # not asdict: it deep-copies
            for i in range(0, len(values), 2000):
                session.execute(insert(_ROWS), values[i : i + 2000])
    except IntegrityError:
        raise ConflictError(
            N_("rows of this bill were imported by another request at the same time")
        ) from None
    _count(session, head)
    return Imported(
        head.id,
        head.public_id,
        head.rows,
        sum(1 for r in rows if r.state == "posted"),
        sum(1 for r in rows if r.state == "suspense"),
        head.unmatched,
    )


@dataclass
class Pending:
    """A row of a bill being imported, before it is a ``settlement_row`` (the same fields;
    a plain object: tens of thousands of ORM objects cost seconds for nothing)."""

    account_id: int
    bill_id: int
    line_no: int
    flow_no: str
    business_no: str
    merchant_order_no: str
    item_name: str
    occurred_at: datetime
    counterparty: str
    amount_in: Decimal
    amount_out: Decimal
    balance: Decimal
    pay_channel: str
    business_type: str
    remark: str
    kind: str
    state: str
    order_no: str | None = None
    match_key: str | None = None
    entry_id: int | None = None
    reason: str | None = None


Row = Pending | SettlementRow
#: The table itself: a Core executemany (the ORM's bulk insert splits a batch wherever
#: the set of NULL columns changes, a round trip per row on PostgreSQL).
_ROWS = cast(Table, SettlementRow.__table__)


def match_again(session: Session, account_id: int, now: datetime) -> int:
    """Match the unmatched sale and refund rows again (their orders may have arrived since);
    post those that match now. Answers how many were posted."""
    rows = list(
        session.execute(
            select(SettlementRow)
            .where(
                SettlementRow.account_id == account_id,
                SettlementRow.state == "unmatched",
                SettlementRow.kind.in_(("sale", "refund")),
            )
            .order_by(SettlementRow.id)
            .with_for_update()
        ).scalars()
    )
    cash = {
        bill_id: CASH.get(platform, ALIPAY)
        for bill_id, platform in session.execute(
            select(SettlementBill.id, SettlementBill.platform).where(
                SettlementBill.id.in_({r.bill_id for r in rows})
            )
        )
    }
    _settle(session, account_id, rows, now, cash)
    session.flush()
    bills = {r.bill_id for r in rows if r.state != "unmatched"}
    for bill_id in bills:
        head = session.get(SettlementBill, bill_id)
        if head is not None:
            _count(session, head)
    return sum(1 for r in rows if r.state != "unmatched")


def _count(session: Session, head: SettlementBill) -> None:
    counts = dict(
        session.execute(
            select(SettlementRow.state, func.count())
            .where(SettlementRow.bill_id == head.id)
            .group_by(SettlementRow.state)
        ).all()
    )
    head.posted = int(counts.get("posted", 0)) + int(counts.get("suspense", 0))
    head.unmatched = int(counts.get("unmatched", 0))


def _settle(
    session: Session, account_id: int, rows: Sequence[Row], now: datetime, cash: dict[int, str]
) -> None:
    """Match, then post, ``rows`` (all unmatched so far): states, orders, entries set.
    ``cash``: per bill, the account its platform's money is in."""
    wanted = {order_no_of(r.merchant_order_no) for r in rows if r.kind in ("sale", "refund")}
    wanted.discard("")
    orders = _orders(session, account_id, wanted)
    held = _held(session, account_id, wanted - set(orders))
    settled = _settled(session, account_id, list(orders))
    refunded: dict[str, Decimal] = {}
    drafts: list[tuple[Row, Draft]] = []
    for row in rows:
        draft = _draft(row, orders, held, settled, refunded, cash[row.bill_id])
        if draft is not None:
            drafts.append((row, draft))
    if not drafts:
        return
    open_party_accounts(session, account_id, {leg.code for _, d in drafts for leg in d.legs})
    posted = ledger.post_many(session, account_id, [d for _, d in drafts], now)
    for (row, _), p in zip(drafts, posted, strict=True):
        row.entry_id = p.entry_id
    # Refund instructions of after-sales requests (cloud/aftersales/refunds.py) are paid by
    # the refund rows of their order. A Pending row is not in the table yet: pay directly.
    for row, _ in drafts:
        if row.kind == "refund" and row.order_no:
            refunds.pay(session, account_id, row.order_no, row.amount_out, row.flow_no, now)


def _orders(session: Session, account_id: int, numbers: Iterable[str]) -> dict[str, SalesOrder]:
    numbers = sorted(numbers)
    if not numbers:
        return {}
    # Locked (in order: no deadlock between two imports): a second import naming the same
    # orders waits, then reads what the first settled (PostgreSQL; SQLite serialises).
    found = session.execute(
        select(SalesOrder)
        .where(SalesOrder.account_id == account_id, SalesOrder.order_no.in_(numbers))
        .order_by(SalesOrder.order_no)
        .with_for_update()
    ).scalars()
    return {o.order_no: o for o in found}


def _settled(session: Session, account_id: int, numbers: list[str]) -> dict[str, _Sales]:
    """Per order: the sale rows posted for it so far (their sum and count)."""
    out: dict[str, _Sales] = {}
    for i in range(0, len(numbers), 500):
        for order_no, amount, n in session.execute(
            select(SettlementRow.order_no, func.sum(SettlementRow.amount_in), func.count())
            .where(
                SettlementRow.account_id == account_id,
                SettlementRow.kind == "sale",
                SettlementRow.state == "posted",
                SettlementRow.order_no.in_(numbers[i : i + 500]),
            )
            .group_by(SettlementRow.order_no)
        ):
            out[str(order_no)] = _Sales(Decimal(amount).quantize(Decimal("0.01")), int(n))
    return out


@dataclass
class _Sales:
    amount: Decimal = ZERO
    parts: int = 0


def settled_amount(session: Session, account_id: int, order_no: str) -> Decimal | None:
    """What the platform's sale rows paid out for ``order_no`` (None: no row names it);
    the order money's ``settled`` (cloud/finance/order_money.py)."""
    got = _settled(session, account_id, [order_no]).get(order_no)
    return None if got is None else got.amount


order_money.SETTLEMENT_LOOKUPS.append(settled_amount)


def _held(session: Session, account_id: int, numbers: set[str]) -> dict[str, str]:
    """Trades downloaded from a shop that are no order (yet): why, per trade id."""
    if not numbers:
        return {}
    found = session.execute(
        select(ChannelOrder.external_id, ChannelOrder.state, ChannelOrder.hold_reason).where(
            ChannelOrder.account_id == account_id, ChannelOrder.external_id.in_(numbers)
        )
    ).all()
    return {tid: reason or state for tid, state, reason in found}


def _draft(
    row: Row,
    orders: dict[str, SalesOrder],
    held: dict[str, str],
    settled: dict[str, _Sales],
    refunded: dict[str, Decimal],
    cash: str,
) -> Draft | None:
    """The row's entry (state set to posted/suspense), or None with state unmatched and
    the reason."""
    day = row.occurred_at.astimezone(CHINA).date()
    memo = f"{row.business_type} {row.merchant_order_no}".strip()
    kind = f"settle_{row.kind}"
    net_out = row.amount_out - row.amount_in
    if row.kind in ("commission", "fee", "margin", "chargeback"):
        account = {
            "commission": "6601.01",
            "fee": "6603.01",
            "margin": "1901",
            "chargeback": "1901",
        }[row.kind]
        row.state = "suspense" if account == "1901" else "posted"
        row.order_no = order_no_of(row.merchant_order_no) or None
        if row.state == "suspense":
            row.reason = reason_json(
                N_("%(kind)s: posted to suspense (1901) for a person to clear"), kind=row.kind
            )
        legs = (Leg(account, net_out), Leg(cash, -net_out))
        return Draft(row.flow_no, kind, day, legs, memo)
    if row.kind == "other":
        row.reason = reason_json(
            N_(
                "a row of 业务类型 %(business_type)s is no sale, refund, commission, fee, "
                "margin or chargeback: not posted, for a person to decide"
            ),
            business_type=row.business_type or "-",
        )
        return None
    order_no = order_no_of(row.merchant_order_no)
    if not order_no:
        row.reason = reason_json(N_("the row names no merchant order number (商户订单号)"))
        return None
    order = orders.get(order_no)
    if order is None:
        if order_no in held:
            row.reason = reason_json(
                N_("trade %(order_no)s was downloaded but is no order yet: %(why)s"),
                order_no=order_no,
                why=held[order_no],
            )
        else:
            row.reason = reason_json(
                N_(
                    "no order %(order_no)s in the hub: not posted; import the shop's orders, "
                    "then match again"
                ),
                order_no=order_no,
            )
        return None
    total = Decimal(order.total_cents) / 100
    clearing = party_code("1122", order.channel)
    if row.kind == "sale":
        # A sale is paid out whole, or in parts (each sub-order as the buyer confirms its
        # receipt, 分次确认收货): the parts never add up to more than the order.
        had = settled.setdefault(order_no, _Sales())
        if had.amount >= total:
            row.reason = reason_json(
                N_("order %(order_no)s was settled already: this sale row is not posted again"),
                order_no=order_no,
            )
            return None
        if had.amount + row.amount_in > total:
            row.reason = reason_json(
                N_(
                    "order %(order_no)s is %(total)s, %(settled)s of it settled before; the "
                    "bill says %(amount)s more: not posted"
                ),
                order_no=order_no,
                total=total,
                settled=had.amount,
                amount=row.amount_in,
            )
            return None
        # The key the database keeps unique: the whole order, or its n-th part.
        whole = had.parts == 0 and row.amount_in == total
        key = f"sale:{order_no}" if whole else f"sale:{order_no}#{had.parts + 1}"
        had.amount, had.parts = had.amount + row.amount_in, had.parts + 1
        row.match_key, row.order_no, row.state, row.reason = key, order_no, "posted", None
        legs = (Leg(cash, row.amount_in), Leg(clearing, -row.amount_in))
        return Draft(row.flow_no, kind, day, legs, memo)
    # a refund paid back out of the account
    before = refunded.get(order_no, ZERO)
    if before + row.amount_out > total:
        row.reason = reason_json(
            N_("the refund %(amount)s is more than what is left of order %(order_no)s (%(left)s)"),
            amount=row.amount_out,
            order_no=order_no,
            left=total - before,
        )
        return None
    refunded[order_no] = before + row.amount_out
    row.order_no, row.state, row.reason = order_no, "posted", None
    legs = (Leg(clearing, row.amount_out), Leg(cash, -row.amount_out))
    return Draft(row.flow_no, kind, day, legs, memo)


# --- reading ------------------------------------------------------------------------------


def bills(session: Session, account_id: int, limit: int = 100) -> list[SettlementBill]:
    return list(
        session.execute(
            select(SettlementBill)
            .where(SettlementBill.account_id == account_id)
            .order_by(SettlementBill.imported_at.desc(), SettlementBill.id.desc())
            .limit(limit)
        ).scalars()
    )


def bill(
    session: Session, account_id: int, bill_id: int | str
) -> tuple[SettlementBill, list[SettlementRow]]:
    """A bill by its id (int) or public id (str), and its rows in file order."""
    which = (
        SettlementBill.id == bill_id
        if isinstance(bill_id, int)
        else SettlementBill.public_id == bill_id
    )
    head = session.execute(
        select(SettlementBill).where(SettlementBill.account_id == account_id, which)
    ).scalar_one_or_none()
    if head is None:
        raise NotFoundError(N_("no settlement bill %(bill)s"), bill=bill_id)
    rows = session.execute(
        select(SettlementRow)
        .where(SettlementRow.bill_id == head.id, SettlementRow.account_id == account_id)
        .order_by(SettlementRow.line_no)
    ).scalars()
    return head, list(rows)


def unmatched(session: Session, account_id: int, limit: int = 500) -> list[SettlementRow]:
    """Rows not posted, oldest first: what a person has to look at."""
    return list(
        session.execute(
            select(SettlementRow)
            .where(SettlementRow.account_id == account_id, SettlementRow.state == "unmatched")
            .order_by(SettlementRow.occurred_at, SettlementRow.id)
            .limit(limit)
        ).scalars()
    )
