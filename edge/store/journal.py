"""The station journal: the local rows a station's ``Record`` commands become.

Every function here runs inside the caller's :meth:`edge.store.store.Store.atomic`
transaction, beside the outbox events of the same station step, so a verdict,
the fact it reports and the label state it implies commit together or not at
all (docs/sync.md, "Durable first"). Tables: migration ``0006_station_journal``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from dataclasses import dataclass

import orjson
import uuid6

from edge.stations.common import StockMovement, Verdict
from edge.stations.stocktake import StocktakeReport
from edge.store.store import Store
from protocol.messages import Message


@dataclass(frozen=True, slots=True)
class Committed:
    """What one record became: a journal row id, an outbox seq, or nothing new."""

    journal_id: int | None = None
    seq: int | None = None
    duplicate: bool = False


def fact_digest(payload: Message) -> str:
    body = type(payload).__name__.encode() + b"\0" + payload.model_dump_json().encode()
    return hashlib.sha256(body).hexdigest()


def append_fact(store: Store, payload: Message, at_ms: int) -> Committed:
    """Append a fact's outbox event, unless the very same fact is already there.

    A station restarted mid-order has the operator scan the order again; the
    same ``order.packed`` (same order version, same items) then carries no new
    information and is not reported twice.
    """
    digest = fact_digest(payload)
    conn = store.conn
    if conn.execute("SELECT 1 FROM fact_digest WHERE digest = ?", (digest,)).fetchone():
        return Committed(duplicate=True)
    event = store.append(payload)
    conn.execute(
        "INSERT INTO fact_digest VALUES (?, ?, ?, ?)",
        (digest, type(payload).__name__, event.seq, at_ms),
    )
    return Committed(seq=event.seq)


def add_verdict(conn: sqlite3.Connection, v: Verdict, at_ms: int) -> Committed:
    cur = conn.execute(
        "INSERT INTO journal (station, kind, text, order_id, barcode, sku_code, line_id, serial, "
        "lead, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            v.station,
            v.kind,
            v.text,
            v.order_id,
            v.barcode,
            v.sku_code,
            v.line_id,
            v.serial,
            v.lead,
            v.at_ms or at_ms,
        ),
    )
    journal_id = cur.lastrowid
    assert journal_id is not None
    if v.lead is not None:
        # The lead override / reprint log (refusals too: a wrong PIN is worth knowing).
        conn.execute(
            "INSERT INTO lead_action VALUES (?, ?, ?, ?, ?)",
            (journal_id, v.lead, v.kind, v.order_id, v.at_ms or at_ms),
        )
    return Committed(journal_id=journal_id)


def add_movement(conn: sqlite3.Connection, m: StockMovement, at_ms: int) -> Committed:
    # The key is deterministic: a replayed command list commits the movement once.
    conn.execute(
        "INSERT INTO stock_movement VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
        (str(uuid6.uuid7()), m.key, m.bin, m.sku_code, m.delta, m.reason, m.ref, at_ms),
    )
    return Committed()


def add_report(conn: sqlite3.Connection, station: str, r: StocktakeReport, at_ms: int) -> Committed:
    body = orjson.dumps(dataclasses.asdict(r)).decode()
    conn.execute(
        "INSERT INTO stocktake_report VALUES (?, ?, ?, ?) ON CONFLICT(count_id) DO UPDATE SET "
        "body = excluded.body, at_ms = excluded.at_ms",
        (r.count_id, station, body, at_ms),
    )
    return Committed()


# --- pack labels --------------------------------------------------------------------------


def label_intent(
    conn: sqlite3.Connection, order_id: str, printer: str, carrier: str, tracking: str, at_ms: int
) -> None:
    """Written before a label job leaves: after a crash the order counts as labelled."""
    conn.execute(
        "INSERT INTO pack_label VALUES (?, 'sent', ?, ?, ?, 1, ?) ON CONFLICT(order_id) DO UPDATE SET "
        "status = CASE WHEN status = 'printed' THEN 'printed' ELSE 'sent' END, "
        "printer = excluded.printer, jobs = jobs + 1, updated_ms = excluded.updated_ms",
        (order_id, printer, carrier, tracking, at_ms),
    )


def label_printed(
    conn: sqlite3.Connection, order_id: str, printer: str, carrier: str, tracking: str, at_ms: int
) -> None:
    conn.execute(
        "INSERT INTO pack_label VALUES (?, 'printed', ?, ?, ?, 0, ?) ON CONFLICT(order_id) DO UPDATE SET "
        "status = 'printed', printer = excluded.printer, updated_ms = excluded.updated_ms",
        (order_id, printer, carrier, tracking, at_ms),
    )


def label_unsent(conn: sqlite3.Connection, order_id: str, at_ms: int) -> None:
    """The printer refused the job before it was sent: nothing printed."""
    conn.execute(
        "UPDATE pack_label SET status = 'unsent', updated_ms = ? WHERE order_id = ? AND status = 'sent'",
        (at_ms, order_id),
    )


def label_of(conn: sqlite3.Connection, order_id: str) -> tuple[str, str, str, str] | None:
    """(status, tracking number, printer, carrier) of an order's label, if one went out."""
    row = conn.execute(
        "SELECT status, tracking_number, printer, carrier FROM pack_label WHERE order_id = ?",
        (order_id,),
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), str(row[2]), str(row[3]))
