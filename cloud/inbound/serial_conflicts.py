"""Serials seen twice (docs/inbound.md "Serial trace", "Seen twice"): one task per conflict,
and the lead's resolution of it.

A unit received under a serial the hub has in stock already (a second receiving node that
was offline, a second PO receipt on the API or from a node) is physically there: its
receipt is booked, both steps turn red in the trace (cloud/stock/serials.py) and
:func:`open_tasks` opens one ``serial_conflict`` task naming both receipts. The sightings
are written once per receipt id, so a fact resent any number of times finds nothing new and
opens nothing more.

:func:`resolve` is the one write path of the lead's decision (the API's ``POST
/api/v1/serials/{serial}/resolve`` and the serial page's buttons): the unit of one receipt
gets a new serial, issued as a receiving station issues one (``<issuer>-S<counter>``,
edge/stations/receive.py; the hub's issuer is ``HUB``), or that receipt's sighting is
declared a mislabel (the unit does not carry this serial). The trace records it as a step
of its own, the receipt's steps no longer count as this serial's, and the task closes.
Stock is not touched: both units were booked when they came in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import tasks
from cloud.db.models import Task
from cloud.db.serials import SerialSighting
from cloud.db.transfers import Transfer
from cloud.errors import N_, ConflictError, NotFoundError, say, sentence
from cloud.inbound import serial_labels, transfer_serials
from cloud.stock import serial_locks, serials
from protocol.messages import TransferReceivedPayload

SERIAL_CONFLICT: Final = "serial_conflict"
#: Where the hub issues a serial: as a station, ``<issuer>-S<counter>``. The counter is the
#: flagged sighting's row id, unique in the hub, so two leads resolving at once never issue
#: one serial twice.
ISSUER: Final = "HUB"

Action = Literal["new_serial", "mislabel"]
RELABELLED: Final = N_("the unit of receipt %(receipt)s was given the new serial %(new)s")
ISSUED_FOR: Final = N_(
    "issued by the hub for the unit of receipt %(receipt)s, which carried serial %(old)s"
)
MISLABEL: Final = N_(
    "the sighting of receipt %(receipt)s was declared a mislabel: that unit does not carry"
    " this serial"
)
#: The task's resolution, in English as tasks keep it.
CLOSED_RELABEL: Final = N_("serial %(serial)s: the unit of receipt %(receipt)s now carries %(new)s")
CLOSED_MISLABEL: Final = N_("serial %(serial)s: receipt %(receipt)s declared a mislabel")


def open_tasks(
    session: Session,
    account_id: int,
    node: str | None,
    fact: str,
    found: Sequence[serials.Found],
    now: datetime,
    event_id: str | None = None,
    who: str | None = None,
) -> None:
    """One ``serial_conflict`` task per conflict :func:`serials.record` (or ``keep``) found,
    linked from the rows it flagged so the resolution closes it."""
    for f in found:
        msgid, said = f.conflict
        t = tasks.open_task(
            session,
            account_id,
            SERIAL_CONFLICT,
            N_("%(fact)s from %(node)s: %(why)s"),
            now,
            params={"fact": fact, "node": who or node, "why": tasks.sentence(msgid, **said)},
            node_id=node,
            event_id=event_id,
        )
        session.flush()  # its public id
        for row in f.rows:
            row.task = t.public_id


def record_receipt(
    session: Session,
    account_id: int,
    po_number: str,
    receipt_id: str,
    warehouse: str,
    lines: Sequence[object],
    actor: str,
    now: datetime,
) -> None:
    """The serials of a PO receipt booked on the API (by ``actor``) into the units' traces,
    checked against every receipt of the hub as a station's are; a task per conflict."""
    seen = serials.received_sightings(None, "received", po_number, receipt_id, warehouse, lines)
    found = serials.keep(session, account_id, None, seen, now, now)
    # "receipt from <login>: …", as a station's "po.received from <node>: …".
    open_tasks(session, account_id, None, N_("receipt"), found, now, who=actor)


def _receipts_named(t: Task) -> set[str]:
    """The receipts a ``serial_conflict`` task's sentence names (serials.RECEIVED_AGAIN)."""
    why = (t.params or {}).get("why")
    if not isinstance(why, dict) or why.get("msgid") != serials.RECEIVED_AGAIN:
        return set()
    said = why.get("params")
    if not isinstance(said, dict):
        return set()
    return {str(said.get("receipt")), str(said.get("this_receipt"))}


def serial_of(t: Task) -> str | None:
    """The serial of a two-units ``serial_conflict`` task (the tasks page links its trace,
    where the lead decides), else None."""
    why = (t.params or {}).get("why") if t.kind == SERIAL_CONFLICT else None
    if not isinstance(why, dict) or why.get("msgid") != serials.RECEIVED_AGAIN:
        return None
    said = why.get("params")
    return str(said["serial"]) if isinstance(said, dict) and "serial" in said else None


def traced(t: Task) -> str | None:
    """The serial of any ``serial_conflict`` task whose sentence names one (received twice,
    packed or shipped twice, left again): the tasks page links its trace, which shows every
    sighting the task is about. None for other tasks."""
    why = (t.params or {}).get("why") if t.kind == SERIAL_CONFLICT else None
    if not isinstance(why, dict) or why.get("msgid") not in serials.CONFLICTS:
        return None
    said = why.get("params")
    return str(said["serial"]) if isinstance(said, dict) and "serial" in said else None


@dataclass(frozen=True)
class Resolved:
    serial: str
    receipt: str
    action: Action
    #: The serial the hub issued (``new_serial``), else None.
    new_serial: str | None
    tasks: list[str]


def resolve(
    session: Session,
    account_id: int,
    serial: str,
    receipt: str,
    action: Action,
    actor: str,
    now: datetime,
    note: str = "",
) -> Resolved:
    """Resolve the conflict of ``serial`` at ``receipt`` (one of the receipts its task
    names): give that receipt's unit a new serial, or declare its sighting a mislabel. A new
    serial's label is sent to a node to print (cloud/inbound/serial_labels.py)."""
    if action == "new_serial":
        serial_labels.lock_nodes(session, account_id, serial)  # nodes before serials
    # The serial's lock, as a node's receipt or pack of it takes (cloud/sync/locks.py): the
    # row locks below do not stop a concurrent ingest from reading the steps before this
    # decision commits, and it would then flag its unit against the one decided here
    # (tests/cloud/inbound/test_serial_resolve_locks.py).
    serial_locks.lock(session, account_id, [serial])
    rows = serials.rows_of(session, account_id, [serial], lock=True)[serial]
    if not rows:
        raise NotFoundError(N_("serial %(serial)s was never seen"), serial=serial)
    mine = [r for r in serials.live(rows) if r.receipt == receipt and r.kind in serials.RECEIVING]
    resolved = any(r.kind in serials.RESOLUTIONS and r.receipt == receipt for r in rows)
    if not mine and not resolved:
        raise NotFoundError(
            N_("serial %(serial)s was not received in receipt %(receipt)s"),
            serial=serial,
            receipt=receipt,
        )
    # The open tasks of this serial that name the receipt (as the first unit's or the
    # second's): a task is about one pair of receipts, and deciding on either settles it.
    # Found by their sentence, not only by the rows' links: a unit received while two were
    # in stock opened a task per pair, and a row links only the newest one naming it.
    open_ = (
        [
            t
            for t in session.execute(
                select(Task)
                .where(
                    Task.account_id == account_id,
                    Task.kind == SERIAL_CONFLICT,
                    Task.status == "open",
                    Task.detail.contains(serial, autoescape=True),
                )
                .order_by(Task.id)
                .with_for_update()
            ).scalars()
            if serial_of(t) == serial and receipt in _receipts_named(t)
        ]
        if mine
        else []
    )
    if not open_:
        raise ConflictError(
            N_(
                "serial %(serial)s has no open conflict at receipt %(receipt)s: it was resolved"
                " already, or that receipt's unit is the only one with the serial"
            ),
            serial=serial,
            receipt=receipt,
        )
    step = mine[0]
    new: str | None = None
    if action == "new_serial":
        new = f"{ISSUER}-S{step.id:07d}"
        said = sentence(RELABELLED, receipt=receipt, new=new)
        issued = sentence(ISSUED_FOR, receipt=receipt, old=serial)
        issued_step = _step(step, new, "issued", now, issued)
        session.add(issued_step)
        # The unit's steps of that receipt, under its new serial (where it is, its QC).
        for r in rows:
            if r.receipt == receipt and r.doc == step.doc and r.kind != "issued":
                session.add(_copy(r, new, now))
        closed = say(CLOSED_RELABEL, {"serial": serial, "receipt": receipt, "new": new})
        serial_labels.ask(session, account_id, issued_step, serial, step.node_id, actor, now)
    else:
        said = sentence(MISLABEL, receipt=receipt)
        closed = say(CLOSED_MISLABEL, {"serial": serial, "receipt": receipt})
    session.add(_step(step, serial, "relabelled" if new else "mislabel", now, said))
    resolution = f"{closed}: {note}" if note else closed
    for t in open_:
        t.status, t.resolution, t.resolved_by, t.resolved_at = "done", resolution, actor, now
    session.flush()
    return Resolved(serial, receipt, action, new, [t.public_id for t in open_])


def _step(
    of: SerialSighting, serial: str, kind: str, now: datetime, said: dict[str, object]
) -> SerialSighting:
    return SerialSighting(
        account_id=of.account_id,
        serial=serial,
        sku_code=of.sku_code,
        kind=kind,
        at=now,
        recorded_at=now,
        node_id=None,
        warehouse=of.warehouse,
        bin=None,
        doc=of.doc,
        receipt=of.receipt,
        detail=serials.english([said]),
        said=[said],
    )


def _copy(r: SerialSighting, serial: str, now: datetime) -> SerialSighting:
    return SerialSighting(
        account_id=r.account_id,
        serial=serial,
        sku_code=r.sku_code,
        kind=r.kind,
        at=r.at,
        recorded_at=now,
        node_id=r.node_id,
        warehouse=r.warehouse,
        bin=r.bin,
        doc=r.doc,
        receipt=r.receipt,
        line=r.line,
        detail=r.detail,
        said=r.said,
    )


def not_shipped(
    session: Session,
    account_id: int,
    node: str,
    p: TransferReceivedPayload,
    tid: int,
    now: datetime,
    event_id: str,
) -> None:
    """Serials of a booked transfer receipt that did not leave on it, though its pick scanned
    the serials that did. Booked all the same (the goods are here); one task per receipt:

    * serials the receiving station issued (``<node>-S<counter>``): it took the units by
      their item barcode and labelled them anew, as it does when the release carried no
      serials for the line (past the release's cap, transfer_serials.py, or a node without
      the newest release). Expected, not a second unit: the task counts them and names the
      first and last, so a person checks the new labels are on the units;
    * any other serial: a node without the newest release, or a second unit with the
      serial; the task names them and asks a person to look at those units."""
    left = transfer_serials.shipped_by_sku(session, session.get_one(Transfer, tid))
    if not left:
        return
    odd = [
        s for ln in p.lines if ln.sku_code in left for s in ln.serials if s not in left[ln.sku_code]
    ]
    issued = [s for s in odd if s.startswith(f"{node[:50]}-S")]
    other = [s for s in odd if s not in set(issued)]
    if issued:
        tasks.open_task(
            session,
            account_id,
            SERIAL_CONFLICT,
            N_(
                "transfer %(transfer)s: receipt %(receipt)s from %(node)s took %(n)s unit(s)"
                " by their item barcode and labelled them anew (%(first)s to %(last)s): the"
                " node did not have the serials that left on the transfer (too many for one"
                " release, or not yet synced). Nothing to book; check the new labels are on"
                " the units"
            ),
            now,
            params={
                "transfer": p.transfer_number,
                "receipt": p.receipt_id,
                "node": node,
                "n": len(issued),
                "first": min(issued),
                "last": max(issued),
            },
            node_id=node,
            event_id=event_id,
        )
    if other:
        tasks.open_task(
            session,
            account_id,
            SERIAL_CONFLICT,
            N_(
                "transfer %(transfer)s: receipt %(receipt)s from %(node)s has serial(s) "
                "%(serials)s that did not leave on it (its pick scanned the units that did): "
                "look at those units"
            ),
            now,
            params={
                "transfer": p.transfer_number,
                "receipt": p.receipt_id,
                "node": node,
                "serials": ", ".join(other[:50]),
            },
            node_id=node,
            event_id=event_id,
        )
