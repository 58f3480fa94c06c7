"""The one base of the edge's own errors, and the one JSON shape the PDA API answers with.

Every error the edge raises on purpose — a config or operators file it cannot use, a
device that failed, a store problem, a request the pick API refuses — is an
:class:`EdgeError`: a message for a person, a stable ``code`` for a program, and the
HTTP ``status`` the pick API answers with when one reaches it (``{"detail": message,
"code": code}``, edge/api/app.py; ``ErrorBody`` in edge/api/schemas.py).
"""

from __future__ import annotations


class EdgeError(Exception):
    """An error of the edge node: ``message`` (a person's), ``code`` (a program's), ``status``."""

    #: Defaults of the class; an instance may override them.
    status: int = 500
    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers

    def body(self) -> dict[str, str]:
        """The PDA API's JSON error body."""
        return {"detail": self.message, "code": self.code}
