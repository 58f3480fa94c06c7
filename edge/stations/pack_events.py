"""The pack station's vocabulary: its states, the values the runtime looks up, the events it
handles, the commands it returns, and an open order's progress per line (edge/stations/pack.py
has the theory of operation and the transition table)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from edge.stations.common import (
    Log,
    Record,
    Show,
)
from protocol.devices.zpl import ShippingLabel
from protocol.messages import (
    CatalogueUpsert,
    OrderRelease,
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
    #: The release has no printable waybill and the uplink is down, or the hub's draw is
    #: late (``draw_late``): the courier's next free number of the node's offline pool
    #: (docs/channels.md "The offline pool"), None when the pool is empty (``offline`` then
    #: says why nothing prints).
    pool_waybill: str | None = None
    offline: bool = False
    #: The uplink is up but the release has waited longer than the node allows for the hub's
    #: number (a courier outage, a slow draw): the pool's number is offered.
    draw_late: bool = False


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
class Line:
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


def lines_of(view: OrderView) -> list[Line]:
    lines = []
    for ol in view.release.lines:
        entry = view.skus.get(ol.sku_code)
        components = {c.sku_code: c.qty for c in entry.components} if entry is not None else {}
        need = (
            {c: q * ol.qty for c, q in components.items()} if components else {ol.sku_code: ol.qty}
        )
        lines.append(
            Line(ol.line_id, ol.sku_code, ol.qty, ol.gift, components, need, dict.fromkeys(need, 0))
        )
    return lines


def variant_base(sku_code: str) -> str:
    """Brand + model + series, without the colour/variant after the last '-' (GLOSSARY 货号)."""
    return sku_code.rsplit("-", 1)[0].strip()


DO_NOT_SHIP = ("cancelled", "on_hold")
