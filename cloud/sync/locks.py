"""What an ingest locks before it applies a group's facts, and in which order.

Every writer takes its row locks in one order: **documents, then nodes, then serials**.
The API does so by nature (a receipt locks its PO or transfer, its booking then sends the
new ``po.release``/``transfer.release``/``return.release`` to the warehouse's nodes,
locking their rows in id order, cloud/nodes/downlink.py). An ingest used to lock its own
node first (cloud/sync/ingest.py) and the document and the other nodes only while applying
the fact, so two nodes of one warehouse ingesting receipts of one transfer deadlocked on
PostgreSQL: A held node A and the transfer and waited for node B's row to push the release;
B held node B and waited for the transfer (issue 17; two receipts of two POs did the same
without the transfer: A held A and waited for B, B held B and waited for A).

So before it locks its nodes, an ingest reads which documents its facts book and locks
them (transfers, then POs, after-sales requests and sales orders, each in id order), and locks with its
own nodes every node those bookings may send a release to (the nodes of the group's
warehouses and of the documents' warehouses), all in one id-ordered statement
(cloud/nodes/registry.py ``lock_nodes``). Then the serials its receipts, packs and transfer
shipments name (cloud/stock/serial_locks.py): two nodes packing or shipping one serial at
the same moment are recorded in turn, so the second sees the first and is flagged
(cloud/stock/serials.py). An order's own facts (picked, packed, weighed, labelled) lock
their order with the documents too, before the nodes and serials: they send no release, so
they add no node, but their order row is then never taken after a serial or a node another
writer holds while it waits for that order. Later locks of the same rows in the same
transaction are taken at once. Events the ingest later finds duplicates or malformed may
lock a document for nothing; that costs only time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.aftersales import AftersalesRequest
from cloud.db.models import Node, NodeAssignment, PurchaseOrder, SalesOrder
from cloud.db.transfers import Transfer
from cloud.nodes import ownership
from cloud.stock import serial_locks
from protocol.codec import Batch

#: The facts that book a document (and send its release to nodes), by the payload field
#: naming it.
_DOCUMENT_OF: Final = {
    "transfer.received": "transfer_number",
    "transfer.shipped": "transfer_number",
    "po.received": "po_number",
    "return.received": "request",
    # A pool waybill refused or bound puts the order on hold or relabels it and sends its
    # order.release to the warehouse's nodes (cloud/orders/waybill_pool.py).
    "waybill.pool_used": "order_id",
}
#: An order's own facts: their order is locked with the documents; they send no release.
_ORDER_FACTS: Final = frozenset({"order.picked", "order.packed", "order.weighed", "order.labelled"})
#: The facts whose serials are read and written under the serials' locks, by the payload
#: field listing the units (each with its ``serials``): receipts, packs, transfer picks.
_SERIALS_IN: Final = {
    "po.received": "lines",
    "transfer.received": "lines",
    "transfer.shipped": "lines",
    "order.packed": "items",
}


@dataclass
class _Named:
    transfers: set[str] = field(default_factory=set)
    pos: set[str] = field(default_factory=set)
    requests: set[str] = field(default_factory=set)
    orders: set[str] = field(default_factory=set)
    #: Orders an order fact names: locked, no node added (they send no release).
    order_facts: set[str] = field(default_factory=set)
    serials: set[str] = field(default_factory=set)


@dataclass
class Ahead:
    """What :func:`documents` found: the nodes to lock with the group's, and the serials to
    lock after them, per account."""

    nodes: list[str] = field(default_factory=list)
    serials: dict[int, set[str]] = field(default_factory=dict)


#: Every event type :func:`_named` reads a name from.
_NAMING: Final = frozenset({*_DOCUMENT_OF, *_ORDER_FACTS, *_SERIALS_IN})


def _names(ev: Any) -> bool:
    """Whether an event (as received: maybe malformed) is of a type that names something."""
    kind = ev.get("type") if isinstance(ev, dict) else None
    return isinstance(kind, str) and kind in _NAMING


def _named(batches: Sequence[Batch]) -> _Named:
    out = _Named()
    for b in batches:
        for i, ev in enumerate(b.raw):
            kind = ev.get("type") if isinstance(ev, dict) else None
            if not isinstance(kind, str) or kind not in _NAMING or i in b.reasons:
                continue
            payload = ev.get("payload")
            if not isinstance(payload, dict):
                continue
            if kind in _ORDER_FACTS:
                name = payload.get("order_id")
                if isinstance(name, str):
                    out.order_facts.add(name)
            elif kind in _DOCUMENT_OF:
                name = payload.get(_DOCUMENT_OF[kind])
                if isinstance(name, str):
                    if kind.startswith("transfer."):
                        out.transfers.add(name)
                    elif kind == "po.received":
                        out.pos.add(name)
                    elif kind == "return.received":
                        out.requests.add(name)
                    else:
                        out.orders.add(name)
            if kind in _SERIALS_IN:
                out.serials.update(_serials(payload.get(_SERIALS_IN[kind])))
    return out


def _serials(lines: Any) -> Iterable[str]:
    for ln in lines if isinstance(lines, list) else []:
        got = ln.get("serials") if isinstance(ln, dict) else None
        yield from (s for s in got if isinstance(s, str)) if isinstance(got, list) else ()


def documents(session: Session, groups: Mapping[str, Sequence[Batch]]) -> Ahead:
    """Lock the documents the groups' facts book (before any node row); return the nodes
    and serials to lock after them."""
    # Only nodes with an event that names something: a group of a thousand scans made a
    # thousand empty _Named (2 % of the hub's samples at 2,000 nodes, issue 20).
    named = {
        node: _named(batches)
        for node, batches in groups.items()
        if any(_names(ev) for b in batches for ev in b.raw)
    }
    named = {
        n: d
        for n, d in named.items()
        if d.transfers or d.pos or d.requests or d.orders or d.order_facts or d.serials
    }
    if not named:
        return Ahead()
    accounts = ownership.accounts_of(session, sorted(named))
    by_account: dict[int, _Named] = {}
    for node, d in named.items():
        account = accounts[node]
        if account is None:
            continue  # unclaimed: its facts book nothing (cloud/facts/)
        acc = by_account.setdefault(account, _Named())
        acc.transfers |= d.transfers
        acc.pos |= d.pos
        acc.requests |= d.requests
        acc.orders |= d.orders
        acc.order_facts |= d.order_facts
        acc.serials |= d.serials
    # The warehouses of the nodes whose bookings send a release: an order fact or a serial
    # alone sends none, and locking its warehouse's nodes would make every pick and pack
    # of the warehouse wait for each other.
    releasing = sorted(
        n for n, d in named.items() if d.transfers or d.pos or d.requests or d.orders
    )
    warehouses = (
        set(
            session.execute(
                select(NodeAssignment.warehouse_id).where(NodeAssignment.node_id.in_(releasing))
            ).scalars()
        )
        if releasing
        else set()
    )
    ahead = Ahead()
    for account, d in sorted(by_account.items()):
        for from_wh, to_wh in _locked(
            session,
            select(Transfer.from_warehouse_id, Transfer.to_warehouse_id)
            .where(Transfer.account_id == account, Transfer.number.in_(sorted(d.transfers)))
            .order_by(Transfer.id),
            d.transfers,
        ):
            warehouses |= {from_wh, to_wh}
        for (wh,) in _locked(
            session,
            select(PurchaseOrder.warehouse_id)
            .where(PurchaseOrder.account_id == account, PurchaseOrder.number.in_(sorted(d.pos)))
            .order_by(PurchaseOrder.id),
            d.pos,
        ):
            warehouses.add(wh)
        for (wh,) in _locked(
            session,
            select(AftersalesRequest.warehouse_id)
            .where(
                AftersalesRequest.account_id == account,
                AftersalesRequest.number.in_(sorted(d.requests)),
            )
            .order_by(AftersalesRequest.id),
            d.requests,
        ):
            warehouses.add(wh)
        # One statement for both kinds of order: the rows in id order whatever named them.
        for number, wh in _locked(
            session,
            select(SalesOrder.order_no, SalesOrder.warehouse_id)
            .where(
                SalesOrder.account_id == account,
                SalesOrder.order_no.in_(sorted(d.orders | d.order_facts)),
            )
            .order_by(SalesOrder.id),
            d.orders | d.order_facts,
        ):
            if wh is not None and number in d.orders:
                warehouses.add(wh)
        if d.serials:
            ahead.serials[account] = d.serials
    if warehouses:
        # Only nodes the hub has a row for: one assigned but never connected is created
        # (and seeded) when it first says hello, not here; it has no row to lock either.
        ahead.nodes = sorted(
            set(
                session.execute(
                    select(Node.node_id)
                    .join(NodeAssignment, NodeAssignment.node_id == Node.node_id)
                    .where(NodeAssignment.warehouse_id.in_(sorted(warehouses)))
                ).scalars()
            )
        )
    return ahead


def _locked(session: Session, q: Any, names: set[str]) -> list[Any]:
    return list(session.execute(q.with_for_update()).all()) if names else []


def serials(session: Session, ahead: Ahead) -> None:
    """Lock the serials of the groups' receipts, packs and transfer picks, after the nodes."""
    for account, values in sorted(ahead.serials.items()):
        serial_locks.lock(session, account, values)
