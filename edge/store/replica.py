"""What the cloud tells the node, as the node keeps it: catalogue, orders, bins, stock.

Each downlink change is applied by :func:`apply_change` inside the store's
transaction that also moves the ``down_applied`` cursor, so a change is
either fully applied and counted, or not at all. Orders are kept at the
highest version seen: a replayed or late older version never rolls back a
cancel.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import orjson

from edge.store import serial_labels, waybill_pool
from protocol.devices.zpl import WAYBILL_RE
from protocol.messages import (
    BinInfo,
    BinsUpserted,
    BundleComponent,
    CatalogueRemoved,
    CatalogueUpserted,
    Change,
    OrderRelease,
    OrderReleased,
    PoRelease,
    PoReleased,
    ReturnReleased,
    SerialLabelAsked,
    StockExpectedSet,
    TransferOutbound,
    TransferOutboundReleased,
    TransferRelease,
    TransferReleased,
    WaybillPoolReleaseAsked,
    WaybillPoolReleasedPayload,
    WaybillPoolToppedUp,
)


@dataclass(frozen=True, slots=True)
class Sku:
    sku_code: str
    name: str
    weight_g: int | None
    gtin: str | None = None
    serial_tracked: bool = False
    components: tuple[BundleComponent, ...] = ()


def apply_change(
    conn: sqlite3.Connection, change: Change, now_ms: int | None = None
) -> WaybillPoolReleasedPayload | None:
    """Apply one change; return the answer the node owes the hub for it, if any (the caller
    appends it to the outbox in the same transaction). ``now_ms``: the node's wall clock, the
    start of a release's wait for its waybill (None: never counted as late)."""
    if isinstance(change, CatalogueUpserted):
        _upsert_sku(conn, change)
    elif isinstance(change, CatalogueRemoved):
        # The hub deletes only a SKU nothing names; its barcodes go with it, so a scan of
        # one is an unknown code again. Removing a SKU the node lacks changes nothing.
        code = change.payload.sku_code
        conn.execute("DELETE FROM barcode WHERE sku_code = ?", (code,))
        conn.execute("DELETE FROM sku WHERE sku_code = ?", (code,))
    elif isinstance(change, OrderReleased):
        _release_order(conn, change.payload, now_ms)
    elif isinstance(change, BinsUpserted):
        _upsert_bins(conn, change.payload.warehouse, change.payload.bins)
    elif isinstance(change, StockExpectedSet):
        p = change.payload
        conn.executemany("DELETE FROM stock_expected WHERE bin = ?", [(b,) for b in p.bins])
        conn.executemany(
            "INSERT INTO stock_expected VALUES (?, ?, ?) ON CONFLICT(bin, sku_code) DO UPDATE SET qty = excluded.qty",
            [(lv.bin, lv.sku_code, lv.qty) for lv in p.levels],
        )
    elif isinstance(change, PoReleased):
        _release_po(conn, change.payload)
    elif isinstance(change, ReturnReleased):
        r = change.payload
        # The newest release of a request (compaction keeps the newest per request).
        conn.execute(
            "INSERT INTO return_release VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(request) DO UPDATE "
            "SET warehouse = excluded.warehouse, status = excluded.status, order_id = "
            "excluded.order_id, return_waybill = excluded.return_waybill, tracking_number = "
            "excluded.tracking_number, body = excluded.body",
            (
                r.request,
                r.warehouse,
                r.status,
                r.order_id,
                r.return_waybill,
                r.tracking_number,
                r.model_dump_json(),
            ),
        )
    elif isinstance(change, TransferReleased):
        _release_transfer(conn, change.payload)
    elif isinstance(change, WaybillPoolToppedUp):
        waybill_pool.top_up(conn, change.payload)
    elif isinstance(change, TransferOutboundReleased):
        _release_outbound(conn, change.payload)
    elif isinstance(change, WaybillPoolReleaseAsked):
        return waybill_pool.release(conn, change.payload)
    elif isinstance(change, SerialLabelAsked):
        # Kept here, printed after this commit (edge/runtimes/serial_labels.py).
        serial_labels.keep(conn, change.payload, now_ms or 0)
    return None


def _upsert_sku(conn: sqlite3.Connection, change: CatalogueUpserted) -> None:
    p = change.payload
    components = orjson.dumps([c.model_dump() for c in p.components]).decode()
    conn.execute(
        "INSERT INTO sku (sku_code, name, weight_g, gtin, serial_tracked, components) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(sku_code) DO UPDATE SET name = excluded.name, weight_g = excluded.weight_g, "
        "gtin = excluded.gtin, serial_tracked = excluded.serial_tracked, components = excluded.components",
        (p.sku_code, p.name, p.weight_g, p.gtin, int(p.serial_tracked), components),
    )
    conn.execute("DELETE FROM barcode WHERE sku_code = ?", (p.sku_code,))
    conn.executemany(
        "INSERT INTO barcode VALUES (?, ?) ON CONFLICT(barcode) DO UPDATE SET sku_code = excluded.sku_code",
        [(b, p.sku_code) for b in p.barcodes],
    )


def _release_order(conn: sqlite3.Connection, order: OrderRelease, now_ms: int | None) -> None:
    # Waiting for a printable waybill since the first version without one (kept through later
    # versions still without one; cleared by one that has it): edge/runtimes/pack.py.
    printable = order.waybill is not None and WAYBILL_RE.fullmatch(order.waybill) is not None
    conn.execute(
        "INSERT INTO order_release (order_id, version, status, waybill, wave, body, pick_node, "
        "waiting_since_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(order_id) DO UPDATE SET "
        "version = excluded.version, status = excluded.status, waybill = excluded.waybill, "
        "wave = excluded.wave, body = excluded.body, pick_node = excluded.pick_node, "
        "waiting_since_ms = CASE WHEN ? THEN NULL "
        "ELSE COALESCE(order_release.waiting_since_ms, excluded.waiting_since_ms) END "
        "WHERE excluded.version > order_release.version",
        (
            order.order_id,
            order.version,
            order.status,
            order.waybill,
            order.wave,
            order.model_dump_json(),
            order.pick_node,
            None if printable else now_ms,
            printable,
        ),
    )
    row = conn.execute(
        "SELECT version FROM order_release WHERE order_id = ?", (order.order_id,)
    ).fetchone()
    if row is not None and row[0] == order.version:  # this release is the one kept
        units: dict[str, int] = {}
        for line in order.lines:
            units[line.sku_code] = units.get(line.sku_code, 0) + line.qty
        conn.execute("DELETE FROM order_sku WHERE order_id = ?", (order.order_id,))
        conn.executemany(
            "INSERT INTO order_sku VALUES (?, ?, ?)",
            [(sku, order.order_id, n) for sku, n in units.items()],
        )


def _release_po(conn: sqlite3.Connection, po: PoRelease) -> None:
    """Keep the newest release of a PO (the downlink is applied in order; compaction keeps
    the newest per PO). Receipts of this PO the cloud acked before now are marked as held
    by the release's figures, so the station stops counting them on top (the residual
    race, a release older than the booking arriving after the ack, is in docs/inbound.md)."""
    conn.execute(
        "INSERT INTO po_release VALUES (?, ?, ?, ?) ON CONFLICT(po_number) DO UPDATE SET "
        "warehouse = excluded.warehouse, status = excluded.status, body = excluded.body",
        (po.po_number, po.warehouse, po.status, po.model_dump_json()),
    )
    conn.execute("DELETE FROM po_ref WHERE po_number = ?", (po.po_number,))
    conn.executemany(
        "INSERT OR IGNORE INTO po_ref VALUES (?, ?)",
        [(ref, po.po_number) for ref in po.delivery_refs],
    )
    conn.execute(
        "UPDATE receive_receipt SET reflected = 1 WHERE po_number = ? AND document = 'po' "
        "AND stage = 'finished' AND reflected = 0 "
        "AND fact_seq <= (SELECT value FROM meta WHERE key = 'acked_through')",
        (po.po_number,),
    )


def _release_transfer(conn: sqlite3.Connection, t: TransferRelease) -> None:
    """Keep the newest release of a transfer coming to this warehouse, as for a PO."""
    conn.execute(
        "INSERT INTO transfer_release VALUES (?, ?, ?, ?) ON CONFLICT(transfer_number) DO UPDATE "
        "SET warehouse = excluded.warehouse, status = excluded.status, body = excluded.body",
        (t.transfer_number, t.warehouse, t.status, t.model_dump_json()),
    )
    conn.execute(
        "UPDATE receive_receipt SET reflected = 1 WHERE po_number = ? AND document = 'transfer' "
        "AND stage = 'finished' AND reflected = 0 "
        "AND fact_seq <= (SELECT value FROM meta WHERE key = 'acked_through')",
        (t.transfer_number,),
    )


def _release_outbound(conn: sqlite3.Connection, t: TransferOutbound) -> None:
    """Keep the newest release of a transfer leaving this warehouse (the downlink is applied
    in order; compaction keeps the newest per transfer). ``picked`` is this node's own."""
    conn.execute(
        "INSERT INTO transfer_outbound (transfer_number, warehouse, status, shipment, pick_node, "
        "body) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(transfer_number) DO UPDATE SET "
        "warehouse = excluded.warehouse, status = excluded.status, shipment = excluded.shipment, "
        "pick_node = excluded.pick_node, body = excluded.body",
        (t.transfer_number, t.warehouse, t.status, t.shipment, t.pick_node, t.model_dump_json()),
    )


def _upsert_bins(conn: sqlite3.Connection, warehouse: str, bins: list[BinInfo]) -> None:
    conn.executemany(
        "INSERT INTO bin VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(code) DO UPDATE SET "
        "warehouse = excluded.warehouse, zone = excluded.zone, x = excluded.x, y = excluded.y, "
        "walk_order = excluded.walk_order, barcode = excluded.barcode",
        [(b.code, warehouse, b.zone, b.x, b.y, b.walk_order, b.barcode) for b in bins],
    )


# --- lookups ------------------------------------------------------------------------------

_SKU_COLS = "s.sku_code, s.name, s.weight_g, s.gtin, s.serial_tracked, s.components"


def _sku(row: tuple[object, ...] | None) -> Sku | None:
    if row is None:
        return None
    comps = tuple(BundleComponent.model_validate(c) for c in orjson.loads(str(row[5])))
    return Sku(str(row[0]), str(row[1]), row[2], row[3], bool(row[4]), comps)  # type: ignore[arg-type]


def sku_by_barcode(conn: sqlite3.Connection, barcode: str) -> Sku | None:
    return _sku(
        conn.execute(
            f"SELECT {_SKU_COLS} FROM barcode b JOIN sku s USING (sku_code) WHERE b.barcode = ?",
            (barcode,),
        ).fetchone()
    )


def sku(conn: sqlite3.Connection, sku_code: str) -> Sku | None:
    return _sku(
        conn.execute(f"SELECT {_SKU_COLS} FROM sku s WHERE s.sku_code = ?", (sku_code,)).fetchone()
    )


def sku_by_gtin(conn: sqlite3.Connection, gtin: str) -> Sku | None:
    return _sku(conn.execute(f"SELECT {_SKU_COLS} FROM sku s WHERE s.gtin = ?", (gtin,)).fetchone())


def search_skus(conn: sqlite3.Connection, text: str, limit: int = 20) -> list[Sku]:
    """SKUs whose code or name contains every word of ``text`` (the PDA's item lookup).

    Case-insensitive substrings, Chinese included: ``"TEE-"``, ``"马克杯"``, ``"cotton tee"``.
    Codes starting with the first word come first, then by code. Words of three
    characters or more go through the trigram index of migration 0009 (``sku_fts``),
    each as a quoted FTS5 phrase, so nothing the operator types is an FTS operator;
    shorter words (a trigram index cannot look them up) and stores without the index
    use LIKE, with its wildcards escaped. Any text gives a list, never an error.
    """
    # Drop what SQLite cannot take or an operator cannot mean: lone surrogates (from JSON
    # escapes) cannot be encoded, NUL ends text in the FTS5 query parser.
    clean = text.encode("utf-8", "ignore").decode("utf-8").replace("\x00", " ")
    words = clean.split()
    if not words or limit <= 0:
        return []
    indexed = _has_sku_index(conn)
    where: list[str] = []
    params: list[object] = []
    long_words = [w for w in words if len(w) >= 3] if indexed else []
    if long_words:
        where.append("s.rowid IN (SELECT rowid FROM sku_fts WHERE sku_fts MATCH ?)")
        params.append(" AND ".join('"' + w.replace('"', '""') + '"' for w in long_words))
    for w in words:
        if w not in long_words:
            pattern = f"%{_like_escape(w)}%"
            where.append("(s.sku_code LIKE ? ESCAPE '\\' OR s.name LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
    first = words[0]
    rows = conn.execute(
        f"SELECT {_SKU_COLS} FROM sku s WHERE {' AND '.join(where)} "
        "ORDER BY s.sku_code = ? DESC, s.sku_code LIKE ? ESCAPE '\\' DESC, s.sku_code LIMIT ?",
        (*params, first, f"{_like_escape(first)}%", limit),
    )
    return [sku for sku in map(_sku, rows) if sku is not None]


def _has_sku_index(conn: sqlite3.Connection) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sku_fts'"
        ).fetchone()
        is not None
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def waiting_since(conn: sqlite3.Connection, order_id: str) -> int | None:
    """Since when (the node's wall clock, ms) the order's release has had no printable
    waybill; None when it has one (or the wait was never timed)."""
    row = conn.execute(
        "SELECT waiting_since_ms FROM order_release WHERE order_id = ?", (order_id,)
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def order(conn: sqlite3.Connection, code: str) -> OrderRelease | None:
    """An order by its id or its waybill (what the packer scans)."""
    row = conn.execute(
        "SELECT body FROM order_release WHERE order_id = ? OR waybill = ? ORDER BY order_id = ? DESC LIMIT 1",
        (code, code, code),
    ).fetchone()
    return None if row is None else OrderRelease.model_validate_json(row[0])


def wave(conn: sqlite3.Connection, wave_id: str, pick_node: str) -> list[OrderRelease]:
    """The wave's released orders whose pick is leased to ``pick_node`` (docs/sync.md)."""
    rows = conn.execute(
        "SELECT body FROM order_release WHERE wave = ? AND status = 'released' "
        "AND pick_node = ? ORDER BY order_id",
        (wave_id, pick_node),
    )
    return [OrderRelease.model_validate_json(r[0]) for r in rows]


def wave_holders(conn: sqlite3.Connection, wave_id: str) -> dict[str | None, int]:
    """How many of the wave's released orders each node holds the pick lease of (``None``: none)."""
    rows = conn.execute(
        "SELECT pick_node, COUNT(*) FROM order_release WHERE wave = ? AND status = 'released' "
        "GROUP BY pick_node",
        (wave_id,),
    )
    return {r[0]: int(r[1]) for r in rows}


def bins(conn: sqlite3.Connection, warehouse: str | None = None) -> list[BinInfo]:
    q = "SELECT code, zone, x, y, walk_order, barcode FROM bin"
    rows = conn.execute(q + " WHERE warehouse = ?", (warehouse,)) if warehouse else conn.execute(q)
    return [
        BinInfo(code=r[0], zone=r[1], x=r[2], y=r[3], walk_order=r[4], barcode=r[5]) for r in rows
    ]


def bin_by_barcode(conn: sqlite3.Connection, barcode: str) -> str | None:
    row = conn.execute(
        "SELECT code FROM bin WHERE barcode = ? OR code = ?", (barcode, barcode)
    ).fetchone()
    return None if row is None else str(row[0])


def expected_stock(conn: sqlite3.Connection, bin_codes: list[str]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for code in bin_codes:
        for sku_code, qty in conn.execute(
            "SELECT sku_code, qty FROM stock_expected WHERE bin = ?", (code,)
        ):
            out[(code, str(sku_code))] = int(qty)
    return out
