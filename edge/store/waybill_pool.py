"""The node's offline e-waybill pool (docs/channels.md "The offline pool"): numbers of each
courier the hub drew ahead and sent down (``waybill.pool``), printed by the pack station on
an order that has no waybill while the uplink is down.

A number is ``free`` until the step that sends its label job marks it ``used`` for the order,
in the same transaction as the label's intent and the ``waybill.pool_used`` fact
(edge/runtimes/pack.py), so a number is never printed for two orders, and a crash never
loses the report of one that was printed.
"""

from __future__ import annotations

import sqlite3

from protocol.messages import WaybillPoolRelease, WaybillPoolReleasedPayload, WaybillPoolTopUp


def top_up(conn: sqlite3.Connection, top: WaybillPoolTopUp) -> None:
    """Add the numbers; one already here (free or used) stays as it is."""
    conn.executemany(
        "INSERT INTO waybill_pool (waybill_code, carrier, state) VALUES (?, ?, 'free') "
        "ON CONFLICT(waybill_code) DO NOTHING",
        [(code, top.carrier) for code in top.waybills],
    )


def release(conn: sqlite3.Connection, ask: WaybillPoolRelease) -> WaybillPoolReleasedPayload:
    """The hub asks for these numbers back (docs/channels.md "Giving numbers back"): the free
    ones leave the pool here, in the transaction that applies the request and records the
    answer, so none of them can be printed afterwards (``use`` needs the row free: a label
    step that chose one before this commits rolls back and prints nothing). A number printed
    already stays (its ``waybill.pool_used`` is earlier in the outbox); a number never here is
    released too (nothing here can print it). A top-up never brings a released number back:
    the hub sends later top-ups of its batch without it."""
    used: list[str] = []
    released: list[str] = []
    for code in ask.waybills:
        row = conn.execute(
            "SELECT state FROM waybill_pool WHERE waybill_code = ?", (code,)
        ).fetchone()
        if row is not None and row[0] == "used":
            used.append(code)
            continue
        conn.execute("DELETE FROM waybill_pool WHERE waybill_code = ? AND state = 'free'", (code,))
        released.append(code)
    return WaybillPoolReleasedPayload(
        carrier=ask.carrier, release=ask.release, released=released, used=used
    )


def used_by(conn: sqlite3.Connection, order_id: str) -> str | None:
    """The pool number already printed on the order's label, if any."""
    row = conn.execute(
        "SELECT waybill_code FROM waybill_pool WHERE order_id = ? AND state = 'used' "
        "ORDER BY used_at_ms DESC LIMIT 1",
        (order_id,),
    ).fetchone()
    return None if row is None else str(row[0])


def next_free(conn: sqlite3.Connection, carrier: str) -> str | None:
    """The courier's oldest free number; None when its pool is empty."""
    row = conn.execute(
        "SELECT waybill_code FROM waybill_pool WHERE carrier = ? AND state = 'free' "
        "ORDER BY waybill_code LIMIT 1",
        (carrier,),
    ).fetchone()
    return None if row is None else str(row[0])


def free(conn: sqlite3.Connection, carrier: str) -> int:
    return int(
        conn.execute(
            "SELECT COUNT(*) FROM waybill_pool WHERE carrier = ? AND state = 'free'", (carrier,)
        ).fetchone()[0]
    )


def use(conn: sqlite3.Connection, code: str, order_id: str, at_ms: int) -> None:
    """Mark the number used for the order (in the step's transaction). Raises if it is gone
    or used by another order: the step then rolls back and nothing prints."""
    done = conn.execute(
        "UPDATE waybill_pool SET state = 'used', order_id = ?, used_at_ms = ? "
        "WHERE waybill_code = ? AND (state = 'free' OR order_id = ?)",
        (order_id, at_ms, code, order_id),
    )
    if done.rowcount != 1:
        raise sqlite3.IntegrityError(f"pool waybill {code} is not free for order {order_id}")


def order_of(conn: sqlite3.Connection, code: str) -> str | None:
    """The order a used pool number was printed for (a rescan of its label)."""
    row = conn.execute(
        "SELECT order_id FROM waybill_pool WHERE waybill_code = ? AND state = 'used'", (code,)
    ).fetchone()
    return None if row is None else str(row[0])
