"""Returns station (售后收货, 退货质检): a pure state machine.

Theory of operation
-------------------
A parcel comes back from a buyer. The operator scans the return waybill on it (退货运单号),
or the order number or after-sales request number on the buyer's slip; the runtime looks
the request up among those the cloud released to this node (``return.release``, kept by
the store; docs/inbound.md "Returns and exchanges") and hands the station
:class:`ParcelScanned` with the :class:`ReturnView` found, or None. No request, a request
for another warehouse, or one no longer open (received already, rejected, closed) is
refused with a red light and the reason: a parcel without an approved request goes to a
lead, never into stock.

Each item scan arrives as :class:`ItemScanned` with the SKU its barcode resolved to (the
catalogue, or the barcodes of the request's lines), or None. An unknown barcode, a SKU not
on the request and a unit beyond what the request asks back are refused with a red light
and the reason, and nothing is counted. A unit is sellable unless the operator first keys
``DAMAGED:<reason>``: then the next item scanned counts as damaged with that reason (it
goes to the damaged bucket or the damaged warehouse, 售后坏品仓, in the cloud).

``FINISH`` ends the parcel: what the request asks back and was not scanned is missing.
The station records the ``return.received`` fact (the units per request line: sellable,
damaged with the reason, missing) under the receipt id made on the node (node id +
counter, :attr:`ReturnsStation.next_receipt` kept by the store), which the cloud books once
however often it arrives. ``ABANDON`` drops the count: nothing is sent.

Durability: the opened receipt, every counted unit and the finish are :class:`Record`
commands, each before the light that shows it (docs/stations.md "Operator safety"), and
the fact is recorded with the outbox event in the store's one transaction; so a station
killed between two scans resumes from the store (:class:`Resumed`) where the last light
left it. Time arrives as ``at_ms``; there are no timeouts.

Transition table (every pair is listed in :data:`TABLE`)::

    state     | ParcelScanned | ItemScanned | Damaged   | Finish  | Abandon | Updated | Resumed
    ----------+---------------+-------------+-----------+---------+---------+---------+--------
    IDLE      | open → COUNT  | red: parcel | ignored   | ignored | ignored | logged  | → COUNT
    COUNTING  | red: busy     | count       | → DAMAGED | → IDLE  | → IDLE  | check   | logged
    DAMAGED   | red: busy     | count → CNT | reason    | → IDLE  | → IDLE  | check   | logged
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from edge.stations.common import (
    Log,
    LogLevel,
    Record,
    Show,
    Signal,
    Verdict,
    barcode_problem,
    barcode_problem_said,
    printable,
    table_row,
)
from edge.stations.sentences import Common, Returns, Sentence, Words, english, key_word, say, word
from protocol.messages import ReturnedLine, ReturnReceivedPayload, ReturnRelease

Condition = Literal["sellable", "damaged"]
MAX_REASON_CHARS = 200


class State(enum.Enum):
    IDLE = "idle"  # no parcel open: scan its return waybill, order or request number
    COUNTING = "counting"  # a parcel open: item scans counted against the request's lines
    DAMAGED = "damaged"  # DAMAGED keyed: the next item scanned is damaged


# --- what the runtime looks up, and the station's records ---------------------------------


@dataclass(frozen=True, slots=True)
class ReturnsConfig:
    station: str
    node_id: str
    warehouse: str
    operator: str | None = None
    duplicate_window_ms: int = 30


@dataclass(frozen=True, slots=True)
class ReturnView:
    release: ReturnRelease
    #: The code the parcel was found by, when it was the return waybill.
    waybill: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnUnit:
    line_no: int
    sku_code: str
    condition: Condition
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnOpened:
    """Record: a receipt opened for a request (the counter value is used up)."""

    receipt_id: str
    number: int
    request: str
    waybill: str | None


@dataclass(frozen=True, slots=True)
class ReturnUnitCounted:
    receipt_id: str
    unit_no: int
    unit: ReturnUnit
    at_ms: int


@dataclass(frozen=True, slots=True)
class ReturnStage:
    """Record: the receipt was finished (its fact recorded with it) or abandoned."""

    receipt_id: str
    stage: Literal["finished", "abandoned"]


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParcelScanned:
    barcode: str
    at_ms: int
    found: ReturnView | None


@dataclass(frozen=True, slots=True)
class ItemScanned:
    barcode: str
    at_ms: int
    sku_code: str | None


@dataclass(frozen=True, slots=True)
class Damaged:
    reason: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class Finish:
    at_ms: int


@dataclass(frozen=True, slots=True)
class Abandon:
    at_ms: int


@dataclass(frozen=True, slots=True)
class ReleaseUpdated:
    """A newer ``return.release`` arrived for some request (the cloud rejected it, say)."""

    release: ReturnRelease
    at_ms: int


@dataclass(frozen=True, slots=True)
class Resumed:
    """After a restart: the receipt the store holds open, with its counted units."""

    found: ReturnView
    receipt_id: str
    units: tuple[ReturnUnit, ...]
    at_ms: int


Event = ParcelScanned | ItemScanned | Damaged | Finish | Abandon | ReleaseUpdated | Resumed
EVENT_TYPES = (ParcelScanned, ItemScanned, Damaged, Finish, Abandon, ReleaseUpdated, Resumed)
Command = Record | Show | Log


@dataclass
class _Open:
    view: ReturnView
    receipt_id: str
    units: list[ReturnUnit] = field(default_factory=list)
    #: line_no -> units counted on it.
    counted: dict[int, int] = field(default_factory=dict)


class ReturnsStation:
    def __init__(self, config: ReturnsConfig, next_receipt: int = 1) -> None:
        self.config = config
        self.state = State.IDLE
        self.now_ms = 0
        self.next_receipt = next_receipt
        self.open: _Open | None = None
        self.damage_reason: str | None = None
        self.last_scan: tuple[str, int] | None = None

    def handle(self, event: Event) -> list[Command]:
        self.now_ms = max(self.now_ms, event.at_ms)
        if isinstance(event, ParcelScanned | ItemScanned):
            last, self.last_scan = self.last_scan, (event.barcode, event.at_ms)
            window = self.config.duplicate_window_ms
            if (
                last is not None
                and last[0] == event.barcode
                and 0 <= event.at_ms - last[1] <= window
            ):
                said = say(Common.DOUBLE_READ, code=printable(event.barcode))
                return self._say("scan.duplicate", Signal.NOTICE, said, "warning")
            problem = barcode_problem_said(event.barcode)
            if problem is not None:
                said = say(Common.UNREADABLE, problem=problem)
                return self._say(
                    "scan.unreadable", Signal.UNKNOWN, said, "warning", barcode=repr(event.barcode)
                )
        elif isinstance(event, Damaged | Finish | Abandon):
            self.last_scan = None
        next_state, commands = TRANSITIONS[(self.state, type(event))](self, event)
        self.state = next_state
        return commands

    # --- helpers ----------------------------------------------------------------------------

    @property
    def request(self) -> str | None:
        return self.open.view.release.request if self.open is not None else None

    def _say(
        self,
        kind: str,
        signal: Signal,
        said: Sentence | tuple[Sentence, ...],
        level: LogLevel | None = None,
        *before: Command,
        **fields: str | None,
    ) -> list[Command]:
        """Records first, then the verdict, a log line and the light (durable first)."""
        fields.setdefault("order_id", self.request)
        said = said if isinstance(said, tuple) else (said,)
        text = english(said)
        verdict = Verdict(self.config.station, kind, text, at_ms=self.now_ms, said=said, **fields)
        out: list[Command] = [*before, Record(verdict)]
        if level is not None:
            out.append(Log(level, text))
        out.append(Show(signal, text))
        return out

    def _refuse_parcel(self, view: ReturnView | None, code: str) -> list[Command] | None:
        if view is None:
            said = say(Returns.UNKNOWN, code=code)
            return self._say("return.unknown", Signal.UNKNOWN, said, "warning", barcode=code)
        rel = view.release
        if rel.warehouse != self.config.warehouse:
            said = say(
                Returns.WRONG_WAREHOUSE,
                request=rel.request,
                warehouse=rel.warehouse,
                here=self.config.warehouse,
            )
            return self._say(
                "return.wrong_warehouse", Signal.WRONG_ITEM, said, "warning", order_id=rel.request
            )
        if rel.status != "open":
            signal = Signal.ALREADY_DONE if rel.status == "received" else Signal.DO_NOT_SHIP
            said = say(Returns.NOT_OPEN, request=rel.request, status=word(rel.status))
            return self._say("return.not_open", signal, said, "warning", order_id=rel.request)
        return None

    def _expected(self) -> str:
        assert self.open is not None
        rel = self.open.view.release
        return ", ".join(
            f"{ln.sku_code} {self.open.counted.get(ln.line_no, 0)}/{ln.qty}" for ln in rel.lines
        )

    # --- handlers ---------------------------------------------------------------------------

    def _parcel(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ParcelScanned)
        refused = self._refuse_parcel(event.found, event.barcode)
        if refused is not None:
            return self.state, refused
        assert event.found is not None
        rel = event.found.release
        number = self.next_receipt
        self.next_receipt += 1
        receipt_id = f"{self.config.node_id[:50]}-T{number:06d}"
        self.open = _Open(event.found, receipt_id)
        self.damage_reason = None
        opened = Record(ReturnOpened(receipt_id, number, rel.request, event.found.waybill))
        asked = sum(ln.qty for ln in rel.lines)
        said = say(
            Returns.OPEN,
            kind=say(Words.EXCHANGE if rel.kind == "exchange" else Words.RETURN),
            request=rel.request,
            order=rel.order_id,
            n=asked,
            receipt=receipt_id,
        )
        return State.COUNTING, self._say("return.open", Signal.PROMPT, said, None, opened)

    def _parcel_busy(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ParcelScanned)
        assert self.open is not None
        mine = self.open.view.release.request
        if event.found is not None and event.found.release.request == mine:
            said = say(Returns.REOPEN, request=mine, receipt=self.open.receipt_id)
            return self.state, self._say("return.reopen", Signal.NOTICE, said)
        said = say(Returns.MID_RECEIPT, code=event.barcode, request=mine)
        return self.state, self._say(
            "return.mid_receipt", Signal.WRONG_ITEM, said, "warning", barcode=event.barcode
        )

    def _item_idle(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        said = say(Returns.PARCEL_FIRST, code=event.barcode)
        return self.state, self._say(
            "scan.no_return", Signal.UNKNOWN, said, "warning", barcode=event.barcode
        )

    def _item(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        assert self.open is not None
        rel = self.open.view.release
        code = event.barcode
        if event.sku_code is None:
            said = say(Returns.ITEM_UNKNOWN, code=code, request=rel.request)
            return self.state, self._say(
                "item.unknown", Signal.UNKNOWN, said, "warning", barcode=code
            )
        sku = event.sku_code
        lines = [ln for ln in rel.lines if ln.sku_code == sku]
        if not lines:
            said = say(
                Returns.NOT_ON_RETURN, sku=sku, request=rel.request, expected=self._expected()
            )
            return self.state, self._say(
                "item.not_on_return",
                Signal.NOT_IN_ORDER,
                said,
                "warning",
                barcode=code,
                sku_code=sku,
            )
        line = next((ln for ln in lines if self.open.counted.get(ln.line_no, 0) < ln.qty), None)
        if line is None:
            asked = sum(ln.qty for ln in lines)
            said = say(Returns.OVER, sku=sku, request=rel.request, asked=asked)
            return self.state, self._say(
                "item.over", Signal.OVER_QTY, said, "warning", barcode=code, sku_code=sku
            )
        condition: Condition = "damaged" if self.damage_reason is not None else "sellable"
        unit = ReturnUnit(line.line_no, sku, condition, self.damage_reason)
        self.open.units.append(unit)
        self.open.counted[line.line_no] = self.open.counted.get(line.line_no, 0) + 1
        self.damage_reason = None
        counted = Record(
            ReturnUnitCounted(self.open.receipt_id, len(self.open.units), unit, self.now_ms)
        )
        what = (
            say(Returns.DAMAGED_WITH, reason=str(unit.reason))
            if condition == "damaged"
            else say(Returns.SELLABLE)
        )
        said = say(
            Returns.ITEM, sku=sku, n=self.open.counted[line.line_no], qty=line.qty, what=what
        )
        return State.COUNTING, self._say(
            "item.ok", Signal.OK, said, None, counted, barcode=code, sku_code=sku
        )

    def _damaged(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, Damaged)
        reason = event.reason.strip()[:MAX_REASON_CHARS]
        if not reason or barcode_problem(reason) is not None:
            return self.state, self._say(
                "qc.no_reason", Signal.HOLD, say(Returns.NO_REASON), "warning"
            )
        self.damage_reason = reason
        said = say(Returns.DAMAGED_ARMED, reason=reason)
        return State.DAMAGED, self._say("qc.damaged", Signal.PROMPT, said)

    def _finish(self, event: Event) -> tuple[State, list[Command]]:
        assert self.open is not None
        o = self.open
        rel = o.view.release
        lines: list[ReturnedLine] = []
        for ln in rel.lines:
            mine = [u for u in o.units if u.line_no == ln.line_no]
            sellable = sum(1 for u in mine if u.condition == "sellable")
            damaged = [u for u in mine if u.condition == "damaged"]
            reasons = sorted({u.reason for u in damaged if u.reason})
            lines.append(
                ReturnedLine(
                    line_no=ln.line_no,
                    sku_code=ln.sku_code,
                    sellable=sellable,
                    damaged=len(damaged),
                    missing=ln.qty - len(mine),
                    reason="; ".join(reasons)[:MAX_REASON_CHARS] if reasons else None,
                )
            )
        fact = ReturnReceivedPayload(
            receipt_id=o.receipt_id,
            request=rel.request,
            warehouse=rel.warehouse,
            station=self.config.node_id,
            operator=self.config.operator,
            return_waybill=o.view.waybill,
            lines=lines,
        )
        missing = sum(ln.missing for ln in lines)
        done = (Record(fact), Record(ReturnStage(o.receipt_id, "finished")))
        said = say(
            Returns.RECEIVED,
            request=rel.request,
            lines=tuple(
                say(
                    Returns.RECEIVED_LINE,
                    sku=ln.sku_code,
                    sellable=ln.sellable,
                    damaged=ln.damaged,
                )
                for ln in lines
            ),
            missing=say(Returns.MISSING, n=missing) if missing else "",
        )
        out = self._say("return.received", Signal.COMPLETE, said, "info", *done)
        self.open, self.damage_reason = None, None
        return State.IDLE, out

    def _abandon(self, event: Event) -> tuple[State, list[Command]]:
        assert self.open is not None
        rid, request = self.open.receipt_id, self.open.view.release.request
        stage = Record(ReturnStage(rid, "abandoned"))
        out = self._say(
            "return.abandoned",
            Signal.NOTICE,
            say(Returns.ABANDONED, receipt=rid, request=request),
            "info",
            stage,
        )
        self.open, self.damage_reason = None, None
        return State.IDLE, out

    def _updated(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ReleaseUpdated)
        assert self.open is not None
        rel = event.release
        if rel.request != self.open.view.release.request:
            return self.state, []
        self.open.view = ReturnView(rel, self.open.view.waybill)
        if rel.status == "open":
            return self.state, [Log("info", f"return {rel.request} updated by the cloud")]
        said = say(Returns.NOW_NOT_OPEN, request=rel.request, status=word(rel.status))
        return self.state, self._say("return.not_open", Signal.HOLD, said, "warning")

    def _resume(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, Resumed)
        self.open = _Open(event.found, event.receipt_id, list(event.units))
        for u in event.units:
            self.open.counted[u.line_no] = self.open.counted.get(u.line_no, 0) + 1
        said = say(
            Returns.RESUMED,
            receipt=event.receipt_id,
            request=event.found.release.request,
            expected=self._expected(),
        )
        return State.COUNTING, self._say("return.resumed", Signal.PROMPT, said, "info")

    def _ignored(self, event: Event) -> tuple[State, list[Command]]:
        what = key_word(type(event).__name__)
        said = say(Common.IGNORED, what=what, state=word(self.state.value))
        return self.state, self._say("input.ignored", Signal.NOTICE, said, "info")

    def _logged(self, event: Event) -> tuple[State, list[Command]]:
        return self.state, [Log("info", f"{type(event).__name__} ignored in {self.state.value}")]


_Handler = Callable[[ReturnsStation, Event], tuple[State, list[Command]]]
S, R = State, ReturnsStation


def _row(**handlers: _Handler) -> dict[type, _Handler]:
    return table_row(EVENT_TYPES, handlers)


#: state -> event -> handler (returns the next state and the commands). Every pair is listed.
# fmt: off
TABLE: dict[State, dict[type, _Handler]] = {
    S.IDLE: _row(
        ParcelScanned=R._parcel, ItemScanned=R._item_idle, Damaged=R._ignored, Finish=R._ignored,
        Abandon=R._ignored, ReleaseUpdated=R._logged, Resumed=R._resume,
    ),
    S.COUNTING: _row(
        ParcelScanned=R._parcel_busy, ItemScanned=R._item, Damaged=R._damaged, Finish=R._finish,
        Abandon=R._abandon, ReleaseUpdated=R._updated, Resumed=R._logged,
    ),
    S.DAMAGED: _row(
        ParcelScanned=R._parcel_busy, ItemScanned=R._item, Damaged=R._damaged, Finish=R._finish,
        Abandon=R._abandon, ReleaseUpdated=R._updated, Resumed=R._logged,
    ),
}
# fmt: on
TRANSITIONS: dict[tuple[State, type], _Handler] = {
    (state, event): handler for state, row in TABLE.items() for event, handler in row.items()
}
