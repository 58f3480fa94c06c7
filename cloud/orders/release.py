"""Release to the warehouse (edge): the release itself, its pick lease and its waybill.

Pick leases: the one edge node of a warehouse that may pick an order (docs/sync.md).

Packing is anyone's: every node of the warehouse receives every release and any pack
bench packs any parcel. Picking is not: two pick nodes offline at the same time must never
both take one order's goods off the shelves, so each release names one pick node
(``OrderRelease.pick_node``) and every other node refuses to pick the order. The lease is
chosen at release and kept in ``pick_lease`` with the order's wave (every later version
of the release carries both); only a person moves it (:func:`move`), in the transaction
that sends the new version.

A node's station kind is what the node itself last said it runs: the ``station_kind`` of
its newest ``node.started`` event. The hub chooses among nodes known to run ``pick``; a
lead may also name a node not heard from yet (a replacement being set up), never one that
said it runs another kind.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import (
    Downlink,
    NodeAssignment,
    PickLease,
    SalesOrder,
    Warehouse,
)
from cloud.errors import N_, ConflictError, InvalidError
from cloud.nodes import downlink
from cloud.nodes.registry import lock_nodes, station_kinds
from cloud.orders import core as orders
from cloud.orders import waybill_outbox
from cloud.orders.core import get, log, send_release
from cloud.orders.reasons import commas
from cloud.tasks import sentence
from protocol.messages import NodeId


class PickNodeIn(BaseModel):
    """Move an order's pick lease: the node that picks it now, and why."""

    model_config = ConfigDict(extra="forbid")
    node: NodeId
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


def pick_nodes(session: Session, warehouse_id: int) -> list[str]:
    """The warehouse's nodes known to run a pick station, in id order."""
    assigned = list(
        session.execute(
            select(NodeAssignment.node_id)
            .where(NodeAssignment.warehouse_id == warehouse_id)
            .order_by(NodeAssignment.node_id)
        ).scalars()
    )
    kinds = station_kinds(session, assigned)
    return [n for n in assigned if kinds.get(n) == "pick"]


def check_pick_node(session: Session, warehouse: Warehouse, node: str) -> None:
    """Refuse a node that does not serve the warehouse, or that said it runs another station."""
    assignment = session.get(NodeAssignment, node)
    if assignment is None or assignment.warehouse_id != warehouse.id:
        raise ConflictError(
            N_(
                "node %(node)s does not serve warehouse %(warehouse)s: only a pick node of %(warehouse)s can pick its orders"
            ),
            node=node,
            warehouse=warehouse.code,
        )
    kind = station_kinds(session, [node]).get(node)
    if kind is not None and kind != "pick":
        raise ConflictError(
            N_(
                "node %(node)s runs a %(kind)s station, not a pick station: only a pick node of %(warehouse)s can pick its orders"
            ),
            node=node,
            kind=kind,
            warehouse=warehouse.code,
        )


def choose(session: Session, o: SalesOrder, wave: str | None, requested: str | None) -> str | None:
    """The pick node of an order being released: ``requested`` if it may, else the hub's choice.

    A wave stays on one node: the node of the wave's newest released order, if it still
    is a pick node; otherwise a stable hash of the wave (or of the order, without one) over
    the warehouse's pick nodes. ``None`` when the hub knows no pick node of the warehouse:
    the order is packed as usual and picked by no node until a lead leases it.
    """
    if requested is not None:
        wh = session.get(Warehouse, o.warehouse_id)
        assert wh is not None  # the order's foreign key
        check_pick_node(session, wh, requested)
        return requested
    nodes = pick_nodes(session, o.warehouse_id)
    if not nodes:
        return None
    if wave is not None:
        held = session.execute(
            select(PickLease.node_id)
            .join(SalesOrder, SalesOrder.id == PickLease.order_id)
            .where(
                PickLease.wave == wave,
                PickLease.node_id.in_(nodes),
                SalesOrder.warehouse_id == o.warehouse_id,
                SalesOrder.status == "released",
                SalesOrder.id != o.id,
            )
            .order_by(PickLease.changed_at.desc(), PickLease.order_id)
            .limit(1)
        ).scalar_one_or_none()
        if held is not None:
            return held
    return nodes[zlib.crc32((wave or o.order_no).encode()) % len(nodes)]


def lease(
    session: Session, o: SalesOrder, wave: str | None, node: str | None, actor: str, now: datetime
) -> PickLease:
    """Record the order's wave and pick node (at release: a withdrawn order may come back)."""
    row = session.get(PickLease, o.id)
    if row is None:
        row = PickLease(order_id=o.id)
        session.add(row)
    row.wave, row.node_id, row.changed_by, row.changed_at = wave, node, actor, now
    return row


def _released_wave(session: Session, o: SalesOrder) -> str | None:
    """The wave of an order released before leases were kept: its newest release says."""
    payload = session.execute(
        select(Downlink.payload)
        .where(
            Downlink.node_id.in_(
                select(NodeAssignment.node_id).where(NodeAssignment.warehouse_id == o.warehouse_id)
            ),
            Downlink.key == f"order:{o.order_no}",
        )
        .order_by(Downlink.created_at.desc(), Downlink.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    wave = payload.get("wave") if payload else None
    return str(wave) if wave else None


def move(
    session: Session, account_id: int, order_no: str, body: PickNodeIn, actor: str, now: datetime
) -> tuple[SalesOrder, dict[str, int]]:
    """Lease the order's pick to ``body.node`` (its holder died, or a lead balances the work).

    One transaction: the lease, the order's history, a new version of the release for
    every node of the warehouse, and for the old holder even if it no longer serves the
    warehouse (it still has the order and must stop offering it). Refused, changing
    nothing, once the order is past the pick stage or when the node may not pick it.
    """
    o = orders.get(session, account_id, order_no)
    if o.status != "released":
        raise ConflictError(
            N_(
                "order %(order)s is %(status)s: its pick lease moves only while it waits to be picked (released)"
            ),
            order=order_no,
            status=o.status,
        )
    row = session.get(PickLease, o.id)
    old = row.node_id if row is not None else None
    if old == body.node:
        raise ConflictError(
            N_("order %(order)s is already leased to %(node)s"), order=order_no, node=body.node
        )
    wh = session.get(Warehouse, o.warehouse_id)
    assert wh is not None
    check_pick_node(session, wh, body.node)
    old_assignment = session.get(NodeAssignment, old) if old is not None else None
    stale = (
        old
        if old_assignment is not None
        and old_assignment.account_id == account_id
        and old_assignment.warehouse_id != wh.id
        else None
    )
    # Every node this transaction writes to, locked at once in id order (as ingest does),
    # so a move never waits for a lock ingest holds while holding one it wants.
    assigned = select(NodeAssignment.node_id).where(NodeAssignment.warehouse_id == wh.id)
    locked = lock_nodes(
        session, [*session.execute(assigned).scalars(), *([stale] if stale else [])], now
    )
    lease(session, o, row.wave if row else _released_wave(session, o), body.node, actor, now)
    orders.log(
        session,
        o,
        "pick_node",
        o.status,
        actor,
        now,
        sentence(
            N_("pick lease %(old)s → %(node)s: %(reason)s"),
            old=old,
            node=body.node,
            reason=body.reason,
        )
        if old
        else sentence(
            N_("pick lease none → %(node)s: %(reason)s"), node=body.node, reason=body.reason
        ),
    )
    pushes = orders.send_release(session, o, now)
    if stale is not None:
        node = locked[stale][0]
        pushes.update(
            downlink.push(
                session, [node], "order.release", [orders.release_message(session, o)], now
            )
        )
    return o, pushes


#: At most this many orders in one bulk move (the lease page lists at most 500).
MOVE_MANY_MAX: Final = 500


def move_many(
    session: Session,
    account_id: int,
    picks: Sequence[tuple[str, str | None]],
    body: PickNodeIn,
    actor: str,
    now: datetime,
) -> None:
    """Move the pick lease of several orders to ``body.node`` (a lead empties a dead node):
    each as :func:`move` moves one, all in one transaction, so either every order moves or,
    when one is refused, none does (the caller rolls back; the refusal names the order).

    ``picks``: (order no, its ``changed_at`` as the person's page showed it, or None): an
    order someone acted on since is refused as a single move is
    (:func:`cloud.orders.core.unchanged_since`). Every node the moves write to is locked
    first, at once and in id order, so the moves never wait for a lock ingest holds while
    holding one it wants (each :func:`move` then finds its nodes locked already)."""
    nos = [no for no, _ in picks]
    if not nos:
        raise InvalidError(N_("choose at least one order to move"), "order_nos")
    if len(nos) > MOVE_MANY_MAX:
        raise InvalidError(
            N_("move at most %(max)s orders at once, not %(count)s"),
            "order_nos",
            max=MOVE_MANY_MAX,
            count=len(nos),
        )
    if len(set(nos)) != len(nos):
        raise InvalidError(N_("an order is listed twice"), "order_nos")
    found = session.execute(
        select(SalesOrder.warehouse_id, PickLease.node_id)
        .outerjoin(PickLease, PickLease.order_id == SalesOrder.id)
        .where(SalesOrder.account_id == account_id, SalesOrder.order_no.in_(nos))
    ).all()
    warehouses = {wh for wh, _ in found}
    holders = [node for _, node in found if node is not None]
    assigned = select(NodeAssignment.node_id).where(NodeAssignment.warehouse_id.in_(warehouses))
    lock_nodes(session, [*session.execute(assigned).scalars(), *holders], now)
    for no, seen in picks:
        if seen:
            orders.unchanged_since(session, account_id, no, seen)
        move(session, account_id, no, body, actor, now)


# --- release to the warehouse (edge) ---------------------------------------------------


def release(
    session: Session,
    account_id: int,
    order_no: str,
    actor: str,
    now: datetime,
    *,
    wave: str | None = None,
    pick_node: str | None = None,
) -> tuple[SalesOrder, dict[str, int]]:
    """Release an audited order to its warehouse's node(s), in pick wave ``wave`` if given.

    An order without a waybill number gets one here (the 电子面单 step): drawn from its
    courier's e-waybill service when the seller set one up for the courier (a ``waybill`` row
    the drawer in cloud/channels/waybills.py carries out; the number follows in a later
    version of the release), else the hub's stand-in number below. The pack station prints it
    on the courier label. Its pick is leased
    to ``pick_node``, or to the pick node the hub chooses (above).
    """
    o = get(session, account_id, order_no)
    if o.status != "audited":
        raise ConflictError(
            N_("order %(order)s is %(status)s; only an audited order is released"),
            order=order_no,
            status=o.status,
        )
    if o.on_hold:
        raise ConflictError(
            N_("order %(order)s is on hold (%(hold_reason)s)"),
            order=order_no,
            hold_reason=o.hold_reason,
        )
    node = choose(session, o, wave, pick_node)
    lease(session, o, wave, node, actor, now)
    why = [sentence(N_("wave %(wave)s"), wave=wave)] if wave else []
    if not o.tracking_number:
        if waybill_outbox.request(session, o, now):
            why.append(
                sentence(
                    N_("waybill to draw from %(carrier)s's e-waybill service"), carrier=o.carrier
                )
            )
        else:
            o.tracking_number = allocate(session, account_id, o.carrier or "NONE")
    why.append(
        sentence(N_("pick node %(node)s"), node=node)
        if node
        else sentence(N_("no pick node known"))
    )
    log(session, o, "release", "released", actor, now, reason=commas(why))
    return o, send_release(session, o, now, wave=wave)


# --- waybills (电子面单) ----------------------------------------------------------------
# Waybill numbers (面单号) for released orders.
# A real seller gets these from each courier's electronic-waybill service (电子面单),
# which belongs to the channel and courier integrations (a later issue). Until then the
# hub draws numbers itself, in each courier's usual shape, unique within the account,
# so the pack station always has a number to print and the label always scans.


#: Prefix and number of digits per courier, as their waybills usually look.
SHAPES: Final[dict[str, tuple[str, int]]] = {
    "SF": ("SF", 13),
    "ZTO": ("75", 12),
    "YTO": ("YT", 13),
    "STO": ("77", 12),
    "HTKY": ("HT", 13),
    "YUNDA": ("43", 13),
    "EMS": ("E", 12),
}


def allocate(session: Session, account_id: int, carrier: str) -> str:
    prefix, digits = SHAPES.get(carrier.upper(), ("GJ", 12))
    for _ in range(20):
        number = prefix + "".join(str(secrets.randbelow(10)) for _ in range(digits))
        taken = session.execute(
            select(SalesOrder.id).where(
                SalesOrder.account_id == account_id, SalesOrder.tracking_number == number
            )
        ).first()
        if taken is None:
            return number
    raise RuntimeError(f"could not draw a free waybill number for {carrier}")  # pragma: no cover
