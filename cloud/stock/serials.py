"""Barcode tracking (全程条码跟踪): a serial-tracked unit's whole history, from the facts the
nodes send (docs/inbound.md "Serial trace").

Serials reach the hub in the edge facts and nowhere else: ``po.received`` and
``transfer.received`` (each unit's serial, from its scan or issued by the receiving station,
which prints its label), ``order.packed`` (the pack station scans each unit's serial),
``stocktake.counted`` and ``return.received``. :func:`record` keeps one
:class:`SerialSighting` per serial per fact, in the transaction that applies the fact
(cloud/facts.py). The order's own log (cloud/orders/core.py) supplies its pick, label and
shipment when the trace is read (:func:`trace`): those facts name the order, not the units.
A unit shipped on a transfer by the sender's pick node has its own ``transfer_shipped``
sighting from ``transfer.shipped`` (the pick scans each unit's serial, edge/stations/pick.py):
the node, warehouse and bin, the shipment. A unit received from a transfer shipped by the
hub, where no station scans serials, gets that step from the transfer document instead (the
sending warehouse and bin, when it was shipped and by whom) when the trace is read.

A serial seen twice where one unit cannot be (received again under another receipt, packed
into a second order before it came back, twice in one fact) is a physical fact all the
same: it is recorded with its ``conflict`` sentence and the caller opens a task; the trace
shows it in red. A fact that arrives twice (the same receipt id again) adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import OrderLog, SalesOrder, Warehouse
from cloud.db.serials import SerialSighting
from cloud.db.transfers import Transfer
from cloud.errors import N_, NotFoundError
from protocol.hlc import MIN_WALL_MS, unpack
from protocol.messages import (
    Event,
    OrderPacked,
    PoReceived,
    ReturnReceived,
    StocktakeCounted,
    TransferReceived,
    TransferShipped,
)

#: Every step a trace shows, in the order one unit goes through them (a tie in time sorts
#: by this). ``picked``, ``labelled`` and ``shipped`` come from the order's log.
KINDS: Final = (
    "transfer_shipped",
    "issued",
    "received",
    "transfer_received",
    "put_away",
    "counted",
    "picked",
    "packed",
    "labelled",
    "shipped",
    "returned",
)
_RANK: Final = {k: i for i, k in enumerate(KINDS)}
#: The order log's actions that belong in the trace of a unit packed into the order.
_ORDER_STEPS: Final = {"order.picked": "picked", "order.labelled": "labelled", "ship": "shipped"}
#: Kinds after which a packed unit is back in the warehouse and may be packed again.
_BACK: Final = ("returned", "received", "transfer_received")


@dataclass(frozen=True)
class Step:
    kind: str
    at: datetime
    sku_code: str
    doc: str
    node_id: str | None = None
    warehouse: str | None = None
    bin: str | None = None
    receipt: str | None = None
    detail: str | None = None
    conflict: str | None = None


@dataclass(frozen=True)
class _Seen:
    serial: str
    sku_code: str
    kind: str
    doc: str
    warehouse: str | None = None
    bin: str | None = None
    receipt: str | None = None
    detail: str | None = None


def _event_time(hlc: int, now: datetime) -> datetime:
    """The node's time of the fact (its hybrid clock's physical part); ``now`` for a clock
    that was never set (protocol/hlc.py MIN_WALL_MS)."""
    ms, _ = unpack(hlc)
    return datetime.fromtimestamp(ms / 1000, UTC) if ms >= MIN_WALL_MS else now


def _received(
    node: str, kind: str, doc: str, receipt: str, warehouse: str, lines: Iterable[object]
) -> list[_Seen]:
    out: list[_Seen] = []
    for ln in lines:
        sku, verdict = getattr(ln, "sku_code", ""), getattr(ln, "verdict", "pass")
        reason, bin_code = getattr(ln, "reason", None), getattr(ln, "bin", None)
        detail = "QC pass" if verdict == "pass" else f"QC fail: {reason or ''}".strip()
        for s in getattr(ln, "serials", []):
            # The receiving station issues ``<node>-S<counter>`` to an unlabelled unit and
            # prints its label (edge/stations/receive.py): that serial begins there.
            if s.startswith(f"{node[:50]}-S"):
                out.append(_Seen(s, sku, "issued", doc, warehouse, None, receipt, None))
            out.append(_Seen(s, sku, kind, doc, warehouse, None, receipt, detail))
            if bin_code:
                out.append(_Seen(s, sku, "put_away", doc, warehouse, bin_code, receipt, None))
    return out


def _sightings(node: str, ev: Event) -> list[_Seen]:
    if isinstance(ev, PoReceived):
        p = ev.payload
        return _received(node, "received", p.po_number, p.receipt_id, p.warehouse, p.lines)
    if isinstance(ev, TransferReceived):
        t = ev.payload
        return _received(
            node, "transfer_received", t.transfer_number, t.receipt_id, t.warehouse, t.lines
        )
    if isinstance(ev, TransferShipped):
        sh = ev.payload
        return [
            _Seen(
                s,
                ln.sku_code,
                "transfer_shipped",
                sh.transfer_number,
                sh.warehouse,
                ln.bin,
                sh.shipment_id,
                f"shipment {sh.shipment}" + (f", {sh.operator}" if sh.operator else ""),
            )
            for ln in sh.lines
            for s in ln.serials
        ]
    if isinstance(ev, OrderPacked):
        return [
            _Seen(s, it.sku_code, "packed", ev.payload.order_id)
            for it in ev.payload.items
            for s in it.serials
        ]
    if isinstance(ev, StocktakeCounted):
        c = ev.payload
        return [
            _Seen(s, ln.sku_code, "counted", c.count_id, c.warehouse, ln.bin)
            for ln in c.lines
            for s in ln.serials
        ]
    if isinstance(ev, ReturnReceived):
        r = ev.payload
        out = []
        for ln in r.lines:
            parts = [("sellable", ln.sellable), ("damaged", ln.damaged), ("missing", ln.missing)]
            what = ", ".join(f"{n} {q}" for n, q in parts if q)
            if ln.damaged and ln.reason:
                what += f" ({ln.reason})"
            out += [
                _Seen(s, ln.sku_code, "returned", r.request, r.warehouse, None, r.receipt_id, what)
                for s in ln.serials
            ]
        return out
    return []


#: Why a sighting cannot be the same unit's next step (stored in English, as the API and the
#: task give it; the dashboard matches the sentence back to its message id to translate it).
TWICE_IN_FACT: Final = N_("serial %(serial)s appears twice in this %(kind)s fact")
RECEIVED_TWICE: Final = N_(
    "serial %(serial)s was already received in receipt %(receipt)s (purchase order %(po)s)"
    " on %(day)s: two units carry it"
)
PACKED_TWICE: Final = N_(
    "serial %(serial)s is already packed in order %(order)s and has not come back: two units"
    " carry it, or the wrong one was scanned"
)
SHIPPED_TWICE: Final = N_(
    "serial %(serial)s already left on transfer %(transfer)s (shipment %(shipment)s) and has"
    " not arrived: two units carry it, or the wrong one was scanned"
)
CONFLICTS: Final = (TWICE_IN_FACT, RECEIVED_TWICE, PACKED_TWICE, SHIPPED_TWICE)


#: A conflict: its sentence (one of CONFLICTS) and what goes into it.
Conflict = tuple[str, dict[str, str]]


def _conflict(
    seen: _Seen, before: Sequence[SerialSighting], staged: Sequence[_Seen]
) -> Conflict | None:
    """Why ``seen`` cannot be the same unit's next step, or ``None``."""
    if any(s.serial == seen.serial and s.kind == seen.kind for s in staged):
        return TWICE_IN_FACT, {"serial": seen.serial, "kind": seen.kind}
    if seen.kind == "received":
        first = next((b for b in before if b.kind == "received"), None)
        if first is not None:
            day = f"{first.at:%Y-%m-%d}"
            return RECEIVED_TWICE, {
                "serial": seen.serial,
                "receipt": str(first.receipt),
                "po": first.doc,
                "day": day,
            }
    if seen.kind == "transfer_shipped":
        last = next(
            (b for b in reversed(before) if b.kind == "transfer_shipped" or b.kind in _BACK),
            None,
        )
        if last is not None and last.kind == "transfer_shipped":
            return SHIPPED_TWICE, {
                "serial": seen.serial,
                "transfer": last.doc,
                "shipment": str(last.receipt),
            }
    if seen.kind == "packed":
        last = next((b for b in reversed(before) if b.kind == "packed" or b.kind in _BACK), None)
        if last is not None and last.kind == "packed" and last.doc != seen.doc:
            return PACKED_TWICE, {"serial": seen.serial, "order": last.doc}
    return None


def record(
    session: Session, account_id: int, node: str, ev: Event, now: datetime
) -> list[Conflict]:
    """Keep the serials of one applied fact; return the conflicts found (a task each), each
    as its sentence and parameters (the sighting keeps the English)."""
    seen = _sightings(node, ev)
    if not seen:
        return []
    serials = sorted({s.serial for s in seen})
    rows: dict[str, list[SerialSighting]] = {s: [] for s in serials}
    for i in range(0, len(serials), 500):
        for row in session.execute(
            select(SerialSighting)
            .where(
                SerialSighting.account_id == account_id,
                SerialSighting.serial.in_(serials[i : i + 500]),
            )
            .order_by(SerialSighting.id)
        ).scalars():
            rows[row.serial].append(row)
    at = _event_time(ev.hlc, now)
    staged: list[_Seen] = []
    conflicts: list[Conflict] = []
    for s in seen:
        before = rows[s.serial]
        if s.receipt is not None and any(
            b.kind == s.kind and b.receipt == s.receipt and b.doc == s.doc for b in before
        ):
            continue  # the same receipt again (a station resent it): booked once, seen once
        last = before[-1] if before else None
        if last is not None and (last.kind, last.doc, last.receipt) == (s.kind, s.doc, s.receipt):
            continue  # the unit's last step again (a pack resent under a new seq): one step
        found = _conflict(s, before, staged)
        staged.append(s)
        why = None if found is None else found[0] % found[1]
        if found is not None:
            conflicts.append(found)
        session.add(
            SerialSighting(
                account_id=account_id,
                serial=s.serial,
                sku_code=s.sku_code,
                kind=s.kind,
                at=at,
                recorded_at=now,
                node_id=node,
                warehouse=s.warehouse,
                bin=s.bin,
                doc=s.doc,
                receipt=s.receipt,
                detail=s.detail,
                conflict=why,
            )
        )
    session.flush()
    return conflicts


def trace(session: Session, account_id: int, serial: str) -> list[Step]:
    """The unit's history in time order: its sightings, and its orders' picks, labels and
    shipments. Refused (404) for a serial the account never saw."""
    rows = (
        session.execute(
            select(SerialSighting)
            .where(SerialSighting.account_id == account_id, SerialSighting.serial == serial)
            .order_by(SerialSighting.id)
        )
        .scalars()
        .all()
    )
    if not rows:
        raise NotFoundError(N_("serial %(serial)s was never seen"), serial=serial)
    steps: list[tuple[datetime, Step]] = [
        (
            r.at,
            Step(
                r.kind,
                r.at,
                r.sku_code,
                r.doc,
                r.node_id,
                r.warehouse,
                r.bin,
                r.receipt,
                r.detail,
                r.conflict,
            ),
        )
        for r in rows
    ]
    packed = {r.doc: (r.sku_code, r.at) for r in rows if r.kind == "packed"}
    if packed:
        found = session.execute(
            select(SalesOrder.order_no, OrderLog.action, OrderLog.actor, OrderLog.at)
            .join(OrderLog, OrderLog.order_id == SalesOrder.id)
            .where(
                SalesOrder.account_id == account_id,
                SalesOrder.order_no.in_(list(packed)),
                OrderLog.action.in_(list(_ORDER_STEPS)),
            )
            .order_by(OrderLog.id)
        ).all()
        done: set[tuple[str, str]] = set()
        for order_no, action, actor, at in found:
            kind = _ORDER_STEPS[action]
            if (order_no, kind) in done:
                continue  # an earlier step's fact arriving again is not a second pick
            done.add((order_no, kind))
            node = actor.removeprefix("node:") if actor.startswith("node:") else None
            sku, packed_at = packed[order_no]
            # Sorted beside the pack it belongs to: the log's time is the hub's, the pack's
            # the node's, and a node that synced a day late would put its pick after its pack.
            step = Step(kind, at, sku, order_no, node, detail=None if node else actor)
            steps.append((packed_at, step))
    steps += _transfer_steps(session, account_id, rows)
    return [s for _, s in sorted(steps, key=lambda p: (p[0], _RANK[p[1].kind]))]


def _transfer_steps(
    session: Session, account_id: int, rows: Sequence[SerialSighting]
) -> list[tuple[datetime, Step]]:
    """The shipment of each transfer the unit was received from, from the document: sorted
    just before that receipt (the hub's clock and the node's are not compared)."""
    scanned = {r.doc for r in rows if r.kind == "transfer_shipped"}
    received = {
        r.doc: (r.sku_code, r.at)
        for r in rows
        if r.kind == "transfer_received" and r.doc not in scanned
    }
    if not received:
        return []
    found = session.execute(
        select(Transfer.number, Warehouse.code, Transfer.from_bin, Transfer.shipped_at)
        .join(Warehouse, Warehouse.id == Transfer.from_warehouse_id)
        .add_columns(Transfer.shipped_by)
        .where(
            Transfer.account_id == account_id,
            Transfer.number.in_(list(received)),
            Transfer.shipped_at.is_not(None),
        )
    ).all()
    out: list[tuple[datetime, Step]] = []
    for number, from_code, from_bin, shipped_at, shipped_by in found:
        sku, received_at = received[number]
        step = Step(
            "transfer_shipped",
            shipped_at,
            sku,
            number,
            None,
            from_code,
            from_bin,
            detail=shipped_by,
        )
        out.append((received_at, step))
    return out
