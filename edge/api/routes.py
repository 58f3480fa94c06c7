"""The pick API's routes (/api/v1): thin — validate, authenticate, call PickService, answer.

The store has one writer, the thread of the event loop the app runs on (in the node
daemon, the daemon's loop; edge/api/app.py), so every route that reaches PickService is
``async def`` and runs there: a pick request's commit is a station step like a pack
scan's, a few milliseconds with its fsync. Login touches no store: it is admitted on the
loop (lockout and per-client limits, no hash) and its PIN hash runs in the small bounded
pool (edge/api/limits.py), so neither the loop nor a flood of logins waits on the hashes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from edge.api.deps import (
    ClientDep,
    GateDep,
    IdempotencyKey,
    OperatorDep,
    PickerDep,
    PinPoolDep,
    ServiceDep,
    TokenDep,
)
from edge.api.limits import PinPool
from edge.api.operators import Gate, LoginRefused, Session
from edge.api.schemas import PRINTABLE, ErrorBody, LoginRequest, LoginResponse, ScanRequest
from edge.ops import metrics
from edge.runtimes.pick_views import ActionResult, CurrentView, PickList, WaveSummary

WavePath = Annotated[str, Path(min_length=1, max_length=64, pattern=PRINTABLE)]

_Responses = dict[int | str, dict[str, Any]]
_AUTH: _Responses = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}}
_ACTION: _Responses = {**_AUTH, 409: {"model": ErrorBody}}
_FOUND: _Responses = {**_AUTH, 404: {"model": ErrorBody}}
_LOGIN: _Responses = {**_AUTH, 413: {"model": ErrorBody}, 429: {"model": ErrorBody}}

router = APIRouter(prefix="/api/v1")


def _replayed(response: Response, result: ActionResult) -> ActionResult:
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result


_BUSY_RETRY_S = 1.0


async def _login(gate: Gate, pool: PinPool, operator: str, pin: str, client: str | None) -> Session:
    # Slot first, then admission: a refused slot costs the operator no failure count.
    if not pool.try_acquire():
        raise LoginRefused(
            429, "busy", "too many logins at once: try again in a moment", _BUSY_RETRY_S
        )
    try:
        attempt = gate.begin(operator, client)
    except BaseException:
        pool.release()
        raise
    return await pool.run_acquired(gate.finish, attempt, pin)


@router.post("/login", responses=_LOGIN, tags=["auth"])
async def login(
    body: LoginRequest, gate: GateDep, pool: PinPoolDep, client: ClientDep
) -> LoginResponse:
    """Operator id + PIN -> bearer token. Wrong PINs in a row lock the id out for a while;
    too many attempts from one device, or too many logins at once, are 429."""
    try:
        session = await _login(gate, pool, body.operator, body.pin, client)
    except LoginRefused as err:
        outcome = {403: "locked", 429: "limited"}.get(err.status, "bad_pin")
        metrics.count_login(outcome)
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
