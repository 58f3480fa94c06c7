"""/serials/{serial}: a serial-tracked unit's whole history (全程条码跟踪) — issued and
labelled, received, put away, counted, picked, packed, labelled, shipped, returned — across
the nodes and the hub (cloud/stock/serials.py, docs/inbound.md "Serial trace"). Reading it
needs stock:read, as the ledger's movements do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints

from cloud.api.deps import SessionDep, StockRead, StockWrite
from cloud.inbound import serial_conflicts, serial_labels
from cloud.stock import serials
from protocol.messages import Code

router = APIRouter(prefix="/api/v1", tags=["stock"])


class SerialStepOut(BaseModel):
    #: ``transfer_shipped`` (from the transfer document: the sending warehouse and bin),
    #: ``issued`` (its label printed at a receiving station), ``received``,
    #: ``transfer_received``, ``put_away``, ``counted``, ``picked``, ``packed``,
    #: ``labelled`` (the parcel's waybill), ``shipped``, ``returned``.
    kind: str
    at: datetime
    sku_code: str
    #: The document: PO number, transfer number, order number, count id or after-sales request.
    doc: str
    node_id: str | None
    warehouse: str | None
    bin: str | None
    receipt: str | None
    detail: str | None
    #: Why this step cannot be the same unit's (seen twice); a task was opened for it.
    conflict: str | None


class LabelOut(BaseModel):
    """A label the hub asked a node to print for a serial it issued (docs/inbound.md "The
    new serial's label")."""

    #: The hub's id of the request (``<serial>-<n>``).
    request: str
    #: A lead's re-print after a printed label.
    reprint: bool
    asked_by: str
    asked_at: datetime
    note: str
    #: The node it was last sent to; null: no receiving node serves the warehouse (not
    #: printed; print it again once one does).
    node_id: str | None
    #: How many times it was sent ("print again" sends an unprinted label again).
    sends: int
    sent_at: datetime | None
    #: From the node's report: null while the label is not yet printed.
    printed_at: datetime | None
    printed_by: str | None
    printer: str | None
    #: The node lost the printer's answer after sending the job: check the unit carries it.
    unconfirmed: bool
    #: The node it was sent to: online now, and when the hub last heard from it.
    node_online: bool | None = None
    node_last_seen: datetime | None = None


class SerialTraceOut(BaseModel):
    serial: str
    sku_code: str
    #: How many steps conflict (0: one unit, one story).
    conflicts: int
    steps: list[SerialStepOut]
    #: The labels of a serial the hub issued, oldest first (empty for any other serial).
    labels: list[LabelOut] = []


@router.get("/serials/{serial}")
def get_serial(
    serial: Annotated[str, Path(max_length=128)], session: SessionDep, who: StockRead
) -> SerialTraceOut:
    """The unit's steps in time order; 404 for a serial this account never saw."""
    steps = serials.trace(session, who.account_id, serial)
    return SerialTraceOut(
        serial=serial,
        sku_code=steps[-1].sku_code,
        conflicts=sum(1 for s in steps if s.conflict),
        steps=[SerialStepOut.model_validate(s, from_attributes=True) for s in steps],
        labels=[
            LabelOut.model_validate(x, from_attributes=True)
            for x in serial_labels.of_serial(session, who.account_id, serial)
        ],
    )


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The receipt whose unit the decision is about (one of the two the task names).
    receipt: Code
    #: ``new_serial``: that unit gets a serial the hub issues (``HUB-S<counter>``; print its
    #: label and stick it on); ``mislabel``: that sighting was not this serial's unit.
    action: serial_conflicts.Action
    note: Annotated[str, StringConstraints(max_length=300)] = ""


class ResolvedOut(BaseModel):
    serial: str
    receipt: str
    action: str
    new_serial: str | None
    #: The ``serial_conflict`` tasks closed.
    tasks: list[str]


@router.post("/serials/{serial}/resolve")
def resolve_serial(
    serial: Annotated[str, Path(max_length=128)],
    body: ResolveIn,
    session: SessionDep,
    who: StockWrite,
) -> ResolvedOut:
    """A serial seen twice, resolved by the lead: a new serial for one receipt's unit, or
    that receipt's sighting declared a mislabel; the trace records it and the task closes.
    404 for a serial or receipt never seen, 409 when nothing is open to resolve."""
    done = serial_conflicts.resolve(
        session,
        who.account_id,
        serial,
        body.receipt,
        body.action,
        who.actor,
        datetime.now(UTC),
        body.note.strip(),
    )
    return ResolvedOut.model_validate(done, from_attributes=True)


class PrintAgainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: After a printed label: print another (a new request, recorded with who asked and
    #: ``note``). Without it a printed label is refused (409); an unprinted one is sent again.
    #: Strict: "yes" is no answer to "print another label?".
    reprint: StrictBool = False
    note: Annotated[str, StringConstraints(max_length=300)] = ""


@router.post("/serials/{serial}/label")
def print_label_again(
    serial: Annotated[str, Path(max_length=128)],
    body: PrintAgainIn,
    session: SessionDep,
    who: StockWrite,
) -> LabelOut:
    """Print the label of a serial the hub issued again: an unprinted one is sent again to
    the warehouse's receiving node; a printed one only with ``reprint`` (a new request).
    404 for a serial whose label the hub never asked for (or another seller's), 409 for a
    printed label without ``reprint`` or a warehouse no receiving node serves."""
    done = serial_labels.again(
        session,
        who.account_id,
        serial,
        who.actor,
        datetime.now(UTC),
        reprint=body.reprint,
        note=body.note.strip(),
    )
    return LabelOut.model_validate(done, from_attributes=True)
