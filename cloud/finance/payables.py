"""Supplier payables: payments, prepayments, refunds and prepayments applied (docs/finance.md
"Supplier payables").

A document is a row of ``fin_supplier_doc`` and the journal entry it posts, both in the
caller's transaction. Its number is the caller's idempotency key: the same document sent
again (a retry after a lost answer) answers the first one and posts nothing; the same number
with other content is a conflict (409), never a second entry. The entry's natural key is
(``sp:<number>``, kind), so even a row lost by a bug could not post twice.

=====================  =========================================================
payment (付款)          2202.01.<supplier> / 1002 (or 1012.01 / 1012.02)
prepayment (预付)       1123.<supplier> / 1002 (or 1012.01 / 1012.02)
refund (供应商退款)     1002 (or 1012.01 / 1012.02) / 2202.01.<supplier>
apply (预付冲应付)      2202.01.<supplier> / 1123.<supplier>, at most the prepaid balance
invoice (进项发票)      22210102 input VAT / 2202.01.<supplier>: the tax only
=====================  =========================================================

An invoice's ``amount`` is the amount without tax (不含税金额) and its tax is
round(amount x rate, 2) half up, as the 数电票 lines have it (money.tax_of). Only the tax
is posted: the receipts already booked the goods at the purchase order's unit price, which
is taken to be without tax (the price a purchaser agrees in B2B, 不含税单价); the
invoice adds the VAT the supplier charges to what is owed and makes it deductible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.finance import FinAccount, FinEntry, FinLeg
from cloud.db.models import Supplier
from cloud.db.payables import SUPPLIER_DOC_KINDS, FinSupplierDoc
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError
from cloud.finance import ledger
from cloud.finance.chart import open_party_accounts, party_code, seed_chart
from cloud.finance.ledger import Draft, Leg
from cloud.finance.money import money, tax_of
from cloud.finance.postings import PAYMENT_ACCOUNTS

ZERO = Decimal("0.00")
#: The entry's event kind per document kind (fin_entry.event_kind, at most 32 characters).
EVENT_KINDS = {
    "payment": "supplier_payment",
    "prepayment": "supplier_prepayment",
    "refund": "supplier_refund",
    "apply": "prepayment_applied",
    "invoice": "supplier_invoice",
}
#: VAT rates a supplier's invoice may carry (一般纳税人 13 %, 9 %, 6 %; 小规模 3 %, 1 %).
VAT_RATES = (Decimal("0.13"), Decimal("0.09"), Decimal("0.06"), Decimal("0.03"), Decimal("0.01"))
#: Kinds that move no money (no account to pay from).
NO_MONEY = ("apply", "invoice")
_DOC_NO_MAX = 60


@dataclass(frozen=True)
class SupplierDocIn:
    """What a person or client sends: ``amount`` as they sent it (parsed by ``money``)."""

    doc_no: str
    supplier: str
    kind: str
    amount: object
    on: date
    paid_from: str | None = None
    memo: str = ""
    #: An invoice's VAT rate (a decimal string like "0.13").
    tax_rate: object = None


@dataclass(frozen=True)
class Recorded:
    doc: FinSupplierDoc
    created: bool


def source_of(doc_no: str) -> str:
    return f"sp:{doc_no}"


def draft_of(
    kind: str,
    doc_no: str,
    supplier: str,
    amount: Decimal,
    on: date,
    paid_from: str | None,
    memo: str,
) -> Draft:
    """The entry of one document (pure; the checks of :func:`record` come first)."""
    payable = party_code("2202.01", supplier)
    prepaid = party_code("1123", supplier)
    legs: tuple[tuple[str, Decimal], ...]
    if kind == "payment":
        legs = ((payable, amount), (str(paid_from), -amount))
    elif kind == "prepayment":
        legs = ((prepaid, amount), (str(paid_from), -amount))
    elif kind == "refund":
        legs = ((str(paid_from), amount), (payable, -amount))
    elif kind == "invoice":
        legs = (("22210102", amount), (payable, -amount))  # ``amount``: the tax
    else:
        legs = ((payable, amount), (prepaid, -amount))
    text = memo or f"{kind} {supplier}"
    return Draft(source_of(doc_no), EVENT_KINDS[kind], on, tuple(Leg(c, a) for c, a in legs), text)


def _check(session: Session, account_id: int, doc: SupplierDocIn) -> Decimal:
    """The document's amount, or InvalidError with a sentence (nothing written)."""
    if not doc.doc_no or len(doc.doc_no) > _DOC_NO_MAX or doc.doc_no != doc.doc_no.strip():
        raise InvalidError(
            N_("a document number of 1 to %(n)s characters, no spaces around it"),
            "doc_no",
            n=_DOC_NO_MAX,
        )
    if doc.kind not in SUPPLIER_DOC_KINDS:
        raise InvalidError(
            N_("kind must be one of %(kinds)s"), "kind", kinds=", ".join(SUPPLIER_DOC_KINDS)
        )
    amount = money(doc.amount, "amount")
    if amount <= 0:
        raise InvalidError(
            N_("amount must be more than 0.00 (got %(amount)s)"), "amount", amount=amount
        )
    if doc.kind in NO_MONEY:
        if doc.paid_from is not None:
            raise InvalidError(
                N_("a prepayment applied or an invoice moves no money: leave paid_from out"),
                "paid_from",
            )
    elif doc.paid_from not in PAYMENT_ACCOUNTS:
        raise InvalidError(
            N_("paid_from must be one of %(accounts)s"),
            "paid_from",
            accounts=", ".join(PAYMENT_ACCOUNTS),
        )
    # FOR UPDATE: a supplier's documents are written one after the other (PostgreSQL), so
    # two prepayments applied at once cannot both spend one prepaid balance, and a retry
    # racing its original finds the row the original wrote.
    known = session.execute(
        select(Supplier.id)
        .where(Supplier.account_id == account_id, Supplier.code == doc.supplier)
        .with_for_update()
    ).scalar_one_or_none()
    if known is None:
        raise InvalidError(
            N_("no supplier %(supplier)s: create it first (Purchasing, suppliers)"),
            "supplier",
            supplier=doc.supplier,
        )
    party_code("2202.01", doc.supplier)  # a code that can name an account
    if len(doc.memo) > 200:
        raise InvalidError(N_("a memo of at most 200 characters"), "memo")
    return amount


def _rate(doc: SupplierDocIn) -> Decimal | None:
    """An invoice's VAT rate (one of VAT_RATES); None for the other kinds."""
    if doc.kind != "invoice":
        if doc.tax_rate not in (None, ""):
            raise InvalidError(N_("only an invoice has a tax rate"), "tax_rate")
        return None
    said = ", ".join(str(r) for r in VAT_RATES)
    if isinstance(doc.tax_rate, (bool, float)):
        raise InvalidError(
            N_("tax_rate: give the rate as a decimal string, one of %(rates)s"),
            "tax_rate",
            rates=said,
        )
    try:
        rate = Decimal(str(doc.tax_rate))
    except ArithmeticError:
        rate = None
    if doc.tax_rate is None or rate not in VAT_RATES:
        raise InvalidError(
            N_("tax_rate: an invoice's VAT rate is one of %(rates)s"), "tax_rate", rates=said
        )
    return next(r for r in VAT_RATES if r == rate)


def record(
    session: Session, account_id: int, doc: SupplierDocIn, actor: str, now: datetime
) -> Recorded:
    """Store the document and post its entry, once (see the module's docstring)."""
    amount = _check(session, account_id, doc)
    rate = _rate(doc)
    tax = None if rate is None else tax_of(amount, rate)
    paid_from = None if doc.kind in NO_MONEY else doc.paid_from
    existing = session.execute(
        select(FinSupplierDoc).where(
            FinSupplierDoc.account_id == account_id, FinSupplierDoc.doc_no == doc.doc_no
        )
    ).scalar_one_or_none()
    if existing is not None:
        same = (
            existing.supplier,
            existing.kind,
            existing.amount,
            existing.paid_from,
            existing.doc_date,
            existing.tax_rate,
        ) == (
            doc.supplier,
            doc.kind,
            amount,
            paid_from,
            doc.on,
            rate,
        )
        if not same:
            raise ConflictError(
                N_(
                    "document %(doc_no)s exists already with other content (%(kind)s %(amount)s "
                    "to %(supplier)s on %(on)s): give a new document a new number"
                ),
                doc_no=doc.doc_no,
                kind=existing.kind,
                amount=existing.amount,
                supplier=existing.supplier,
                on=existing.doc_date,
            )
        return Recorded(existing, created=False)
    seed_chart(session, account_id)
    if doc.kind == "apply":
        prepaid = prepaid_balance(session, account_id, doc.supplier)
        if amount > prepaid:
            raise ConflictError(
                N_("%(supplier)s has %(prepaid)s prepaid: cannot apply %(amount)s to the payable"),
                supplier=doc.supplier,
                prepaid=prepaid,
                amount=amount,
            )
    if tax is not None and tax <= 0:
        raise InvalidError(
            N_("the tax of %(amount)s at %(rate)s is 0.00: nothing to post"),
            "amount",
            amount=amount,
            rate=rate,
        )
    posted_amount = amount if tax is None else tax
    draft = draft_of(doc.kind, doc.doc_no, doc.supplier, posted_amount, doc.on, paid_from, doc.memo)
    open_party_accounts(session, account_id, {leg.code for leg in draft.legs})
    posted = ledger.post(session, account_id, draft, now)
    row = FinSupplierDoc(
        account_id=account_id,
        doc_no=doc.doc_no,
        supplier=doc.supplier,
        kind=doc.kind,
        amount=amount,
        paid_from=paid_from,
        tax_rate=rate,
        tax=tax,
        doc_date=doc.on,
        memo=doc.memo,
        entry_id=posted.entry_id,
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return Recorded(row, created=True)


def known_supplier(session: Session, account_id: int, supplier: str) -> str:
    """The supplier's name (NotFoundError for none of this seller's)."""
    name = session.execute(
        select(Supplier.name).where(Supplier.account_id == account_id, Supplier.code == supplier)
    ).scalar_one_or_none()
    if name is None:
        raise NotFoundError(N_("no supplier %(supplier)s"), supplier=supplier)
    return str(name)


def _balance(session: Session, account_id: int, code: str) -> Decimal:
    total = session.execute(
        select(func.sum(FinLeg.amount))
        .join(FinAccount, FinAccount.id == FinLeg.fin_account_id)
        .join(FinEntry, FinEntry.id == FinLeg.entry_id)
        .where(
            FinLeg.account_id == account_id,
            FinAccount.code == code,
            FinEntry.posted.is_(True),
        )
    ).scalar_one()
    return ZERO if total is None else Decimal(total).quantize(Decimal("0.01"))


def prepaid_balance(session: Session, account_id: int, supplier: str) -> Decimal:
    """What is prepaid to ``supplier`` and not applied yet (1123.<supplier>, debit)."""
    return _balance(session, account_id, party_code("1123", supplier))


def payable_balance(session: Session, account_id: int, supplier: str) -> Decimal:
    """What the seller owes ``supplier`` (2202.01.<supplier>, credit positive)."""
    return -_balance(session, account_id, party_code("2202.01", supplier))


def documents(
    session: Session, account_id: int, supplier: str | None = None, limit: int = 200
) -> list[FinSupplierDoc]:
    """The newest documents first (one supplier's, or all)."""
    q = select(FinSupplierDoc).where(FinSupplierDoc.account_id == account_id)
    if supplier:
        q = q.where(FinSupplierDoc.supplier == supplier)
    q = q.order_by(FinSupplierDoc.doc_date.desc(), FinSupplierDoc.id.desc()).limit(limit)
    return list(session.execute(q).scalars())
