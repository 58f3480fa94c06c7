"""What the pick service answers: the PDA's verdict words, the views, and the refusals.

Split from :mod:`edge.runtimes.pick` (the sessions over the store) so the API's
vocabulary reads in one place; the routes (edge/api/routes.py) return these models.
"""

from __future__ import annotations

import sqlite3
from typing import Final, Literal

from pydantic import BaseModel

from edge.errors import EdgeError
from edge.stations.common import Signal
from edge.stations.pick import PickStation, State
from edge.stations.pick_list import Stop
from edge.store import replica

ApiVerdict = Literal[
    "ok",
    "complete",
    "wrong_bin",
    "wrong_item",
    "unknown",
    "unreadable",
    "duplicate",
    "bin_first",
    "short",
    "substitute",
    "serial",
    "do_not_ship",
    "notice",
]

#: Station verdict kind -> the coarse verdict the PDA branches on (docs/pick-api.md).
VERDICTS: Final[dict[str, ApiVerdict]] = {
    "wave.loaded": "ok",
    "wave.resumed": "ok",
    "bin.ok": "ok",
    "item.ok": "ok",
    "stop.done": "ok",
    "wave.done": "complete",
    "bin.wrong": "wrong_bin",
    "item.wrong": "wrong_item",
    "item.unknown": "unknown",
    "scan.unreadable": "unreadable",
    "scan.duplicate": "duplicate",
    "item.before_bin": "bin_first",
    "stop.short": "short",
    "item.substitute_mode": "substitute",
    "item.await_serial": "serial",
    "item.serial_twice": "wrong_item",
    "item.serial_expected": "wrong_item",
    "item.serial_unreadable": "unreadable",
    "order.do_not_ship": "do_not_ship",
    "transfer.do_not_ship": "do_not_ship",
    "bin.again": "notice",
    "input.ignored": "notice",
    "wave.busy": "notice",
}

Expect = Literal["bin", "item", "substitute", "serial"]
EXPECT: Final[dict[State, Expect]] = {
    State.AT_BIN: "bin",
    State.PICKING: "item",
    State.SUBSTITUTE: "substitute",
    State.AWAIT_SERIAL: "serial",
}


def api_verdict(kind: str, signal: Signal | None) -> ApiVerdict:
    # An unknown bin is a bin.wrong verdict with the UNKNOWN signal (pick.py, _bin).
    if kind == "bin.wrong" and signal is Signal.UNKNOWN:
        return "unknown"
    return VERDICTS.get(kind, "notice")


class PickError(EdgeError):
    """A request the service refuses; ``status`` is the HTTP status the API answers with."""

    status = 409

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class Conflict(PickError):
    """The request does not fit the current state (no wave started, wave taken, ...)."""

    status = 409


class NotFound(PickError):
    status = 404


# --- views (what the API returns) ------------------------------------------------------------


class StopView(BaseModel):
    index: int
    bin: str
    bin_barcode: str | None
    zone: str | None
    x: float | None
    y: float | None
    sku_code: str
    sku_name: str | None
    qty: int
    picked: int
    substitutes: dict[str, int]
    remaining: int
    short: bool
    done: bool
    current: bool
    orders: list[str]


class Progress(BaseModel):
    stops_done: int
    stops_total: int
    units_picked: int
    units_total: int


class Alert(BaseModel):
    kind: str
    signal: str
    text: str


class ActionResult(BaseModel):
    """The answer to a pick action: what to show and play, and where to go next."""

    verdict: ApiVerdict
    kind: str
    signal: str
    text: str
    alerts: list[Alert]
    wave: str
    state: str
    expect: Expect | None
    next: StopView | None
    progress: Progress
    #: Outbox sequences of the ``order.picked`` facts this request committed.
    facts: list[int]
    replayed: bool = False


class CurrentView(BaseModel):
    wave: str | None
    state: str
    expect: Expect | None
    stop: StopView | None
    progress: Progress | None
    #: A transfer's serials picked so far (at most its serial-tracked units, 10,000 a line):
    #: the PDA refuses one twice at once, as the station does (docs/pick-api.md).
    serials: list[str] = []


class UnallocatedLine(BaseModel):
    order_id: str
    line_id: str
    sku_code: str
    qty: int


class PickList(BaseModel):
    wave: str
    state: str
    operator: str | None
    route_m: float
    naive_route_m: float
    unlocated: list[str]
    stops: list[StopView]
    unallocated: list[UnallocatedLine]
    progress: Progress


class WaveSummary(BaseModel):
    wave: str
    orders: int
    units: int
    status: Literal["available", "in_progress", "done"]
    operator: str | None
    #: ``transfer``: a transfer (调拨单) leaving this warehouse, picked under its number
    #: (edge/runtimes/pick_transfer.py); ``wave``: a wave of released orders.
    kind: Literal["wave", "transfer"] = "wave"


def stop_view(conn: sqlite3.Connection, station: PickStation, index: int) -> StopView:
    """One stop of the station's route as the PDA shows it (the SKU's name from the store)."""
    stop: Stop = station.stops[index]
    info = station.bins.get(stop.bin)
    sku = replica.sku(conn, stop.sku_code)
    is_open = station.state in EXPECT
    return StopView(
        index=index,
        bin=stop.bin,
        bin_barcode=info.barcode if info else None,
        zone=info.zone if info else None,
        x=info.x if info else None,
        y=info.y if info else None,
        sku_code=stop.sku_code,
        sku_name=sku.name if sku else None,
        qty=stop.qty,
        picked=stop.got,
        substitutes=dict(stop.substitutes),
        remaining=max(0, stop.qty - stop.got) if not stop.done else 0,
        short=stop.short,
        done=stop.done,
        current=is_open and index == station.index,
        orders=[a.order_id for a in stop.allocations if not a.cancelled],
    )


def progress(station: PickStation) -> Progress:
    return Progress(
        stops_done=sum(1 for s in station.stops if s.done),
        stops_total=len(station.stops),
        units_picked=sum(s.got for s in station.stops),
        units_total=sum(s.qty for s in station.stops),
    )
