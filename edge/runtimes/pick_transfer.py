"""Transfers picked and shipped at this node: the pick service's transfer sessions
(edge/runtimes/pick.py; docs/inbound.md "Transfers").

The hub releases an audited transfer to its sending warehouse's nodes
(``transfer.outbound``, kept in ``transfer_outbound``, edge store migration 0017); the one
named ``pick_node`` offers it on the PDA like a wave, under the transfer's number. The pick
station runs unchanged: the transfer is handed to it as one released order (lines numbered
as the transfer's, ``version`` = the shipment number the release asks for, marked by
:data:`CARRIER`), so allocation to bins, the routed walk, scans, double reads, shorts and a
withdrawal mid-pick ("put it back") are the wave's. Its ``order.picked`` at the end becomes
the transfer's ``transfer.shipped``: the picked goods go on the transfer's truck, nothing
is packed or labelled. A transfer picks no substitutes (the hub ships the transfer's SKUs
only) and, for a bin-to-bin transfer, only from its ``from_bin``.

Refused with a sentence, before anything is written: a transfer of another warehouse (a
release the node should never have had), one leased to another node or to none, one
shipped or withdrawn, one this node has picked for this shipment already.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from typing import Final

from edge.runtimes.pick_views import Conflict, PickError
from edge.stations.pick import TRANSFER_CARRIER, is_transfer
from edge.store import replica
from protocol.devices import gs1
from protocol.messages import (
    OrderLine,
    OrderPickedPayload,
    OrderRelease,
    Recipient,
    ShippedLine,
    TransferOutbound,
    TransferShippedPayload,
)

#: The ``carrier`` of the order a transfer is handed to the pick station as (no courier's
#: code looks like it; the order also has no waybill).
CARRIER: Final = TRANSFER_CARRIER
#: ``OrderLine.qty``'s bound: a line beyond it is shipped from the hub.
_MAX_LINE: Final = 100_000
#: The serials one shipped line carries (``ShippedLine.serials``): a serial-tracked line
#: beyond it is shipped from the hub.
_MAX_SERIALS: Final = 10_000


def too_many_serials(conn: sqlite3.Connection, t: TransferOutbound) -> PickError | None:
    """A serial-tracked line more than one pick can list the serials of, or None."""
    for ln in t.lines:
        if ln.qty > _MAX_SERIALS:
            sku = replica.sku(conn, ln.sku_code)
            if sku is not None and sku.serial_tracked:
                return Conflict(
                    "line_too_large",
                    f"line {ln.line_no} of transfer {t.transfer_number} is {ln.qty} serial-"
                    f"tracked units, more than one pick lists ({_MAX_SERIALS}): ship it from "
                    "the hub",
                )
    return None


def gs1_unit(conn: sqlite3.Connection, text: str) -> tuple[replica.Sku, str | None] | None:
    """The SKU of a GS1 item label (by its GTIN) and the serial it carries (AI 21), as the
    receiving and pack stations read them (edge/runtimes/pack.py ``sku_for_scan``)."""
    if not (text[:1].isdigit() or text[:1] in "]("):
        return None
    try:
        data = gs1.parse(text, current_year=time.gmtime().tm_year)
    except gs1.GS1Error:
        return None
    if data.gtin14 is None:
        return None
    sku = replica.sku_by_gtin(conn, data.gtin14)
    return None if sku is None else (sku, data.serial)


def outbound(conn: sqlite3.Connection, number: str) -> tuple[TransferOutbound, int] | None:
    """The transfer's newest release leaving this warehouse and the shipment picked here."""
    row = conn.execute(
        "SELECT body, picked FROM transfer_outbound WHERE transfer_number = ?", (number,)
    ).fetchone()
    return None if row is None else (TransferOutbound.model_validate_json(row[0]), int(row[1]))


def problem(t: TransferOutbound, picked: int, node: str, warehouse: str | None) -> PickError | None:
    """Why this node may not pick the transfer now, or None."""
    n = t.transfer_number
    if warehouse is not None and t.warehouse != warehouse:
        return Conflict(
            "wrong_warehouse",
            f"transfer {n} leaves from warehouse {t.warehouse}; this node picks for "
            f"{warehouse}: it is picked there",
        )
    if t.status != "open":
        return Conflict(
            "transfer_closed",
            f"transfer {n} is {t.status} on the hub: nothing of it is picked",
        )
    if t.pick_node is None:
        return Conflict(
            "not_leased",
            f"transfer {n} is leased to no pick node: the hub knew none at {t.warehouse} when "
            "it was audited; ship it from the hub",
        )
    if t.pick_node != node:
        return Conflict(
            "leased_elsewhere",
            f"transfer {n} is leased to pick node {t.pick_node}, not to this node ({node})",
        )
    if picked >= t.shipment:
        return Conflict(
            "wave_done", f"transfer {n} has already been picked and shipped on this node"
        )
    big = next((ln for ln in t.lines if ln.qty > _MAX_LINE), None)
    if big is not None:
        return Conflict(
            "line_too_large",
            f"line {big.line_no} of transfer {n} is {big.qty} units, more than one pick "
            f"takes ({_MAX_LINE}): ship it from the hub",
        )
    return None


def as_order(t: TransferOutbound, node: str) -> OrderRelease:
    """The transfer as the one order of its pick (see the module's docstring)."""
    return OrderRelease(
        order_id=t.transfer_number,
        version=t.shipment,
        carrier=CARRIER,
        recipient=Recipient(
            name=t.to_warehouse,
            phone="000",
            province="-",
            city="-",
            address=f"{t.warehouse} → {t.to_warehouse}",
        ),
        lines=[
            OrderLine(line_id=str(ln.line_no), sku_code=ln.sku_code, qty=ln.qty) for ln in t.lines
        ],
        wave=t.transfer_number,
        pick_node=node,
    )


def withdrawn(conn: sqlite3.Connection, known: OrderRelease, node: str) -> OrderRelease | None:
    """The transfer as a cancelled order if the hub took it from this pick (shipped from the
    hub, cancelled, leased away), once: the station then says "put it back"."""
    if not is_transfer(known) or known.status != "released":
        return None
    found = outbound(conn, known.order_id)
    if found is None:
        return None
    t, _picked = found
    if t.shipment == known.version and t.status == "open" and t.pick_node == node:
        return None
    if t.shipment != known.version and t.status == "open":
        why = f"the hub waits for shipment {t.shipment} now"
    elif t.status == "open":
        why = f"pick leased to {t.pick_node}"
    else:
        why = f"transfer {t.status} on the hub"
    return known.model_copy(
        update={"version": known.version + 1, "status": "cancelled", "status_reason": why}
    )


def shipment_id(node: str, number: str, shipment: int) -> str:
    """The node's natural key of a shipment: this node ships each shipment of a transfer
    once (a store restored from an older backup that picks it again reports the same id,
    which the hub books once). At most 64 characters: a hash beyond."""
    sid = f"{node}:{number}:s{shipment}"
    if len(sid) <= 64:
        return sid
    return "S-" + hashlib.sha256(sid.encode()).hexdigest()[:48]


def shipped(
    conn: sqlite3.Connection,
    picked: OrderPickedPayload,
    release: OrderRelease,
    node: str,
) -> TransferShippedPayload:
    """The pick of a transfer as the transfer's shipment; this node's ``picked`` moves on
    (inside the caller's transaction, with the fact). A transfer withdrawn mid-pick still
    reports what was picked (facts are never dropped): the hub refuses it with a task."""
    found = outbound(conn, picked.order_id)
    assert found is not None  # the session was started from it
    t, _ = found
    # The shipment the pick was loaded for (a withdrawal bumped the version by one).
    shipment = release.version if release.status == "released" else release.version - 1
    conn.execute(
        "UPDATE transfer_outbound SET picked = MAX(picked, ?) WHERE transfer_number = ?",
        (shipment, t.transfer_number),
    )
    return TransferShippedPayload(
        shipment_id=shipment_id(node, t.transfer_number, shipment),
        transfer_number=t.transfer_number,
        shipment=shipment,
        warehouse=t.warehouse,
        station=picked.station,
        operator=picked.operator,
        lines=[
            ShippedLine(
                line_no=int(ln.line_id),
                sku_code=ln.sku_code,
                qty=ln.qty,
                bin=ln.bin,
                short=ln.short,
                serials=ln.serials,
            )
            for ln in picked.lines
        ],
    )
