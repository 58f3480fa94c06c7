"""Invoices buyers ask for with their channel orders, requested once each order ships.

A buyer asks for an invoice when paying: Taobao's trade carries the title
(``invoice_name``, 发票抬头), its kind (``invoice_kind``) and, for a company, its taxpayer
number (``payer_register_no``, as Alibaba's invoice platform names it); a Shopify order
carries the same as cart attributes, which the adapter puts under those names
(cloud/channels/shopify/orders.py). The channel order's payload keeps them.

A seller who set a tax classification code and rate for it (``einvoice_seller.auto_tax_code``
and ``auto_rate``, ``guanjia finance invoice connect --auto-tax-code … --auto-rate …``) has
each such order invoiced when it ships (an invoice is issued for goods sent, not for an
order that may still be cancelled): the e-invoice worker reads the orders' ``ship`` history
after a cursor of its own (``fin_cursor`` stream ``einvoice``, moved in the transaction that
writes the requests). The cursor starts where the history stands when the seller turns
automatic invoicing on (invoices.connect_seller): orders shipped before that, or while it
was off, are not invoiced by it (they may have been invoiced by hand or on the platform);
issue those by hand and asks for a blue invoice of the order's lines
(invoices.request_for_order, idempotent on the order number: an order that has an invoice
is not asked for again, and the provider's own order-number key is the second guard).

A request that cannot be made (a taxpayer number that fails its check, a paper or special
invoice, an order of nothing paid) opens a task with the sentence, for a person to ask the
buyer; the cursor moves on, the rest are made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud import tasks
from cloud.db.einvoice import EInvoice, EInvoiceSeller
from cloud.db.engine import dialect_of, transaction
from cloud.db.finance import FinCursor
from cloud.db.models import ChannelOrder, OrderLog, SalesOrder
from cloud.errors import N_, DomainError
from cloud.finance.einvoice import invoices
from cloud.finance.upsert import insert_for

STREAM = invoices.AUTO_STREAM
BATCH = 200
TASK = "einvoice_request"
#: Taobao's invoice_kind: 1 electronic (电子发票), 2 paper, 3 special VAT (专票; not built).
ELECTRONIC = ("", "1")


@dataclass
class AutoTick:
    requested: list[str] = field(default_factory=list)
    #: order number → why no invoice was requested (a task says it too).
    refused: dict[str, str] = field(default_factory=dict)


def ask_of(payload: dict[str, Any]) -> tuple[str, str, str] | None:
    """(title, taxpayer number, kind) the buyer asked for, or None: no invoice asked."""
    title = str(payload.get("invoice_name") or "").strip()
    if not title:
        return None
    tax_id = str(payload.get("payer_register_no") or "").strip()
    return title, tax_id, str(payload.get("invoice_kind") or "").strip()


def tick(factory: sessionmaker[Session], now: datetime) -> AutoTick:
    """Request the invoices asked for with the orders shipped since the last tick, for every
    seller who turned it on."""
    out = AutoTick()
    with transaction(factory) as s:
        sellers = list(
            s.execute(
                select(EInvoiceSeller.account_id).where(EInvoiceSeller.auto_tax_code.is_not(None))
            ).scalars()
        )
    for seller in sellers:
        while True:
            with transaction(factory) as s:
                n = _batch(s, seller, now, out)
            if n < BATCH:
                break
    return out


def _batch(s: Session, seller: int, now: datetime, out: AutoTick) -> int:
    conn = s.get(EInvoiceSeller, seller)
    if conn is None or not conn.auto_tax_code or not conn.auto_rate:
        return 0
    s.execute(
        insert_for(dialect_of(s), FinCursor.__table__).on_conflict_do_nothing(),
        [{"account_id": seller, "stream": STREAM, "position": 0, "posted": 0, "changed_at": now}],
    )
    cursor = s.execute(
        select(FinCursor)
        .where(FinCursor.account_id == seller, FinCursor.stream == STREAM)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if cursor is None:
        return 0  # another worker holds it
    rows = s.execute(
        select(OrderLog.id, SalesOrder.order_no, ChannelOrder.payload)
        .join(SalesOrder, SalesOrder.id == OrderLog.order_id)
        .outerjoin(ChannelOrder, ChannelOrder.order_id == SalesOrder.id)
        .where(
            SalesOrder.account_id == seller,
            OrderLog.id > cursor.position,
            OrderLog.action == "ship",
        )
        .order_by(OrderLog.id)
        .limit(BATCH)
    ).all()
    for log_id, order_no, payload in rows:
        cursor.position = log_id
        ask = ask_of(payload) if isinstance(payload, dict) else None
        if ask is None or _has_invoice(s, seller, order_no):
            continue
        title, tax_id, kind = ask
        try:
            if kind not in ELECTRONIC:
                raise DomainError(
                    N_(
                        "the buyer asked for a paper or special invoice (invoice_kind"
                        " %(kind)s); only electronic ones are issued here"
                    ),
                    kind=kind,
                )
            with s.begin_nested():
                invoices.request_for_order(
                    s,
                    seller,
                    order_no,
                    invoices.Buyer(title, tax_id or None),
                    conn.auto_tax_code,
                    conn.auto_rate,
                    now,
                    "channel",
                )
            out.requested.append(order_no)
            cursor.posted += 1
        except DomainError as e:
            why = str(e)[:250]
            out.refused[order_no] = why
            tasks.open_task(
                s,
                seller,
                TASK,
                N_(
                    "order %(order)s: the invoice the buyer asked for (%(title)s) was not"
                    " requested: %(why)s. Ask the buyer, then issue it by hand."
                ),
                now,
                params={"order": order_no, "title": title, "why": tasks.said(e)},
                order_no=order_no,
            )
    cursor.changed_at = now
    return len(rows)


def _has_invoice(s: Session, seller: int, order_no: str) -> bool:
    return (
        s.execute(
            select(EInvoice.id).where(
                EInvoice.account_id == seller,
                EInvoice.order_no == order_no,
                EInvoice.kind == "blue",
            )
        ).first()
        is not None
    )
