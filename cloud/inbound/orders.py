"""Purchase orders (采购单) as documents: lines with prices, an ETA, a tolerance, and states.

States (docs/inbound.md "States")::

    draft ─confirm─▶ confirmed ─receipt─▶ partially_received ─receipt─▶ received
      │                 │  └──────────────────┴─close─▶ closed (the rest is no longer expected)
      └─cancel─▶ cancelled ◀─cancel (only while nothing is received)

A line is *in transit* (the stock views' 采购在途 column, cloud/stock/views.py) while its PO
is confirmed or partially received and the line is not complete. A line is complete once
its received units reach the under-receipt tolerance (``qty`` less ``tolerance_pct``); it
may take up to the over-receipt tolerance (``qty`` plus ``tolerance_pct``), never more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import PurchaseOrder, PurchaseOrderLine, Supplier, Warehouse
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError
from cloud.inbound import release
from cloud.inbound import suppliers as supplier_docs
from cloud.inbound.tolerance import enough
from cloud.stock.ledger import require_skus, warehouse_of

STATES: Final = (
    "draft",
    "confirmed",
    "partially_received",
    "received",
    "closed",
    "cancelled",
)
#: States a receipt may be booked in (and whose lines count as in transit).
OPEN: Final = frozenset({"confirmed", "partially_received"})
#: At most this many delivery references per PO, as ``po.release`` carries
#: (protocol/messages.py ``PoRelease.delivery_refs``).
MAX_REFS: Final = 32
#: A reference is scanned text: 1 to 128 characters, no control characters (the protocol's
#: ``Barcode``), so a stored one always fits the release.
MAX_REF_LEN: Final = 128


@dataclass(frozen=True)
class LineIn:
    sku_code: str
    qty: int
    unit_price: Decimal


def clean_refs(refs: list[str]) -> list[str]:
    """The delivery references (ASN numbers, waybills) as stored: each trimmed, in the
    order given; an empty, over-long or control-character one, a repeat or more than
    ``MAX_REFS`` is refused whole (docs/inbound.md "ASN scan")."""
    if len(refs) > MAX_REFS:
        raise InvalidError(
            N_("a purchase order takes at most %(max)s delivery references, not %(count)s"),
            "delivery_refs",
            max=MAX_REFS,
            count=len(refs),
        )
    out: list[str] = []
    for raw in refs:
        ref = raw.strip()
        if not ref:
            raise InvalidError(N_("a delivery reference is empty; remove it"), "delivery_refs")
        if len(ref) > MAX_REF_LEN:
            raise InvalidError(
                N_("delivery reference %(ref)s is longer than %(max)s characters"),
                "delivery_refs",
                ref=ref[:40] + "…",
                max=MAX_REF_LEN,
            )
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in ref):
            raise InvalidError(
                N_("delivery reference %(ref)r holds a control character (tab, line break)"),
                "delivery_refs",
                ref=ref,
            )
        if ref in out:
            raise InvalidError(
                N_("delivery reference %(ref)s is given twice; list each once"),
                "delivery_refs",
                ref=ref,
            )
        out.append(ref)
    return out


def lines_of(session: Session, po: PurchaseOrder) -> list[PurchaseOrderLine]:
    return list(
        session.execute(
            select(PurchaseOrderLine)
            .where(PurchaseOrderLine.po_id == po.id)
            .order_by(PurchaseOrderLine.line_no)
        ).scalars()
    )


def get(session: Session, account_id: int, number: str, *, lock: bool = False) -> PurchaseOrder:
    q = select(PurchaseOrder).where(
        PurchaseOrder.account_id == account_id, PurchaseOrder.number == number
    )
    po = session.execute(q.with_for_update() if lock else q).scalar_one_or_none()
    if po is None:
        raise NotFoundError(N_("no purchase order %(number)r"), number=number)
    return po


def create(
    session: Session,
    account_id: int,
    number: str,
    warehouse: str,
    lines: list[LineIn],
    actor: str,
    now: datetime,
    *,
    supplier: str | None = None,
    eta: date | None = None,
    tolerance_pct: Decimal = Decimal(0),
    confirm: bool = False,
    delivery_refs: list[str] | None = None,
) -> PurchaseOrder:
    """A new PO, a draft unless ``confirm``; nothing is written if any part is refused."""
    refs = clean_refs(delivery_refs or [])
    if not lines:
        raise InvalidError(N_("a purchase order needs at least one line"), "lines")
    dup = sorted(
        {ln.sku_code for ln in lines if [x.sku_code for x in lines].count(ln.sku_code) > 1}
    )
    if dup:
        raise InvalidError(
            N_("SKU(s) %(skus)s appear on more than one line; put each SKU on one line"),
            "lines",
            skus=", ".join(dup),
        )
    if not Decimal(0) <= tolerance_pct <= Decimal(100):
        raise InvalidError(N_("tolerance_pct must be between 0 and 100 percent"), "tolerance_pct")
    wh = warehouse_of(session, account_id, warehouse)
    require_skus(session, account_id, (ln.sku_code for ln in lines))
    sup: Supplier | None = (
        supplier_docs.by_code(session, account_id, supplier) if supplier is not None else None
    )
    exists = session.execute(
        select(PurchaseOrder.id).where(
            PurchaseOrder.account_id == account_id, PurchaseOrder.number == number
        )
    ).scalar_one_or_none()
    if exists is not None:
        raise ConflictError(
            N_("purchase order %(number)s already exists; give the new one another number"),
            number=number,
        )
    po = PurchaseOrder(
        account_id=account_id,
        number=number,
        supplier_id=sup.id if sup else None,
        warehouse_id=wh.id,
        eta=eta,
        status="draft",
        tolerance_pct=tolerance_pct,
        delivery_refs=refs,
        created_by=actor,
        created_at=now,
        changed_by=actor,
        changed_at=now,
    )
    session.add(po)
    session.flush()
    session.add_all(
        PurchaseOrderLine(
            po_id=po.id,
            account_id=account_id,
            warehouse_id=wh.id,
            line_no=n,
            sku_code=ln.sku_code,
            qty=ln.qty,
            unit_price=ln.unit_price,
            received=0,
            rejected=0,
            in_transit=False,
        )
        for n, ln in enumerate(lines, 1)
    )
    session.flush()
    if confirm:
        _confirm(session, po, actor, now)
    return po


def set_delivery_refs(
    session: Session, account_id: int, number: str, refs: list[str], actor: str, now: datetime
) -> PurchaseOrder:
    """Replace the PO's delivery references; an open PO is released again with them.
    Only while goods may still arrive: a received, closed or cancelled PO is refused."""
    clean = clean_refs(refs)
    po = get(session, account_id, number, lock=True)
    if po.status not in ("draft", *OPEN):
        raise ConflictError(
            N_(
                "purchase order %(number)s is %(status)s; delivery references are changed only "
                "while goods may still arrive (draft, confirmed or partially received)"
            ),
            number=number,
            status=po.status,
        )
    po.delivery_refs, po.changed_by, po.changed_at = clean, actor, now
    settle(session, po, now)
    return po


def confirm(
    session: Session, account_id: int, number: str, actor: str, now: datetime
) -> PurchaseOrder:
    po = get(session, account_id, number, lock=True)
    if po.status != "draft":
        raise ConflictError(
            N_("purchase order %(number)s is %(status)s; only a draft is confirmed"),
            number=number,
            status=po.status,
        )
    _confirm(session, po, actor, now)
    return po


def _confirm(session: Session, po: PurchaseOrder, actor: str, now: datetime) -> None:
    po.status, po.changed_by, po.changed_at = "confirmed", actor, now
    settle(session, po, now)


def close(
    session: Session, account_id: int, number: str, reason: str, actor: str, now: datetime
) -> PurchaseOrder:
    """Close (结案): what is still open is no longer expected; what arrived stays booked."""
    po = get(session, account_id, number, lock=True)
    if po.status not in OPEN:
        raise ConflictError(
            N_(
                "purchase order %(number)s is %(status)s; only a confirmed or partially received "
                "order is closed (cancel a draft instead)"
            ),
            number=number,
            status=po.status,
        )
    po.status, po.status_reason, po.changed_by, po.changed_at = "closed", reason, actor, now
    settle(session, po, now)
    return po


def cancel(
    session: Session, account_id: int, number: str, reason: str, actor: str, now: datetime
) -> PurchaseOrder:
    """Cancel (作废): only while nothing has been received against it."""
    po = get(session, account_id, number, lock=True)
    if po.status not in ("draft", "confirmed"):
        raise ConflictError(
            N_(
                "purchase order %(number)s is %(status)s; only a draft or a confirmed order with "
                "nothing received can be cancelled (close it instead)"
            ),
            number=number,
            status=po.status,
        )
    if any(ln.received for ln in lines_of(session, po)):
        raise ConflictError(
            N_("purchase order %(number)s has receipts booked; close it instead of cancelling"),
            number=number,
        )
    po.status, po.status_reason, po.changed_by, po.changed_at = "cancelled", reason, actor, now
    settle(session, po, now)
    return po


def settle(session: Session, po: PurchaseOrder, now: datetime) -> None:
    """Derive the status after receipts and each line's ``in_transit``; tell the nodes."""
    lines = lines_of(session, po)
    if po.status in OPEN and any(ln.received for ln in lines):
        done = all(ln.received >= enough(ln.qty, po.tolerance_pct) for ln in lines)
        po.status = "received" if done else "partially_received"
    for ln in lines:
        ln.in_transit = po.status in OPEN and ln.received < enough(ln.qty, po.tolerance_pct)
    session.flush()
    if po.status != "draft":
        release.push_po(session, po, lines, session.get_one(Warehouse, po.warehouse_id), now)


def list_orders(
    session: Session,
    account_id: int,
    *,
    status: str | None = None,
    supplier: str | None = None,
    warehouse: str | None = None,
    sku_code: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[PurchaseOrder]:
    q = select(PurchaseOrder).where(PurchaseOrder.account_id == account_id)
    if status is not None:
        if status not in STATES:
            raise InvalidError(
                N_("unknown status %(status)r; choose from %(states)s"),
                status=status,
                states=", ".join(STATES),
            )
        q = q.where(PurchaseOrder.status == status)
    if supplier is not None:
        q = q.where(
            PurchaseOrder.supplier_id == supplier_docs.by_code(session, account_id, supplier).id
        )
    if warehouse is not None:
        q = q.where(PurchaseOrder.warehouse_id == warehouse_of(session, account_id, warehouse).id)
    if sku_code is not None:
        q = q.where(
            PurchaseOrder.id.in_(
                select(PurchaseOrderLine.po_id).where(
                    PurchaseOrderLine.account_id == account_id,
                    PurchaseOrderLine.sku_code == sku_code,
                )
            )
        )
    q = q.order_by(PurchaseOrder.created_at.desc(), PurchaseOrder.id.desc())
    return list(session.execute(q.limit(limit).offset(offset)).scalars())
