"""Request and response bodies of /suppliers and /purchase-orders (cloud/api/purchases.py).

Beside cloud/api/schemas.py, which would pass 600 lines with them. Money and percentages
are Decimal and arrive as JSON strings ("12.50") or whole numbers: a JSON float is refused,
since binary floating point cannot hold most cents exactly (docs/inbound.md "Money")."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from protocol.messages import Barcode, Code, SkuCode


def _decimal(places: int, digits: int, what: str) -> Any:
    pattern = re.compile(rf"^[0-9]{{1,{digits - places}}}(\.[0-9]{{1,{places}}})?$")

    def check(v: object) -> Decimal:
        if isinstance(v, bool | float):
            raise ValueError(
                f'send the {what} as a string such as "12.50" (a JSON float cannot hold cents'
                " exactly)"
            )
        if isinstance(v, int):
            v = str(v)
        if not isinstance(v, str) or not pattern.match(v):
            raise ValueError(
                f'the {what} must be a plain decimal such as "12.50": digits, one dot, at most'
                f" {places} decimals, no commas, signs or spaces"
            )
        return Decimal(v)

    return BeforeValidator(check)


Price = Annotated[Decimal, _decimal(4, 18, "unit price")]
Percent = Annotated[Decimal, _decimal(2, 5, "tolerance"), Field(ge=0, le=100)]
StrictQty = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=300)]
#: A delivery reference as sent; cloud/inbound/orders.py ``clean_refs`` trims and checks it
#: (and the count) so the API and the dashboard refuse alike. The bounds here only cap
#: the request's size.
RawRef = Annotated[str, StringConstraints(max_length=1000)]
RawRefs = Annotated[list[RawRef], Field(max_length=1000)]


class SupplierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    contact: Annotated[str, StringConstraints(max_length=200)] | None = None


class SupplierPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    contact: Annotated[str, StringConstraints(max_length=200)] | None = None


class SupplierOut(BaseModel):
    code: str
    name: str
    contact: str | None
    changed_by: str
    changed_at: datetime


class PoLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku_code: SkuCode
    qty: StrictQty
    unit_price: Price


class PoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: Code
    warehouse: Code
    supplier: Code | None = None
    eta: date | None = None
    tolerance_pct: Percent = Decimal(0)
    lines: list[PoLineIn] = Field(min_length=1, max_length=500)
    #: ASN numbers (发货单号) and courier waybills (运单号) of the announced deliveries:
    #: at most 32, each trimmed, no repeats; the receiving station opens the PO by one.
    delivery_refs: RawRefs = Field(default_factory=list)
    #: Confirm at once (skip the draft).
    confirm: bool = False


class PoRefsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The PO's delivery references, replacing the ones it had (an empty list clears them).
    delivery_refs: RawRefs


class PoLineOut(BaseModel):
    line_no: int
    sku_code: str
    qty: int
    unit_price: Decimal
    received: int
    rejected: int
    open: int
    in_transit: bool


class PoOut(BaseModel):
    number: str
    warehouse: str
    supplier: str | None
    eta: date | None
    status: str
    status_reason: str | None
    tolerance_pct: Decimal
    delivery_refs: list[str]
    total: Decimal
    created_by: str
    created_at: datetime
    changed_by: str
    changed_at: datetime
    lines: list[PoLineOut]


class PoReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text


class PoReceiptLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku_code: SkuCode
    qty: StrictQty
    verdict: Literal["pass", "fail"] = "pass"
    reason: Text | None = None
    bin: Code | None = None
    #: The units' serials (serial-tracked goods, GS1 AI 21), at most one per unit: checked
    #: against every receipt of the hub; one in stock already is booked and flagged with a
    #: ``serial_conflict`` task (docs/inbound.md "Seen twice").
    serials: list[Barcode] = Field(default_factory=list, max_length=1000)


class PoReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The caller's id of this receipt: sent again, it books nothing more.
    receipt_id: Code
    warehouse: Code
    lines: list[PoReceiptLineIn] = Field(min_length=1, max_length=500)


class PoReceiptOut(BaseModel):
    receipt_id: str
    po_number: str
    source: str
    lines: list[dict[str, Any]]
    movement_ids: list[str]
    actor: str
    created_at: datetime
    #: False when this receipt id was booked before and nothing was done now.
    new: bool
