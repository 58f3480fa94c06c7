"""The e-invoice provider port: what the hub asks of Nuonuo, Baiwang, Aisino … in its own words.

One adapter per API shape (cloud/finance/einvoice/nuonuo.py). The port's contract, which the
worker (worker.py) relies on:

* ``issue`` hands over a blue invoice under ``request_no``, the idempotency key: the same key
  again never makes a second invoice, it answers the serial of the first. The answer is
  "accepted", not "issued": the number comes later from ``query``.
* :class:`Unreachable`: the request may or may not have arrived (timeout, connection lost,
  the provider's own trouble). The caller queries by ``request_no`` before it sends again.
* :class:`Rejected`: the provider read the request and refused its content; sending the same
  again is refused the same way. The invoice fails with the provider's sentence.
* ``red_form`` files a red-letter confirmation form (红字确认单) for a red under its own
  ``request_no``; the provider issues the red itself once the form stands (state 01 or 04).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


class Unreachable(Exception):
    """The outcome is unknown: query before resending."""


class Rejected(Exception):
    """The provider refused the content (its code and sentence)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass(frozen=True)
class PortLine:
    index: int  # the line's number on its invoice; on a red, the blue line it reverses
    name: str
    tax_code: str
    rate: Decimal
    quantity: int
    amount: Decimal  # negative on a red
    tax: Decimal


@dataclass(frozen=True)
class BlueRequest:
    request_no: str
    buyer_name: str
    buyer_tax_id: str | None
    buyer_email: str | None
    lines: tuple[PortLine, ...]


@dataclass(frozen=True)
class RedRequest:
    request_no: str
    blue_number: str
    reason: str  # 01 开票有误, 02 销货退回, 03 服务中止, 04 销售折让
    lines: tuple[PortLine, ...]


@dataclass(frozen=True)
class Status:
    """An invoice as the provider has it: in_progress, issued, failed or seal_failed."""

    state: str
    serial: str
    number: str = ""
    pdf_url: str = ""
    ofd_url: str = ""
    reason: str = ""


@dataclass(frozen=True)
class FormStatus:
    """A red-letter form: its id and state code (01 no confirmation needed, 02/03 waiting
    for the other party, 04 confirmed, 05-10 void or refused)."""

    form_id: str
    state: str

    @property
    def stands(self) -> bool:
        return self.state in ("01", "04")

    @property
    def waiting(self) -> bool:
        return self.state in ("02", "03")


class Provider(Protocol):
    def issue(self, req: BlueRequest) -> str: ...

    def query(self, request_no: str) -> Status | None: ...

    def reissue(self, serial: str) -> None: ...

    def red_form(self, req: RedRequest) -> FormStatus: ...

    def query_red_form(self, request_no: str) -> FormStatus | None: ...


#: A provider's refusal of a retry because a daily limit is reached (reInvoice: Nuonuo E9613).
class LimitReached(Rejected):
    pass
