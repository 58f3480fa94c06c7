"""Pack station (扫描出库 scan-verify, 称重 weighing, courier label): a pure state machine.

Theory of operation
-------------------
The operator scans a waybill (or order) barcode; the runtime looks the order up
in the node's store and hands the station :class:`WaybillScanned` with an
:class:`OrderView` (the release, the catalogue entries of its lines and
bundles, and whether a label was already printed). Each item scan arrives as
:class:`ItemScanned` with the catalogue entry the barcode resolved to, and is
judged against the open order: right item (green), wrong variant, not in the
order, over quantity, unknown barcode (red, each its own sound). A bundle line
takes either the bundle barcode or its components; a serial-tracked item wants
its serial (from the scan itself, or the next scan). Gift lines are lines.

When every line is complete the station records ``order.packed`` and asks for
a stable weight. Expected weight = sum of item weights + packaging for the box
type; the tolerance is ``tolerance_abs_g + tolerance_pct`` of the expectation.
Outside it (or an item without a catalogue weight) the order is held until a
lead overrides by PIN (logged) or the parcel is re-weighed. Then the station
checks the printer bound to the order's carrier and prints the label; the
printer's confirmation records ``order.labelled``. Each pack station talks to
the printer of the order's courier, so several printers print in parallel,
one per courier (并行打单).

Operator safety, enforced by construction and by :meth:`PackStation._may_print`
just before any :class:`Print`: no label while a line is incomplete, while the
weight is out of tolerance without an override, or for an order the cloud
cancelled or held (a cancel arriving mid-scan stops the order at once, and a
label already in the printer is recorded and shown as "void it"). A finished
order rescanned says so and prints again only on a lead's reprint (logged). A
print whose outcome is unknown (sent, then no answer) is never retried
automatically: only a lead's reprint prints again, even when the printer later reports the
job as not sent, and so is a job left unconfirmed when its order was put aside or stopped.

Every command list puts :class:`Record` first and :class:`Show` last, and every
Show has a Record (a :class:`~edge.stations.common.Verdict` at least) before it.
Time only comes in events (``at_ms``); :class:`Tick` drives the timeouts. A
scan of the same barcode within ``duplicate_window_ms`` of the previous one is
a scanner double read: recorded, logged and not counted (rule 0, before the
table).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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
from protocol.devices.zpl import WAYBILL_RE, ShippingLabel
from protocol.messages import (
    CatalogueUpsert,
    OrderLabelledPayload,
    OrderPackedPayload,
    OrderRelease,
    OrderWeighedPayload,
    PackedItem,
    WaybillPoolUsedPayload,
)


class State(enum.Enum):
    IDLE = "idle"  # no order open: scan a waybill
    SCANNING = "scanning"  # order open, item scans judged
    AWAIT_SERIAL = "await_serial"  # a serial-tracked item waits for its serial
    WEIGHING = "weighing"  # all lines verified, waiting for a stable weight
    NO_WEIGHT = "no_weight"  # scale gone / no stable weight / bad reading: Retry or ScaleBack
    WEIGHT_HOLD = "weight_hold"  # out of tolerance: lead override or re-weigh
    PRINTER_CHECK = "printer_check"  # asked the carrier's printer for its status
    PRINTING = "printing"  # label sent, waiting for the printer's confirmation
    PRINTER_PROBLEM = "printer_problem"  # printer not ready, nothing printed: fix and Retry
    PRINT_UNCERTAIN = "print_uncertain"  # label sent, outcome unknown: lead reprint only
    FINISHED = "finished"  # labelled (or a finished order rescanned): next waybill
    DO_NOT_SHIP = "do_not_ship"  # the cloud cancelled / held the open order


# --- values the runtime looks up --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelInfo:
    """The label already printed for an order (from the node's store)."""

    tracking_number: str
    printer: str
    carrier: str


@dataclass(frozen=True, slots=True)
class OrderView:
    release: OrderRelease
    #: Catalogue entries of the order's line SKUs and of bundle components.
    skus: Mapping[str, CatalogueUpsert] = field(default_factory=dict)
    #: Set when the node already recorded ``order.labelled`` for this order.
    labelled: LabelInfo | None = None
    #: The release has no printable waybill and the uplink is down: the courier's next free
    #: number of the node's offline pool (docs/channels.md "The offline pool"), None when
    #: the pool is empty (``offline`` then says why nothing prints).
    pool_waybill: str | None = None
    offline: bool = False


@dataclass(frozen=True, slots=True)
class PackConfig:
    station: str
    #: carrier code -> printer name (one printer per courier, 并行打单).
    printers: Mapping[str, str]
    tolerance_abs_g: int = 30
    tolerance_pct: float = 5.0
    #: box type -> packaging grams; ``default_packaging_g`` when absent or unknown.
    packaging_g: Mapping[str, int] = field(default_factory=dict)
    default_packaging_g: int = 0
    duplicate_window_ms: int = 30
    weigh_timeout_ms: int = 10_000
    printer_timeout_ms: int = 5_000
    print_timeout_ms: int = 20_000
    operator: str | None = None


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaybillScanned:
    barcode: str
    order: OrderView | None  # None: no order has this waybill / order id
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class ItemScanned:
    barcode: str
    sku: CatalogueUpsert | None  # None: not in the catalogue
    serial: str | None = None  # e.g. GS1 AI (21) from the same scan
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class WeightStable:
    grams: int
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class ScaleLost:
    reason: str
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class ScaleBack:
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    printer: str
    ok: bool
    problem: str | None = None
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class LabelPrinted:
    printer: str
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class PrintFailed:
    printer: str
    problem: str
    #: True if the job may have reached the printer (outcome unknown).
    sent: bool = False
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class LeadOverride:
    """A lead accepts a weight outside tolerance; ``pin_ok`` checked by the runtime."""

    lead: str
    pin_ok: bool
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class ReprintRequested:
    lead: str
    pin_ok: bool
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class OrderUpdated:
    """A newer release of an order arrived from the cloud (cancel, hold, changed lines)."""

    order: OrderView
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Retry:
    """Operator key: re-weigh, or try the printer again after fixing it."""

    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Abandon:
    """Operator key: put the open order aside (its items come out of the parcel)."""

    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Tick:
    at_ms: int


Event = (
    WaybillScanned
    | ItemScanned
    | WeightStable
    | ScaleLost
    | ScaleBack
    | PrinterStatus
    | LabelPrinted
    | PrintFailed
    | LeadOverride
    | ReprintRequested
    | OrderUpdated
    | Retry
    | Abandon
    | Tick
)
EVENT_TYPES: tuple[type, ...] = (
    WaybillScanned,
    ItemScanned,
    WeightStable,
    ScaleLost,
    ScaleBack,
    PrinterStatus,
    LabelPrinted,
    PrintFailed,
    LeadOverride,
    ReprintRequested,
    OrderUpdated,
    Retry,
    Abandon,
    Tick,
)

# --- commands -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestWeight:
    """Ask the scale for its next stable weight (answer: WeightStable or ScaleLost)."""


@dataclass(frozen=True, slots=True)
class QueryPrinter:
    printer: str


@dataclass(frozen=True, slots=True)
class Print:
    printer: str
    label: ShippingLabel
    reprint: bool = False


Command = Record | Log | RequestWeight | QueryPrinter | Print | Show


# --- order progress -------------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    line_id: str
    sku_code: str
    qty: int
    gift: bool
    #: bundle component sku -> qty per bundle; empty for a plain line.
    components: dict[str, int]
    #: needed / got, in component units for a bundle line (sku units otherwise).
    need: dict[str, int]
    got: dict[str, int]
    #: what was scanned for this line: scanned sku -> count, and serials.
    scanned: dict[str, int] = field(default_factory=dict)
    serials: dict[str, list[str]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.got == self.need

    def room_for(self, sku: str) -> bool:
        if not self.components:
            return sku == self.sku_code and self.got[sku] < self.need[sku]
        if sku == self.sku_code:
            return all(self.got[c] + q <= self.need[c] for c, q in self.components.items())
        return sku in self.components and self.got[sku] < self.need[sku]

    def add(self, sku: str, serial: str | None) -> None:
        if self.components and sku == self.sku_code:
            for c, q in self.components.items():
                self.got[c] += q
        else:
            self.got[sku] += 1
        self.scanned[sku] = self.scanned.get(sku, 0) + 1
        if serial is not None:
            self.serials.setdefault(sku, []).append(serial)

    def references(self, sku: str) -> bool:
        return sku == self.sku_code or sku in self.components


def _lines_of(view: OrderView) -> list[_Line]:
    lines = []
    for ol in view.release.lines:
        entry = view.skus.get(ol.sku_code)
        components = {c.sku_code: c.qty for c in entry.components} if entry is not None else {}
        need = (
            {c: q * ol.qty for c, q in components.items()} if components else {ol.sku_code: ol.qty}
        )
        lines.append(
            _Line(
                ol.line_id, ol.sku_code, ol.qty, ol.gift, components, need, dict.fromkeys(need, 0)
            )
        )
    return lines


def _variant_base(sku_code: str) -> str:
    """Brand + model + series, without the colour/variant after the last '-' (GLOSSARY 货号)."""
    return sku_code.rsplit("-", 1)[0].strip()


_DO_NOT_SHIP = ("cancelled", "on_hold")


class PackStation:
    def __init__(self, config: PackConfig) -> None:
        self.config = config
        self.station = config.station
        self.state = State.IDLE
        self.now_ms = 0
        self.view: OrderView | None = None
        self.lines: list[_Line] = []
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

    def handle(self, event: Event) -> list[Command]:
        self.now_ms = max(self.now_ms, event.at_ms)
        if isinstance(event, WaybillScanned | ItemScanned):
            duplicate = self._duplicate(event.barcode, event.at_ms)
            if duplicate is not None:
                return duplicate
        handler = TRANSITIONS[(self.state, type(event))]
        next_state, commands = handler(self, event)
        self.state = next_state
        return commands

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

    # --- opening an order ---------------------------------------------------------------------

    def _open(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, WaybillScanned)
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return self.state, bad
        view = event.order
        code = event.barcode
        if view is None:
            return self.state, self._say(
                "order.unknown", Signal.UNKNOWN, f"no order for {code}", "warning", barcode=code
            )
        release = view.release
        outstanding = self.print_outstanding
        if outstanding is not None and outstanding[0].order_id == release.order_id:
            # A label job for this order went out and was never confirmed either way.
            view = OrderView(
                view.release,
                view.skus,
                LabelInfo(release.waybill or "?", outstanding[1], release.carrier),
            )
        if view.labelled is not None:
            self._clear_order()
            self.view = view
            text = (
                f"order {release.order_id} is already labelled "
                f"({view.labelled.carrier} {view.labelled.tracking_number}): "
                "not printed again; a lead can reprint"
            )
            return State.FINISHED, self._say(
                "order.already_done", Signal.ALREADY_DONE, text, "info"
            )
        if release.status in _DO_NOT_SHIP:
            reason = f": {release.status_reason}" if release.status_reason else ""
            text = f"DO NOT SHIP order {release.order_id}: {release.status}{reason}"
            out = self._say(
                "order.do_not_ship", Signal.DO_NOT_SHIP, text, "warning", order_id=release.order_id
            )
            self._clear_order()
            return State.IDLE, out
        pooled = None
        if release.waybill is None or not WAYBILL_RE.fullmatch(release.waybill):
            if view.pool_waybill is not None and WAYBILL_RE.fullmatch(view.pool_waybill):
                # Offline: the label carries the pool's number (the hub binds it on report).
                pooled = view.pool_waybill
                release = release.model_copy(update={"waybill": pooled, "waybill_route": None})
                view = OrderView(release, view.skus, view.labelled)
            elif view.offline:
                text = (
                    f"order {release.order_id} has no waybill and the uplink is down: the "
                    f"offline waybill pool of {release.carrier} is empty; put it aside until "
                    "the hub is back"
                )
                out = self._say(
                    "order.pool_empty", Signal.HOLD, text, "error", order_id=release.order_id
                )
                self._clear_order()
                return State.IDLE, out
            else:
                text = f"order {release.order_id} has no printable waybill number yet: put it aside"
                out = self._say(
                    "order.no_waybill", Signal.HOLD, text, "warning", order_id=release.order_id
                )
                self._clear_order()
                return State.IDLE, out
        if release.carrier not in self.config.printers:
            text = f"no printer bound to carrier {release.carrier} at this station"
            out = self._say(
                "order.no_printer", Signal.HOLD, text, "error", order_id=release.order_id
            )
            self._clear_order()
            return State.IDLE, out
        self._clear_order()
        self.view = view
        self.pooled = pooled
        self.lines = _lines_of(view)
        self.seen.update(view.skus)
        _, need = self.progress()
        gifts = sum(1 for line in self.lines if line.gift)
        extra = f" ({gifts} gift line{'s' if gifts > 1 else ''})" if gifts else ""
        if pooled is not None:
            extra += f" (offline: waybill {pooled} from the pool)"
        text = f"order {release.order_id}: scan {need} item(s){extra}"
        return State.SCANNING, self._say("order.open", Signal.PROMPT, text)

    def _waybill_busy(self, event: Event) -> tuple[State, list[Command]]:
        """A waybill scanned while an order is open: the open order stays as it is."""
        assert isinstance(event, WaybillScanned)
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return self.state, bad
        current = self.release
        assert current is not None
        got, need = self.progress()
        if event.order is not None and event.order.release.order_id == current.order_id:
            text = f"order {current.order_id} is already open: {got} of {need} verified"
            return self.state, self._say("order.reopen", Signal.NOTICE, text)
        text = (
            f"waybill {event.barcode} scanned mid-order: finish order {current.order_id} "
            f"({got} of {need}) or put it aside first"
        )
        return self.state, self._say(
            "order.mid_order_waybill", Signal.WRONG_ITEM, text, "warning", barcode=event.barcode
        )

    # --- item scans ---------------------------------------------------------------------------

    def _judge(self, event: ItemScanned) -> tuple[int | None, list[Command]]:
        """Match an item scan to a line (index) or say why not (commands)."""
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return None, bad
        sku = event.sku
        if sku is None:
            return None, self._say(
                "item.unknown",
                Signal.UNKNOWN,
                f"unknown barcode {event.barcode}",
                "warning",
                barcode=event.barcode,
            )
        code = sku.sku_code
        # A plain line of this SKU first, then a bundle sold whole, then a bundle's component.
        for rank in (0, 1, 2):
            for i, line in enumerate(self.lines):
                plain = not line.components and line.sku_code == code
                whole = bool(line.components) and line.sku_code == code
                part = bool(line.components) and code in line.components
                if (plain, whole, part)[rank] and line.room_for(code):
                    return i, []
        fields: dict[str, str | None] = {"barcode": event.barcode, "sku_code": code}
        if any(line.references(code) for line in self.lines):
            text = f"too many {code}: the order needs no more"
            return None, self._say("item.over_qty", Signal.OVER_QTY, text, "warning", **fields)
        base = _variant_base(code)
        for line in self.lines:
            for wanted in (line.sku_code, *line.components):
                if not line.complete and _variant_base(wanted) == base and wanted != code:
                    text = f"wrong item: scanned {code}, the order wants {wanted}"
                    return None, self._say(
                        "item.wrong", Signal.WRONG_ITEM, text, "warning", **fields
                    )
        text = f"{code} is not in order {self.release.order_id if self.release else ''}"
        return None, self._say("item.not_in_order", Signal.NOT_IN_ORDER, text, "warning", **fields)

    def _item(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        index, refusal = self._judge(event)
        if index is None:
            return self.state, refusal
        sku = event.sku
        assert sku is not None
        self.seen[sku.sku_code] = sku
        if sku.serial_tracked:
            if event.serial is None:
                self.pending_serial = (index, sku, event.barcode)
                text = f"{sku.sku_code}: scan its serial number"
                return State.AWAIT_SERIAL, self._say(
                    "item.await_serial", Signal.PROMPT, text, barcode=event.barcode
                )
            return self._accept_serial(index, sku, event.barcode, event.serial)
        return self._count(index, sku, event.barcode, None)

    def _accept_serial(
        self, index: int, sku: CatalogueUpsert, barcode: str, serial: str
    ) -> tuple[State, list[Command]]:
        problem = barcode_problem(serial)
        if problem is not None:
            text = f"unreadable serial ({problem}): scan the serial of {sku.sku_code} again"
            self.pending_serial = (index, sku, barcode)
            return State.AWAIT_SERIAL, self._say(
                "item.serial_unreadable", Signal.UNKNOWN, text, "warning", serial=repr(serial)
            )
        used = {s for line in self.lines for ss in line.serials.values() for s in ss}
        if serial in used:
            text = f"serial {serial} was already scanned in this order: scan this item's serial"
            self.pending_serial = (index, sku, barcode)
            return State.AWAIT_SERIAL, self._say(
                "item.serial_duplicate", Signal.WRONG_ITEM, text, "warning", serial=serial
            )
        return self._count(index, sku, barcode, serial)

    def _count(
        self, index: int, sku: CatalogueUpsert, barcode: str, serial: str | None
    ) -> tuple[State, list[Command]]:
        self.pending_serial = None
        line = self.lines[index]
        line.add(sku.sku_code, serial)
        got, need = self.progress()
        gift = " (gift)" if line.gift else ""
        text = f"{sku.sku_code}{gift} ok: {got} of {need}"
        fields: dict[str, str | None] = {
            "barcode": barcode,
            "sku_code": sku.sku_code,
            "line_id": line.line_id,
            "serial": serial,
        }
        if not self._all_complete():
            return State.SCANNING, self._say("item.ok", Signal.OK, text, None, **fields)
        release = self.release
        assert release is not None
        packed = OrderPackedPayload(
            order_id=release.order_id,
            version=release.version,
            station=self.station,
            operator=self.config.operator,
            items=[
                PackedItem(
                    line_id=ln.line_id,
                    sku_code=scanned_sku,
                    qty=count,
                    serials=ln.serials.get(scanned_sku, []),
                )
                for ln in self.lines
                for scanned_sku, count in sorted(ln.scanned.items())
            ],
        )
        out: list[Command] = [self._verdict("item.ok", text, **fields), Record(packed)]
        if not self.scale_ok:
            done = f"all {need} items verified; the scale is unavailable: reconnect it, then Retry"
            out += [
                self._verdict("weight.no_scale", done),
                Log("error", done),
                Show(Signal.FAULT, done),
            ]
            return State.NO_WEIGHT, out
        done = f"all {need} items verified: put the parcel on the scale"
        self.deadline_ms = self.now_ms + self.config.weigh_timeout_ms
        out += [self._verdict("order.verified", done), RequestWeight(), Show(Signal.COMPLETE, done)]
        return State.WEIGHING, out

    def _serial(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        assert self.pending_serial is not None
        index, sku, barcode = self.pending_serial
        if event.sku is not None:
            text = (
                f"that is an item ({event.sku.sku_code}): scan the serial number of {sku.sku_code}"
            )
            return self.state, self._say(
                "item.serial_expected", Signal.WRONG_ITEM, text, "warning", barcode=event.barcode
            )
        return self._accept_serial(index, sku, barcode, event.barcode)

    def _item_after_verified(self, event: Event) -> tuple[State, list[Command]]:
        """All lines are complete: any further item is extra (never counted)."""
        assert isinstance(event, ItemScanned)
        index, refusal = self._judge(event)
        assert index is None  # every line is complete, nothing has room
        return self.state, refusal

    def _item_no_order(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return self.state, bad
        if event.sku is None:
            text = f"unknown barcode {event.barcode} (no order open: scan a waybill)"
            return self.state, self._say(
                "item.unknown", Signal.UNKNOWN, text, "warning", barcode=event.barcode
            )
        if self.state is State.FINISHED and self.release is not None:
            text = f"order {self.release.order_id} is finished: scan the next waybill"
            signal = Signal.ALREADY_DONE
        else:
            text = f"{event.sku.sku_code}: no order open, scan the waybill first"
            signal = Signal.NOT_IN_ORDER
        return self.state, self._say(
            "item.no_order", signal, text, "warning", barcode=event.barcode
        )

    def _item_do_not_ship(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        release = self.release
        assert release is not None
        text = f"DO NOT SHIP order {release.order_id} ({release.status}): put its items aside"
        return self.state, self._say(
            "item.do_not_ship",
            Signal.DO_NOT_SHIP,
            text,
            "warning",
            barcode=printable(event.barcode),
        )

    # --- weighing --------------------------------------------------------------------------------

    def expected_weight(self) -> tuple[int, list[str]]:
        """Expected parcel grams and the SKUs without a catalogue weight."""
        total = 0
        unknown: list[str] = []
        for line in self.lines:
            for code, count in line.scanned.items():
                entry = self.seen.get(code)
                grams = entry.weight_g if entry is not None else None
                if grams is None and entry is not None and entry.components:
                    grams = 0
                    for c in entry.components:
                        part = self.seen.get(c.sku_code)
                        if part is None or part.weight_g is None:
                            grams = None
                            break
                        grams += part.weight_g * c.qty
                if grams is None:
                    unknown.append(code)
                else:
                    total += grams * count
        release = self.release
        box = release.box_type if release is not None else None
        total += (
            self.config.packaging_g.get(box, self.config.default_packaging_g)
            if box
            else (self.config.default_packaging_g)
        )
        return total, sorted(set(unknown))

    def tolerance_g(self, expected: int) -> float:
        return self.config.tolerance_abs_g + expected * self.config.tolerance_pct / 100.0

    def _weighed(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, WeightStable)
        release = self.release
        assert release is not None
        self.scale_ok = True
        self.deadline_ms = None
        if not 0 <= event.grams <= 10_000_000:
            text = f"scale reported {event.grams} g: not a usable weight; re-zero and Retry"
            return State.NO_WEIGHT, self._say("weight.bad_reading", Signal.FAULT, text, "error")
        expected, unknown = self.expected_weight()
        tol = self.tolerance_g(expected)
        within = not unknown and abs(event.grams - expected) <= tol
        self.weighed_grams = event.grams
        self.weight_accepted = within
        self.override_by = None
        fact = Record(
            OrderWeighedPayload(
                order_id=release.order_id,
                version=release.version,
                station=self.station,
                grams=event.grams,
                expected_grams=expected,
                within_tolerance=within,
            )
        )
        if within:
            text = f"weight {event.grams} g ok (expected {expected} ± {tol:.0f} g): printing"
            return self._check_printer([fact, self._verdict("weight.ok", text)], text)
        if unknown:
            text = f"weight {event.grams} g cannot be checked: no catalogue weight for {', '.join(unknown)}; a lead must accept it"
        else:
            text = f"weight {event.grams} g is outside {expected} ± {tol:.0f} g: check the parcel; re-weigh or a lead overrides"
        return State.WEIGHT_HOLD, [
            fact,
            self._verdict("weight.hold", text),
            Log("warning", text),
            Show(Signal.HOLD, text),
        ]

    def _override(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, LeadOverride)
        release = self.release
        assert release is not None
        assert self.weighed_grams is not None
        if not event.pin_ok:
            text = f"override refused: wrong PIN for {event.lead}"
            return self.state, self._say(
                "weight.override_refused", Signal.HOLD, text, "warning", lead=event.lead
            )
        expected, _ = self.expected_weight()
        self.weight_accepted = True
        self.override_by = event.lead
        fact = Record(
            OrderWeighedPayload(
                order_id=release.order_id,
                version=release.version,
                station=self.station,
                grams=self.weighed_grams,
                expected_grams=expected,
                within_tolerance=False,
                override_by=event.lead,
            )
        )
        text = f"weight {self.weighed_grams} g accepted by lead {event.lead}: printing"
        return self._check_printer(
            [fact, self._verdict("weight.override", text, lead=event.lead), Log("warning", text)],
            text,
        )

    def _scale_lost(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ScaleLost)
        self.scale_ok = False
        text = f"scale unavailable: {event.reason}"
        nxt = State.NO_WEIGHT if self.state is State.WEIGHING else self.state
        if nxt is State.NO_WEIGHT:
            self.deadline_ms = None
            text += " (reconnect it; weighing resumes)"
        return nxt, self._say("device.scale_lost", Signal.FAULT, text, "error")

    def _scale_back(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ScaleBack)
        self.scale_ok = True
        # WEIGHING too: a Retry pressed while the scale was reconnecting asked a scale that
        # was not there, and that request ended unanswered; without a fresh one the
        # operator had to press Retry a second time (issue 19, finding 8b).
        if self.state in (State.NO_WEIGHT, State.WEIGHING):
            return self._request_weight("scale back: put the parcel on the scale")
        return self.state, self._say("device.scale_back", Signal.CLEAR, "scale back", "info")

    def _request_weight(self, text: str) -> tuple[State, list[Command]]:
        self.deadline_ms = self.now_ms + self.config.weigh_timeout_ms
        return State.WEIGHING, [
            self._verdict("weight.request", text),
            RequestWeight(),
            Show(Signal.PROMPT, text),
        ]

    # --- printing ------------------------------------------------------------------------------

    def _check_printer(self, durable: list[Command], text: str) -> tuple[State, list[Command]]:
        printer = self._printer()
        if printer is None:
            release = self.release
            carrier = release.carrier if release is not None else "?"
            problem = f"no printer bound to carrier {carrier}"
            self.printer_problem = problem
            return State.PRINTER_PROBLEM, [
                *durable,
                self._verdict("printer.problem", problem),
                Log("error", problem),
                Show(Signal.FAULT, problem),
            ]
        self.deadline_ms = self.now_ms + self.config.printer_timeout_ms
        return State.PRINTER_CHECK, [*durable, QueryPrinter(printer), Show(Signal.PROMPT, text)]

    def _printer_status(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, PrinterStatus)
        printer = self._printer()
        if event.printer != printer:
            return self.state, [Log("info", f"status of printer {event.printer} ignored")]
        if not event.ok:
            problem = f"printer {printer}: {event.problem or 'not ready'}"
            self.deadline_ms = None
            if self.state is State.PRINTER_PROBLEM and problem == self.printer_problem:
                return self.state, []  # the same problem polled again
            self.printer_problem = problem
            text = f"{problem}: fix it, the label prints when it is ready"
            return State.PRINTER_PROBLEM, self._say("printer.problem", Signal.FAULT, text, "error")
        return self._print(printer)

    def _print(self, printer: str) -> tuple[State, list[Command]]:
        release = self.release
        assert release is not None
        why_not = self._may_print()
        if why_not is not None:  # pragma: no cover - the table never gets here unsafely
            text = f"label blocked: {why_not}"
            return State.WEIGHT_HOLD, self._say("print.blocked", Signal.HOLD, text, "error")
        assert release.waybill is not None
        assert self.weighed_grams is not None
        r = release.recipient
        label = ShippingLabel(
            waybill=release.waybill,
            carrier=release.carrier,
            order_id=release.order_id,
            weight_g=self.weighed_grams,
            recipient_name=r.name,
            recipient_phone=r.phone,
            province=r.province,
            city=r.city,
            district=r.district or "",
            address=r.address,
            route=release.waybill_route or "",
        )
        reprint = self.reprint_by is not None
        self.print_outstanding = (release, printer, self.reprint_by)
        self.printer_problem = None
        self.deadline_ms = self.now_ms + self.config.print_timeout_ms
        text = f"printing {release.carrier} label {release.waybill} on {printer}"
        used: list[Command] = []
        if self.pooled is not None and self.pooled == release.waybill:
            # Committed with the label's intent: the number is this order's from now on.
            self.pool_recorded = True
            used.append(
                Record(
                    WaybillPoolUsedPayload(
                        order_id=release.order_id,
                        version=release.version,
                        station=self.station,
                        carrier=release.carrier,
                        waybill_code=self.pooled,
                    )
                )
            )
        return State.PRINTING, [
            *used,
            self._verdict("print.sent", text),
            Print(printer, label, reprint),
            Show(Signal.PROMPT, text),
        ]

    def _labelled_fact(self, printer: str) -> Record:
        assert self.print_outstanding is not None
        release, _, reprint_by = self.print_outstanding
        assert release.waybill is not None
        return Record(
            OrderLabelledPayload(
                order_id=release.order_id,
                version=release.version,
                station=self.station,
                carrier=release.carrier,
                tracking_number=release.waybill,
                printer=printer,
                reprint=reprint_by is not None,
                reprint_by=reprint_by,
            )
        )

    def _labelled(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, LabelPrinted)
        outstanding = self.print_outstanding
        release = self.release
        if outstanding is None or release is None or outstanding[0].order_id != release.order_id:
            return self.state, [Log("warning", f"unexpected label from {event.printer}")]
        fact = self._labelled_fact(event.printer)
        self.print_outstanding = None
        self.deadline_ms = None
        self.reprint_by = None
        text = f"order {release.order_id} done: label {release.waybill} printed"
        skus = self.view.skus if self.view is not None else {}
        info = LabelInfo(release.waybill or "", event.printer, release.carrier)
        self.view = OrderView(release, skus, info)
        return State.FINISHED, [
            fact,
            self._verdict("order.labelled", text),
            Show(Signal.COMPLETE, text),
        ]

    def _late_label(self, event: Event) -> tuple[State, list[Command]]:
        """A label confirmation outside PRINTING: a fact if we sent that job, else noise."""
        assert isinstance(event, LabelPrinted)
        outstanding = self.print_outstanding
        if outstanding is None:
            return self.state, [Log("warning", f"unexpected label from {event.printer}")]
        fact = self._labelled_fact(event.printer)
        self.print_outstanding = None
        printed = outstanding[0]
        release = self.release
        now = release if release is not None and release.order_id == printed.order_id else printed
        if now.status in _DO_NOT_SHIP:
            text = f"DO NOT SHIP: a label printed for {now.order_id} ({now.status}): void it"
            signal = Signal.DO_NOT_SHIP
        else:
            text = f"a label printed for {now.order_id} after it stopped printing: void it"
            signal = Signal.HOLD
        return self.state, [
            fact,
            self._verdict("print.void", text, order_id=now.order_id),
            Log("warning", text),
            Show(signal, text),
        ]

    def _print_failed(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, PrintFailed)
        self.deadline_ms = None
        if event.sent:
            text = (
                f"printer {event.printer}: {event.problem}; the label may or may not have "
                "printed: if none came out, a lead reprints"
            )
            return State.PRINT_UNCERTAIN, self._say("print.uncertain", Signal.FAULT, text, "error")
        self.print_outstanding = None
        self.printer_problem = f"printer {event.printer}: {event.problem}"
        text = f"{self.printer_problem}: nothing printed; fix it, the label prints when it is ready"
        return State.PRINTER_PROBLEM, self._say("printer.problem", Signal.FAULT, text, "error")

    def _late_print_failed(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, PrintFailed)
        if self.print_outstanding is None:
            return self.state, [Log("warning", f"unexpected print failure from {event.printer}")]
        # The job stays outstanding even when the report says it was not sent: the station
        # had stopped waiting for it (timed out and told the operator "if none came out, a
        # lead reprints", or was put aside), or the printer had already reported it sent.
        # Clearing it let a rescan of the order print a second label with no lead's reprint
        # (found by test_random_sequences_never_print_unsafely). The module's rule: an
        # outcome once unknown prints again only on a lead's reprint.
        text = f"printer {event.printer}: {event.problem} (order no longer printing)"
        return self.state, [self._verdict("print.failed_late", text), Log("warning", text)]

    def _reprint(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ReprintRequested)
        release = self.release
        assert release is not None
        if not event.pin_ok:
            text = f"reprint refused: wrong PIN for {event.lead}"
            return self.state, self._say(
                "print.reprint_refused", Signal.HOLD, text, "warning", lead=event.lead
            )
        if release.status in _DO_NOT_SHIP:
            text = f"DO NOT SHIP order {release.order_id} ({release.status}): no reprint"
            return self.state, self._say(
                "print.reprint_refused", Signal.DO_NOT_SHIP, text, "warning", lead=event.lead
            )
        if self.weighed_grams is None:
            # A finished order rescanned from the store: the label shows the weight, so weigh it.
            self._reload_for_reprint()
            self.reprint_by = event.lead
            text = f"reprint by {event.lead}: put the parcel on the scale"
            st, cmds = self._request_weight(text)
            return st, [
                self._verdict("print.reprint", text, lead=event.lead),
                Log("warning", text),
                *cmds,
            ]
        self.reprint_by = event.lead
        text = f"reprint of {release.waybill} by lead {event.lead}"
        return self._check_printer(
            [self._verdict("print.reprint", text, lead=event.lead), Log("warning", text)], text
        )

    def _reload_for_reprint(self) -> None:
        """Treat the rescanned finished order as verified: it was, when it was labelled."""
        assert self.view is not None
        self.lines = _lines_of(self.view)
        self.seen.update(self.view.skus)
        for line in self.lines:
            line.got = dict(line.need)
            line.scanned = {line.sku_code: line.qty}

    # --- cloud updates --------------------------------------------------------------------------

    def _update(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, OrderUpdated)
        current = self.release
        new = event.order.release
        if current is None or new.order_id != current.order_id or new.version <= current.version:
            return self.state, [
                Log("info", f"order update {new.order_id} v{new.version} not for the open order")
            ]
        if new.status in _DO_NOT_SHIP:
            self.view = OrderView(
                new, {**self.view.skus, **event.order.skus} if self.view else event.order.skus
            )
            self.deadline_ms = None
            reason = f": {new.status_reason}" if new.status_reason else ""
            text = f"DO NOT SHIP order {new.order_id}: {new.status} by the hub{reason}; put its items aside"
            return State.DO_NOT_SHIP, self._say(
                "order.do_not_ship", Signal.DO_NOT_SHIP, text, "warning"
            )
        same_lines = [(ln.line_id, ln.sku_code, ln.qty) for ln in new.lines] == [
            (ln.line_id, ln.sku_code, ln.qty) for ln in current.lines
        ]
        new = self._keep_pooled(new)
        self.view = OrderView(new, {**(self.view.skus if self.view else {}), **event.order.skus})
        if same_lines:
            return self.state, [
                Log("info", f"order {new.order_id} now v{new.version}, lines unchanged")
            ]
        self.lines = _lines_of(self.view)
        self.seen.update(event.order.skus)
        self.pending_serial = None
        self.weighed_grams = None
        self.weight_accepted = False
        self.override_by = None
        self.deadline_ms = None
        _, need = self.progress()
        text = f"order {new.order_id} changed by the hub: empty the parcel and scan all {need} items again"
        return State.SCANNING, self._say("order.changed", Signal.WRONG_ITEM, text, "warning")

    def _keep_pooled(self, new: OrderRelease, printed: bool = False) -> OrderRelease:
        """A newer release while the open order prints a pool number: without a waybill of
        its own, or once a label job went out with the pool number (even one that never left
        the printer's queue: its use is recorded), the pool number stays; else the hub's
        number (it came back before any label) replaces it."""
        if self.pooled is None:
            return new
        printable = new.waybill is not None and WAYBILL_RE.fullmatch(new.waybill)
        if printable and not self.pool_recorded and not printed:
            self.pooled = None
            return new
        return new.model_copy(update={"waybill": self.pooled, "waybill_route": None})

    def _update_finished(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, OrderUpdated)
        current = self.release
        new = event.order.release
        if current is None or new.order_id != current.order_id or new.version <= current.version:
            return self.state, [Log("info", f"order update {new.order_id} v{new.version} ignored")]
        assert self.view is not None
        new = self._keep_pooled(new, printed=True)
        self.view = OrderView(new, self.view.skus, self.view.labelled)
        if new.status in _DO_NOT_SHIP:
            text = f"order {new.order_id} was {new.status} after labelling: pull the parcel"
            return self.state, self._say("order.do_not_ship", Signal.DO_NOT_SHIP, text, "warning")
        return self.state, [Log("info", f"finished order {new.order_id} now v{new.version}")]

    def _update_stopped(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, OrderUpdated)
        current = self.release
        new = event.order.release
        if current is None or new.order_id != current.order_id or new.version <= current.version:
            return self.state, [Log("info", f"order update {new.order_id} v{new.version} ignored")]
        assert self.view is not None
        self.view = OrderView(new, self.view.skus)
        if new.status in _DO_NOT_SHIP:
            return self.state, [Log("info", f"order {new.order_id} still {new.status}")]
        text = f"order {new.order_id} released again: scan its waybill to start it over"
        return self.state, self._say("order.released_again", Signal.NOTICE, text, "info")

    # --- operator keys, timeouts, ignored input -------------------------------------------------

    def _retry(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, Retry)
        if self.state in (State.WEIGHING, State.NO_WEIGHT, State.WEIGHT_HOLD):
            return self._request_weight("weighing again: put the parcel on the scale")
        assert self.state is State.PRINTER_PROBLEM
        text = "checking the printer again"
        return self._check_printer([self._verdict("printer.retry", text)], text)

    def _abandon(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, Abandon)
        release = self.release
        text = (
            f"order {release.order_id} put aside: take its items out of the parcel"
            if release is not None and self.state not in (State.FINISHED,)
            else "ready for the next waybill"
        )
        out = self._say("order.abandoned", Signal.NOTICE, text, "info")
        self._clear_order()
        return State.IDLE, out

    def _tick(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, Tick)
        if self.deadline_ms is None or event.at_ms < self.deadline_ms:
            return self.state, []
        self.deadline_ms = None
        if self.state is State.WEIGHING:
            text = "no stable weight: check the parcel sits still on the scale, then Retry"
            return State.NO_WEIGHT, self._say("weight.timeout", Signal.FAULT, text, "error")
        if self.state is State.PRINTER_CHECK:
            self.printer_problem = f"printer {self._printer()} does not answer"
            text = f"{self.printer_problem}: check it, then Retry"
            return State.PRINTER_PROBLEM, self._say("printer.problem", Signal.FAULT, text, "error")
        assert self.state is State.PRINTING
        text = "the printer did not confirm the label: if none came out, a lead reprints"
        return State.PRINT_UNCERTAIN, self._say("print.uncertain", Signal.FAULT, text, "error")

    def _ignored(self, event: Event) -> tuple[State, list[Command]]:
        """An operator input that means nothing now: say so (journal, log, light)."""
        text = f"{type(event).__name__} ignored: nothing to do in {self.state.value}"
        lead = getattr(event, "lead", None)
        return self.state, self._say("input.ignored", Signal.NOTICE, text, "info", lead=lead)

    def _logged(self, event: Event) -> tuple[State, list[Command]]:
        """Device or cloud chatter that changes nothing now: a log line is the verdict."""
        return self.state, [Log("info", f"{type(event).__name__} ignored in {self.state.value}")]

    def _quiet(self, event: Event) -> tuple[State, list[Command]]:
        """A tick with no deadline, or a printer status poll outside a print: nothing to say."""
        return self.state, []


_Handler = Callable[[PackStation, Event], tuple[State, list[Command]]]
S = State
P = PackStation

_ORDER_OPEN = (S.SCANNING, S.AWAIT_SERIAL)
_VERIFIED = (
    S.WEIGHING,
    S.NO_WEIGHT,
    S.WEIGHT_HOLD,
    S.PRINTER_CHECK,
    S.PRINTING,
    S.PRINTER_PROBLEM,
    S.PRINT_UNCERTAIN,
)


def _row(**handlers: _Handler) -> dict[type, _Handler]:
    return table_row(EVENT_TYPES, handlers)


#: state -> event -> handler (returns the next state and the commands). Every pair is listed.
# fmt: off
TABLE: dict[State, dict[type, _Handler]] = {
    S.IDLE: _row(
        WaybillScanned=P._open, ItemScanned=P._item_no_order, WeightStable=P._logged,
        ScaleLost=P._scale_lost, ScaleBack=P._scale_back, PrinterStatus=P._quiet,
        LabelPrinted=P._late_label, PrintFailed=P._late_print_failed, LeadOverride=P._ignored,
        ReprintRequested=P._ignored, OrderUpdated=P._logged, Retry=P._ignored,
        Abandon=P._ignored, Tick=P._quiet,
    ),
    S.SCANNING: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item, WeightStable=P._logged,
        ScaleLost=P._scale_lost, ScaleBack=P._scale_back, PrinterStatus=P._quiet,
        LabelPrinted=P._late_label, PrintFailed=P._late_print_failed, LeadOverride=P._ignored,
        ReprintRequested=P._ignored, OrderUpdated=P._update, Retry=P._ignored,
        Abandon=P._abandon, Tick=P._quiet,
    ),
    S.AWAIT_SERIAL: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._serial, WeightStable=P._logged,
        ScaleLost=P._scale_lost, ScaleBack=P._scale_back, PrinterStatus=P._quiet,
        LabelPrinted=P._late_label, PrintFailed=P._late_print_failed, LeadOverride=P._ignored,
        ReprintRequested=P._ignored, OrderUpdated=P._update, Retry=P._ignored,
        Abandon=P._abandon, Tick=P._quiet,
    ),
    S.WEIGHING: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._weighed, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._quiet, LabelPrinted=P._late_label, PrintFailed=P._late_print_failed,
        LeadOverride=P._ignored, ReprintRequested=P._ignored, OrderUpdated=P._update,
        Retry=P._retry, Abandon=P._abandon, Tick=P._tick,
    ),
    S.NO_WEIGHT: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._weighed, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._quiet, LabelPrinted=P._late_label, PrintFailed=P._late_print_failed,
        LeadOverride=P._ignored, ReprintRequested=P._ignored, OrderUpdated=P._update,
        Retry=P._retry, Abandon=P._abandon, Tick=P._quiet,
    ),
    S.WEIGHT_HOLD: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._weighed, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._quiet, LabelPrinted=P._late_label, PrintFailed=P._late_print_failed,
        LeadOverride=P._override, ReprintRequested=P._ignored, OrderUpdated=P._update,
        Retry=P._retry, Abandon=P._abandon, Tick=P._quiet,
    ),
    S.PRINTER_CHECK: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._logged, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._printer_status, LabelPrinted=P._late_label,
        PrintFailed=P._late_print_failed, LeadOverride=P._ignored, ReprintRequested=P._ignored,
        OrderUpdated=P._update, Retry=P._ignored, Abandon=P._abandon, Tick=P._tick,
    ),
    S.PRINTING: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._logged, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._quiet, LabelPrinted=P._labelled, PrintFailed=P._print_failed,
        LeadOverride=P._ignored, ReprintRequested=P._ignored, OrderUpdated=P._update,
        Retry=P._ignored, Abandon=P._abandon, Tick=P._tick,
    ),
    S.PRINTER_PROBLEM: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._logged, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._printer_status, LabelPrinted=P._late_label,
        PrintFailed=P._late_print_failed, LeadOverride=P._ignored, ReprintRequested=P._ignored,
        OrderUpdated=P._update, Retry=P._retry, Abandon=P._abandon, Tick=P._quiet,
    ),
    S.PRINT_UNCERTAIN: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._logged, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._quiet, LabelPrinted=P._labelled, PrintFailed=P._late_print_failed,
        LeadOverride=P._ignored, ReprintRequested=P._reprint, OrderUpdated=P._update,
        Retry=P._ignored, Abandon=P._abandon, Tick=P._quiet,
    ),
    S.FINISHED: _row(
        WaybillScanned=P._open, ItemScanned=P._item_no_order, WeightStable=P._logged,
        ScaleLost=P._scale_lost, ScaleBack=P._scale_back, PrinterStatus=P._quiet,
        LabelPrinted=P._late_label, PrintFailed=P._late_print_failed, LeadOverride=P._ignored,
        ReprintRequested=P._reprint, OrderUpdated=P._update_finished, Retry=P._ignored,
        Abandon=P._abandon, Tick=P._quiet,
    ),
    S.DO_NOT_SHIP: _row(
        WaybillScanned=P._open, ItemScanned=P._item_do_not_ship, WeightStable=P._logged,
        ScaleLost=P._scale_lost, ScaleBack=P._scale_back, PrinterStatus=P._quiet,
        LabelPrinted=P._late_label, PrintFailed=P._late_print_failed, LeadOverride=P._ignored,
        ReprintRequested=P._ignored, OrderUpdated=P._update_stopped, Retry=P._ignored,
        Abandon=P._abandon, Tick=P._quiet,
    ),
}
# fmt: on
TRANSITIONS: dict[tuple[State, type], _Handler] = {
    (state, event): handler for state, row in TABLE.items() for event, handler in row.items()
}
