"""/serials/{serial}: a serial-tracked unit's whole history (全程条码跟踪) — issued and
labelled, received, put away, counted, picked, packed, labelled, shipped, returned — across
the nodes and the hub (cloud/stock/serials.py, docs/inbound.md "Serial trace"). Reading it
needs stock:read, as the ledger's movements do."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from cloud.api.deps import SessionDep, StockRead
from cloud.stock import serials

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


class SerialTraceOut(BaseModel):
    serial: str
    sku_code: str
    #: How many steps conflict (0: one unit, one story).
    conflicts: int
    steps: list[SerialStepOut]


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
    )
