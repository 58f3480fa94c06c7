"""The receiving station's runtime: scanner and item label printer around :class:`ReceiveStation`.

What a scanned line becomes (operator keys after the prefix, ``#GJ:`` by default):

* ``FAIL:<reason>`` (the next item fails QC), ``FINISH``, ``ABANDON``, ``REPRINT``;
* with no receipt open: a PO number the node holds (``po.release`` kept by
  edge/store/replica.py) is :class:`PoScanned`; a bin or an item is refused as
  "scan the PO first"; anything else is an unknown PO;
* counting: an item (catalogue barcode, the PO line's barcodes or SKU code, a GS1
  code whose GTIN is a SKU's, serial from AI 21) is :class:`ItemScanned`; a bin of
  ``[receive] warehouse`` is :class:`BinScanned`; another PO is :class:`PoScanned`;
  anything else an unknown item;
* putaway: a bin first, then items and POs as above, anything else an unknown bin.

Every step's records (receipt opened, unit counted with its serial counter, group
placed, stage, the ``po.received`` fact) commit in the step's one transaction with
its verdict before the light and before any label leaves (edge/runtimes/common.py),
so nothing the operator saw is lost by a kill, and no serial is printed that the
store does not hold. At start the open receipt, if any, is handed back to the
station (:class:`Resumed`). Nothing here needs the uplink.
"""

from __future__ import annotations

import datetime
import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from typing import Literal

from edge.config import EdgeConfig, ReceiveSection
from edge.devices.base import DeviceError
from edge.devices.lights import Lights
from edge.devices.printer import LabelPrinter
from edge.runtimes.common import ExtraTx, StationRuntime, wall_ms
from edge.runtimes.pack import sku_for_scan
from edge.runtimes.serial_labels import HubLabels
from edge.stations.common import barcode_problem
from edge.stations.receive import ReceiveStation
from edge.stations.receive_model import (
    Abandon,
    BinScanned,
    Finish,
    GroupKey,
    GroupPlaced,
    ItemScanned,
    ItemView,
    LabelPrinted,
    PoScanned,
    PoUpdated,
    PoView,
    PrintFailed,
    PrintItem,
    QcFail,
    ReceiptOpened,
    ReceiptStage,
    ReceiveConfig,
    Reprint,
    Resumed,
    State,
    Unit,
    UnitCounted,
)
from edge.store import journal, replica
from edge.store.store import Store
from protocol.devices.zpl_item import ItemLabel, build_item_label, code128_safe
from protocol.messages import (
    BinInfo,
    DownBatch,
    PoReceivedPayload,
    PoRelease,
    PoReleased,
    TransferReceivedPayload,
    TransferRelease,
    TransferReleased,
)

log = logging.getLogger("guanjia.edge.receive")

_RECORDS = (ReceiptOpened, UnitCounted, GroupPlaced, ReceiptStage)


# --- lookups in the node's store -------------------------------------------------------------


def po_release(conn: sqlite3.Connection, po_number: str) -> PoRelease | None:
    row = conn.execute("SELECT body FROM po_release WHERE po_number = ?", (po_number,)).fetchone()
    return None if row is None else PoRelease.model_validate_json(row[0])


def _pending(conn: sqlite3.Connection, number: str, document: str) -> dict[str, int]:
    """Units per SKU of the document's finished receipts its release does not hold yet."""
    return {
        str(sku): int(n)
        for sku, n in conn.execute(
            "SELECT u.sku_code, COUNT(*) FROM receive_unit u JOIN receive_receipt r USING (receipt_id) "
            "WHERE r.po_number = ? AND r.document = ? AND r.stage = 'finished' AND r.reflected = 0 "
            "GROUP BY u.sku_code",
            (number, document),
        )
    }


def po_view(conn: sqlite3.Connection, po_number: str) -> PoView | None:
    """The PO with the units of finished receipts its release does not hold yet."""
    release = po_release(conn, po_number)
    if release is None:
        return None
    pending = _pending(conn, po_number, "po")
    return PoView(release, pending, tuple(replica.bins(conn, release.warehouse)))


#: A transfer's status as the station reads a PO's: withdrawn (its shipment taken back at
#: the sender) means nothing more is received, as a cancelled PO.
_TRANSFER_STATUS: dict[str, Literal["open", "received", "cancelled"]] = {
    "open": "open",
    "received": "received",
    "withdrawn": "cancelled",
}


def transfer_view(conn: sqlite3.Connection, number: str) -> PoView | None:
    """A transfer coming to this warehouse, in a PO's shape (no tolerance: what is still in
    transit is all that may arrive), with its pending units."""
    row = conn.execute(
        "SELECT body FROM transfer_release WHERE transfer_number = ?", (number,)
    ).fetchone()
    if row is None:
        return None
    t = TransferRelease.model_validate_json(row[0])
    release = PoRelease(
        po_number=t.transfer_number,
        warehouse=t.warehouse,
        status=_TRANSFER_STATUS[t.status],
        lines=t.lines,
    )
    return PoView(
        release,
        _pending(conn, number, "transfer"),
        tuple(replica.bins(conn, t.warehouse)),
        document="transfer",
        origin=t.from_warehouse,
    )


def document_view(conn: sqlite3.Connection, number: str) -> PoView | None:
    """The PO or, failing one, the transfer a scanned number names (a PO first: the hub
    refuses a transfer number that is already a PO's)."""
    return po_view(conn, number) or transfer_view(conn, number)


def pos_by_ref(conn: sqlite3.Connection, ref: str, warehouse: str) -> list[str]:
    """The POs a delivery reference (ASN number, courier waybill: ``delivery_refs`` of
    ``po.release``) names, by index (``po_ref``). One open PO of this warehouse is the
    answer; none open here, the one PO it names (the station says why it cannot be
    received); several open here, all of them (the operator scans the PO number)."""
    rows = conn.execute(
        "SELECT r.po_number, p.status = 'open' AND p.warehouse = ? FROM po_ref r "
        "JOIN po_release p USING (po_number) WHERE r.ref = ? ORDER BY r.po_number LIMIT 50",
        (warehouse, ref),
    ).fetchall()
    fitting = [str(n) for n, ok in rows if ok]
    if fitting:
        return fitting
    return [str(rows[0][0])] if len(rows) == 1 else []


def scanned_document(
    conn: sqlite3.Connection, code: str, warehouse: str, at_ms: int
) -> PoScanned | None:
    """A scan that names a document: its number (PO, then transfer), else a delivery
    reference of a PO. None: it names none (it may still be a bin or an item)."""
    view = document_view(conn, code)
    if view is not None:
        return PoScanned(code, view, at_ms=at_ms)
    found = pos_by_ref(conn, code, warehouse)
    if len(found) == 1:
        return PoScanned(code, po_view(conn, found[0]), at_ms=at_ms)
    if found:
        return PoScanned(code, None, at_ms=at_ms, candidates=tuple(found))
    return None


def bin_of(conn: sqlite3.Connection, warehouse: str, code: str) -> BinInfo | None:
    row = conn.execute(
        "SELECT code, zone, x, y, walk_order, barcode FROM bin WHERE warehouse = ? "
        "AND (barcode = ? OR code = ?) ORDER BY barcode = ? DESC LIMIT 1",
        (warehouse, code, code, code),
    ).fetchone()
    if row is None:
        return None
    return BinInfo(code=row[0], zone=row[1], x=row[2], y=row[3], walk_order=row[4], barcode=row[5])


class OpenDemand(Mapping[str, int]):
    """Units per SKU on orders released to this node and not cancelled or held, read for
    one SKU when asked (the ``order_sku`` index: the orders holding that SKU, not every
    order's lines) and kept for the receipt's life (a receipt reads it afresh)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._known: dict[str, int] = {}

    def __getitem__(self, sku: str) -> int:
        found = self._known.get(sku)
        if found is None:
            row = self.conn.execute(
                "SELECT COALESCE(SUM(s.qty), 0) FROM order_sku s JOIN order_release o "
                "USING (order_id) WHERE s.sku_code = ? AND o.status = 'released'",
                (sku,),
            ).fetchone()
            found = self._known[sku] = int(row[0])
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


def open_demand(conn: sqlite3.Connection) -> OpenDemand:
    return OpenDemand(conn)


def item_view(
    conn: sqlite3.Connection,
    demand: Mapping[str, int],
    sku_code: str,
    name: str,
    barcodes: list[str],
    *,
    serial_tracked: bool = False,
    weight_g: int | None = None,
) -> ItemView:
    codes = [sku_code, *barcodes]
    label_code = next((c for c in codes if code128_safe(c)), None)
    stocked = tuple(
        str(r[0])
        for r in conn.execute(
            "SELECT bin FROM stock_expected WHERE sku_code = ? AND qty > 0 ORDER BY bin",
            (sku_code,),
        )
    )
    return ItemView(
        sku_code,
        name,
        label_code,
        serial_tracked,
        weight_g,
        demand.get(sku_code, 0),
        stocked,
    )


def item_for_scan(
    conn: sqlite3.Connection, demand: Mapping[str, int], text: str, po: PoRelease | None, year: int
) -> tuple[ItemView, str | None] | None:
    """The item a scan names and the serial it carries: catalogue, GS1, then the PO's lines."""
    found = sku_for_scan(conn, text, year)
    if found is not None:
        s, serial = found
        view = item_view(
            conn,
            demand,
            s.sku_code,
            s.name,
            list(s.barcodes),
            serial_tracked=s.serial_tracked,
            weight_g=s.weight_g,
        )
        return view, serial
    for line in po.lines if po is not None else ():
        if text == line.sku_code or text in line.barcodes:
            name = line.name or line.sku_code
            return item_view(conn, demand, line.sku_code, name, line.barcodes), None
    for line in po.lines if po is not None else ():
        # A transfer's unit by the serial on its label (the serials that left on it,
        # docs/inbound.md "Serials of a transfer's units"): the SKU and the unit in one scan.
        if line.serials and text in line.serials:
            return item_by_code(conn, demand, line.sku_code, po), text
    return None


def item_by_code(
    conn: sqlite3.Connection, demand: Mapping[str, int], sku_code: str, po: PoRelease | None
) -> ItemView:
    sku = replica.sku(conn, sku_code)
    if sku is not None:
        barcodes = [
            str(r[0])
            for r in conn.execute("SELECT barcode FROM barcode WHERE sku_code = ?", (sku_code,))
        ]
        return item_view(
            conn,
            demand,
            sku_code,
            sku.name,
            barcodes,
            serial_tracked=sku.serial_tracked,
            weight_g=sku.weight_g,
        )
    line = next((ln for ln in po.lines if ln.sku_code == sku_code), None) if po else None
    name = (line.name if line else None) or sku_code
    return item_view(conn, demand, sku_code, name, line.barcodes if line else [])


def serial_taken(
    conn: sqlite3.Connection, station: ReceiveStation, serial: str | None
) -> str | None:
    """The node's other receipt of the open transfer that counted ``serial`` (open at another
    station, or finished and not yet in the release: the uplink may be down), so the station
    refuses the unit a second time (docs/inbound.md "Serials of a transfer's units")."""
    po = station.po
    if serial is None or po is None or po.document != "transfer":
        return None
    row = conn.execute(
        "SELECT r.receipt_id FROM receive_unit u JOIN receive_receipt r USING (receipt_id) "
        "WHERE u.serial = ? AND r.po_number = ? AND r.document = 'transfer' "
        "AND r.stage != 'abandoned' AND r.reflected = 0 AND r.receipt_id != ? LIMIT 1",
        (serial, po.release.po_number, station.receipt_id or ""),
    ).fetchone()
    return None if row is None else str(row[0])


def counters(conn: sqlite3.Connection) -> tuple[int, int]:
    """The next receipt number and the next serial number."""
    got = dict(conn.execute("SELECT name, value FROM receive_counter").fetchall())
    return int(got["receipt"]) + 1, int(got["serial"]) + 1


def open_receipt(conn: sqlite3.Connection, station: str, at_ms: int) -> Resumed | None:
    """The station's receipt still counting or putting away, as the store holds it."""
    row = conn.execute(
        "SELECT receipt_id, po_number, stage, document FROM receive_receipt WHERE station = ? "
        "AND stage IN ('counting', 'putaway') ORDER BY opened_ms DESC, receipt_id DESC LIMIT 1",
        (station,),
    ).fetchone()
    if row is None:
        return None
    rid, po_number, stage = str(row[0]), str(row[1]), str(row[2])
    view = transfer_view(conn, po_number) if row[3] == "transfer" else po_view(conn, po_number)
    if view is None:  # pragma: no cover - a receipt is only opened on a stored PO
        log.error("open receipt %s names PO %s, which the store lacks", rid, po_number)
        return None
    units = tuple(
        Unit(str(r[0]), "fail" if r[1] == "fail" else "pass", str(r[2]) or None, r[3])
        for r in conn.execute(
            "SELECT sku_code, verdict, reason, serial FROM receive_unit WHERE receipt_id = ? "
            "ORDER BY unit_no",
            (rid,),
        )
    )
    placed: dict[GroupKey, str] = {
        (str(r[0]), "fail" if r[1] == "fail" else "pass", str(r[2])): str(r[3])
        for r in conn.execute(
            "SELECT sku_code, verdict, reason, bin FROM receive_placed WHERE receipt_id = ?",
            (rid,),
        )
    }
    demand = open_demand(conn)
    items = {u.sku_code: item_by_code(conn, demand, u.sku_code, view.release) for u in units}
    return Resumed(view, rid, units, items, stage == "putaway", placed, at_ms=at_ms)


# --- the runtime ---------------------------------------------------------------------------


class ReceiveRuntime(StationRuntime):
    kind = "inbound"

    def __init__(
        self,
        store: Store,
        lights: Lights,
        config: EdgeConfig,
        *,
        printer: LabelPrinter | None = None,
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
        rc = config.receive
        assert rc is not None, "config validation requires [receive] for a receiving station"
        self.receive: ReceiveSection = rc
        next_receipt, next_serial = counters(store.conn)
        self.station = ReceiveStation(
            ReceiveConfig(
                station=config.station.name,
                node_id=config.node.id,
                warehouse=rc.warehouse,
                operator=rc.operator,
                labels=rc.labels,
                small_item_max_g=rc.small_item_max_g,
                fast_mover_min_units=rc.fast_mover_min_units,
                duplicate_window_ms=rc.duplicate_window_ms,
            ),
            next_receipt,
            next_serial,
        )
        if printer is None and rc.printer_host is not None:
            printer = LabelPrinter(
                rc.printer_host,
                rc.printer_port,
                name="item-labels",
                status_timeout=rc.printer_status_timeout_s,
            )
        self.printer = printer
        self.printers = {printer.name: printer} if printer is not None else {}
        #: Item labels the hub asks for (a serial it issued): edge/runtimes/serial_labels.py.
        self.hub_labels = HubLabels(self, printer)
        self._year = 1970
        #: Open order demand per SKU (putaway's fast-mover test), read by SKU at its scan.
        self._demand: Mapping[str, int] | None = None

    async def start(self) -> None:
        now = self.clock_ms()
        self._year = datetime.datetime.fromtimestamp(now / 1000).year
        await super().start()
        resumed = open_receipt(self.store.conn, self.station_name, now)
        if resumed is not None:
            self.dispatch(resumed)
        self.hub_labels.start()

    async def stop(self) -> None:
        await super().stop()
        if self.printer is not None:
            await self.printer.close()

    def on_tick(self, now_ms: int) -> None:
        self.hub_labels.on_tick(now_ms)

    # --- input ------------------------------------------------------------------------------

    def handle(self, event: object) -> list[object]:
        return list(self.station.handle(event))  # type: ignore[arg-type]

    def on_text(self, text: str) -> None:
        now = self.clock_ms()
        conn = self.store.conn
        state = self.station.state
        wh = self.receive.warehouse
        if barcode_problem(text) is not None:
            # The station journals and shows it (repr() of the scan); nothing is looked up.
            self.dispatch(self._nothing(text, now))
            return
        if state is State.PUTAWAY:
            found_bin = bin_of(conn, wh, text)
            if found_bin is not None:
                self.dispatch(BinScanned(text, found_bin, at_ms=now))
                return
        po = self.station.po.release if self.station.po is not None else None
        if state is not State.IDLE:
            if self._demand is None:
                self._demand = open_demand(conn)
            item = item_for_scan(conn, self._demand, text, po, self._year)
            if item is not None:
                taken = serial_taken(conn, self.station, item[1])
                self.dispatch(ItemScanned(text, item[0], item[1], at_ms=now, taken=taken))
                return
        doc = scanned_document(conn, text, wh, now)
        if doc is not None:
            if state is State.IDLE:
                self._demand = None  # read afresh for the receipt this scan opens
            self.dispatch(doc)
            return
        if state is not State.PUTAWAY:
            found_bin = bin_of(conn, wh, text)
            if found_bin is not None:
                self.dispatch(BinScanned(text, found_bin, at_ms=now))
                return
        if state is State.IDLE:
            item = item_for_scan(conn, {}, text, None, self._year)
            if item is not None:
                self.dispatch(ItemScanned(text, item[0], item[1], at_ms=now))
                return
        self.dispatch(self._nothing(text, now))

    def _nothing(self, text: str, now: int) -> object:
        """A scan that names nothing, as the event the current state expects."""
        state = self.station.state
        if state is State.IDLE:
            return PoScanned(text, None, at_ms=now)
        if state is State.PUTAWAY:
            return BinScanned(text, None, at_ms=now)
        return ItemScanned(text, None, at_ms=now)

    def on_key(self, key: str) -> None:
        now = self.clock_ms()
        word, _, rest = key.partition(":")
        word = word.upper()
        if word == "FAIL":
            self.dispatch(QcFail(rest, at_ms=now))
        elif word == "FINISH":
            self.dispatch(Finish(at_ms=now))
        elif word == "ABANDON":
            self.dispatch(Abandon(at_ms=now))
        elif word == "REPRINT":
            self.dispatch(Reprint(at_ms=now))
        else:
            self.unknown_key(key)

    def execute(
        self, commands: list[object], event: object = None, extra_tx: ExtraTx | None = None
    ) -> bool:
        if super().execute(commands, event, extra_tx):
            return True
        # The station moved on but nothing of the step is on disk: take its state back from
        # the store, so the operator's next scan is judged against what was committed.
        self.station = ReceiveStation(self.station.config, *counters(self.store.conn))
        resumed = open_receipt(self.store.conn, self.station_name, self.clock_ms())
        if resumed is not None:
            self.station.handle(resumed)  # state only: the FAULT light is what shows
        return False

    # --- cloud updates ------------------------------------------------------------------------

    def on_down_applied(self, batch: DownBatch) -> None:
        """Downlink hook (edge/sync.py): a newer release of the open PO reaches the station
        now; a label the hub asks for prints."""
        self.hub_labels.on_down_applied(batch)
        po = self.station.po
        if po is None:
            return
        number = po.release.po_number
        if po.document == "transfer":
            changed = any(
                isinstance(c, TransferReleased) and c.payload.transfer_number == number
                for c in batch.changes
            )
            view = transfer_view(self.store.conn, number) if changed else None
        else:
            changed = any(
                isinstance(c, PoReleased) and c.payload.po_number == number for c in batch.changes
            )
            view = po_view(self.store.conn, number) if changed else None
        if view is not None:
            self.dispatch(PoUpdated(view, at_ms=self.clock_ms()))

    # --- steps: local rows and device commands -----------------------------------------------

    def _commit(self, conn: sqlite3.Connection, payload: object, now: int) -> journal.Committed:
        if isinstance(payload, _RECORDS):
            return journal.Committed()  # written by on_record below
        return super()._commit(conn, payload, now)

    def on_record(self, conn: sqlite3.Connection, payload: object, at_ms: int) -> None:
        if isinstance(payload, ReceiptOpened):
            conn.execute(
                "INSERT INTO receive_receipt (receipt_id, po_number, warehouse, station, stage, "
                "opened_ms, updated_ms, document) VALUES (?, ?, ?, ?, 'counting', ?, ?, ?)",
                (
                    payload.receipt_id,
                    payload.po_number,
                    payload.warehouse,
                    self.station_name,
                    at_ms,
                    at_ms,
                    payload.document,
                ),
            )
            _bump(conn, "receipt", payload.number)
        elif isinstance(payload, UnitCounted):
            u = payload.unit
            conn.execute(
                "INSERT INTO receive_unit VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    payload.receipt_id,
                    payload.unit_no,
                    u.sku_code,
                    u.verdict,
                    u.reason or "",
                    u.serial,
                    at_ms,
                ),
            )
            if payload.serial_no is not None:
                _bump(conn, "serial", payload.serial_no)
        elif isinstance(payload, GroupPlaced):
            sku, verdict, reason = payload.key
            conn.execute(
                "INSERT INTO receive_placed VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET bin = excluded.bin",
                (payload.receipt_id, sku, verdict, reason, payload.bin),
            )
        elif isinstance(payload, ReceiptStage):
            conn.execute(
                "UPDATE receive_receipt SET stage = ?, updated_ms = ? WHERE receipt_id = ?",
                (payload.stage, at_ms, payload.receipt_id),
            )
        elif isinstance(payload, PoReceivedPayload | TransferReceivedPayload):
            row = conn.execute(
                "SELECT seq FROM fact_digest WHERE digest = ?", (journal.fact_digest(payload),)
            ).fetchone()
            conn.execute(
                "UPDATE receive_receipt SET fact_seq = ? WHERE receipt_id = ?",
                (row[0] if row else None, payload.receipt_id),
            )

    def device(self, command: object, event: object) -> None:
        if isinstance(command, PrintItem):
            self.spawn(self._print(command.job, command.label), f"item label {command.job}")
        else:  # pragma: no cover - the station has no other commands
            log.error("receiving station: unknown command %r", command)

    async def _print(self, job: int, label: ItemLabel) -> None:
        if self.printer is None:
            self.dispatch(
                PrintFailed(job, "no item label printer configured", at_ms=self.clock_ms())
            )
            return
        try:
            await self.printer.print_zpl(build_item_label(label))
        except DeviceError as err:
            self.dispatch(PrintFailed(job, err.reason, at_ms=self.clock_ms()))
            return
        self.dispatch(LabelPrinted(job, at_ms=self.clock_ms()))


def _bump(conn: sqlite3.Connection, name: str, used: int) -> None:
    """A counter value is used: it is never handed out again, even after a restart."""
    conn.execute("UPDATE receive_counter SET value = MAX(value, ?) WHERE name = ?", (used, name))
