"""Stocktake by scanner for the PDA (``/api/v1/counts``; docs/pda.md "Stocktake").

Thin, as edge/api/routes.py: validate, authenticate, call :class:`CountService`, answer.
Every action takes an ``Idempotency-Key`` (the page's durable queue sends each scan with
its own; a retry gets the first answer and commits nothing). The answers never carry the
stock the node expects: counting is blind (issue 14).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from edge.api.deps import IdempotencyKey, PickerDep
from edge.api.schemas import PRINTABLE, ErrorBody, ScanRequest
from edge.runtimes.count_service import CountResult, CountService, CountView

router = APIRouter(prefix="/api/v1/counts", tags=["count"])

_ACTION: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorBody} for s in (401, 403, 409, 422)
}

BinCode = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PRINTABLE)]


class StartCount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["full", "partial"]
    #: partial: the bins to count (codes); full: ignored (every bin of the node)
    bins: Annotated[list[BinCode], Field(max_length=2000)] = []


def get_counts(request: Request) -> CountService:
    service: CountService = request.app.state.count_service
    return service


CountsDep = Annotated[CountService, Depends(get_counts)]


def _answer(response: Response, result: CountResult) -> CountResult:
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result


@router.get("/current", responses=_ACTION)
async def current(operator: PickerDep, counts: CountsDep) -> CountView:
    """The operator's running count: bins in scope, visited, the open bin, what was counted."""
    return counts.current(operator.id)


@router.post("/start", responses=_ACTION)
async def start(
    body: StartCount,
    operator: PickerDep,
    counts: CountsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CountResult:
    """Start a full or partial count; the expected stock of its bins is frozen now."""
    return _answer(response, counts.start(operator.id, body.scope, body.bins, idempotency_key))


@router.post("/scan", responses=_ACTION)
async def scan(
    body: ScanRequest,
    operator: PickerDep,
    counts: CountsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CountResult:
    """A bin barcode opens the bin; an item barcode counts one unit into the open bin."""
    return _answer(response, counts.scan(operator.id, body.barcode, idempotency_key))


@router.post("/recount", responses=_ACTION)
async def recount(
    operator: PickerDep,
    counts: CountsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CountResult:
    """Zero the open bin to count it again."""
    return _answer(response, counts.recount(operator.id, idempotency_key))


@router.post("/finish", responses=_ACTION)
async def finish(
    operator: PickerDep,
    counts: CountsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CountResult:
    """Submit the count: ``stocktake.counted`` (with the bins nobody visited) to the hub."""
    return _answer(response, counts.finish(operator.id, idempotency_key))


@router.post("/abort", responses=_ACTION)
async def abort(
    operator: PickerDep,
    counts: CountsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CountResult:
    """Drop the running count: nothing is reported."""
    return _answer(response, counts.abort(operator.id, idempotency_key))
