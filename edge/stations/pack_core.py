"""The pack station's state and the helpers every step uses: the verdict, the light, the
double-read filter, the operator-safety gate before any print (edge/stations/pack.py has the
theory of operation)."""

from __future__ import annotations

from edge.stations.common import (
    Log,
    LogLevel,
    Record,
    Show,
    Signal,
    Verdict,
    barcode_problem,
    printable,
)
from edge.stations.pack_events import (
    Command,
    Line,
    OrderView,
    PackConfig,
    RequestWeight,
    State,
)
from protocol.devices.zpl import WAYBILL_RE
from protocol.messages import (
    CatalogueUpsert,
    OrderRelease,
)


class PackCore:
    """The open order and what the station knows of its devices; no transitions here."""

    def __init__(self, config: PackConfig) -> None:
        self.config = config
        self.station = config.station
        self.state = State.IDLE
        self.now_ms = 0
        self.view: OrderView | None = None
        self.lines: list[Line] = []
        self.seen: dict[str, CatalogueUpsert] = {}
        self.pending_serial: tuple[int, CatalogueUpsert, str] | None = None
        self.weighed_grams: int | None = None
        self.weight_accepted = False
        self.override_by: str | None = None
        self.reprint_by: str | None = None
        #: The label job sent and not yet confirmed: (release, printer, reprint_by).
        self.print_outstanding: tuple[OrderRelease, str, str | None] | None = None
        self.printer_problem: str | None = None
        self.scale_ok = True
        self.deadline_ms: int | None = None
        self.last_scan: tuple[str, int] | None = None
        #: The open order prints this number of the offline pool (its use is a fact).
        self.pooled: str | None = None
        #: Its use was recorded (a label job was sent with it): it stays the order's number.
        self.pool_recorded = False

    # --- public ---------------------------------------------------------------------------

    @property
    def release(self) -> OrderRelease | None:
        return self.view.release if self.view is not None else None

    def progress(self) -> tuple[int, int]:
        """(units verified, units needed) of the open order."""
        got = sum(sum(line.got.values()) for line in self.lines)
        need = sum(sum(line.need.values()) for line in self.lines)
        return got, need

    # --- helpers ----------------------------------------------------------------------------

    def _verdict(self, kind: str, text: str, **fields: str | None) -> Record:
        order_id = self.view.release.order_id if self.view is not None else None
        fields.setdefault("order_id", order_id)
        return Record(Verdict(self.station, kind, text, at_ms=self.now_ms, said=(), **fields))

    def _say(
        self,
        kind: str,
        signal: Signal,
        text: str,
        level: LogLevel | None = None,
        **fields: str | None,
    ) -> list[Command]:
        """A verdict: journal record, optional log line, then the light."""
        out: list[Command] = [self._verdict(kind, text, **fields)]
        if level is not None:
            out.append(Log(level, text))
        out.append(Show(signal, text))
        return out

    def _duplicate(self, barcode: str, at_ms: int) -> list[Command] | None:
        last = self.last_scan
        self.last_scan = (barcode, at_ms)
        if last is None or last[0] != barcode or at_ms - last[1] > self.config.duplicate_window_ms:
            return None
        if at_ms < last[1]:
            return None  # clock went back (restart): judge it
        text = f"double read of {printable(barcode)} within {at_ms - last[1]} ms ignored"
        return self._say(
            "scan.duplicate", Signal.NOTICE, text, "warning", barcode=printable(barcode)
        )

    def _unreadable(self, barcode: str) -> list[Command] | None:
        problem = barcode_problem(barcode)
        if problem is None:
            return None
        text = f"unreadable scan ({problem}): scan again"
        return self._say("scan.unreadable", Signal.UNKNOWN, text, "warning", barcode=repr(barcode))

    def _clear_order(self) -> None:
        self.view = None
        self.lines = []
        self.pending_serial = None
        self.weighed_grams = None
        self.weight_accepted = False
        self.override_by = None
        self.reprint_by = None
        self.printer_problem = None
        self.deadline_ms = None
        self.pooled = None
        self.pool_recorded = False

    def _printer(self) -> str | None:
        release = self.release
        return self.config.printers.get(release.carrier) if release is not None else None

    def _all_complete(self) -> bool:
        return bool(self.lines) and all(line.complete for line in self.lines)

    def _may_print(self) -> str | None:
        """Why a label must not print now, or None (the operator-safety gate)."""
        release = self.release
        if release is None:
            return "no order"
        if release.status != "released":
            return f"order {release.status}"
        if not self._all_complete():
            return "items missing"
        if not self.weight_accepted:
            return "weight not accepted"
        if release.waybill is None or not WAYBILL_RE.fullmatch(release.waybill):
            return "no printable waybill number"
        return None

    def _request_weight(self, text: str) -> tuple[State, list[Command]]:
        self.deadline_ms = self.now_ms + self.config.weigh_timeout_ms
        return State.WEIGHING, [
            self._verdict("weight.request", text),
            RequestWeight(),
            Show(Signal.PROMPT, text),
        ]
