"""Transfers (调拨单) as documents: lines, a type, from and to warehouse (or two bins of one),
audit, shipping and states (docs/inbound.md "Transfers").

States::

    draft ─audit─▶ audited ─ship─▶ shipped ─receipt─▶ partially_received ─receipt─▶ done
      │              │  ▲              │                                              │
      └──cancel──────┴─▶ cancelled     └─冲销出库 (nothing received) ─▶ audited       │
                        取消入库 of a receipt: back to partially_received / shipped ◀─┘

The source's steps: a transfer is entered as an outbound document, 出库审核 (the audit)
lets it leave, the sender ships it (its sellable stock leaves the warehouse: in transit),
the receiver takes it in (QC per line). A wrongly entered transfer is undone in reverse
order: 取消入库 at the receiver, then 冲销出库 at the sender (cloud/inbound/transfer_moves.py).

Where the goods of a line are: at the sender until shipped; ``shipped − received`` in
transit (on the document, counted in the receiver's F9/F10 inbound column); ``received``
at the receiver. Never in two of these at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import Bin, PurchaseOrder, Warehouse
from cloud.db.transfers import Transfer, TransferLine
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError, sentence
from cloud.inbound import transfer_release
from cloud.stock import ledger

KINDS: Final = ("same_price", "fixed_cost")
STATES: Final = ("draft", "audited", "shipped", "partially_received", "done", "cancelled")
#: States a receipt may be booked in.
RECEIVING: Final = frozenset({"shipped", "partially_received"})


@dataclass(frozen=True)
class LineIn:
    sku_code: str
    qty: int
    unit_cost: Decimal | None = None


def document(number: str) -> str:
    """The ledger's ``document`` of a transfer's movements (the old two-movement transfers
    of cloud/stock/ledger.py are ``transfer:<hex>``; these are never confused with them)."""
    return f"tr:{number}"


def lines_of(session: Session, t: Transfer) -> list[TransferLine]:
    return list(
        session.execute(
            select(TransferLine)
            .where(TransferLine.transfer_id == t.id)
            .order_by(TransferLine.line_no)
        ).scalars()
    )


def get(session: Session, account_id: int, number: str, *, lock: bool = False) -> Transfer:
    q = select(Transfer).where(Transfer.account_id == account_id, Transfer.number == number)
    t = session.execute(q.with_for_update() if lock else q).scalar_one_or_none()
    if t is None:
        raise NotFoundError(N_("no transfer %(number)r"), number=number)
    return t


def _warehouse(session: Session, account_id: int, code: str, field: str) -> Warehouse:
    wh = session.execute(
        select(Warehouse).where(Warehouse.account_id == account_id, Warehouse.code == code)
    ).scalar_one_or_none()
    if wh is None:
        raise InvalidError(N_("no warehouse %(code)r in this account"), field, code=code)
    return wh


def _bin(session: Session, wh: Warehouse, code: str | None, field: str) -> None:
    if code is not None and session.get(Bin, (wh.id, code)) is None:
        raise InvalidError(
            N_("no bin %(bin)r in %(warehouse)s"), field, bin=code, warehouse=wh.code
        )


def create(
    session: Session,
    account_id: int,
    number: str,
    kind: str,
    from_warehouse: str,
    to_warehouse: str,
    lines: list[LineIn],
    actor: str,
    now: datetime,
    *,
    from_bin: str | None = None,
    to_bin: str | None = None,
    note: str | None = None,
    audit: bool = False,
) -> Transfer:
    """A new transfer, a draft unless ``audit``; nothing is written if any part is refused."""
    if kind not in KINDS:
        raise InvalidError(
            N_("unknown transfer type %(kind)r; choose from %(kinds)s"),
            "kind",
            kind=kind,
            kinds=", ".join(KINDS),
        )
    if not lines:
        raise InvalidError(N_("a transfer needs at least one line"), "lines")
    codes = [ln.sku_code for ln in lines]
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        raise InvalidError(
            N_("SKU(s) %(skus)s appear on more than one line; put each SKU on one line"),
            "lines",
            skus=", ".join(dup),
        )
    for ln in lines:
        if ln.qty < 1:
            raise InvalidError(
                N_("quantity of %(sku_code)s must be at least 1"), "lines", sku_code=ln.sku_code
            )
        if kind == "fixed_cost" and ln.unit_cost is None:
            raise InvalidError(
                N_(
                    "a fixed-cost transfer needs the unit cost of every line (%(sku_code)s has none)"
                ),
                "lines",
                sku_code=ln.sku_code,
            )
        if kind == "same_price" and ln.unit_cost is not None:
            raise InvalidError(
                N_(
                    "a same-price transfer keeps the goods' own cost; leave out the unit cost of "
                    "%(sku_code)s or make it a fixed-cost transfer"
                ),
                "lines",
                sku_code=ln.sku_code,
            )
    a = _warehouse(session, account_id, from_warehouse, "from_warehouse")
    b = _warehouse(session, account_id, to_warehouse, "to_warehouse")
    if a.id == b.id:
        if from_bin is None or to_bin is None:
            raise InvalidError(
                N_(
                    "from and to are both warehouse %(code)s; a transfer within one warehouse "
                    "goes from one bin to another: give from_bin and to_bin"
                ),
                "to_warehouse",
                code=a.code,
            )
        if from_bin == to_bin:
            raise InvalidError(
                N_("from_bin and to_bin are both %(bin)s; nothing would move"), "to_bin", bin=to_bin
            )
    _bin(session, a, from_bin, "from_bin")
    _bin(session, b, to_bin, "to_bin")
    ledger.require_skus(session, account_id, codes)
    exists = session.execute(
        select(Transfer.id).where(Transfer.account_id == account_id, Transfer.number == number)
    ).scalar_one_or_none()
    if exists is not None:
        raise ConflictError(
            N_("transfer %(number)s already exists; give the new one another number"),
            number=number,
        )
    po = session.execute(
        select(PurchaseOrder.id).where(
            PurchaseOrder.account_id == account_id, PurchaseOrder.number == number
        )
    ).scalar_one_or_none()
    if po is not None:
        # The receiving station takes a scanned number for a PO first (edge/runtimes/receive.py).
        raise ConflictError(
            N_(
                "%(number)s is a purchase order's number; the receiving station scans both, so "
                "give the transfer another number"
            ),
            number=number,
        )
    t = Transfer(
        account_id=account_id,
        number=number,
        kind=kind,
        from_warehouse_id=a.id,
        to_warehouse_id=b.id,
        from_bin=from_bin,
        to_bin=to_bin,
        status="draft",
        note=note,
        shipments=0,
        created_by=actor,
        created_at=now,
        changed_by=actor,
        changed_at=now,
    )
    session.add(t)
    session.flush()
    for n, ln in enumerate(lines, start=1):
        session.add(
            TransferLine(
                transfer_id=t.id,
                account_id=account_id,
                warehouse_id=b.id,
                line_no=n,
                sku_code=ln.sku_code,
                qty=ln.qty,
                unit_cost=ln.unit_cost,
                shipped=0,
                received=0,
                rejected=0,
            )
        )
    session.flush()
    if audit:
        return audit_transfer(session, account_id, number, actor, now)
    return t


def audit_transfer(
    session: Session, account_id: int, number: str, actor: str, now: datetime
) -> Transfer:
    """出库审核: the draft may now leave the sender."""
    t = get(session, account_id, number, lock=True)
    if t.status != "draft":
        raise ConflictError(
            N_("transfer %(number)s is %(status)s; only a draft is audited"),
            number=number,
            status=t.status,
        )
    t.status, t.audited_by, t.audited_at = "audited", actor, now
    t.changed_by, t.changed_at = actor, now
    session.flush()
    # Released to the sender's nodes: its pick node may pick and ship it (transfer_ship.py).
    transfer_release.push_outbound(session, t, lines_of(session, t), now)
    return t


def cancel(
    session: Session, account_id: int, number: str, reason: str, actor: str, now: datetime
) -> Transfer:
    """作废: only before it ships (a shipped transfer is taken back by 冲销出库 first)."""
    t = get(session, account_id, number, lock=True)
    if t.status not in ("draft", "audited"):
        raise ConflictError(
            N_(
                "transfer %(number)s is %(status)s; only a draft or audited transfer is "
                "cancelled (take a shipment back with 冲销出库 first)"
            ),
            number=number,
            status=t.status,
        )
    t.status, t.status_reason, t.changed_by, t.changed_at = "cancelled", reason, actor, now
    session.flush()
    transfer_release.push_outbound(session, t, lines_of(session, t), now)
    return t


def ship(session: Session, account_id: int, number: str, actor: str, now: datetime) -> Transfer:
    """The sender's outbound: every line leaves the sender's sellable stock (and its bin) and
    is in transit. All lines or none (the ledger refuses stock going negative: 409)."""
    t = get(session, account_id, number, lock=True)
    if t.status != "audited":
        raise ConflictError(
            N_("transfer %(number)s is %(status)s; only an audited transfer is shipped"),
            number=number,
            status=t.status,
        )
    lines = lines_of(session, t)
    t.shipments += 1
    moves = [
        ledger.Move(
            t.from_warehouse_id,
            ln.sku_code,
            "transfer",
            sentence(N_("transfer %(number)s shipped"), number=t.number),
            document(t.number),
            actor,
            qty_delta=-ln.qty,
            bin_code=t.from_bin,
            bin_delta=-ln.qty if t.from_bin else 0,
            event_key=f"tr:{account_id}:{t.number}:s{t.shipments}:{ln.line_no}",
        )
        for ln in lines
    ]
    ledger.post(session, account_id, moves, now)
    for ln in lines:
        ln.shipped = ln.qty
    t.status, t.shipped_by, t.shipped_at = "shipped", actor, now
    t.changed_by, t.changed_at = actor, now
    session.flush()
    transfer_release.push(session, t, lines, now)
    transfer_release.push_outbound(session, t, lines, now)
    return t


def settle(session: Session, t: Transfer, now: datetime) -> list[TransferLine]:
    """The status after a receipt or a reversal, from the lines; tell the receiver's nodes."""
    lines = lines_of(session, t)
    if not any(ln.shipped for ln in lines):
        t.status = "audited"
    elif all(ln.received == ln.shipped for ln in lines):
        t.status = "done"
    elif any(ln.received for ln in lines):
        t.status = "partially_received"
    else:
        t.status = "shipped"
    session.flush()
    transfer_release.push(session, t, lines, now)
    if t.status == "audited":
        # Its shipment taken back (冲销出库): the sender's node may ship it anew.
        transfer_release.push_outbound(session, t, lines, now)
    return lines


def list_transfers(
    session: Session,
    account_id: int,
    *,
    status: str | None = None,
    warehouse: str | None = None,
    sku_code: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Transfer]:
    q = select(Transfer).where(Transfer.account_id == account_id)
    if status is not None:
        if status not in STATES:
            raise InvalidError(
                N_("unknown status %(status)r; choose from %(states)s"),
                status=status,
                states=", ".join(STATES),
            )
        q = q.where(Transfer.status == status)
    if warehouse is not None:
        wid = ledger.warehouse_of(session, account_id, warehouse).id
        q = q.where((Transfer.from_warehouse_id == wid) | (Transfer.to_warehouse_id == wid))
    if sku_code is not None:
        q = q.where(
            Transfer.id.in_(
                select(TransferLine.transfer_id).where(
                    TransferLine.account_id == account_id, TransferLine.sku_code == sku_code
                )
            )
        )
    q = q.order_by(Transfer.created_at.desc(), Transfer.id.desc())
    return list(session.execute(q.limit(limit).offset(offset)).scalars())
