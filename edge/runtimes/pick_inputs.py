"""A pick session's inputs as committed rows, and back (edge/runtimes/pick.py "Sessions
survive a restart").

Every event the pick service hands its station is written to ``pick_input`` in the same
transaction as the station's records; the station is pure, so reading them back in order
and handling them again rebuilds the session exactly. A ``WaveLoaded`` keeps the orders
and stock it was given; its bin table, the same for every wave of a warehouse, is kept
once per content hash in ``pick_blob`` (compressed).

Split from :mod:`edge.runtimes.pick` (the service: locking, idempotency, executing the
station's commands): this is only the rows' format.
"""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from collections.abc import Mapping

import orjson

from edge.stations.pick import (
    BinScanned,
    Event,
    ItemScanned,
    OrderUpdated,
    ShortPick,
    Substitute,
    WaveLoaded,
)
from protocol.messages import BinInfo, CatalogueUpsert, OrderRelease, StockLevel


def bin_codes(bins: Mapping[str, BinInfo]) -> dict[str, str]:
    """Bin code or bin barcode -> bin code, for telling bin scans from item scans."""
    out = {code: code for code in bins}
    for code, info in bins.items():
        if info.barcode is not None:
            out.setdefault(info.barcode, code)
    return out


def store(conn: sqlite3.Connection, session: int, n: int, event: Event) -> None:
    """Write the session's ``n``-th input (inside the caller's transaction)."""
    body: dict[str, object]
    if isinstance(event, WaveLoaded):
        blob = orjson.dumps(
            [b.model_dump(mode="json") for b in event.bins.values()],
            option=orjson.OPT_SORT_KEYS,
        )
        sha = hashlib.sha256(blob).hexdigest()
        conn.execute(
            "INSERT INTO pick_blob VALUES (?, ?) ON CONFLICT(sha256) DO NOTHING",
            (sha, zlib.compress(blob, 6)),
        )
        kind = "load"
        body = {
            "wave": event.wave,
            "orders": [o.model_dump(mode="json") for o in event.orders],
            "bins": sha,
            "stock": [s.model_dump(mode="json") for s in event.stock],
        }
    elif isinstance(event, BinScanned):
        kind, body = "bin", {"barcode": event.barcode}
    elif isinstance(event, ItemScanned):
        sku = event.sku.model_dump(mode="json") if event.sku is not None else None
        kind, body = "item", {"barcode": event.barcode, "sku": sku, "serial": event.serial}
    elif isinstance(event, ShortPick):
        kind, body = "short", {}
    elif isinstance(event, Substitute):
        kind, body = "substitute", {}
    else:
        kind, body = "update", {"release": event.release.model_dump(mode="json")}
    conn.execute(
        "INSERT INTO pick_input VALUES (?, ?, ?, ?, ?)",
        (session, n, kind, orjson.dumps(body), event.at_ms),
    )


def load(conn: sqlite3.Connection, kind: str, raw: bytes, at: int) -> Event:
    """The event a ``pick_input`` row keeps."""
    body = orjson.loads(raw)
    if kind == "load":
        row = conn.execute(
            "SELECT body FROM pick_blob WHERE sha256 = ?", (body["bins"],)
        ).fetchone()
        bins = [BinInfo.model_validate(b) for b in orjson.loads(zlib.decompress(row[0]))]
        return WaveLoaded(
            body["wave"],
            tuple(OrderRelease.model_validate(o) for o in body["orders"]),
            {b.code: b for b in bins},
            tuple(StockLevel.model_validate(s) for s in body["stock"]),
            at,
        )
    if kind == "bin":
        return BinScanned(body["barcode"], at)
    if kind == "item":
        sku = body["sku"]
        return ItemScanned(
            body["barcode"],
            CatalogueUpsert.model_validate(sku) if sku else None,
            at,
            body.get("serial"),  # rows written before serials were picked have none
        )
    if kind == "short":
        return ShortPick(at)
    if kind == "substitute":
        return Substitute(at)
    if kind == "update":
        return OrderUpdated(OrderRelease.model_validate(body["release"]), at)
    raise ValueError(f"pick_input kind {kind!r} unknown")
