"""Barcode tracking (全程条码跟踪): a serial-tracked unit's whole history, from the facts the
nodes send (docs/inbound.md "Serial trace").

Serials reach the hub in the edge facts and nowhere else: ``po.received`` and
``transfer.received`` (each unit's serial, from its scan or issued by the receiving station,
which prints its label), ``order.packed`` (the pack station scans each unit's serial),
``stocktake.counted`` and ``return.received``. :func:`record` keeps one
:class:`SerialSighting` per serial per fact, in the transaction that applies the fact
(cloud/facts/). The order's own log (cloud/orders/core.py) supplies its pick, label and
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
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import OrderLog, SalesOrder, Warehouse
from cloud.db.serials import SerialSighting
from cloud.db.transfers import Transfer
from cloud.errors import N_, NotFoundError, Said, say, sentence
from cloud.stock import serial_holders, serial_locks
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
    "relabelled",
    "mislabel",
    # The label of a serial the hub issued: sent to a node, printed there
    # (cloud/inbound/serial_labels.py).
    "label_sent",
    "label_printed",
)
_RANK: Final = {k: i for i, k in enumerate(KINDS)}
#: The order log's actions that belong in the trace of a unit packed into the order.
_ORDER_STEPS: Final = {"order.picked": "picked", "order.labelled": "labelled", "ship": "shipped"}
#: Kinds after which a packed unit is back in the warehouse and may be packed again.
_BACK: Final = ("returned", "received", "transfer_received")
#: Kinds after which the unit is in the hub's stock, and those after which it has left.
_IN: Final = serial_holders.IN
_OUT: Final = serial_holders.OUT
#: The kinds that receive a unit under a receipt (a second one while in stock conflicts).
RECEIVING: Final = serial_holders.RECEIVING
#: The kinds read and written under the serial's lock: those checked against other facts.
_LOCKED: Final = (*RECEIVING, *_OUT)
#: The lead's resolution of a conflict (cloud/inbound/serial_conflicts.py): the receipt it
#: names is no longer this serial's (its unit got a new serial, or it was a mislabel).
RESOLUTIONS: Final = ("relabelled", "mislabel")


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
    #: ``detail`` as sentences (message id and parameters), for the pages; None before 0055.
    said: list[dict[str, Any]] | None = None
    #: The ``serial_conflict`` task of this step's conflict, if any.
    task: str | None = None


@dataclass(frozen=True)
class _Seen:
    serial: str
    sku_code: str
    kind: str
    doc: str
    warehouse: str | None = None
    bin: str | None = None
    receipt: str | None = None
    said: tuple[Said, ...] = ()
    #: The unit's line in its receipt (a receipt's steps only).
    line: int | None = None


def _event_time(hlc: int, now: datetime) -> datetime:
    """The node's time of the fact (its hybrid clock's physical part); ``now`` for a clock
    that was never set (protocol/hlc.py MIN_WALL_MS)."""
    ms, _ = unpack(hlc)
    return datetime.fromtimestamp(ms / 1000, UTC) if ms >= MIN_WALL_MS else now


#: The node's time of a fact (cloud/inbound/serial_labels.py records a label's print).
event_time: Final = _event_time


#: A step's detail, said in the page's language (docs/inbound.md "Serial trace").
QC_PASS: Final = N_("QC pass")
QC_FAIL: Final = N_("QC fail: %(reason)s")
QC_FAIL_BARE: Final = N_("QC fail")
SHIPMENT: Final = N_("shipment %(shipment)s")
SHIPMENT_BY: Final = N_("shipment %(shipment)s, %(operator)s")
RETURN_PARTS: Final = {
    "sellable": N_("sellable %(qty)s"),
    "damaged": N_("damaged %(qty)s"),
    "missing": N_("missing %(qty)s"),
}
DAMAGED_WHY: Final = N_("damaged %(qty)s (%(reason)s)")


def english(said: Sequence[Said]) -> str | None:
    """The English of a step's detail (the API's ``detail``, the stored column)."""
    return ", ".join(say(str(x["msgid"]), x.get("params") or {}) for x in said)[:300] or None


def _qc(verdict: str, reason: str | None) -> Said:
    if verdict == "pass":
        return sentence(QC_PASS)
    return sentence(QC_FAIL, reason=reason) if reason else sentence(QC_FAIL_BARE)


def received_sightings(
    node: str | None, kind: str, doc: str, receipt: str, warehouse: str, lines: Iterable[object]
) -> list[_Seen]:
    """The sightings of one receipt's units (a station's fact, or the API's receipt with
    ``node`` None): received with the QC verdict, put away when the line names a bin."""
    out: list[_Seen] = []
    # The line's index: its movement's place in the receipt (cloud/inbound/receipts.py).
    for n, ln in enumerate(lines):
        sku, verdict = getattr(ln, "sku_code", ""), getattr(ln, "verdict", "pass")
        reason, bin_code = getattr(ln, "reason", None), getattr(ln, "bin", None)
        qc = (_qc(verdict, reason),)
        for s in getattr(ln, "serials", []) or []:
            # The receiving station issues ``<node>-S<counter>`` to an unlabelled unit and
            # prints its label (edge/stations/receive.py): that serial begins there.
            if node is not None and s.startswith(f"{node[:50]}-S"):
                out.append(_Seen(s, sku, "issued", doc, warehouse, None, receipt, line=n))
            out.append(_Seen(s, sku, kind, doc, warehouse, None, receipt, qc, n))
            if bin_code:
                out.append(_Seen(s, sku, "put_away", doc, warehouse, bin_code, receipt, line=n))
    return out


def _sightings(node: str, ev: Event) -> list[_Seen]:
    if isinstance(ev, PoReceived):
        p = ev.payload
        return received_sightings(node, "received", p.po_number, p.receipt_id, p.warehouse, p.lines)
    if isinstance(ev, TransferReceived):
        t = ev.payload
        return received_sightings(
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
                (
                    sentence(SHIPMENT_BY, shipment=sh.shipment, operator=sh.operator)
                    if sh.operator
                    else sentence(SHIPMENT, shipment=sh.shipment),
                ),
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
            what = tuple(
                sentence(DAMAGED_WHY, qty=q, reason=ln.reason)
                if n == "damaged" and ln.reason
                else sentence(RETURN_PARTS[n], qty=q)
                for n, q in parts
                if q
            )
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
RECEIVED_AGAIN: Final = N_(
    "serial %(serial)s is in stock already from receipt %(receipt)s (%(doc)s, warehouse"
    " %(warehouse)s, %(node)s, %(day)s) and receipt %(this_receipt)s (%(this_doc)s, warehouse"
    " %(this_warehouse)s, %(this_node)s) received it again: two units carry it. Both are"
    " booked; give one of them a new serial or declare one sighting a mislabel"
)
#: The first receipt's step, red too once a second unit came in under its serial.
SEEN_AGAIN: Final = N_(
    "serial %(serial)s was received again in receipt %(receipt)s (%(doc)s, warehouse"
    " %(warehouse)s, %(node)s): two units carry it"
)
#: The first pack's or pick's step, red too once the serial left again before it came
#: back (the shipment facts are kept and booked: two units, or one wrong scan).
PACKED_AGAIN: Final = N_(
    "serial %(serial)s was packed again into order %(order)s (%(node)s) before it came back:"
    " two units carry it, or the wrong one was scanned"
)
SHIPPED_AGAIN: Final = N_(
    "serial %(serial)s left again on transfer %(transfer)s (shipment %(shipment)s, %(node)s)"
    " before it arrived: two units carry it, or the wrong one was scanned"
)
CONFLICTS: Final = (
    TWICE_IN_FACT,
    RECEIVED_TWICE,
    PACKED_TWICE,
    SHIPPED_TWICE,
    RECEIVED_AGAIN,
    SEEN_AGAIN,
    PACKED_AGAIN,
    SHIPPED_AGAIN,
)
#: Who received a unit, where no node did (a receipt booked on the API).
HUB: Final = N_("the hub")


#: A conflict: its sentence (one of CONFLICTS) and what goes into it.
Conflict = tuple[str, dict[str, str]]


@dataclass(frozen=True)
class Found:
    """A conflict :func:`record` found and the rows it flagged (the new sighting, and the
    first receipt's for a unit received twice): the caller opens one task and links them."""

    conflict: Conflict
    rows: list[SerialSighting]


def live(before: Sequence[SerialSighting]) -> list[SerialSighting]:
    """The sightings still this serial's: a receipt whose unit the lead gave a new serial,
    or declared a mislabel (:data:`RESOLUTIONS`), no longer is."""
    void = {(b.doc, b.receipt) for b in before if b.kind in RESOLUTIONS}
    return [b for b in before if b.kind not in RESOLUTIONS and (b.doc, b.receipt) not in void]


def _where(b: SerialSighting | _Seen, node: str | None) -> dict[str, str]:
    return {
        "receipt": str(b.receipt or b.doc),
        "doc": b.doc,
        "warehouse": str(b.warehouse or "-"),
        "node": node or HUB,
    }


def _conflict(
    seen: _Seen,
    node: str | None,
    before: Sequence[SerialSighting],
    staged: Sequence[_Seen],
    cancelled: set[serial_holders.Key],
) -> list[tuple[Conflict, SerialSighting | None]]:
    """Why ``seen`` cannot be the same unit's next step, each with the earlier step it
    clashes with when that one turns red too; empty when it can."""
    if any(s.serial == seen.serial and s.kind == seen.kind for s in staged):
        return [((TWICE_IN_FACT, {"serial": seen.serial, "kind": seen.kind}), None)]
    if seen.kind in RECEIVING:
        # A unit received while one with its serial is in stock: a PO receipt (from any
        # node or the API: serials are checked across all receipts of the hub; a serial
        # with its GTIN identifies one item, GS1 General Specifications §3.5.2 AI (21)), or a second
        # receipt of the same transfer still booked (a unit cannot arrive twice; a unit
        # shipped by the hub scanned no serial, so a transfer receipt of a unit in stock
        # elsewhere is the normal case). Every unit in stock under the serial, not only
        # the newest: a third unit clashes with both (cloud/stock/serial_holders.py).
        hits: list[tuple[Conflict, SerialSighting | None]] = []
        for first in serial_holders.holders(before, cancelled):
            if seen.kind == "transfer_received" and (
                first.kind != "transfer_received" or first.doc != seen.doc
            ):
                continue
            was, now = _where(first, first.node_id), _where(seen, node)
            said = {
                "serial": seen.serial,
                **was,
                "day": f"{first.at:%Y-%m-%d}",
                **{f"this_{k}": v for k, v in now.items()},
            }
            hits.append(((RECEIVED_AGAIN, said), first))
        if hits:
            return hits
    if seen.kind == "transfer_shipped":
        last = next(
            (b for b in reversed(before) if b.kind == "transfer_shipped" or b.kind in _BACK),
            None,
        )
        if last is not None and last.kind == "transfer_shipped":
            said = {"serial": seen.serial, "transfer": last.doc, "shipment": str(last.receipt)}
            return [((SHIPPED_TWICE, said), last)]
    if seen.kind == "packed":
        last = next((b for b in reversed(before) if b.kind == "packed" or b.kind in _BACK), None)
        if last is not None and last.kind == "packed" and last.doc != seen.doc:
            return [((PACKED_TWICE, {"serial": seen.serial, "order": last.doc}), last)]
    return []


def _packed_since_back(before: Sequence[SerialSighting], order: str) -> bool:
    """Whether the unit was packed into ``order`` since it last came back (a pack names no
    receipt id, so a resent pack is known by its order)."""
    for b in reversed(before):
        if b.kind in _BACK:
            return False
        if b.kind == "packed" and b.doc == order:
            return True
    return False


def _again(s: _Seen, node: str | None) -> str:
    """The first step's sentence once ``s`` clashed with it (it turns red too)."""
    who = node or HUB
    if s.kind == "packed":
        return PACKED_AGAIN % {"serial": s.serial, "order": s.doc, "node": who}
    if s.kind == "transfer_shipped":
        said = {"serial": s.serial, "transfer": s.doc, "shipment": str(s.receipt), "node": who}
        return SHIPPED_AGAIN % said
    return SEEN_AGAIN % {"serial": s.serial, **_where(s, node)}


def record(session: Session, account_id: int, node: str, ev: Event, now: datetime) -> list[Found]:
    """Keep the serials of one applied fact; return the conflicts found (a task each)."""
    return keep(session, account_id, node, _sightings(node, ev), _event_time(ev.hlc, now), now)


def rows_of(
    session: Session, account_id: int, serials: Sequence[str], *, lock: bool = False
) -> dict[str, list[SerialSighting]]:
    """Each serial's sightings in the order they were written."""
    rows: dict[str, list[SerialSighting]] = {s: [] for s in serials}
    wanted = sorted(set(serials))
    for i in range(0, len(wanted), 500):
        q = (
            select(SerialSighting)
            .where(
                SerialSighting.account_id == account_id,
                SerialSighting.serial.in_(wanted[i : i + 500]),
            )
            .order_by(SerialSighting.id)
        )
        for row in session.execute(q.with_for_update() if lock else q).scalars():
            rows[row.serial].append(row)
    return rows


def keep(
    session: Session,
    account_id: int,
    node: str | None,
    seen: Sequence[_Seen],
    at: datetime,
    now: datetime,
) -> list[Found]:
    """Write ``seen`` (one fact's, or one API receipt's, sightings) into the units' traces;
    return the conflicts found, each with the rows it flagged."""
    if not seen:
        return []
    # Received units are checked against every receipt of the hub, a pack or a transfer's
    # pick against the unit's last step: under the serials' locks, so a receipt, pack or
    # pick of the serial committing at the same moment is waited for and seen (an ingest
    # took them already, after its documents and nodes, cloud/sync/locks.py).
    serial_locks.lock(session, account_id, [s.serial for s in seen if s.kind in _LOCKED])
    rows = rows_of(session, account_id, [s.serial for s in seen])
    cancelled = serial_holders.cancelled(
        session, account_id, [b for bs in rows.values() for b in bs]
    )
    staged: list[_Seen] = []
    found: list[Found] = []
    for s in seen:
        before = rows[s.serial]
        if s.receipt is not None and any(
            b.kind == s.kind and b.receipt == s.receipt and b.doc == s.doc for b in before
        ):
            continue  # the same receipt again (a station resent it): booked once, seen once
        last = before[-1] if before else None
        if last is not None and (last.kind, last.doc, last.receipt) == (s.kind, s.doc, s.receipt):
            continue  # the unit's last step again (a pack resent under a new seq): one step
        if s.kind == "packed" and _packed_since_back(before, s.doc):
            continue  # a pack resent after the serial's next pack: still one step, one task
        hits = _conflict(s, node, live(before), staged, cancelled)
        staged.append(s)
        row = SerialSighting(
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
            line=s.line,
            detail=english(s.said),
            said=list(s.said) or None,
            conflict=hits[0][0][0] % hits[0][0][1] if hits else None,
        )
        session.add(row)
        for conflict, first in hits:  # a task for each pair of units
            flagged = [row]
            if first is not None:
                if first.conflict is None:
                    first.conflict = _again(s, node)
                flagged.append(first)  # linked to the newest task naming it
            found.append(Found(conflict, flagged))
    session.flush()
    return found


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
                r.said,
                r.task,
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
