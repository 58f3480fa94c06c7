"""Reads the pages need from the node's store: a wave's barcodes, item and bin lookups.

Each read holds the pick service's lock (the store has one connection; docs/pick-api.md)
and is a few indexed SELECTs over the replica tables (edge/store/replica.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.runtimes.pick import PickService
from edge.store import replica


def wave_codes(service: PickService, wave: str) -> dict[str, Any]:
    skus = sorted({s.sku_code for s in service.pick_list(wave).stops})
    with service.lock:
        conn = service.store.conn
        bins: dict[str, str] = {}
        for info in replica.bins(conn, service.warehouse):
            bins[info.code] = info.code
            if info.barcode:
                bins[info.barcode] = info.code
        items: dict[str, str] = {}
        names: dict[str, str] = {}
        # A transfer's serial-tracked SKUs: each unit's item scan wants its serial next
        # (edge/stations/pick.py); an order's pick scans none.
        transfer = not replica.wave(conn, wave, service.store.node_id)
        serial: list[str] = []
        for code in skus:
            for (barcode,) in conn.execute(
                "SELECT barcode FROM barcode WHERE sku_code = ? ORDER BY barcode", (code,)
            ):
                items[str(barcode)] = code
            found = replica.sku(conn, code)
            if found is not None:
                names[code] = found.name
                if transfer and found.serial_tracked:
                    serial.append(code)
    return {"wave": wave, "bins": bins, "items": items, "names": names, "serial": serial}


def count_codes(service: PickService) -> dict[str, Any]:
    """The bins a count page tells bin scans from item scans by (code and barcode -> code).
    No stock: counting is blind (issue 14), and item barcodes are resolved by the node."""
    with service.lock:
        bins: dict[str, str] = {}
        for info in replica.bins(service.store.conn, service.warehouse):
            bins[info.code] = info.code
            if info.barcode:
                bins[info.barcode] = info.code
    return {"bins": bins}


@dataclass
class ItemFound:
    sku_code: str
    name: str
    #: (bin, expected quantity) where the node's stock table has it
    bins: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Found:
    query: str
    bin: str | None = None
    #: (sku code, name, expected quantity) of the bin looked up
    contents: list[tuple[str, str, int]] = field(default_factory=list)
    items: list[ItemFound] = field(default_factory=list)


def lookup(service: PickService, query: str, limit: int = 10) -> Found:
    """A scanned or typed code: a bin (what it holds), an item barcode or SKU code (where
    it is), else a search of SKU codes and names."""
    found = Found(query)
    if not query:
        return found
    with service.lock:
        conn = service.store.conn
        bin_code = replica.bin_by_barcode(conn, query)
        if bin_code is not None:
            found.bin = bin_code
            found.contents = [
                (str(s), str(n or ""), int(q))
                for s, n, q in conn.execute(
                    "SELECT e.sku_code, s.name, e.qty FROM stock_expected e "
                    "LEFT JOIN sku s USING (sku_code) WHERE e.bin = ? ORDER BY e.sku_code",
                    (bin_code,),
                )
            ]
            return found
        one = replica.sku_by_barcode(conn, query) or replica.sku(conn, query)
        skus = [one] if one is not None else replica.search_skus(conn, query, limit)
        for sku in skus:
            item = ItemFound(sku.sku_code, sku.name)
            item.bins = [
                (str(b), int(q))
                for b, q in conn.execute(
                    "SELECT bin, qty FROM stock_expected WHERE sku_code = ? ORDER BY bin",
                    (sku.sku_code,),
                )
            ]
            found.items.append(item)
    return found
