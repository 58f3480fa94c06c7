"""Receiving, QC, putaway and returns on a handheld (``/api/v1/desks/{kind}``; docs/pda.md
"Receiving and returns").

Thin, as edge/api/counts.py: validate, authenticate, call :class:`HandheldDesks`, answer.
``kind`` is the station kind the handheld stands in for: ``inbound`` (the receiving
station: PO, ASN or waybill, items, QC fail, putaway) or ``returns`` (the returns table).
A scan is one scanner line and a key one operator key of that station (its key card:
``FAIL:<reason>``, ``DAMAGED:<reason>``, ``FINISH``, ``ABANDON``); every action takes an
``Idempotency-Key`` (a retry gets the first answer and commits nothing).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from edge.api.deps import IdempotencyKey, PickerDep
from edge.api.schemas import PRINTABLE, ErrorBody, ScanRequest
from edge.runtimes.handheld import DeskResult, DeskView, HandheldDesks, Kind

router = APIRouter(prefix="/api/v1/desks", tags=["receiving"])

_ACTION: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorBody} for s in (401, 403, 409, 422, 503)
}


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: An operator key as on the station's key card, without the scanner's command prefix.
    key: Annotated[str, Field(min_length=1, max_length=220, pattern=PRINTABLE)]


def get_desks(request: Request) -> HandheldDesks:
    desks: HandheldDesks = request.app.state.desks
    return desks


DesksDep = Annotated[HandheldDesks, Depends(get_desks)]


def _answer(response: Response, result: DeskResult) -> DeskResult:
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result


@router.get("/{kind}/current", responses=_ACTION)
async def current(kind: Kind, operator: PickerDep, desks: DesksDep) -> DeskView:
    """The operator's open receipt (none: ``receipt_id`` null)."""
    return desks.current(kind, operator.id)


@router.post("/{kind}/scan", responses=_ACTION)
async def scan(
    kind: Kind,
    body: ScanRequest,
    operator: PickerDep,
    desks: DesksDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> DeskResult:
    """A scanned code: the document (PO number, ASN, waybill; return waybill or order),
    an item, or a putaway bin, judged by the station."""
    return _answer(response, desks.scan(kind, operator.id, body.barcode, idempotency_key))


@router.post("/{kind}/key", responses=_ACTION)
async def key(
    kind: Kind,
    body: KeyRequest,
    operator: PickerDep,
    desks: DesksDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> DeskResult:
    """An operator key: ``FAIL:<reason>`` / ``DAMAGED:<reason>`` (the next item), ``FINISH``,
    ``ABANDON``."""
    return _answer(response, desks.key(kind, operator.id, body.key, idempotency_key))
