"""What the pack, pick and stocktake stations share: signals, journal records, commands.

Every station is a pure state machine (``handle(event) -> list[Command]``) like
:mod:`edge.stations.scan_check`. The runtime executes a command list in order
and the stations always put the durable commands first: every :class:`Record`
comes before the first :class:`Show` (docs/sync.md, "Durable first"), so a light
the operator saw is never taken back by a power cut. :func:`durable_first`
states the rule so tests and the runtime can check it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from edge.stations.sentences import Common, Sentence, say
from protocol.messages import (
    Message,
    OrderLabelledPayload,
    OrderPackedPayload,
    OrderPickedPayload,
    OrderWeighedPayload,
    StocktakeCountedPayload,
    WaybillPoolUsedPayload,
)

__all__ = [
    "MAX_BARCODE_CHARS",
    "FactPayload",
    "Log",
    "LogLevel",
    "Record",
    "Show",
    "Signal",
    "StockMovement",
    "Verdict",
    "barcode_problem",
    "barcode_problem_said",
    "durable_first",
    "printable",
]


class Signal(enum.Enum):
    """What a station tells the operator; edge/devices/lights.py plays it on two LEDs and a
    buzzer, several signals sharing a pattern (docs/stations.md has the table)."""

    OK = "ok"  # right item
    COMPLETE = "complete"  # order / stop / count finished
    PROMPT = "prompt"  # next step: weigh, scan serial, scan bin
    NOTICE = "notice"  # ignored input, information
    WRONG_ITEM = "wrong_item"  # wrong variant / wrong item here
    NOT_IN_ORDER = "not_in_order"  # SKU not in the order
    OVER_QTY = "over_qty"  # more than the order needs
    UNKNOWN = "unknown"  # unknown or unreadable barcode
    ALREADY_DONE = "already_done"  # finished order rescanned
    DO_NOT_SHIP = "do_not_ship"  # cancelled / on hold
    HOLD = "hold"  # weight out of tolerance, needs a lead
    FAULT = "fault"  # a device is down
    CLEAR = "clear"  # a fault cleared


LogLevel = Literal["info", "warning", "error"]

FactPayload = (
    OrderPickedPayload
    | OrderPackedPayload
    | OrderWeighedPayload
    | OrderLabelledPayload
    | WaybillPoolUsedPayload
    | StocktakeCountedPayload
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A station-journal record: what the operator was shown and why.

    Local state only (not an outbox event); the runtime commits it before the
    light shows it. ``kind`` is a dotted verdict name such as ``item.ok`` or
    ``weight.hold``; ``barcode`` holds ``repr()`` of an unreadable scan.
    """

    station: str
    kind: str
    text: str
    order_id: str | None = None
    barcode: str | None = None
    sku_code: str | None = None
    line_id: str | None = None
    serial: str | None = None
    lead: str | None = None
    at_ms: int = 0
    #: ``text`` as message ids and parameters, for a page in its own language
    #: (edge/stations/sentences.py); empty: ``text`` is all there is.
    said: tuple[Sentence, ...] = ()


@dataclass(frozen=True, slots=True)
class StockMovement:
    """A signed stock-ledger delta (docs/sync.md, "Conflicts": stock is a ledger).

    ``key`` is deterministic (station, wave, stop, kind) so a replayed command
    list commits the movement once; the runtime gives the ledger row its id.
    """

    key: str
    bin: str
    sku_code: str
    delta: int
    reason: Literal["pick"]
    ref: str


@dataclass(frozen=True, slots=True)
class Record:
    """Commit ``payload`` with the store in one transaction before anything later runs.

    A :class:`protocol.messages.Message` fact payload becomes an outbox event
    (``PAYLOAD_EVENTS``); a :class:`Verdict`, :class:`StockMovement` or a
    station's own record is local state.
    """

    payload: Message | Verdict | StockMovement | object


@dataclass(frozen=True, slots=True)
class Show:
    signal: Signal
    text: str


@dataclass(frozen=True, slots=True)
class Log:
    level: LogLevel
    text: str


MAX_BARCODE_CHARS: Final = 128


def barcode_problem_said(barcode: str) -> Sentence | None:
    """Why a scanned string cannot be a barcode (a sentence), or None if it can."""
    if not barcode:
        return say(Common.PROBLEM_EMPTY)
    if len(barcode) > MAX_BARCODE_CHARS:
        return say(Common.PROBLEM_LONG, n=len(barcode), max=MAX_BARCODE_CHARS)
    bad = sorted({f"0x{ord(ch):02x}" for ch in barcode if ord(ch) < 0x20 or ord(ch) == 0x7F})
    if bad:
        return say(Common.PROBLEM_CONTROL, codes=", ".join(bad))
    return None


def barcode_problem(barcode: str) -> str | None:
    """Why a scanned string cannot be a barcode, or None if it can."""
    said = barcode_problem_said(barcode)
    return said.english() if said is not None else None


def durable_first(commands: Sequence[object]) -> bool:
    """True if no :class:`Record` follows a :class:`Show` (the durable-first rule)."""
    shown = False
    for command in commands:
        if isinstance(command, Show):
            shown = True
        elif isinstance(command, Record) and shown:
            return False
    return True


def printable(text: str) -> str:
    """``text`` if it is a usable barcode, else its ``repr()`` for journals and logs."""
    return text if barcode_problem(text) is None else repr(text)


_H = TypeVar("_H")


def table_row(event_types: Iterable[type], handlers: Mapping[str, _H]) -> dict[type, _H]:
    """One state's row of a transition table, keyed by event class name.

    Every event type must be listed (a missing pair is a bug, not a silent "ignore"):
    the assertion names the ones left out.
    """
    kinds = list(event_types)
    by_name = {t.__name__: t for t in kinds}
    row = {by_name[name]: h for name, h in handlers.items()}
    assert set(row) == set(kinds), sorted(t.__name__ for t in set(kinds) - set(row))
    return row
