"""FastAPI dependencies of the pick API: the service, the login gate, the signed-in operator."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edge.api.limits import PinPool
from edge.api.operators import Gate, Operator
from edge.api.schemas import PRINTABLE
from edge.errors import EdgeError
from edge.runtimes.pick import PickService


class ApiError(EdgeError):
    """A refusal of the API layer itself (authentication, roles), answered like every
    :class:`EdgeError`: ``{"detail": message, "code": code}`` with ``status``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, code=code, status=status, headers=headers)


def get_service(request: Request) -> PickService:
    service: PickService = request.app.state.pick_service
    return service


def get_gate(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


def get_pin_pool(request: Request) -> PinPool:
    pool: PinPool = request.app.state.pin_pool
    return pool


def client_address(request: Request) -> str | None:
    """The peer's address: per-client login limits count by it (one warehouse LAN, no
    proxy by default; behind a TLS proxy every PDA shares the proxy's address)."""
    return request.client.host if request.client is not None else None


ServiceDep = Annotated[PickService, Depends(get_service)]
GateDep = Annotated[Gate, Depends(get_gate)]
PinPoolDep = Annotated[PinPool, Depends(get_pin_pool)]
ClientDep = Annotated[str | None, Depends(client_address)]

_bearer = HTTPBearer(auto_error=False, description="The token from POST /api/v1/login.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None:
        raise ApiError(401, "not_authenticated", "log in first (Authorization: Bearer)", _CHALLENGE)
    return credentials.credentials


TokenDep = Annotated[str, Depends(bearer_token)]


def current_operator(token: TokenDep, gate: GateDep) -> Operator:
    session = gate.session(token)
    if session is None:
        raise ApiError(401, "invalid_token", "token unknown or expired: log in again", _CHALLENGE)
    return session.operator


def picker(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
    """An operator allowed to pick (role ``pick`` or ``lead``)."""
    if not {"pick", "lead"} & set(operator.roles):
        raise ApiError(403, "forbidden", f"operator {operator.id} may not pick")
    return operator


OperatorDep = Annotated[Operator, Depends(current_operator)]
PickerDep = Annotated[Operator, Depends(picker)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=PRINTABLE,
        description="Retries with the same key get the first answer; nothing is committed twice.",
    ),
]
