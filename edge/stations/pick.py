"""Pick station (拣货): batch pick a wave of released orders along a routed path.

Theory of operation
-------------------
The runtime loads a wave: the released orders, the warehouse's bin table and
the stock per bin of the SKUs they need (:class:`WaveLoaded`). The station
allocates every order line to bins (lowest walk order first, splitting a line
over bins when one bin has too little; what no bin holds is short from the
start), merges the allocations of all orders into one stop per (bin, SKU), and
orders the stops along :func:`edge.stations.route.plan_route`.

At each stop the picker scans the bin, then the items. The stop completes when
its quantity is picked; :class:`ShortPick` ends it early (flagged short), and
:class:`Substitute` makes the next item scan a substitute for the wanted SKU
(flagged ``substitute_for``). A finished stop records its stock-ledger
movements (:class:`~edge.stations.common.StockMovement`, negative deltas)
before the light says "next"; after the last stop the station records one
``order.picked`` fact per order, splitting each stop's picks over the orders
in wave order. An order the cloud cancels or holds mid-wave loses its
not-yet-started stops; what was already picked for it is reported (facts are
never dropped) and the light says to put it back.

A transfer's pick of a serial-tracked SKU records which units left (docs/inbound.md
"Serials of a transfer's units"): each unit's item scan wants its serial, from the same scan
(GS1 AI 21) or the next one (the serial barcode of the label the receiving station printed,
edge/stations/receive.py), as the pack station takes them (edge/stations/pack.py). A serial
already picked on this transfer, or a second item scan instead of the serial, is refused
with a red light and counts nothing; the serials go with the pick's lines
(``PickedLine.serials``) into the transfer's ``transfer.shipped``. An order's pick scans no
serials: its units are scanned at the pack station.

Every command list puts Record first, Show last; a scan of the same barcode
within ``duplicate_window_ms`` is a double read (recorded, not counted).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edge.stations.common import (
    Log,
    LogLevel,
    Record,
    Show,
    Signal,
    StockMovement,
    Verdict,
    barcode_problem,
    printable,
    table_row,
)
from edge.stations.pick_list import Lot, Stop, allocate
from edge.stations.route import Metric, Route, plan_route
from protocol.messages import (
    BinInfo,
    CatalogueUpsert,
    OrderPickedPayload,
    OrderRelease,
    PickedLine,
    StockLevel,
)

#: The ``carrier`` of a released order that is a transfer leaving the warehouse, handed to
#: the pick as one order (edge/runtimes/pick_transfer.py; no courier's code looks like it and
#: the order has no waybill). The station says "transfer", not "order", for it.
TRANSFER_CARRIER = "#transfer"


def is_transfer(release: OrderRelease) -> bool:
    return release.carrier == TRANSFER_CARRIER and release.waybill is None


def _doc(release: OrderRelease | None) -> str:
    return "transfer" if release is not None and is_transfer(release) else "order"


class State(enum.Enum):
    IDLE = "idle"  # no wave loaded
    AT_BIN = "at_bin"  # walk to the stop's bin and scan it
    PICKING = "picking"  # bin confirmed: scan items
    SUBSTITUTE = "substitute"  # the next item scan replaces the wanted SKU
    AWAIT_SERIAL = "await_serial"  # a transfer's serial-tracked unit waits for its serial
    DONE = "done"  # wave finished and recorded


@dataclass(frozen=True, slots=True)
class PickConfig:
    station: str
    start: tuple[float, float] | None = None
    metric: Metric = "aisle"
    duplicate_window_ms: int = 30
    operator: str | None = None


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaveLoaded:
    wave: str
    orders: tuple[OrderRelease, ...]
    bins: Mapping[str, BinInfo]
    stock: tuple[StockLevel, ...]
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class BinScanned:
    barcode: str
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class ItemScanned:
    barcode: str
    sku: CatalogueUpsert | None
    at_ms: int = 0
    #: The serial the same scan carries (GS1 AI 21), if any.
    serial: str | None = None


@dataclass(frozen=True, slots=True)
class ShortPick:
    """Operator key: the bin holds no more of this item (ends the stop short)."""

    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Substitute:
    """Operator key: the next item scan is picked in place of the wanted SKU."""

    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class OrderUpdated:
    release: OrderRelease
    at_ms: int = 0


Event = WaveLoaded | BinScanned | ItemScanned | ShortPick | Substitute | OrderUpdated
EVENT_TYPES: tuple[type, ...] = (
    WaveLoaded,
    BinScanned,
    ItemScanned,
    ShortPick,
    Substitute,
    OrderUpdated,
)
Command = Record | Log | Show


class PickStation:
    def __init__(self, config: PickConfig) -> None:
        self.config = config
        self.station = config.station
        self.state = State.IDLE
        self.now_ms = 0
        self.wave: str | None = None
        #: The wave's part of its stock movements' keys (see _load).
        self.movement_wave: str | None = None
        self.orders: dict[str, OrderRelease] = {}
        self.bins: Mapping[str, BinInfo] = {}
        self.stops: list[Stop] = []
        self.index = 0
        self.route: Route | None = None
        self.unallocated: list[tuple[str, str, str, int]] = []
        self.last_scan: tuple[str, int] | None = None
        #: Every serial picked in this wave (a serial is one unit: picked once).
        self.serials: set[str] = set()

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

    @property
    def stop(self) -> Stop | None:
        return self.stops[self.index] if self.index < len(self.stops) else None

    # --- helpers ---------------------------------------------------------------------------

    def _transfer(self) -> str | None:
        """The transfer's number when this wave is a transfer's pick (its one order)."""
        if len(self.orders) == 1:
            (release,) = self.orders.values()
            if is_transfer(release):
                return release.order_id
        return None

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
        if (
            last is None
            or last[0] != barcode
            or not 0 <= at_ms - last[1] <= self.config.duplicate_window_ms
        ):
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

    def _goto(self) -> str:
        stop = self.stop
        assert stop is not None
        return f"go to bin {stop.bin}: pick {stop.qty} × {stop.sku_code} (stop {self.index + 1} of {len(self.stops)})"

    def _bin_matches(self, barcode: str, bin_code: str) -> bool:
        info = self.bins.get(bin_code)
        return barcode == bin_code or (info is not None and info.barcode == barcode)

    # --- handlers --------------------------------------------------------------------------

    def _load(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, WaveLoaded)
        self.wave = event.wave
        self.orders = {o.order_id: o for o in event.orders}
        # A transfer is picked again under its number for a later shipment (its rest, or
        # after 冲销出库): its movements' keys name the shipment (the order's version), so
        # they are not taken for the first shipment's (journal.add_movement keeps one per key).
        transfer = self._transfer()
        version = self.orders[transfer].version if transfer else 1
        self.movement_wave = f"{event.wave}:s{version}" if version > 1 else event.wave
        self.bins = event.bins
        stops, self.unallocated = allocate(event.orders, event.bins, event.stock)
        self.route = plan_route(
            {s.bin for s in stops}, event.bins, start=self.config.start, metric=self.config.metric
        )
        position = {code: i for i, code in enumerate(self.route.bins)}
        self.stops = sorted(stops, key=lambda s: (position[s.bin], s.sku_code))
        self.index = 0
        self.last_scan = None
        self.serials = set()
        out: list[Command] = []
        if self.unallocated:
            missing = ", ".join(f"{q} × {sku}" for _, _, sku, q in self.unallocated)
            out.append(Log("warning", f"wave {event.wave}: no stock in any bin for {missing}"))
        if not self.stops:
            return self._finish(out)
        transfer = self._transfer()
        head = (
            f"transfer {transfer}: "
            if transfer
            else f"wave {event.wave}: {len(self.orders)} orders, "
        )
        text = (
            head + f"{len(self.stops)} stops, "
            f"route {self.route.length:.0f} m (walk order {self.route.naive_length:.0f} m); "
            + self._goto()
        )
        return State.AT_BIN, [
            Record(Verdict(self.station, "wave.loaded", text, at_ms=self.now_ms)),
            *out,
            Show(Signal.PROMPT, text),
        ]

    def _bin(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, BinScanned)
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return self.state, bad
        stop = self.stop
        assert stop is not None
        if self._bin_matches(event.barcode, stop.bin):
            if self.state is not State.AT_BIN:
                text = f"bin {stop.bin} already confirmed: {stop.got} of {stop.qty} {stop.sku_code}"
                return self.state, self._say(
                    "bin.again", Signal.NOTICE, text, barcode=event.barcode
                )
            text = f"bin {stop.bin} ok: pick {stop.qty} × {stop.sku_code}"
            return State.PICKING, self._say("bin.ok", Signal.OK, text, barcode=event.barcode)
        known = any(self._bin_matches(event.barcode, code) for code in self.bins)
        if self.state is State.AT_BIN:
            text = (
                f"wrong bin {event.barcode}: go to {stop.bin}"
                if known
                else f"unknown bin {event.barcode}: go to {stop.bin}"
            )
        else:
            text = f"bin {event.barcode} scanned mid-stop: finish {stop.bin} first (or short it)"
        signal = Signal.WRONG_ITEM if known else Signal.UNKNOWN
        return self.state, self._say("bin.wrong", signal, text, "warning", barcode=event.barcode)

    def _item_at_bin(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return self.state, bad
        stop = self.stop
        assert stop is not None
        text = f"scan bin {stop.bin} first"
        return self.state, self._say(
            "item.before_bin", Signal.WRONG_ITEM, text, "warning", barcode=event.barcode
        )

    def _item(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return self.state, bad
        stop = self.stop
        assert stop is not None
        if event.sku is None:
            text = f"unknown barcode {event.barcode}"
            return self.state, self._say(
                "item.unknown", Signal.UNKNOWN, text, "warning", barcode=event.barcode
            )
        code = event.sku.sku_code
        fields: dict[str, str | None] = {"barcode": event.barcode, "sku_code": code}
        if code == stop.sku_code and event.sku.serial_tracked and self._transfer():
            if event.serial is None:
                text = f"{code}: scan the serial on this unit's label"
                return State.AWAIT_SERIAL, self._say("item.await_serial", Signal.PROMPT, text)
            return self._take_serial(event.serial, fields)
        if code == stop.sku_code:
            stop.picked += 1
        elif self.state is State.SUBSTITUTE:
            stop.substitutes[code] = stop.substitutes.get(code, 0) + 1
        else:
            text = f"wrong item {code}: this stop wants {stop.sku_code} (press substitute to take it instead)"
            return self.state, self._say("item.wrong", Signal.WRONG_ITEM, text, "warning", **fields)
        return self._progress(code, fields)

    def _progress(self, code: str, fields: dict[str, str | None]) -> tuple[State, list[Command]]:
        stop = self.stop
        assert stop is not None
        if stop.got < stop.qty:
            sub = f" in place of {stop.sku_code}" if code != stop.sku_code else ""
            text = f"{code}{sub} ok: {stop.got} of {stop.qty}"
            return State.PICKING, self._say("item.ok", Signal.OK, text, None, **fields)
        return self._end_stop(short=False)

    def _take_serial(
        self, serial: str, fields: dict[str, str | None]
    ) -> tuple[State, list[Command]]:
        """Count the unit under its serial, or refuse the serial (red light, nothing counted)."""
        stop = self.stop
        assert stop is not None
        problem = barcode_problem(serial)
        if problem is not None:
            text = f"unreadable serial ({problem}): scan the serial of {stop.sku_code} again"
            return State.AWAIT_SERIAL, self._say(
                "item.serial_unreadable", Signal.UNKNOWN, text, "warning", serial=repr(serial)
            )
        if serial in self.serials:
            text = (
                f"serial {serial} was already picked on transfer {self._transfer()}: one "
                f"label per unit; scan this unit's own serial"
            )
            return State.AWAIT_SERIAL, self._say(
                "item.serial_twice", Signal.WRONG_ITEM, text, "warning", serial=serial
            )
        self.serials.add(serial)
        stop.serials.append(serial)
        stop.picked += 1
        return self._progress(stop.sku_code, {**fields, "serial": serial})

    def _serial(self, event: Event) -> tuple[State, list[Command]]:
        """The scan after a serial-tracked unit's item scan: its serial."""
        assert isinstance(event, ItemScanned)
        stop = self.stop
        assert stop is not None
        fields: dict[str, str | None] = {"barcode": event.barcode, "sku_code": stop.sku_code}
        if event.sku is not None and event.serial is None:
            text = (
                f"that is an item ({event.sku.sku_code}): scan the serial on the label of "
                f"the {stop.sku_code} in hand"
            )
            return State.AWAIT_SERIAL, self._say(
                "item.serial_expected", Signal.WRONG_ITEM, text, "warning", **fields
            )
        if event.sku is not None and event.sku.sku_code != stop.sku_code:
            text = f"wrong item {event.sku.sku_code}: scan the serial of the {stop.sku_code}"
            return State.AWAIT_SERIAL, self._say(
                "item.serial_expected", Signal.WRONG_ITEM, text, "warning", **fields
            )
        return self._take_serial(event.serial or event.barcode, fields)

    def _short(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ShortPick)
        return self._end_stop(short=True)

    def _substitute(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, Substitute)
        stop = self.stop
        assert stop is not None
        text = f"scan the item to pick in place of {stop.sku_code}"
        return State.SUBSTITUTE, self._say("item.substitute_mode", Signal.PROMPT, text)

    def _end_stop(self, short: bool) -> tuple[State, list[Command]]:
        stop = self.stop
        assert stop is not None
        stop.short = short and stop.got < stop.qty
        stop.done = True
        ref = f"{self.wave}"
        out: list[Command] = []
        picks: list[tuple[str, int, str | None]] = [(stop.sku_code, stop.picked, None)] + [
            (sku, n, stop.sku_code) for sku, n in sorted(stop.substitutes.items())
        ]
        for sku, n, _ in picks:
            if n:
                key = f"{self.station}:{self.movement_wave}:{self.index}:{sku}"
                out.append(Record(StockMovement(key, stop.bin, sku, -n, "pick", ref)))
        # Split what was picked over the orders of the stop, in wave order.
        pool = [Lot(sku, n, sub) for sku, n, sub in picks if n]
        serials = list(stop.serials)
        for alloc in stop.allocations:
            if alloc.cancelled:
                continue
            want = alloc.qty
            for lot in pool:
                take = min(want, lot.qty)
                if take:
                    alloc.picked.append((lot.key, take, lot.substitute_for))
                    if lot.key == stop.sku_code and lot.substitute_for is None:
                        alloc.serials += serials[:take]
                        del serials[:take]
                    lot.qty -= take
                    want -= take
        summary = f"bin {stop.bin}: {stop.got} of {stop.qty} {stop.sku_code}" + (
            " (SHORT)" if stop.short else ""
        )
        out.append(
            Record(
                Verdict(
                    self.station,
                    "stop.short" if stop.short else "stop.done",
                    summary,
                    at_ms=self.now_ms,
                    sku_code=stop.sku_code,
                )
            )
        )
        if stop.short or stop.substitutes:
            out.append(
                Log(
                    "warning",
                    summary + (f", substitutes {stop.substitutes}" if stop.substitutes else ""),
                )
            )
        self.index += 1
        while self.stop is not None and self.stop.qty == 0:  # stops emptied by a cancel
            self.stop.done = True
            self.index += 1
        if self.stop is None:
            return self._finish(out)
        text = f"{summary}; next: {self._goto()}"
        out.append(Show(Signal.OK if not stop.short else Signal.NOTICE, text))
        return State.AT_BIN, out

    def _finish(self, out: list[Command]) -> tuple[State, list[Command]]:
        per_order: dict[str, list[PickedLine]] = {}
        for stop in self.stops:
            for alloc in stop.allocations:
                got = sum(n for _, n, _ in alloc.picked)
                short = stop.short or (not alloc.cancelled and got < alloc.qty)
                for sku, n, sub in alloc.picked:
                    per_order.setdefault(alloc.order_id, []).append(
                        PickedLine(
                            line_id=alloc.line_id,
                            sku_code=sku,
                            qty=n,
                            bin=stop.bin,
                            short=short,
                            substitute_for=sub,
                            serials=alloc.serials if sub is None and sku == stop.sku_code else [],
                        )
                    )
                if not alloc.picked and not alloc.cancelled:
                    per_order.setdefault(alloc.order_id, []).append(
                        PickedLine(
                            line_id=alloc.line_id,
                            sku_code=stop.sku_code,
                            qty=0,
                            bin=stop.bin,
                            short=True,
                        )
                    )
        for order_id, line_id, sku, _ in self.unallocated:
            per_order.setdefault(order_id, []).append(
                PickedLine(line_id=line_id, sku_code=sku, qty=0, bin=None, short=True)
            )
        for order_id, release in self.orders.items():
            lines = per_order.get(order_id)
            if not lines:
                continue
            out.insert(
                0,
                Record(
                    OrderPickedPayload(
                        order_id=order_id,
                        version=release.version,
                        station=self.station,
                        operator=self.config.operator,
                        lines=lines[:500],
                    )
                ),
            )
        shorts = sum(1 for lines in per_order.values() for ln in lines if ln.short)
        transfer = self._transfer()
        done = (
            f"transfer {transfer} picked: load it on the transfer's truck"
            if transfer
            else f"wave {self.wave} done: {len(per_order)} orders picked"
        )
        text = done + (f", {shorts} short line(s) for a lead" if shorts else "")
        # Records first: the facts were inserted at the front; the journal follows them.
        records = [c for c in out if isinstance(c, Record)]
        logs = [c for c in out if not isinstance(c, Record)]
        return State.DONE, [
            *records,
            Record(Verdict(self.station, "wave.done", text, at_ms=self.now_ms)),
            *logs,
            Show(Signal.COMPLETE, text),
        ]

    def _update(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, OrderUpdated)
        new = event.release
        old = self.orders.get(new.order_id)
        doc = _doc(new)
        if old is None or new.version <= old.version:
            return self.state, [
                Log("info", f"{doc} update {new.order_id} v{new.version} not in this wave")
            ]
        self.orders[new.order_id] = new
        if new.status == "released":
            return self.state, [
                Log("info", f"{doc} {new.order_id} now v{new.version}; pick list unchanged")
            ]
        dropped = 0
        for i, stop in enumerate(self.stops):
            if stop.done or (i == self.index and self.state is not State.AT_BIN):
                continue  # started or finished stops keep their picks (facts)
            for alloc in stop.allocations:
                if alloc.order_id == new.order_id and not alloc.cancelled:
                    alloc.cancelled = True
                    dropped += alloc.qty
        picked = sum(
            n
            for s in self.stops
            for a in s.allocations
            if a.order_id == new.order_id
            for _, n, _ in a.picked
        )
        if doc == "transfer":
            # A transfer is withdrawn from this pick, not cancelled: the hub shipped it, a
            # lead moved its pick to another node or cancelled it (status_reason says which).
            text = f"transfer {new.order_id} withdrawn from this pick by the hub" + (
                f" ({new.status_reason})" if new.status_reason else ""
            )
        else:
            text = f"order {new.order_id} {new.status} by the hub"
        text += f": {dropped} unit(s) dropped from the list" + (
            f"; put back the {picked} already picked" if picked else ""
        )
        out = self._say(
            f"{doc}.do_not_ship", Signal.DO_NOT_SHIP, text, "warning", order_id=new.order_id
        )
        if self.state is State.AT_BIN and self.stop is not None and self.stop.qty == 0:
            # The current stop vanished: move on to the next non-empty one.
            while self.stop is not None and self.stop.qty == 0:
                self.stop.done = True
                self.index += 1
            if self.stop is None:
                state, rest = self._finish([])
                return state, [
                    *[c for c in rest if isinstance(c, Record)],
                    *out[:-1],
                    *[c for c in rest if not isinstance(c, Record)],
                ]
            out[-1] = Show(Signal.DO_NOT_SHIP, f"{text}; next: {self._goto()}")
        return self.state, out

    def _ignored(self, event: Event) -> tuple[State, list[Command]]:
        text = f"{type(event).__name__} ignored: nothing to do in {self.state.value}"
        return self.state, self._say("input.ignored", Signal.NOTICE, text, "info")

    def _logged(self, event: Event) -> tuple[State, list[Command]]:
        return self.state, [Log("info", f"{type(event).__name__} ignored in {self.state.value}")]

    def _busy(self, event: Event) -> tuple[State, list[Command]]:
        text = f"wave {self.wave} is still open: finish it before loading another"
        return self.state, self._say("wave.busy", Signal.WRONG_ITEM, text, "warning")


_Handler = Callable[[PickStation, Event], tuple[State, list[Command]]]
S = State
P = PickStation


def _row(**handlers: _Handler) -> dict[type, _Handler]:
    return table_row(EVENT_TYPES, handlers)


#: state -> event -> handler. Every pair is listed.
# fmt: off
TABLE: dict[State, dict[type, _Handler]] = {
    S.IDLE: _row(
        WaveLoaded=P._load, BinScanned=P._ignored, ItemScanned=P._ignored,
        ShortPick=P._ignored, Substitute=P._ignored, OrderUpdated=P._logged,
    ),
    S.AT_BIN: _row(
        WaveLoaded=P._busy, BinScanned=P._bin, ItemScanned=P._item_at_bin,
        ShortPick=P._short, Substitute=P._ignored, OrderUpdated=P._update,
    ),
    S.PICKING: _row(
        WaveLoaded=P._busy, BinScanned=P._bin, ItemScanned=P._item,
        ShortPick=P._short, Substitute=P._substitute, OrderUpdated=P._update,
    ),
    S.SUBSTITUTE: _row(
        WaveLoaded=P._busy, BinScanned=P._bin, ItemScanned=P._item,
        ShortPick=P._short, Substitute=P._ignored, OrderUpdated=P._update,
    ),
    S.AWAIT_SERIAL: _row(
        WaveLoaded=P._busy, BinScanned=P._bin, ItemScanned=P._serial,
        ShortPick=P._short, Substitute=P._ignored, OrderUpdated=P._update,
    ),
    S.DONE: _row(
        WaveLoaded=P._load, BinScanned=P._ignored, ItemScanned=P._ignored,
        ShortPick=P._ignored, Substitute=P._ignored, OrderUpdated=P._logged,
    ),
}
# fmt: on
TRANSITIONS: dict[tuple[State, type], _Handler] = {
    (state, event): handler for state, row in TABLE.items() for event, handler in row.items()
}
