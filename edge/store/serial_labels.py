"""Item labels the hub asks this node to print (``serial.label``, docs/inbound.md "The new
serial's label"): when a lead resolves a serial seen twice by giving one unit a new serial
(``HUB-S<counter>``), the unit still carries its old label until a node prints the new one.

One row per request, in these states, each change committed in one ``atomic()``:

* ``pending``: written with the downlink change (edge/store/replica.py), so a restart
  before the print prints it after the restart; a request applied again (a redelivered
  batch, the hub's "print again" of an unprinted label) finds its row and adds nothing;
* ``sent``: committed before the job leaves for the printer (the pack station's label
  intent, edge/store/journal.py ``label_intent``), so a job leaves once;
* ``printed``: committed with the ``serial.label_printed`` fact, once the printer took the
  job. A printer that refused the job before taking it puts the row back to ``pending``
  (tried again later). A node that stopped between ``sent`` and the printer's answer counts
  the label as printed and reports it ``unconfirmed`` (:func:`recover`): it never prints a
  second label by itself, a lead asks the hub for a re-print (a new request);
* ``refused``: the label cannot be printed here (a serial or SKU no Code 128 can carry).
"""

from __future__ import annotations

import sqlite3

from protocol.messages import SerialLabel, SerialLabelPrintedPayload


def keep(conn: sqlite3.Connection, ask: SerialLabel, at_ms: int) -> bool:
    """Keep the request to print; False when it was here already (nothing changes)."""
    cur = conn.execute(
        "INSERT INTO serial_label (request, serial, body, state, asked_ms, updated_ms) "
        "VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT(request) DO NOTHING",
        (ask.request, ask.serial, ask.model_dump_json(), at_ms, at_ms),
    )
    return cur.rowcount == 1


def due(conn: sqlite3.Connection) -> list[SerialLabel]:
    """The requests waiting for the printer, oldest first."""
    rows = conn.execute(
        "SELECT body FROM serial_label WHERE state = 'pending' ORDER BY asked_ms, request"
    )
    return [SerialLabel.model_validate_json(r[0]) for r in rows]


def send(conn: sqlite3.Connection, request: str, printer: str, at_ms: int) -> bool:
    """The job is about to leave (commit before sending it); False if it is not pending."""
    cur = conn.execute(
        "UPDATE serial_label SET state = 'sent', printer = ?, attempts = attempts + 1, "
        "updated_ms = ? WHERE request = ? AND state = 'pending'",
        (printer, at_ms, request),
    )
    return cur.rowcount == 1


def _fact(ask: SerialLabel, printer: str, *, unconfirmed: bool) -> SerialLabelPrintedPayload:
    return SerialLabelPrintedPayload(
        request=ask.request,
        serial=ask.serial,
        sku_code=ask.sku_code,
        printer=printer,
        reprint=ask.reprint,
        unconfirmed=unconfirmed,
    )


def printed(
    conn: sqlite3.Connection, request: str, at_ms: int, *, unconfirmed: bool = False
) -> SerialLabelPrintedPayload:
    """The printer took the job (``unconfirmed``: the job left but the printer's answer
    failed, so it may have printed): the row becomes ``printed``; the caller appends the
    returned fact in this transaction. Raises (the transaction rolls back) unless the row
    was ``sent``: a label is reported printed once."""
    row = conn.execute(
        "SELECT body, printer FROM serial_label WHERE request = ? AND state = 'sent'", (request,)
    ).fetchone()
    if row is None:
        raise sqlite3.IntegrityError(f"serial label {request} was not sent")
    conn.execute(
        "UPDATE serial_label SET state = 'printed', problem = NULL, updated_ms = ? "
        "WHERE request = ?",
        (at_ms, request),
    )
    return _fact(SerialLabel.model_validate_json(row[0]), str(row[1]), unconfirmed=unconfirmed)


def unsent(conn: sqlite3.Connection, request: str, problem: str, at_ms: int) -> None:
    """The printer refused the job before taking it: nothing printed, try again later."""
    conn.execute(
        "UPDATE serial_label SET state = 'pending', problem = ?, updated_ms = ? "
        "WHERE request = ? AND state = 'sent'",
        (problem[:300], at_ms, request),
    )


def refuse(conn: sqlite3.Connection, request: str, problem: str, at_ms: int) -> None:
    """This node cannot print the label at all (kept for the record, never tried again)."""
    conn.execute(
        "UPDATE serial_label SET state = 'refused', problem = ?, updated_ms = ? "
        "WHERE request = ? AND state IN ('pending', 'sent')",
        (problem[:300], at_ms, request),
    )


def recover(conn: sqlite3.Connection, at_ms: int) -> list[SerialLabelPrintedPayload]:
    """At start: jobs sent before the node stopped, without the printer's answer. They may
    have printed, so they count as printed (never a second label by itself); the caller
    appends the returned facts, marked ``unconfirmed``, in this transaction."""
    rows = conn.execute(
        "SELECT body, printer FROM serial_label WHERE state = 'sent' ORDER BY asked_ms, request"
    ).fetchall()
    conn.execute(
        "UPDATE serial_label SET state = 'printed', updated_ms = ? WHERE state = 'sent'", (at_ms,)
    )
    return [_fact(SerialLabel.model_validate_json(r[0]), str(r[1]), unconfirmed=True) for r in rows]


def state_of(conn: sqlite3.Connection, request: str) -> str | None:
    row = conn.execute("SELECT state FROM serial_label WHERE request = ?", (request,)).fetchone()
    return None if row is None else str(row[0])
