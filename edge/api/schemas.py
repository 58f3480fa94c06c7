"""Request and login bodies of the pick API (the action views live in edge.runtimes.pick_views)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from edge.api.operators import OPERATOR_ID_PATTERN
from edge.pins import PIN_PATTERN

#: Path and header values: printable, bounded. Barcodes are NOT held to this: a scan with
#: control characters must reach the station and get its "unreadable" verdict.
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
#: Long enough for any real symbol (a GS1 DataMatrix tops out near 2,300 characters) and
#: for the station's "too long" verdict; anything longer is a client bug (422).
MAX_SCAN_CHARS = 4096


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Body):
    operator: Annotated[str, StringConstraints(pattern=OPERATOR_ID_PATTERN)]
    pin: Annotated[str, StringConstraints(pattern=PIN_PATTERN)]


class LoginResponse(BaseModel):
    token: str
    token_type: str = "bearer"
    operator: str
    name: str | None
    roles: list[str]
    expires_in_s: int


class ScanRequest(_Body):
    barcode: Annotated[str, Field(min_length=1, max_length=MAX_SCAN_CHARS)]


class ErrorBody(BaseModel):
    detail: str
    code: str
