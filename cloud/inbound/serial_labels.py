"""The label of a serial the hub issued (docs/inbound.md "The new serial's label").

When a lead resolves a serial seen twice by giving one unit a new serial
(cloud/inbound/serial_conflicts.py, ``HUB-S<counter>``), the unit still carries its old
label. :func:`ask` sends a ``serial.label`` to the receiving node of the unit's warehouse
(the node that received it if it is one, else the warehouse's first receiving node): the
node prints the item label its QC table prints (edge/runtimes/serial_labels.py) and
answers ``serial.label_printed``, which :func:`printed` records once (when, which node
and printer) with a step in the serial's trace.

Until then the serial page shows "label not yet printed" and offers "print again"
(:func:`again`): it sends the same request again, to the warehouse's receiving node as it is
now (a node applies a request once, so the label never prints twice for it). Once printed, a
re-print is a new request the lead asks for explicitly (``reprint``), recorded with who
asked and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import Barcode, Node, NodeAssignment, Sku, Warehouse
from cloud.db.serials import SerialLabelRequest, SerialSighting
from cloud.errors import N_, ConflictError, NotFoundError, sentence
from cloud.nodes import downlink
from cloud.nodes.registry import station_kinds
from cloud.stock import serials
from protocol.messages import SerialLabel, SerialLabelPrinted

log = logging.getLogger("guanjia.cloud.serial_labels")

#: The station kind that has the item label printer (edge/runtimes/receive.py).
PRINTS: Final = "inbound"
CHANGE: Final = "serial.label"
SENT: Final = N_("label sent to node %(node)s to print")
NO_NODE: Final = N_(
    "no receiving node serves warehouse %(warehouse)s: the label is not printed; print it"
    " again once one does"
)
REPRINT_ASKED: Final = N_("re-print asked by %(actor)s")
RESENT: Final = N_("sent again by %(actor)s")
PRINTED: Final = N_("label printed by node %(node)s on printer %(printer)s")
UNCONFIRMED: Final = N_(
    "label sent to printer %(printer)s of node %(node)s, which did not confirm it: check the"
    " unit carries it"
)


@dataclass(frozen=True)
class LabelView:
    request: str
    serial: str
    sku_code: str
    warehouse: str
    receipt: str | None
    replaces: str | None
    reprint: bool
    asked_by: str
    asked_at: datetime
    note: str
    node_id: str | None
    sends: int
    sent_at: datetime | None
    printed_at: datetime | None
    printed_by: str | None
    printer: str | None
    unconfirmed: bool
    #: The node it was sent to: online now, and when the hub last heard from it (a node
    #: offline for long is why a label is not printed yet).
    node_online: bool | None = None
    node_last_seen: datetime | None = None


def _view(r: SerialLabelRequest, node: Node | None = None) -> LabelView:
    return LabelView(
        r.request,
        r.serial,
        r.sku_code,
        r.warehouse,
        r.receipt,
        r.replaces,
        r.reprint,
        r.asked_by,
        r.asked_at,
        r.note,
        r.node_id,
        r.sends,
        r.sent_at,
        r.printed_at,
        r.printed_by,
        r.printer,
        r.unconfirmed,
        node.online if node else None,
        node.last_seen if node else None,
    )


def of_serial(session: Session, account_id: int, serial: str) -> list[LabelView]:
    """The serial's label requests, oldest first (none for a serial the hub did not issue)."""
    rows = _rows(session, account_id, serial)
    ids = sorted({r.node_id for r in rows if r.node_id})
    nodes = {
        n.node_id: n for n in session.execute(select(Node).where(Node.node_id.in_(ids))).scalars()
    }
    return [_view(r, nodes.get(r.node_id or "")) for r in rows]


def _rows(
    session: Session, account_id: int, serial: str, *, lock: bool = False
) -> list[SerialLabelRequest]:
    q = (
        select(SerialLabelRequest)
        .where(SerialLabelRequest.account_id == account_id, SerialLabelRequest.serial == serial)
        .order_by(SerialLabelRequest.id)
    )
    return list(session.execute(q.with_for_update() if lock else q).scalars())


def ask(
    session: Session,
    account_id: int,
    issued: SerialSighting,
    replaces: str,
    received_by: str | None,
    actor: str,
    now: datetime,
) -> LabelView:
    """The first label of a serial the hub just issued (``issued``: its ``issued`` step;
    ``received_by``: the node whose receipt the unit came in with, printed on if it can).
    The caller locked the nodes first (:func:`lock_nodes`)."""
    row = SerialLabelRequest(
        account_id=account_id,
        request=f"{issued.serial[:60]}-1",
        serial=issued.serial,
        sku_code=issued.sku_code,
        warehouse=issued.warehouse or "",
        doc=issued.doc,
        receipt=issued.receipt,
        replaces=replaces,
        reprint=False,
        asked_by=actor,
        asked_at=now,
        note="",
        sends=0,
        unconfirmed=False,
    )
    session.add(row)
    _send(session, row, received_by, now)
    return _view(row)


def again(
    session: Session,
    account_id: int,
    serial: str,
    actor: str,
    now: datetime,
    *,
    reprint: bool = False,
    note: str = "",
) -> LabelView:
    """ "Print again": the newest request sent again while it is not printed; after a printed
    label only with ``reprint`` (a new request, recorded). 404 for a serial whose label the
    hub never asked for, 409 for a printed label without ``reprint`` and for a warehouse no
    receiving node serves."""
    lock_nodes(session, account_id, serial)
    rows = _rows(session, account_id, serial, lock=True)
    if not rows:
        raise NotFoundError(
            N_(
                "the hub asked for no label of serial %(serial)s: only the labels of serials"
                " it issued are printed from here"
            ),
            serial=serial,
        )
    last = rows[-1]
    if last.printed_at is not None and not reprint:
        raise ConflictError(
            N_(
                "the label of serial %(serial)s was printed by node %(node)s: to print"
                " another, ask for a re-print"
            ),
            serial=serial,
            node=last.printed_by or "",
        )
    if _target(session, account_id, last.warehouse, last.node_id) is None:
        raise ConflictError(
            N_(
                "no receiving node serves warehouse %(warehouse)s: assign one to it, then print"
                " the label again"
            ),
            warehouse=last.warehouse,
        )
    why = sentence(RESENT, actor=actor)
    if last.printed_at is not None:
        last = SerialLabelRequest(
            account_id=account_id,
            request=f"{serial[:60]}-{len(rows) + 1}",
            serial=serial,
            sku_code=last.sku_code,
            warehouse=last.warehouse,
            doc=last.doc,
            receipt=last.receipt,
            replaces=last.replaces,
            reprint=True,
            asked_by=actor,
            asked_at=now,
            note=note,
            sends=0,
            unconfirmed=False,
        )
        session.add(last)
        why = sentence(REPRINT_ASKED, actor=actor)
    _send(session, last, last.node_id, now, why)
    return _view(last)


def lock_nodes(session: Session, account_id: int, serial: str) -> None:
    """Lock the nodes of the warehouses the serial was seen in, before its rows: every
    writer locks nodes before serials (cloud/sync/ingest.py), so a node's fact about the
    serial and a lead's decision on it wait for each other instead of deadlocking."""
    codes = session.execute(
        select(SerialSighting.warehouse)
        .where(SerialSighting.account_id == account_id, SerialSighting.serial == serial)
        .distinct()
    ).scalars()
    ids = session.execute(
        select(Warehouse.id).where(
            Warehouse.account_id == account_id, Warehouse.code.in_([c for c in codes if c])
        )
    ).scalars()
    for wh_id in sorted(ids):
        downlink.nodes_of_warehouse(session, wh_id)


def nodes_of(session: Session, account_id: int, warehouse: str) -> list[tuple[str, str | None]]:
    """The warehouse's nodes with their station kind (None: never started), read without a
    lock: why none of them prints a label (only a receiving station has the item label
    printer, edge/runtimes/receive.py; a handheld's receiving desk runs on a node of another
    kind and has none, docs/pda.md "Receiving and returns")."""
    ids = list(
        session.execute(
            select(NodeAssignment.node_id)
            .join(Warehouse, Warehouse.id == NodeAssignment.warehouse_id)
            .where(Warehouse.account_id == account_id, Warehouse.code == warehouse)
            .order_by(NodeAssignment.node_id)
        ).scalars()
    )
    kinds = station_kinds(session, ids)
    return [(n, kinds.get(n)) for n in ids]


def _target(session: Session, account_id: int, warehouse: str, prefer: str | None) -> Node | None:
    """The node to print on: ``prefer`` (the node that received the unit, or the one sent to
    before) if it is a receiving node of the warehouse, else the warehouse's first one."""
    wh = session.execute(
        select(Warehouse).where(Warehouse.account_id == account_id, Warehouse.code == warehouse)
    ).scalar_one_or_none()
    if wh is None:
        return None
    nodes = downlink.nodes_of_warehouse(session, wh.id)
    kinds = station_kinds(session, [n.node_id for n in nodes])
    printing = [n for n in nodes if kinds.get(n.node_id) == PRINTS]
    return next((n for n in printing if n.node_id == prefer), printing[0] if printing else None)


def _send(
    session: Session,
    row: SerialLabelRequest,
    prefer: str | None,
    now: datetime,
    why: dict[str, object] | None = None,
) -> None:
    """Append the request to the node's downlink and record the step (``why``: who asked
    for it again), or record that no node can print it."""
    node = _target(session, row.account_id, row.warehouse, prefer)
    said = [why] if why else []
    if node is None:
        said.append(sentence(NO_NODE, warehouse=row.warehouse))
        row.node_id = None
    else:
        row.node_id, row.sends, row.sent_at = node.node_id, row.sends + 1, now
        downlink.append(session, node, CHANGE, _message(session, row), now)
        said.append(sentence(SENT, node=node.node_id))
    session.add(_step(row, "label_sent", node.node_id if node else None, now, now, said))
    session.flush()


def _message(session: Session, row: SerialLabelRequest) -> SerialLabel:
    name = session.execute(
        select(Sku.name).where(Sku.account_id == row.account_id, Sku.sku_code == row.sku_code)
    ).scalar_one_or_none()
    codes = session.execute(
        select(Barcode.barcode)
        .where(Barcode.account_id == row.account_id, Barcode.sku_code == row.sku_code)
        .order_by(Barcode.barcode)
        .limit(32)
    ).scalars()
    return SerialLabel(
        request=row.request,
        serial=row.serial,
        sku_code=row.sku_code,
        name=name[:200] if name else None,
        barcodes=list(codes),
        warehouse=row.warehouse,
        receipt=row.receipt,
        replaces=row.replaces,
        reprint=row.reprint,
    )


def printed(
    session: Session, account_id: int, node: str, ev: SerialLabelPrinted, now: datetime
) -> None:
    """A node's ``serial.label_printed``: recorded once per request (a second node's print
    of a request sent to two adds nothing), with a step in the trace."""
    p = ev.payload
    row = session.execute(
        select(SerialLabelRequest)
        .where(SerialLabelRequest.account_id == account_id, SerialLabelRequest.request == p.request)
        .with_for_update()
    ).scalar_one_or_none()
    if row is None or row.serial != p.serial:
        log.warning("serial.label_printed from %s for an unknown request %s", node, p.request)
        return
    if row.printed_at is not None:
        return
    at = serials.event_time(ev.hlc, now)
    row.printed_at, row.printed_by, row.printer = at, node, p.printer
    row.unconfirmed = p.unconfirmed
    said = sentence(UNCONFIRMED if p.unconfirmed else PRINTED, node=node, printer=p.printer)
    session.add(_step(row, "label_printed", node, at, now, [said]))


def _step(
    row: SerialLabelRequest,
    kind: str,
    node: str | None,
    at: datetime,
    now: datetime,
    said: list[dict[str, object]],
) -> SerialSighting:
    return SerialSighting(
        account_id=row.account_id,
        serial=row.serial,
        sku_code=row.sku_code,
        kind=kind,
        at=at,
        recorded_at=now,
        node_id=node,
        warehouse=row.warehouse,
        bin=None,
        doc=row.doc,
        receipt=row.receipt,
        detail=serials.english(said),
        said=said,
    )
