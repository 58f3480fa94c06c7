"""Domain errors; the API maps them to HTTP statuses (cloud/app.py)."""

from __future__ import annotations


class ConflictError(Exception):
    """A request conflicts with the hub's state (HTTP 409); the message says why."""


class NotFoundError(Exception):
    """The object does not exist in the caller's account (HTTP 404)."""


class InvalidError(Exception):
    """Well-formed input that the domain refuses (HTTP 422), e.g. an unknown SKU in an order."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
