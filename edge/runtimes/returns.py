"""Returns station runtime (``station.kind = "returns"``): the scanner and lights around
the pure :class:`edge.stations.returns.ReturnsStation`.

What a scan means depends on the station's state:

* with no parcel open: a return waybill, an order's outbound waybill, an order number
  or an after-sales request number the node holds (``return.release`` kept by
  edge/store/replica.py) opens that return; anything else is a red light;
* with a parcel open: an item barcode (the catalogue, a GS1 GTIN, or a barcode of the
  request's lines) is counted; a parcel code is refused by the station.

Operator keys (after the command prefix): ``DAMAGED:<reason>``, ``FINISH``, ``ABANDON``.

Each step's records (the receipt opened, a unit counted, the finish with its
``return.received`` fact and outbox event) commit in the step's one store transaction
before its light (edge/runtimes/common.py). A station restarted with a parcel open resumes
it from the store (:class:`Resumed`). Nothing here needs the uplink.
"""

from __future__ import annotations

import datetime
import logging
import sqlite3
from collections.abc import Callable

from edge.config import EdgeConfig, ReturnsSection
from edge.devices.lights import Lights
from edge.runtimes.common import ExtraTx, StationRuntime, wall_ms
from edge.runtimes.pack import sku_for_scan
from edge.stations.common import barcode_problem
from edge.stations.returns import (
    Abandon,
    Damaged,
    Finish,
    ItemScanned,
    ParcelScanned,
    ReleaseUpdated,
    Resumed,
    ReturnOpened,
    ReturnsConfig,
    ReturnsStation,
    ReturnStage,
    ReturnUnit,
    ReturnUnitCounted,
    ReturnView,
    State,
)
from edge.store import journal
from edge.store.store import Store
from protocol.messages import DownBatch, ReturnRelease, ReturnReleased

log = logging.getLogger("guanjia.edge.returns")

_RECORDS = (ReturnOpened, ReturnUnitCounted, ReturnStage)


# --- lookups in the node's store -------------------------------------------------------------


def release_of(conn: sqlite3.Connection, request: str) -> ReturnRelease | None:
    row = conn.execute("SELECT body FROM return_release WHERE request = ?", (request,)).fetchone()
    return None if row is None else ReturnRelease.model_validate_json(row[0])


def find_return(conn: sqlite3.Connection, code: str) -> ReturnView | None:
    """The return a parcel code names: its request number, its return waybill, the order's
    outbound waybill or the order number; an open one before one received or closed."""
    row = conn.execute(
        "SELECT body, return_waybill = ? FROM return_release WHERE request = ? "
        "OR return_waybill = ? OR tracking_number = ? OR order_id = ? "
        "ORDER BY status = 'open' DESC, request DESC LIMIT 1",
        (code, code, code, code, code),
    ).fetchone()
    if row is None:
        return None
    return ReturnView(ReturnRelease.model_validate_json(row[0]), code if row[1] else None)


def counter(conn: sqlite3.Connection) -> int:
    """The next receipt number (the store keeps the last one used)."""
    row = conn.execute("SELECT value FROM return_counter WHERE name = 'receipt'").fetchone()
    return int(row[0]) + 1


def open_receipt(conn: sqlite3.Connection, station: str, at_ms: int) -> Resumed | None:
    row = conn.execute(
        "SELECT receipt_id, request, waybill FROM return_receipt WHERE station = ? "
        "AND stage = 'counting' ORDER BY opened_ms DESC, receipt_id DESC LIMIT 1",
        (station,),
    ).fetchone()
    if row is None:
        return None
    rid, request, waybill = str(row[0]), str(row[1]), row[2]
    rel = release_of(conn, request)
    if rel is None:  # pragma: no cover - a receipt is only opened on a stored release
        log.error("open return receipt %s names request %s, which the store lacks", rid, request)
        return None
    units = tuple(
        ReturnUnit(
            int(r[0]), str(r[1]), "damaged" if r[2] == "damaged" else "sellable", str(r[3]) or None
        )
        for r in conn.execute(
            "SELECT line_no, sku_code, condition, reason FROM return_unit WHERE receipt_id = ? "
            "ORDER BY unit_no",
            (rid,),
        )
    )
    return Resumed(ReturnView(rel, waybill), rid, units, at_ms)


def sku_of(conn: sqlite3.Connection, text: str, rel: ReturnRelease | None, year: int) -> str | None:
    """The SKU an item scan names: the catalogue (barcode, GS1 GTIN), else a barcode or the
    SKU code of the request's lines (the release carries them for goods the node's
    catalogue lacks)."""
    found = sku_for_scan(conn, text, year)
    if found is not None:
        return found[0].sku_code
    if rel is not None:
        for ln in rel.lines:
            if text == ln.sku_code or text in ln.barcodes:
                return ln.sku_code
    return None


# --- the runtime ---------------------------------------------------------------------------


class ReturnsRuntime(StationRuntime):
    kind = "returns"

    def __init__(
        self,
        store: Store,
        lights: Lights,
        config: EdgeConfig,
        *,
        kick: Callable[[], None] = lambda: None,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        super().__init__(
            store,
            lights,
            config.station.name,
            command_prefix=config.station.command_prefix,
            kick=kick,
            clock_ms=clock_ms,
        )
        rc = config.returns
        assert rc is not None, "config validation requires [returns] for a returns station"
        self.returns: ReturnsSection = rc
        self.station = ReturnsStation(
            ReturnsConfig(
                station=config.station.name,
                node_id=config.node.id,
                warehouse=rc.warehouse,
                operator=rc.operator,
                duplicate_window_ms=rc.duplicate_window_ms,
            ),
            counter(store.conn),
        )
        self._year = 1970

    async def start(self) -> None:
        now = self.clock_ms()
        self._year = datetime.datetime.fromtimestamp(now / 1000).year
        await super().start()
        resumed = open_receipt(self.store.conn, self.station_name, now)
        if resumed is not None:
            self.dispatch(resumed)

    # --- input ------------------------------------------------------------------------------

    def handle(self, event: object) -> list[object]:
        return list(self.station.handle(event))  # type: ignore[arg-type]

    def on_text(self, text: str) -> None:
        now = self.clock_ms()
        conn = self.store.conn
        if barcode_problem(text) is not None:
            # The station journals and shows it (repr() of the scan); nothing is looked up.
            self.dispatch(ParcelScanned(text, now, None))
            return
        if self.station.state is State.IDLE:
            self.dispatch(ParcelScanned(text, now, find_return(conn, text)))
            return
        rel = self.station.open.view.release if self.station.open is not None else None
        sku = sku_of(conn, text, rel, self._year)
        if sku is None:
            parcel = find_return(conn, text)
            if parcel is not None:
                self.dispatch(ParcelScanned(text, now, parcel))
                return
        self.dispatch(ItemScanned(text, now, sku))

    def on_key(self, key: str) -> None:
        now = self.clock_ms()
        word, _, rest = key.partition(":")
        word = word.upper()
        if word == "DAMAGED":
            self.dispatch(Damaged(rest, now))
        elif word == "FINISH":
            self.dispatch(Finish(now))
        elif word == "ABANDON":
            self.dispatch(Abandon(now))
        else:
            self.unknown_key(key)

    def execute(
        self, commands: list[object], event: object = None, extra_tx: ExtraTx | None = None
    ) -> bool:
        if super().execute(commands, event, extra_tx):
            return True
        # Nothing of the step is on disk: take the station's state back from the store.
        self.station = ReturnsStation(self.station.config, counter(self.store.conn))
        resumed = open_receipt(self.store.conn, self.station_name, self.clock_ms())
        if resumed is not None:
            self.station.handle(resumed)  # state only: the FAULT light is what shows
        return False

    def on_down_applied(self, batch: DownBatch) -> None:
        """Downlink hook (edge/sync.py): a newer release of the open return reaches the station."""
        o = self.station.open
        if o is None:
            return
        mine = o.view.release.request
        for c in batch.changes:
            if isinstance(c, ReturnReleased) and c.payload.request == mine:
                self.dispatch(ReleaseUpdated(c.payload, self.clock_ms()))

    # --- local rows -----------------------------------------------------------------------------

    def _commit(self, conn: sqlite3.Connection, payload: object, now: int) -> journal.Committed:
        if isinstance(payload, _RECORDS):
            return journal.Committed()  # written by on_record below
        return super()._commit(conn, payload, now)

    def on_record(self, conn: sqlite3.Connection, payload: object, at_ms: int) -> None:
        if isinstance(payload, ReturnOpened):
            conn.execute(
                "INSERT INTO return_receipt (receipt_id, request, station, waybill, stage, "
                "opened_ms, updated_ms) VALUES (?, ?, ?, ?, 'counting', ?, ?)",
                (
                    payload.receipt_id,
                    payload.request,
                    self.station_name,
                    payload.waybill,
                    at_ms,
                    at_ms,
                ),
            )
            conn.execute(
                "UPDATE return_counter SET value = MAX(value, ?) WHERE name = 'receipt'",
                (payload.number,),
            )
        elif isinstance(payload, ReturnUnitCounted):
            u = payload.unit
            conn.execute(
                "INSERT INTO return_unit VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    payload.receipt_id,
                    payload.unit_no,
                    u.line_no,
                    u.sku_code,
                    u.condition,
                    u.reason or "",
                    at_ms,
                ),
            )
        elif isinstance(payload, ReturnStage):
            conn.execute(
                "UPDATE return_receipt SET stage = ?, updated_ms = ? WHERE receipt_id = ?",
                (payload.stage, at_ms, payload.receipt_id),
            )

    def device(self, command: object, event: object) -> None:  # pragma: no cover
        log.error("returns station: unknown command %r", command)
