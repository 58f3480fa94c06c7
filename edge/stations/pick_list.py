"""The pick list of the pick station (edge/stations/pick.py): its stops, each order line's
share of a stop, and the allocation of a wave's lines to bins. Split from the station, which
walks the list; pure like it (no I/O, no clock).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from protocol.messages import BinInfo, OrderRelease, StockLevel


@dataclass(slots=True)
class Allocation:
    order_id: str
    line_id: str
    qty: int
    #: filled when the stop ends: (sku picked, qty, substitute_for)
    picked: list[tuple[str, int, str | None]] = field(default_factory=list)
    cancelled: bool = False
    #: filled when the stop ends: the serials of the units it took (a transfer's pick).
    serials: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Stop:
    bin: str
    sku_code: str
    allocations: list[Allocation]
    picked: int = 0
    substitutes: dict[str, int] = field(default_factory=dict)
    short: bool = False
    done: bool = False
    #: The serials of the units picked here, in scan order (a transfer's serial-tracked SKU).
    serials: list[str] = field(default_factory=list)

    @property
    def qty(self) -> int:
        return sum(a.qty for a in self.allocations if not a.cancelled)

    @property
    def got(self) -> int:
        return self.picked + sum(self.substitutes.values())


@dataclass(slots=True)
class Lot:
    key: str  # a bin code (stock lots) or a sku code (picked lots)
    qty: int
    substitute_for: str | None = None


def allocate(
    orders: tuple[OrderRelease, ...], bins: Mapping[str, BinInfo], stock: tuple[StockLevel, ...]
) -> tuple[list[Stop], list[tuple[str, str, str, int]]]:
    """Stops per (bin, SKU), and what no bin holds: (order, line, sku, qty) short from the start."""
    left: dict[str, list[Lot]] = {}
    for level in stock:
        if level.qty > 0:
            left.setdefault(level.sku_code, []).append(Lot(level.bin, level.qty))
    for lots in left.values():
        lots.sort(key=lambda lot: (_walk(bins, lot.key), lot.key))
    stops: dict[tuple[str, str], Stop] = {}
    unallocated: list[tuple[str, str, str, int]] = []
    for order in orders:
        if order.status != "released":
            continue
        for line in order.lines:
            need = line.qty
            for lot in left.get(line.sku_code, []):
                if need == 0:
                    break
                bin_code = lot.key
                take = min(lot.qty, need)
                if take == 0:
                    continue
                lot.qty -= take
                need -= take
                stop = stops.setdefault(
                    (bin_code, line.sku_code), Stop(bin_code, line.sku_code, [])
                )
                stop.allocations.append(Allocation(order.order_id, line.line_id, take))
            if need:
                unallocated.append((order.order_id, line.line_id, line.sku_code, need))
    return list(stops.values()), unallocated


def _walk(bins: Mapping[str, BinInfo], code: str) -> int:
    info = bins.get(code)
    return info.walk_order if info is not None else 10_000_001
