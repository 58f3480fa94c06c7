"""Courier bill reconciliation: a courier's bill against our shipments, the weights our pack
station measured and the courier's rate card; the accepted total into the books, the
disputed lines into suspense until they are resolved (issue 18, docs/finance.md).

Per line, matched by tracking number to our order (``sales_order.tracking_number``):

=============  =========================================================================
missing        no order of ours shipped with this courier under that number (cancelled,
               not shipped, another courier's, or never ours): the whole fee disputed
duplicate      the number is on the bill more than once, or on an earlier bill: every
               occurrence flagged, each one after the first disputed whole
overweight     billed weight > ours by more than 0.1 kg AND more than 5 %, and above the
               weight the card charges for ours (a courier billing its rounded weight is
               not overweight); ours = max(station weight, volumetric from the bill's sides)
overcharged    fee > the fee the card gives for our weight: the excess disputed
no_rate        no card for the courier or no zone for the destination: disputed whole
unweighed      the order has no station weight: the billed weight is priced instead
=============  =========================================================================

Accepting posts one entry (natural key ``courier-bill:<id>`` / ``courier_bill_accepted``,
so a retried accept posts once): 6601.02 courier fees (accepted) + 1901 suspense
(disputed) / 2202.02.<courier> payable (the whole bill, as the courier claims it). A
resolution of a disputed line moves it out of suspense (key ``courier-bill-line:<id>``):
what the courier credits back 2202.02.<courier> / 1901, the rest paid after all 6601.02
/ 1901.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from cloud.db.courier_bill import CourierBill, CourierBillLine
from cloud.db.models import Carrier, SalesOrder
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError
from cloud.finance import ledger, rate_cards
from cloud.finance.chart import open_party_accounts, party_code, seed_chart
from cloud.finance.courier_bill_file import Row, read
from cloud.finance.ledger import Draft, Leg, Posted
from cloud.finance.money import money
from cloud.finance.poster import day_of
from cloud.orders.audit_rules import CHINA

ZERO = Decimal("0.00")
ACCEPTED_KIND = "courier_bill_accepted"
RESOLVED_KIND = "courier_dispute_resolved"
#: Overweight: more than 0.1 kg AND more than 5 % above our weight (issue 18).
OVER_G = 100
OVER_PCT = 5
_CHUNK = 500


@dataclass(frozen=True)
class Unbilled:
    order_no: str
    tracking_number: str
    shipped_at: datetime | None
    weighed_g: int | None


def import_bill(
    session: Session,
    account_id: int,
    carrier: str,
    file_name: str,
    data: bytes,
    fmt: Literal["csv", "xlsx"],
    actor: str,
    now: datetime,
    rows: list[Row] | None = None,
) -> CourierBill:
    """Import a bill file (refused whole if a row is bad, or if this file was imported
    before: its SHA-256) and reconcile it. ``rows``: the file read already (the API reads
    it outside the write transaction)."""
    if session.get(Carrier, (account_id, carrier)) is None:
        raise NotFoundError(N_("no courier %(carrier)s"), carrier=carrier)
    party_code("2202.02", carrier)  # a code that can name its payable, or a sentence now
    digest = hashlib.sha256(data).hexdigest()
    before = session.execute(
        select(CourierBill.id, CourierBill.imported_at).where(
            CourierBill.account_id == account_id, CourierBill.file_hash == digest
        )
    ).first()
    if before is not None:
        raise ConflictError(
            N_("this file was imported already (bill %(bill)s, %(at)s); nothing was imported"),
            bill=before[0],
            at=before[1].astimezone(CHINA).strftime("%Y-%m-%d %H:%M"),
        )
    rows = read(data, fmt) if rows is None else rows
    bill = CourierBill(
        account_id=account_id,
        carrier=carrier,
        file_name=(file_name or "bill")[:200],
        file_hash=digest,
        state="open",
        lines=len(rows),
        billed_total=sum((r.fee for r in rows), ZERO),
        accepted_total=ZERO,
        disputed_total=ZERO,
        first_day=min(r.shipped_on for r in rows),
        last_day=max(r.shipped_on for r in rows),
        imported_by=actor,
        imported_at=now,
    )
    session.add(bill)
    session.flush()
    session.add_all(_line(account_id, bill.id, r) for r in rows)
    session.flush()
    reconcile(session, bill)
    return bill


def _line(account_id: int, bill_id: int, r: Row) -> CourierBillLine:
    length, width, height = r.sides_cm or (None, None, None)
    return CourierBillLine(
        account_id=account_id,
        bill_id=bill_id,
        row_no=r.row_no,
        tracking_number=r.tracking_number,
        shipped_on=r.shipped_on,
        destination=r.destination,
        billed_g=r.billed_g,
        fee=r.fee,
        length_cm=length,
        width_cm=width,
        height_cm=height,
        flags=[],
        disputed=ZERO,
    )


def reconcile(session: Session, bill: CourierBill) -> None:
    """Match the open bill's lines to our orders again and flag them (the orders and the
    card may have changed since the import); the totals follow."""
    if bill.state != "open":
        raise ConflictError(N_("bill %(bill)s is accepted already"), bill=bill.id)
    account_id = bill.account_id
    lines = list(
        session.execute(
            select(CourierBillLine)
            .where(CourierBillLine.bill_id == bill.id)
            .order_by(CourierBillLine.row_no)
        ).scalars()
    )
    numbers = sorted({ln.tracking_number for ln in lines})
    orders: dict[str, SalesOrder] = {}
    earlier: set[str] = set()
    for i in range(0, len(numbers), _CHUNK):
        chunk = numbers[i : i + _CHUNK]
        for o in session.execute(
            select(SalesOrder).where(
                SalesOrder.account_id == account_id, SalesOrder.tracking_number.in_(chunk)
            )
        ).scalars():
            assert o.tracking_number is not None
            # Two orders under one number (a re-release drew it again): the shipped one.
            if o.tracking_number not in orders or o.status == "shipped":
                orders[o.tracking_number] = o
        earlier.update(
            session.execute(
                select(CourierBillLine.tracking_number).where(
                    CourierBillLine.account_id == account_id,
                    CourierBillLine.tracking_number.in_(chunk),
                    CourierBillLine.bill_id < bill.id,
                )
            ).scalars()
        )
    card = rate_cards.get(session, account_id, bill.carrier)
    count: dict[str, int] = defaultdict(int)
    for ln in lines:
        count[ln.tracking_number] += 1
    seen: set[str] = set()
    accepted = disputed = ZERO
    for ln in lines:
        repeat = ln.tracking_number in seen or ln.tracking_number in earlier
        seen.add(ln.tracking_number)
        duplicate = count[ln.tracking_number] > 1 or ln.tracking_number in earlier
        _check(ln, orders.get(ln.tracking_number), bill.carrier, card, duplicate, repeat)
        accepted += ln.fee - ln.disputed
        disputed += ln.disputed
    bill.accepted_total, bill.disputed_total = accepted, disputed
    session.flush()


def _check(
    ln: CourierBillLine,
    order: SalesOrder | None,
    carrier: str,
    card: rate_cards.RateCard | None,
    duplicate: bool,
    repeat: bool,
) -> None:
    flags: list[str] = ["duplicate"] if duplicate else []
    ln.order_no = ln.weighed_g = ln.charged_g = ln.expected_fee = None
    ln.disputed = ZERO
    shipped = order is not None and order.status == "shipped" and order.carrier == carrier
    if order is None or not shipped:
        ln.flags = [*flags, "missing"]
        ln.disputed = ln.fee
        return
    ln.order_no, ln.weighed_g = order.order_no, order.weighed_g
    if order.weighed_g is None:
        flags.append("unweighed")
    province = (order.recipient or {}).get("province") or ln.destination
    zone = card.zone_for(str(province)) if card is not None else None
    if card is None or zone is None:
        ln.flags = [*flags, "no_rate"]
        ln.disputed = ln.fee
        return
    sides = (
        (ln.length_cm, ln.width_cm, ln.height_cm)
        if ln.length_cm is not None and ln.width_cm is not None and ln.height_cm is not None
        else None
    )
    ours = max(order.weighed_g or ln.billed_g, card.volumetric_g(sides) or 0)
    ln.charged_g = card.charged_g(ours)
    ln.expected_fee = card.fee(zone, ln.charged_g)
    over = ln.billed_g - ours
    if over > OVER_G and over * 100 > OVER_PCT * ours and ln.billed_g > ln.charged_g:
        flags.append("overweight")
    if ln.fee > ln.expected_fee:
        flags.append("overcharged")
        ln.disputed = ln.fee - ln.expected_fee
    if repeat:
        ln.disputed = ln.fee
    ln.flags = flags


def get_bill(session: Session, account_id: int, bill_id: int, lock: bool = False) -> CourierBill:
    q = select(CourierBill).where(CourierBill.account_id == account_id, CourierBill.id == bill_id)
    bill = session.execute(q.with_for_update() if lock else q).scalar_one_or_none()
    if bill is None:
        raise NotFoundError(N_("no courier bill %(bill)s"), bill=bill_id)
    return bill


def bills(session: Session, account_id: int, limit: int = 100) -> list[CourierBill]:
    return list(
        session.execute(
            select(CourierBill)
            .where(CourierBill.account_id == account_id)
            .order_by(CourierBill.imported_at.desc(), CourierBill.id.desc())
            .limit(limit)
        ).scalars()
    )


def lines_of(session: Session, bill: CourierBill) -> list[CourierBillLine]:
    return list(
        session.execute(
            select(CourierBillLine)
            .where(CourierBillLine.bill_id == bill.id)
            .order_by(CourierBillLine.row_no)
        ).scalars()
    )


def unbilled(session: Session, bill: CourierBill, limit: int = 500) -> list[Unbilled]:
    """Shipped with this courier in the bill's days (China time) and on no bill of ours:
    shipped but not billed (a later bill may still bring them)."""
    start = datetime.combine(bill.first_day, datetime.min.time(), CHINA)
    end = datetime.combine(bill.last_day, datetime.min.time(), CHINA) + timedelta(days=1)
    billed = exists().where(
        CourierBillLine.account_id == bill.account_id,
        CourierBillLine.tracking_number == SalesOrder.tracking_number,
    )
    rows = session.execute(
        select(
            SalesOrder.order_no,
            SalesOrder.tracking_number,
            SalesOrder.shipped_at,
            SalesOrder.weighed_g,
        )
        .where(
            SalesOrder.account_id == bill.account_id,
            SalesOrder.carrier == bill.carrier,
            SalesOrder.status == "shipped",
            SalesOrder.shipped_at >= start,
            SalesOrder.shipped_at < end,
            SalesOrder.tracking_number.is_not(None),
            ~billed,
        )
        .order_by(SalesOrder.shipped_at, SalesOrder.order_no)
        .limit(limit)
    ).all()
    return [Unbilled(o, t or "", s, w) for o, t, s, w in rows]


def accept(
    session: Session, account_id: int, bill_id: int, actor: str, now: datetime
) -> tuple[CourierBill, Posted | None]:
    """Accept the bill into the books: once (a second accept answers the first's entry)."""
    bill = get_bill(session, account_id, bill_id, lock=True)
    if bill.state == "accepted":
        return bill, None if bill.entry_id is None else Posted(bill.entry_id, created=False)
    reconcile(session, bill)
    payable = party_code("2202.02", bill.carrier)
    legs = [
        Leg("6601.02", bill.accepted_total),
        Leg("1901", bill.disputed_total),
        Leg(payable, -bill.billed_total),
    ]
    posted = None
    if bill.billed_total != 0:
        seed_chart(session, account_id)  # as the poster does: a seller's first posting opens it
        open_party_accounts(session, account_id, {payable})
        draft = Draft(
            source_doc=f"courier-bill:{bill.id}",
            event_kind=ACCEPTED_KIND,
            entry_date=day_of(now),
            legs=tuple(leg for leg in legs if leg.amount != 0),
            memo=f"{bill.carrier} {bill.file_name} {bill.first_day}..{bill.last_day}",
        )
        posted = ledger.post(session, account_id, draft, now)
        bill.entry_id = posted.entry_id
    bill.state, bill.accepted_by, bill.accepted_at = "accepted", actor, now
    session.flush()
    return bill, posted


def resolve(
    session: Session,
    account_id: int,
    bill_id: int,
    line_id: int,
    credited: object,
    actor: str,
    now: datetime,
) -> tuple[CourierBillLine, Posted]:
    """Take a disputed line out of suspense: ``credited`` (0 to the disputed amount) is what
    the courier credits; the rest is paid after all. Once: the same answer again returns
    the entry it posted; a different one is refused (a correction is a reversing entry)."""
    bill = get_bill(session, account_id, bill_id, lock=True)
    ln = session.execute(
        select(CourierBillLine)
        .where(CourierBillLine.bill_id == bill.id, CourierBillLine.id == line_id)
        .with_for_update()
    ).scalar_one_or_none()
    if ln is None:
        raise NotFoundError(N_("bill %(bill)s has no line %(line)s"), bill=bill_id, line=line_id)
    amount = money(credited, "credited")
    if bill.state != "accepted":
        raise ConflictError(
            N_("accept bill %(bill)s first: its disputed lines go into suspense then"),
            bill=bill.id,
        )
    if ln.disputed == 0:
        raise ConflictError(N_("line %(line)s is not disputed"), line=line_id)
    if amount < 0 or amount > ln.disputed:
        raise InvalidError(
            N_("credited: give 0.00 to %(disputed)s, the amount disputed"),
            "credited",
            disputed=ln.disputed,
        )
    if ln.resolution is not None:
        if ln.credited == amount and ln.resolution_entry_id is not None:
            return ln, Posted(ln.resolution_entry_id, created=False)
        raise ConflictError(
            N_("line %(line)s was resolved already (%(credited)s credited)"),
            line=line_id,
            credited=ln.credited,
        )
    payable = party_code("2202.02", bill.carrier)
    legs = (
        Leg(payable, amount),
        Leg("6601.02", ln.disputed - amount),
        Leg("1901", -ln.disputed),
    )
    draft = Draft(
        source_doc=f"courier-bill-line:{ln.id}",
        event_kind=RESOLVED_KIND,
        entry_date=day_of(now),
        legs=tuple(leg for leg in legs if leg.amount != 0),
        memo=f"{bill.carrier} {ln.tracking_number} {','.join(ln.flags)}",
    )
    posted = ledger.post(session, account_id, draft, now)
    ln.resolution = "credited" if amount == ln.disputed else "paid" if amount == 0 else "split"
    ln.credited, ln.resolved_by, ln.resolved_at = amount, actor, now
    ln.resolution_entry_id = posted.entry_id
    session.flush()
    return ln, posted


def suspense_open(session: Session, account_id: int) -> Decimal:
    """The disputed amounts of accepted bills not yet resolved (what 1901 holds of them)."""
    rows = session.execute(
        select(CourierBillLine.disputed)
        .join(CourierBill, CourierBill.id == CourierBillLine.bill_id)
        .where(
            CourierBillLine.account_id == account_id,
            CourierBill.state == "accepted",
            CourierBillLine.resolution.is_(None),
        )
    ).scalars()
    return sum((Decimal(d) for d in rows), ZERO)
