"""The pick API's routes (/api/v1): thin — validate, authenticate, call PickService, answer.

The store has one writer, the thread of the event loop the app runs on (in the node
daemon, the daemon's loop; edge/api/app.py), so every route that reaches PickService is
``async def`` and runs there: a pick request's commit is a station step like a pack
scan's, a few milliseconds with its fsync. Login and logout touch no store and stay
plain ``def``: FastAPI runs them in its thread pool, so the loop never waits on the PIN
hash.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from edge.api.deps import (
    GateDep,
    IdempotencyKey,
    OperatorDep,
    PickerDep,
    ServiceDep,
    TokenDep,
)
from edge.api.operators import LoginRefused
from edge.api.schemas import PRINTABLE, ErrorBody, LoginRequest, LoginResponse, ScanRequest
from edge.ops import metrics
from edge.runtimes.pick_views import ActionResult, CurrentView, PickList, WaveSummary

WavePath = Annotated[str, Path(min_length=1, max_length=64, pattern=PRINTABLE)]

_Responses = dict[int | str, dict[str, Any]]
_AUTH: _Responses = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}}
_ACTION: _Responses = {**_AUTH, 409: {"model": ErrorBody}}
_FOUND: _Responses = {**_AUTH, 404: {"model": ErrorBody}}

router = APIRouter(prefix="/api/v1")


def _replayed(response: Response, result: ActionResult) -> ActionResult:
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result


@router.post("/login", responses=_AUTH, tags=["auth"])
def login(body: LoginRequest, gate: GateDep) -> LoginResponse:
    """Operator id + PIN -> bearer token. Wrong PINs in a row lock the id out for a while."""
    try:
        session = gate.login(body.operator, body.pin)
    except LoginRefused as err:
        metrics.count_login("locked" if err.status == 403 else "bad_pin")
        raise
    metrics.count_login("ok")
    op = session.operator
    return LoginResponse(
        token=session.token,
        operator=op.id,
        name=op.name,
        roles=list(op.roles),
        expires_in_s=int(gate.settings.token_ttl_s),
    )


@router.post("/logout", status_code=204, responses=_AUTH, tags=["auth"])
def logout(token: TokenDep, operator: OperatorDep, gate: GateDep) -> Response:
    gate.logout(token)
    return Response(status_code=204)


@router.get("/waves", responses=_AUTH, tags=["pick"])
async def waves(operator: PickerDep, service: ServiceDep) -> list[WaveSummary]:
    """Waves with released orders leased to this node, and the ones picked or being picked."""
    return service.waves()


@router.post("/waves/{wave}/start", responses={**_ACTION, **_FOUND}, tags=["pick"])
async def start_wave(
    wave: WavePath,
    operator: PickerDep,
    service: ServiceDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """Load the wave, allocate it to bins and route it; resumes the operator's own wave.

    Only orders leased to this node are picked here; 409 ``leased_elsewhere`` names the
    node that holds the wave."""
    return _replayed(response, service.start(operator.id, wave, idempotency_key))


@router.get("/picks/current", responses=_AUTH, tags=["pick"])
async def current(operator: PickerDep, service: ServiceDep) -> CurrentView:
    """The operator's next stop (bin, SKU, quantity) and progress; ``wave`` null if none."""
    return service.current(operator.id)


@router.post("/scan", responses=_ACTION, tags=["pick"])
async def scan(
    body: ScanRequest,
    operator: PickerDep,
    service: ServiceDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """A scanned bin or item barcode -> verdict, signal and the next stop."""
    return _replayed(response, service.scan(operator.id, body.barcode, idempotency_key))


@router.post("/short", responses=_ACTION, tags=["pick"])
async def short(
    operator: PickerDep,
    service: ServiceDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """The bin holds no more: end the current stop short (flagged in order.picked)."""
    return _replayed(response, service.short(operator.id, idempotency_key))


@router.post("/substitute", responses=_ACTION, tags=["pick"])
async def substitute(
    operator: PickerDep,
    service: ServiceDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """The next item scan replaces the stop's SKU (flagged ``substitute_for``)."""
    return _replayed(response, service.substitute(operator.id, idempotency_key))


@router.get("/picks/{wave}", responses={**_FOUND, 409: {"model": ErrorBody}}, tags=["pick"])
async def pick_list(wave: WavePath, operator: PickerDep, service: ServiceDep) -> PickList:
    """The wave's stops in route order with their state (a preview before it is started);
    409 for a wave leased to another pick node."""
    return service.pick_list(wave)
