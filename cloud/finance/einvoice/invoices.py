"""Invoice requests: blue (from an order or by hand), red (full or by lines), title change.

Nothing here talks to the provider: a request is stored (document and job in one row,
cloud/db/einvoice.py) in the caller's transaction, and the worker (worker.py) sends it.
Bad input is refused with a sentence (422) before anything is stored; a red for more than
remains of its blue, or a request that conflicts with an invoice in flight, is a 409.

Invoices are tax documents: nothing here posts to the books. VAT is booked when the goods
ship (cloud/finance/postings.py), whether or not the buyer asks for an invoice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.einvoice import ACTIVE, EInvoice, EInvoiceLine, EInvoiceSeller
from cloud.db.finance import FinCursor
from cloud.db.models import OrderLog, SalesOrder, SalesOrderLine
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError
from cloud.finance.einvoice import lines as L
from cloud.finance.einvoice.taxid import normalise
from cloud.finance.money import half_up, money, split_tax_inclusive

REASONS = {"01": "开票有误", "02": "销货退回", "03": "服务中止", "04": "销售折让"}


@dataclass(frozen=True)
class Buyer:
    name: str
    tax_id: str | None = None
    email: str | None = None


def _buyer(b: Buyer) -> Buyer:
    name = b.name.strip()
    if not name or len(name) > 100:
        raise InvalidError(
            N_("give the buyer's title (个人 for a person), at most 100 characters"), "buyer_name"
        )
    email = (b.email or "").strip() or None
    if email is not None and ("@" not in email or len(email) > 120):
        raise InvalidError(N_("%(email)s is not an e-mail address"), "buyer_email", email=email)
    return Buyer(name, normalise(b.tax_id), email)


def _request_no() -> str:
    # The provider's orderNo (≤ 40 characters): unique across sellers of one app, never reused.
    return "GJ" + uuid.uuid4().hex[:24].upper()


def _store(
    s: Session,
    seller: int,
    kind: str,
    buyer: Buyer,
    lines: Sequence[tuple[L.Line, int | None]],
    now: datetime,
    by: str,
    *,
    state: str = "queued",
    order_no: str | None = None,
    blue_id: int | None = None,
    after_id: int | None = None,
    reason: str | None = None,
) -> EInvoice:
    amount = sum((x.amount for x, _ in lines), Decimal("0.00"))
    tax = sum((x.tax for x, _ in lines), Decimal("0.00"))
    inv = EInvoice(
        account_id=seller,
        request_no=_request_no(),
        kind=kind,
        state=state,
        order_no=order_no,
        blue_id=blue_id,
        after_id=after_id,
        buyer_name=buyer.name,
        buyer_tax_id=buyer.tax_id,
        buyer_email=buyer.email,
        red_reason=reason,
        amount=amount,
        tax=tax,
        total=amount + tax,
        attempts=0,
        next_try_at=None,
        created_at=now,
        created_by=by,
        updated_at=now,
    )
    s.add(inv)
    s.flush()
    for x, blue_line in lines:
        s.add(
            EInvoiceLine(
                einvoice_id=inv.id,
                line_no=x.line_no,
                account_id=seller,
                name=x.name,
                tax_code=x.tax_code,
                rate=x.rate,
                quantity=x.quantity,
                amount=x.amount,
                tax=x.tax,
                blue_line=blue_line,
            )
        )
    s.flush()
    return inv


def _connected(s: Session, seller: int) -> None:
    if s.get(EInvoiceSeller, seller) is None:
        raise ConflictError(
            N_(
                "no e-invoice provider is connected for this account: "
                "connect one first (guanjia finance invoice connect)"
            )
        )


def request_blue(
    s: Session,
    seller: int,
    buyer: Buyer,
    raw: list[L.LineIn],
    now: datetime,
    by: str,
    order_no: str | None = None,
) -> EInvoice:
    """A blue invoice by hand (lines given), stored and queued for the worker."""
    b = _buyer(buyer)
    built = L.build(raw)
    _connected(s, seller)
    if order_no is not None:
        _no_open_blue(s, seller, order_no)
    return _store(s, seller, "blue", b, [(x, None) for x in built], now, by, order_no=order_no)


def _no_open_blue(s: Session, seller: int, order_no: str) -> None:
    for found in s.execute(
        select(EInvoice.request_no, EInvoice.state).where(
            EInvoice.account_id == seller,
            EInvoice.order_no == order_no,
            EInvoice.kind == "blue",
            EInvoice.state.not_in(("failed",)),
        )
    ).all():
        if remaining_total(s, seller, found[0]) == 0:
            continue  # reversed in full: the order may be invoiced again
        raise ConflictError(
            N_(
                "order %(order)s already has an invoice (%(no)s, %(state)s): change its title "
                "or red it instead of asking again"
            ),
            order=order_no,
            no=found[0],
            state=found[1],
        )


def request_for_order(
    s: Session,
    seller: int,
    order_no: str,
    buyer: Buyer,
    tax_code: str,
    rate: str,
    now: datetime,
    by: str,
) -> EInvoice:
    """A blue invoice for a sales order: a line per order line at what the buyer paid
    (tax-inclusive), all under one tax classification code and rate."""
    order = s.execute(
        select(SalesOrder).where(SalesOrder.account_id == seller, SalesOrder.order_no == order_no)
    ).scalar_one_or_none()
    if order is None:
        raise NotFoundError(N_("no order %(order)s"), order=order_no)
    rows = (
        s.execute(
            select(SalesOrderLine)
            .where(SalesOrderLine.order_id == order.id, SalesOrderLine.price_cents > 0)
            .order_by(SalesOrderLine.line_id)
        )
        .scalars()
        .all()
    )
    if not rows:
        raise InvalidError(
            N_("order %(order)s has nothing paid to invoice"), "order_no", order=order_no
        )
    raw = [
        L.LineIn(
            name=r.sku_code[:100],
            tax_code=tax_code,
            rate=rate,
            quantity=r.qty,
            price=str(Decimal(r.price_cents * r.qty) / 100),
        )
        for r in rows
    ]
    return request_blue(s, seller, buyer, raw, now, by, order_no=order_no)


def get(s: Session, seller: int, request_no: str, *, lock: bool = False) -> EInvoice:
    q = select(EInvoice).where(EInvoice.account_id == seller, EInvoice.request_no == request_no)
    inv = s.execute(q.with_for_update() if lock else q).scalar_one_or_none()
    if inv is None:
        raise NotFoundError(N_("no invoice %(no)s"), no=request_no)
    return inv


def lines_of(s: Session, inv: EInvoice) -> list[EInvoiceLine]:
    return list(
        s.execute(
            select(EInvoiceLine)
            .where(EInvoiceLine.einvoice_id == inv.id)
            .order_by(EInvoiceLine.line_no)
        ).scalars()
    )


def _reds_holding(s: Session, blue: EInvoice) -> list[int]:
    """Reds of ``blue`` that stand or may still stand (not failed, not void)."""
    return list(
        s.execute(
            select(EInvoice.id).where(
                EInvoice.blue_id == blue.id, EInvoice.state.not_in(("failed", "voided"))
            )
        ).scalars()
    )


def remaining(s: Session, blue: EInvoice) -> dict[int, tuple[Decimal, Decimal, EInvoiceLine]]:
    """Per blue line: (amount, tax) not reversed by a red that stands or is under way."""
    out = {x.line_no: (x.amount, x.tax, x) for x in lines_of(s, blue)}
    reds = _reds_holding(s, blue)
    if reds:
        for blue_line, amount, tax in s.execute(
            select(
                EInvoiceLine.blue_line, func.sum(EInvoiceLine.amount), func.sum(EInvoiceLine.tax)
            )
            .where(EInvoiceLine.einvoice_id.in_(reds))
            .group_by(EInvoiceLine.blue_line)
        ):
            key = int(blue_line or 0)  # a red's lines always name their blue line
            a, t, x = out[key]
            out[key] = (a + Decimal(amount), t + Decimal(tax), x)
    return {k: (half_up(a), half_up(t), x) for k, (a, t, x) in out.items()}


def remaining_total(s: Session, seller: int, request_no: str) -> Decimal:
    blue = get(s, seller, request_no)
    return sum((a + t for a, t, _ in remaining(s, blue).values()), Decimal("0.00"))


@dataclass(frozen=True)
class RedLine:
    """Reverse ``amount`` (tax-inclusive, as the blue line's total) of blue line ``line``;
    None: all that remains of it."""

    line: int
    amount: str | None = None


def request_red(
    s: Session,
    seller: int,
    request_no: str,
    reason: str,
    now: datetime,
    by: str,
    red_lines: list[RedLine] | None = None,
) -> EInvoice:
    """A red for the whole of what remains of a blue, or for some lines (partial red)."""
    if reason not in REASONS:
        raise InvalidError(
            N_("red reason %(reason)s is not 01 开票有误, 02 销货退回, 03 服务中止 or 04 销售折让"),
            "reason",
            reason=reason,
        )
    blue = get(s, seller, request_no, lock=True)  # one red at a time per blue
    if blue.kind != "blue":
        raise ConflictError(
            N_("%(no)s is a red invoice: only a blue can be reversed"), no=request_no
        )
    if blue.state != "issued":
        raise ConflictError(
            N_("invoice %(no)s is %(state)s, not issued: there is nothing to reverse yet"),
            no=request_no,
            state=blue.state,
        )
    left = remaining(s, blue)
    wanted: list[tuple[L.Line, int]] = []
    if not red_lines:
        red_lines = [RedLine(n) for n, (a, t, _) in left.items() if a + t > 0]
        if not red_lines:
            raise ConflictError(N_("invoice %(no)s is reversed in full already"), no=request_no)
    seen: set[int] = set()
    for n, rl in enumerate(red_lines, start=1):
        if rl.line not in left or rl.line in seen:
            raise InvalidError(
                N_("invoice %(no)s has no line %(line)s (or it is named twice)"),
                "lines",
                no=request_no,
                line=rl.line,
            )
        seen.add(rl.line)
        a, t, x = left[rl.line]
        if rl.amount is None:
            amount, tax = a, t
        else:
            total = money(rl.amount, f"line {rl.line} amount")
            if total <= 0:
                raise InvalidError(
                    N_("line %(line)s: give the amount to reverse, more than 0.00"),
                    "lines",
                    line=rl.line,
                )
            if total == a + t:
                amount, tax = a, t
            else:
                amount, tax = split_tax_inclusive(total, x.rate)
                # Within what remains, a cent of rounding never makes one part exceed its
                # remainder: the excess moves to the other part (earlier partial reds).
                if total <= a + t and tax > t:
                    amount, tax = total - t, t
                elif total <= a + t and amount > a:
                    amount, tax = a, total - a
        if amount + tax <= 0 or amount > a or tax > t:
            raise ConflictError(
                N_(
                    "line %(line)s of invoice %(no)s has %(left)s left to reverse: a red "
                    "never exceeds its blue"
                ),
                line=rl.line,
                no=request_no,
                left=a + t,
            )
        wanted.append((L.Line(n, x.name, x.tax_code, x.rate, x.quantity, -amount, -tax), rl.line))
    buyer = Buyer(blue.buyer_name, blue.buyer_tax_id, blue.buyer_email)
    return _store(
        s,
        seller,
        "red",
        buyer,
        [(x, b) for x, b in wanted],
        now,
        by,
        order_no=blue.order_no,
        blue_id=blue.id,
        reason=reason,
    )


def change_title(
    s: Session, seller: int, request_no: str, buyer: Buyer, now: datetime, by: str
) -> tuple[EInvoice, EInvoice]:
    """A title change (换抬头): the blue reversed in full (01 开票有误), then a new blue with the
    new buyer and the same lines, sent only once the red is issued."""
    b = _buyer(buyer)
    blue = get(s, seller, request_no)
    if blue.kind == "blue" and blue.state == "issued":
        left = remaining(s, blue)
        if any(a != x.amount or t != x.tax for a, t, x in left.values()):
            raise ConflictError(
                N_(
                    "invoice %(no)s is partly reversed already: a title change reverses a "
                    "whole invoice; issue the new one by hand"
                ),
                no=request_no,
            )
    red = request_red(s, seller, request_no, "01", now, by)
    kept = [
        (L.Line(x.line_no, x.name, x.tax_code, x.rate, x.quantity, x.amount, x.tax), None)
        for x in lines_of(s, blue)
    ]
    new = _store(
        s,
        seller,
        "blue",
        b,
        kept,
        now,
        by,
        state="waiting",
        order_no=blue.order_no,
        after_id=red.id,
    )
    return red, new


def listing(s: Session, seller: int, limit: int = 200) -> list[EInvoice]:
    return list(
        s.execute(
            select(EInvoice)
            .where(EInvoice.account_id == seller)
            .order_by(EInvoice.id.desc())
            .limit(limit)
        ).scalars()
    )


def in_flight(s: Session, seller: int) -> int:
    return int(
        s.execute(
            select(func.count()).where(EInvoice.account_id == seller, EInvoice.state.in_(ACTIVE))
        ).scalar_one()
    )


#: The cursor stream of the invoices asked for with channel orders (cloud/finance/einvoice/auto.py).
AUTO_STREAM = "einvoice"


def _start_auto(s: Session, seller: int, now: datetime) -> None:
    """Automatic invoicing turned on (again): its cursor starts at the order history's
    last fact, so only orders shipped from now on are invoiced by it. Orders shipped
    before (or while it was off) may have asked years ago, been invoiced by hand or on
    the platform; the seller issues those by hand if they want them (docs/finance.md)."""
    last = int(s.execute(select(func.coalesce(func.max(OrderLog.id), 0))).scalar_one())
    cursor = s.execute(
        select(FinCursor)
        .where(FinCursor.account_id == seller, FinCursor.stream == AUTO_STREAM)
        .with_for_update()
    ).scalar_one_or_none()
    if cursor is None:
        s.add(
            FinCursor(
                account_id=seller, stream=AUTO_STREAM, position=last, posted=0, changed_at=now
            )
        )
    else:
        cursor.position, cursor.changed_at = max(cursor.position, last), now


def connect_seller(
    s: Session,
    seller: int,
    *,
    url: str,
    app_key: str,
    app_secret: str,
    access_token: str,
    seller_tax_id: str,
    seller_name: str,
    now: datetime,
    provider: str = "nuonuo",
    auto_tax_code: str | None = None,
    auto_rate: str | None = None,
) -> EInvoiceSeller:
    """Store (or replace) a seller's provider connection; the seller's own tax id is checked
    like a buyer's (it must be a taxpayer number the provider knows)."""
    if provider != "nuonuo":
        raise InvalidError(N_("no adapter for e-invoice provider %(p)s"), "provider", p=provider)
    if not url.startswith(("http://", "https://")):
        raise InvalidError(N_("%(url)s is not an http(s) address"), "url", url=url)
    tax_id = normalise(seller_tax_id)
    if tax_id is None or not seller_name.strip():
        raise InvalidError(N_("give the seller's tax id and name"), "seller_tax_id")
    if auto_tax_code or auto_rate:
        # Checked as a line of the invoices it will make would be.
        L.build([L.LineIn("check", auto_tax_code or "", auto_rate or "", 1, "100.00")])
    row = s.get(EInvoiceSeller, seller) or EInvoiceSeller(account_id=seller)
    if auto_tax_code and not row.auto_tax_code:
        _start_auto(s, seller, now)
    row.auto_tax_code, row.auto_rate = auto_tax_code or None, auto_rate or None
    row.provider, row.url, row.app_key, row.app_secret = provider, url, app_key, app_secret
    row.access_token, row.seller_tax_id, row.seller_name = access_token, tax_id, seller_name.strip()
    row.updated_at = now
    s.add(row)
    s.flush()
    return row
