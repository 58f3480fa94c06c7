"""Stocktake station (盘点, 全盘 full / 抽盘 partial): count bins, report variances and missed bins.

Theory of operation
-------------------
A count starts with :class:`CountStarted`, which carries the expected stock of
the bins in scope *as it was at that moment* (a :class:`StockExpected`
snapshot the runtime read from the store); later stock changes never move the
expectation. Counting is by one of two methods, fixed per count:

* ``scanner``: scan a bin barcode, then every item in it. A serial (from the
  scan itself, e.g. GS1 AI 21) already counted in this count is not counted
  again. :class:`RecountBin` zeroes the current bin to count it over.
* ``rfid``: an LLRP sweep reports :class:`TagsSeen` for the bins it covered.
  The runtime resolves EPCs (SGTIN-96 -> GTIN -> SKU + serial); an EPC that
  resolves to nothing is reported as unknown. Each EPC counts once per count,
  however many sweeps see it. A sweep over one bin locates its tags in that
  bin. A sweep over several bins (a zone) cannot say which bin a tag is in:
  its quantities are spread over the swept bins up to each bin's expected
  quantity, in bin-code order, and any surplus goes to the first swept bin
  that expected the SKU (else the first swept bin). The zone total is exact;
  the per-bin split inside a zone sweep is an attribution, not a location.

:class:`FinishCount` records the ``stocktake.counted`` fact: one line per
(bin, SKU) expected or counted in every visited bin, and the bins in scope
nobody visited (the missed-bin report, 漏盘). A local :class:`StocktakeReport`
beside it lists the variances and the unknown barcodes and EPCs.

Every command list puts Record first, Show last. Double reads of one barcode
within ``duplicate_window_ms`` are ignored with a verdict.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
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
    printable,
    table_row,
)
from protocol.messages import (
    BinInfo,
    CatalogueUpsert,
    CountedLine,
    StockExpected,
    StocktakeCountedPayload,
)


class State(enum.Enum):
    IDLE = "idle"  # no count running
    COUNTING = "counting"  # count running, no bin open (scanner) / sweeping (rfid)
    IN_BIN = "in_bin"  # scanner: a bin is open, item scans count into it
    FINISHED = "finished"  # report recorded


@dataclass(frozen=True, slots=True)
class StocktakeConfig:
    station: str
    duplicate_window_ms: int = 30


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountStarted:
    count_id: str
    method: Literal["scanner", "rfid"]
    scope: Literal["full", "partial"]
    #: Expected stock of the bins in scope, frozen at this moment.
    expected: StockExpected
    #: Bin table (for bin barcodes); bins absent here are matched by code only.
    bins: Mapping[str, BinInfo] = field(default_factory=dict)
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class BinScanned:
    barcode: str
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class ItemScanned:
    barcode: str
    sku: CatalogueUpsert | None
    serial: str | None = None
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class TagRead:
    epc: str
    sku_code: str | None  # None: the EPC resolves to no SKU
    serial: str | None = None


@dataclass(frozen=True, slots=True)
class TagsSeen:
    bins: tuple[str, ...]  # the bins this sweep covered
    tags: tuple[TagRead, ...]
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class RecountBin:
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class FinishCount:
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class AbortCount:
    at_ms: int = 0


Event = CountStarted | BinScanned | ItemScanned | TagsSeen | RecountBin | FinishCount | AbortCount
EVENT_TYPES: tuple[type, ...] = (
    CountStarted,
    BinScanned,
    ItemScanned,
    TagsSeen,
    RecountBin,
    FinishCount,
    AbortCount,
)
Command = Record | Log | Show


@dataclass(frozen=True, slots=True)
class Variance:
    bin: str
    sku_code: str
    expected: int
    counted: int

    @property
    def delta(self) -> int:
        return self.counted - self.expected


@dataclass(frozen=True, slots=True)
class StocktakeReport:
    """Local record beside the fact: variances, missed bins, unknown input."""

    count_id: str
    variances: tuple[Variance, ...]
    missed_bins: tuple[str, ...]
    unknown_barcodes: tuple[str, ...]
    unknown_epcs: tuple[str, ...]


class StocktakeStation:
    def __init__(self, config: StocktakeConfig) -> None:
        self.config = config
        self.station = config.station
        self.state = State.IDLE
        self.now_ms = 0
        self._reset()

    def _reset(self) -> None:
        self.start: CountStarted | None = None
        self.expected: dict[tuple[str, str], int] = {}
        self.scope: list[str] = []
        self.counted: dict[tuple[str, str], int] = {}
        self.serials: dict[tuple[str, str], list[str]] = {}
        self.serial_seen: dict[str, str] = {}  # serial -> bin
        self.visited: set[str] = set()
        self.current_bin: str | None = None
        self.epcs: set[str] = set()
        #: rfid sweeps over several bins: bins -> sku -> (qty, serials)
        self.zone_counts: dict[tuple[str, ...], dict[str, list[str | None]]] = {}
        self.unknown_barcodes: list[str] = []
        self.unknown_epcs: list[str] = []
        self.last_scan: tuple[str, int] | None = None
        self.report: StocktakeReport | None = None

    def handle(self, event: Event) -> list[Command]:
        self.now_ms = max(self.now_ms, event.at_ms)
        if isinstance(event, BinScanned | ItemScanned):
            duplicate = self._duplicate(event.barcode, event.at_ms)
            if duplicate is not None:
                return duplicate
        handler = TRANSITIONS[(self.state, type(event))]
        next_state, commands = handler(self, event)
        self.state = next_state
        return commands

    # --- helpers -------------------------------------------------------------------------------

    def _say(
        self,
        kind: str,
        signal: Signal,
        text: str,
        level: LogLevel | None = None,
        **fields: str | None,
    ) -> list[Command]:
        out: list[Command] = [
            Record(Verdict(self.station, kind, text, at_ms=self.now_ms, said=(), **fields))
        ]
        if level is not None:
            out.append(Log(level, text))
        out.append(Show(signal, text))
        return out

    def _duplicate(self, barcode: str, at_ms: int) -> list[Command] | None:
        last = self.last_scan
        self.last_scan = (barcode, at_ms)
        window = self.config.duplicate_window_ms
        if last is None or last[0] != barcode or not 0 <= at_ms - last[1] <= window:
            return None
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

    def _bin_code(self, barcode: str) -> str | None:
        assert self.start is not None
        if barcode in self.start.bins or barcode in self.scope:
            return barcode
        for code, info in self.start.bins.items():
            if info.barcode == barcode:
                return code
        return None

    def _method(self, wanted: str) -> list[Command] | None:
        assert self.start is not None
        if self.start.method == wanted:
            return None
        text = f"this count is by {self.start.method}: {wanted} input ignored"
        return self._say("input.wrong_method", Signal.NOTICE, text, "warning")

    def _bin_total(self, bin_code: str) -> int:
        return sum(n for (b, _), n in self.counted.items() if b == bin_code)

    # --- handlers --------------------------------------------------------------------------

    def _begin(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, CountStarted)
        self._reset()  # a fresh count
        self.now_ms = event.at_ms
        self.start = event
        self.scope = sorted(set(event.expected.bins))
        in_scope = set(self.scope)
        for level in event.expected.levels:
            if level.bin in in_scope:
                key = (level.bin, level.sku_code)
                self.expected[key] = self.expected.get(key, 0) + level.qty
        how = "scan a bin, then its items" if event.method == "scanner" else "sweep the zone"
        text = (
            f"{event.scope} count {event.count_id} by {event.method}: {len(self.scope)} bins; {how}"
        )
        return State.COUNTING, self._say("count.started", Signal.PROMPT, text)

    def _bin(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, BinScanned)
        bad = self._unreadable(event.barcode) or self._method("scanner")
        if bad is not None:
            return self.state, bad
        code = self._bin_code(event.barcode)
        if code is None:
            text = f"unknown bin {event.barcode}"
            return self.state, self._say(
                "bin.unknown", Signal.UNKNOWN, text, "warning", barcode=event.barcode
            )
        if code not in self.scope:
            text = f"bin {code} is not in this count"
            return self.state, self._say(
                "bin.out_of_scope", Signal.WRONG_ITEM, text, "warning", barcode=event.barcode
            )
        again = code in self.visited
        self.visited.add(code)
        self.current_bin = code
        if again:
            total = self._bin_total(code)
            text = f"bin {code} again: {total} counted so far, scans add to it (recount to zero it)"
            return State.IN_BIN, self._say("bin.again", Signal.NOTICE, text, barcode=event.barcode)
        text = f"bin {code}: scan its items"
        return State.IN_BIN, self._say("bin.open", Signal.OK, text, barcode=event.barcode)

    def _item_no_bin(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        bad = self._unreadable(event.barcode) or self._method("scanner")
        if bad is not None:
            return self.state, bad
        text = "scan a bin barcode first"
        return self.state, self._say(
            "item.no_bin", Signal.WRONG_ITEM, text, "warning", barcode=event.barcode
        )

    def _item(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return self.state, bad
        bin_code = self.current_bin
        assert bin_code is not None
        if event.sku is None:
            self.unknown_barcodes.append(event.barcode)
            text = f"unknown barcode {event.barcode}: set the item aside for a lead"
            return self.state, self._say(
                "item.unknown", Signal.UNKNOWN, text, "warning", barcode=event.barcode
            )
        code = event.sku.sku_code
        serial = event.serial
        if serial is not None:
            problem = barcode_problem(serial)
            if problem is not None:
                text = f"unreadable serial ({problem}): scan the item again"
                return self.state, self._say(
                    "item.serial_unreadable", Signal.UNKNOWN, text, "warning", serial=repr(serial)
                )
            if serial in self.serial_seen:
                text = f"serial {serial} already counted in bin {self.serial_seen[serial]}"
                return self.state, self._say(
                    "item.serial_duplicate", Signal.OVER_QTY, text, "warning", serial=serial
                )
            self.serial_seen[serial] = bin_code
            self.serials.setdefault((bin_code, code), []).append(serial)
        key = (bin_code, code)
        self.counted[key] = self.counted.get(key, 0) + 1
        text = f"{code}: {self.counted[key]} in bin {bin_code}"
        return self.state, self._say(
            "item.counted",
            Signal.OK,
            text,
            None,
            barcode=event.barcode,
            sku_code=code,
            serial=serial,
        )

    def _recount(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, RecountBin)
        bin_code = self.current_bin
        assert bin_code is not None
        for key in [k for k in self.counted if k[0] == bin_code]:
            del self.counted[key]
            for s in self.serials.pop(key, []):
                self.serial_seen.pop(s, None)
        text = f"bin {bin_code} zeroed: count it again"
        return self.state, self._say("bin.recount", Signal.PROMPT, text, "info")

    def _tags(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, TagsSeen)
        bad = self._method("rfid")
        if bad is not None:
            return self.state, bad
        swept = tuple(sorted({b for b in event.bins if b in self.scope}))
        outside = sorted(set(event.bins) - set(self.scope))
        if not swept:
            text = f"sweep of {', '.join(event.bins) or 'no bins'}: not in this count"
            return self.state, self._say("sweep.out_of_scope", Signal.WRONG_ITEM, text, "warning")
        self.visited.update(swept)
        new = unknown = 0
        for tag in event.tags:
            if tag.epc in self.epcs:
                continue
            self.epcs.add(tag.epc)
            if tag.sku_code is None:
                self.unknown_epcs.append(tag.epc)
                unknown += 1
                continue
            new += 1
            if len(swept) == 1:
                key = (swept[0], tag.sku_code)
                self.counted[key] = self.counted.get(key, 0) + 1
                if tag.serial is not None:
                    self.serials.setdefault(key, []).append(tag.serial)
            else:
                self.zone_counts.setdefault(swept, {}).setdefault(tag.sku_code, []).append(
                    tag.serial
                )
        text = f"sweep of {len(swept)} bin(s): {new} new tag(s)"
        if outside:
            text += f"; bins outside the count ignored: {', '.join(outside)}"
        if unknown:
            text += f"; {unknown} unknown EPC(s) reported"
            return self.state, self._say("sweep.unknown_epcs", Signal.UNKNOWN, text, "warning")
        return self.state, self._say("sweep.ok", Signal.OK, text)

    def _spread_zones(self) -> None:
        """Attribute zone-sweep tags to bins (see the module docstring)."""
        for swept, skus in self.zone_counts.items():
            for sku, serials in sorted(skus.items()):
                left = len(serials)
                tags = list(serials)
                for b in swept:
                    room = self.expected.get((b, sku), 0) - self.counted.get((b, sku), 0)
                    take = max(0, min(room, left))
                    if take:
                        self._add(b, sku, tags[:take])
                        tags = tags[take:]
                        left -= take
                if left:
                    home = next((b for b in swept if (b, sku) in self.expected), swept[0])
                    self._add(home, sku, tags)
        self.zone_counts = {}

    def _add(self, bin_code: str, sku: str, serials: list[str | None]) -> None:
        key = (bin_code, sku)
        self.counted[key] = self.counted.get(key, 0) + len(serials)
        real = [s for s in serials if s is not None]
        if real:
            self.serials.setdefault(key, []).extend(real)

    def _finish(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, FinishCount)
        start = self.start
        assert start is not None
        self._spread_zones()
        lines: list[CountedLine] = []
        variances: list[Variance] = []
        for bin_code in sorted(self.visited):
            skus = {s for (b, s) in self.expected if b == bin_code}
            skus |= {s for (b, s) in self.counted if b == bin_code}
            for sku in sorted(skus):
                exp = self.expected.get((bin_code, sku), 0)
                got = self.counted.get((bin_code, sku), 0)
                lines.append(
                    CountedLine(
                        bin=bin_code,
                        sku_code=sku,
                        expected=exp,
                        counted=got,
                        serials=sorted(self.serials.get((bin_code, sku), [])),
                    )
                )
                if exp != got:
                    variances.append(Variance(bin_code, sku, exp, got))
        missed = [b for b in self.scope if b not in self.visited]
        fact = StocktakeCountedPayload(
            count_id=start.count_id,
            warehouse=start.expected.warehouse,
            method=start.method,
            scope=start.scope,
            station=self.station,
            lines=lines,
            missed_bins=missed,
        )
        self.report = StocktakeReport(
            start.count_id,
            tuple(variances),
            tuple(missed),
            tuple(self.unknown_barcodes),
            tuple(self.unknown_epcs),
        )
        text = (
            f"count {start.count_id} done: {len(self.visited)} of {len(self.scope)} bins, "
            f"{len(variances)} variance(s), {len(missed)} missed bin(s)"
        )
        unknown = len(self.unknown_barcodes) + len(self.unknown_epcs)
        if unknown:
            text += f", {unknown} unknown barcode(s)/EPC(s)"
        out: list[Command] = [
            Record(fact),
            Record(self.report),
            Record(Verdict(self.station, "count.finished", text, at_ms=self.now_ms)),
        ]
        if variances or missed or unknown:
            out.append(Log("warning", text))
        out.append(Show(Signal.COMPLETE, text))
        return State.FINISHED, out

    def _abort(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, AbortCount)
        count_id = self.start.count_id if self.start is not None else "?"
        text = f"count {count_id} aborted: nothing reported"
        out = self._say("count.aborted", Signal.NOTICE, text, "warning")
        return State.IDLE, out

    def _busy(self, event: Event) -> tuple[State, list[Command]]:
        assert self.start is not None
        text = f"count {self.start.count_id} is running: finish or abort it first"
        return self.state, self._say("count.busy", Signal.WRONG_ITEM, text, "warning")

    def _ignored(self, event: Event) -> tuple[State, list[Command]]:
        text = f"{type(event).__name__} ignored: nothing to do in {self.state.value}"
        return self.state, self._say("input.ignored", Signal.NOTICE, text, "info")


_Handler = Callable[[StocktakeStation, Event], tuple[State, list[Command]]]
S = State
T = StocktakeStation


def _row(**handlers: _Handler) -> dict[type, _Handler]:
    return table_row(EVENT_TYPES, handlers)


#: state -> event -> handler. Every pair is listed.
# fmt: off
TABLE: dict[State, dict[type, _Handler]] = {
    S.IDLE: _row(
        CountStarted=T._begin, BinScanned=T._ignored, ItemScanned=T._ignored,
        TagsSeen=T._ignored, RecountBin=T._ignored, FinishCount=T._ignored,
        AbortCount=T._ignored,
    ),
    S.COUNTING: _row(
        CountStarted=T._busy, BinScanned=T._bin, ItemScanned=T._item_no_bin,
        TagsSeen=T._tags, RecountBin=T._ignored, FinishCount=T._finish,
        AbortCount=T._abort,
    ),
    S.IN_BIN: _row(
        CountStarted=T._busy, BinScanned=T._bin, ItemScanned=T._item,
        TagsSeen=T._tags, RecountBin=T._recount, FinishCount=T._finish,
        AbortCount=T._abort,
    ),
    S.FINISHED: _row(
        CountStarted=T._begin, BinScanned=T._ignored, ItemScanned=T._ignored,
        TagsSeen=T._ignored, RecountBin=T._ignored, FinishCount=T._ignored,
        AbortCount=T._ignored,
    ),
}
# fmt: on
TRANSITIONS: dict[tuple[State, type], _Handler] = {
    (state, event): handler for state, row in TABLE.items() for event, handler in row.items()
}
