"""Statements (对账单) per supplier and per buyer for a period (docs/finance.md "Statements").

A statement is read from the books, never kept: the opening balance (every document of the
party dated before the period), each document in the period with its change and the running
balance, the closing balance. Because opening = the sum of everything before the first day
and closing = opening + the period's changes, one statement's closing is the next one's
opening whatever the periods (tests/cloud/finance/test_statements.py, a hypothesis property).

* Supplier: the legs on its payable 2202.01.<supplier> and its prepayment 1123.<supplier>;
  balance = what the seller owes it (credit positive), net of what is prepaid. Receipts
  raise it, payments and prepayments lower it, a refund received raises it; a prepayment
  applied changes nothing in the net (it moves between the two accounts) and is listed
  with its amount in the memo.
* Buyer (an order's buyer nick, optionally of one shop): every entry of its orders (the
  order number, a later shipment ``<order>#<log id>``, and their reversals); the change is
  that of customer prepayments 2203, credit positive: paid raises it, shipped and refunded
  before shipping lower it; a refund after shipping leaves it (the sale was delivered and
  is taken back: revenue and clearing, shown with a change of 0.00).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cloud.db.finance import FinAccount, FinEntry, FinLeg
from cloud.db.models import SalesOrder, Supplier
from cloud.errors import N_, InvalidError, NotFoundError
from cloud.finance.chart import party_code

ZERO = Decimal("0.00")
#: Days in one statement (a year and a day: a person's statement, not a data dump).
MAX_DAYS = 366
_CHUNK = 200


@dataclass(frozen=True)
class StatementLine:
    entry_id: int
    entry_date: date
    source_doc: str
    event_kind: str
    memo: str
    #: The document's change of the balance (see the module's docstring for the sign).
    change: Decimal
    balance: Decimal


@dataclass(frozen=True)
class Statement:
    party: str
    name: str
    kind: str  # "supplier" or "buyer"
    start: date
    end: date
    opening: Decimal
    lines: list[StatementLine]
    closing: Decimal

    @property
    def increases(self) -> Decimal:
        return sum((ln.change for ln in self.lines if ln.change > 0), ZERO)

    @property
    def decreases(self) -> Decimal:
        return sum((-ln.change for ln in self.lines if ln.change < 0), ZERO)


def check_period(start: date, end: date) -> None:
    if end < start:
        raise InvalidError(
            N_("the period ends (%(end)s) before it starts (%(start)s)"),
            "end",
            start=start,
            end=end,
        )
    if (end - start).days >= MAX_DAYS:
        raise InvalidError(
            N_("a statement covers at most %(n)s days: ask for one year at a time"),
            "end",
            n=MAX_DAYS,
        )


#: (entry id, date, document, kind, memo, change) of one entry.
_Row = tuple[int, date, str, str, str, Decimal]


def _build(
    party: str, name: str, kind: str, start: date, end: date, rows: Iterable[_Row]
) -> Statement:
    ordered = sorted(rows, key=lambda r: (r[1], r[0]))
    opening = sum((r[5] for r in ordered if r[1] < start), ZERO)
    balance = opening
    lines: list[StatementLine] = []
    for eid, day, doc, ev, memo, change in ordered:
        if day < start or day > end:
            continue
        balance += change
        lines.append(StatementLine(eid, day, doc, ev, memo, change, balance))
    return Statement(party, name, kind, start, end, opening, lines, balance)


def supplier_statement(
    session: Session, account_id: int, supplier: str, start: date, end: date
) -> Statement:
    """``supplier``'s statement from ``start`` to ``end`` (both included); 404 unknown."""
    check_period(start, end)
    name = session.execute(
        select(Supplier.name).where(Supplier.account_id == account_id, Supplier.code == supplier)
    ).scalar_one_or_none()
    if name is None:
        raise NotFoundError(N_("no supplier %(supplier)s"), supplier=supplier)
    codes = [party_code("2202.01", supplier), party_code("1123", supplier)]
    q = (
        select(
            FinEntry.id,
            FinEntry.entry_date,
            FinEntry.source_doc,
            FinEntry.event_kind,
            FinEntry.memo,
            FinLeg.amount,
        )
        .join(FinLeg, FinLeg.entry_id == FinEntry.id)
        .join(FinAccount, FinAccount.id == FinLeg.fin_account_id)
        .where(
            FinEntry.account_id == account_id,
            FinEntry.posted.is_(True),
            FinEntry.entry_date <= end,
            FinAccount.account_id == account_id,
            FinAccount.code.in_(codes),
        )
    )
    heads: dict[int, tuple[date, str, str, str]] = {}
    owed: dict[int, Decimal] = {}
    for eid, day, doc, ev, memo, amount in session.execute(q):
        heads[eid] = (day, doc, ev, memo)
        owed[eid] = owed.get(eid, ZERO) - Decimal(amount)  # owed: credit positive
    rows = [(eid, *head, owed[eid].quantize(Decimal("0.01"))) for eid, head in heads.items()]
    return _build(supplier, name, "supplier", start, end, rows)


def buyer_orders(
    session: Session, account_id: int, buyer: str, shop: str | None = None
) -> list[str]:
    q = select(SalesOrder.order_no).where(
        SalesOrder.account_id == account_id, SalesOrder.buyer_nick == buyer
    )
    if shop:
        q = q.where(SalesOrder.channel == shop)
    return list(session.execute(q.order_by(SalesOrder.order_no)).scalars())


def buyer_statement(
    session: Session,
    account_id: int,
    buyer: str,
    start: date,
    end: date,
    shop: str | None = None,
) -> Statement:
    """The statement of the buyer's orders (an unknown buyer has an empty one: a buyer is
    no record of ours, only a name on orders)."""
    check_period(start, end)
    if not buyer.strip():
        raise InvalidError(N_("name the buyer (the orders' buyer nick)"), "buyer")
    orders = buyer_orders(session, account_id, buyer, shop)
    entries = order_entries(session, account_id, orders, end)
    rows: list[_Row] = []
    if entries:
        changes = _changes_on(session, account_id, list(entries), "2203")
        for eid, (day, doc, ev, memo) in entries.items():
            rows.append((eid, day, doc, ev, memo, -changes.get(eid, ZERO)))
    label = buyer if not shop else f"{buyer} · {shop}"
    return _build(buyer, label, "buyer", start, end, rows)


def order_entries(
    session: Session, account_id: int, orders: Sequence[str], end: date
) -> dict[int, tuple[date, str, str, str]]:
    """The posted entries of ``orders`` up to ``end``: by the order number, a later
    shipment's ``<order>#<log id>``, and the reversals of those."""
    cols = (
        FinEntry.id,
        FinEntry.entry_date,
        FinEntry.source_doc,
        FinEntry.event_kind,
        FinEntry.memo,
    )
    base = select(*cols).where(
        FinEntry.account_id == account_id, FinEntry.posted.is_(True), FinEntry.entry_date <= end
    )
    out: dict[int, tuple[date, str, str, str]] = {}
    for i in range(0, len(orders), _CHUNK):
        chunk = orders[i : i + _CHUNK]
        docs = or_(
            FinEntry.source_doc.in_(chunk),
            *(FinEntry.source_doc.like(_like(no) + "#%", escape="\\") for no in chunk),
        )
        for eid, day, doc, ev, memo in session.execute(base.where(docs)):
            out[int(eid)] = (day, doc, ev, memo)
    found = list(out)
    for i in range(0, len(found), _CHUNK):
        chunk_ids = found[i : i + _CHUNK]
        for eid, day, doc, ev, memo in session.execute(
            base.where(FinEntry.reverses_id.in_(chunk_ids))
        ):
            out[int(eid)] = (day, doc, ev, memo)
    return out


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _changes_on(
    session: Session, account_id: int, entry_ids: list[int], code: str
) -> dict[int, Decimal]:
    out: dict[int, Decimal] = {}
    for i in range(0, len(entry_ids), _CHUNK):
        chunk = entry_ids[i : i + _CHUNK]
        for eid, amount in session.execute(
            select(FinLeg.entry_id, FinLeg.amount)
            .join(FinAccount, FinAccount.id == FinLeg.fin_account_id)
            .where(
                FinLeg.account_id == account_id,
                FinLeg.entry_id.in_(chunk),
                FinAccount.code == code,
            )
        ):
            out[int(eid)] = out.get(int(eid), ZERO) + Decimal(amount)
    return {k: v.quantize(Decimal("0.01")) for k, v in out.items()}


HEADER = ("date", "document", "event", "memo", "change", "balance")


def table(st: Statement) -> list[list[object]]:
    """The statement as rows for CSV/XLSX: the opening line, each document, the closing line
    (amounts as Decimal: numbers with two decimals in either file, never text a formula
    guard would prefix)."""
    out: list[list[object]] = [[st.start.isoformat(), "", "opening", "", "", st.opening]]
    for ln in st.lines:
        out.append(
            [
                ln.entry_date.isoformat(),
                ln.source_doc,
                ln.event_kind,
                ln.memo,
                ln.change,
                ln.balance,
            ]
        )
    out.append([st.end.isoformat(), "", "closing", "", "", st.closing])
    return out
