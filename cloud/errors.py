"""Domain errors: one base, one JSON shape; the API maps them in one handler (cloud/app.py).

Every error the domain raises for a caller to see is a :class:`DomainError`. Its ``status``
is the HTTP status the API answers with, and :meth:`DomainError.body` the JSON it sends:
FastAPI's own shape, so a client reads every error alike — ``{"detail": "why"}``, or for
input refused (422) ``{"detail": [{"loc": [...], "msg": "why", "type": "..."}]}``, the
list FastAPI sends when a request fails validation.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Something the domain refuses; the message says why."""

    status: ClassVar[int] = 409

    def body(self) -> dict[str, Any]:
        return {"detail": str(self)}

    def headers(self) -> dict[str, str]:
        """Headers the answer carries (e.g. ``Retry-After`` with a 429 or 503)."""
        return {}


class ConflictError(DomainError):
    """A request conflicts with the hub's state (HTTP 409); the message says why."""

    status = 409


class NotFoundError(DomainError):
    """The object does not exist in the caller's account (HTTP 404)."""

    status = 404


class InvalidError(DomainError):
    """Well-formed input that the domain refuses (HTTP 422), e.g. an unknown SKU in an order."""

    status = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def body(self) -> dict[str, Any]:
        loc = ["body", self.field] if self.field else ["body"]
        return {"detail": [{"loc": loc, "msg": str(self), "type": "value_error"}]}


class ForbiddenError(DomainError):
    """The caller is known but lacks a scope this action needs (HTTP 403); the message names
    it. For checks only the domain can make (what a task's action books), beside the
    route scopes the API checks (cloud/api/deps.py)."""

    status = 403


class Unauthenticated(DomainError):
    """No valid credentials (HTTP 401): a bad, expired or unknown token or password."""

    status = 401
