"""Who is asking: the pick API's bearer tokens, read through the app's login gate.

edge.pda does not import edge.api (edge.api mounts edge.pda: no cycle); the gate and the
pick service come over ``app.state`` and are typed here by what the pages use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from edge.errors import EdgeError
from edge.runtimes.pick import PickService


class _Operator(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def roles(self) -> Sequence[str]: ...


class _Session(Protocol):
    @property
    def operator(self) -> _Operator: ...


class _Gate(Protocol):
    def session(self, token: str) -> _Session | None: ...


class NotSignedIn(EdgeError):
    """401 like the JSON API's (docs/pick-api.md): the page shows its login form."""

    def __init__(self) -> None:
        super().__init__(
            "token unknown or expired: log in again",
            code="invalid_token",
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )


@dataclass(frozen=True, slots=True)
class SignedIn:
    operator: _Operator
    service: PickService


def signed_in(request: Request) -> SignedIn:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    gate: _Gate = request.app.state.gate
    session = gate.session(token.strip()) if scheme.lower() == "bearer" and token else None
    if session is None:
        raise NotSignedIn()
    service: PickService = request.app.state.pick_service
    return SignedIn(session.operator, service)
