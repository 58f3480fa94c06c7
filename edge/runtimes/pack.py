"""The pack station's runtime: scanner, scale and courier printers around :class:`PackStation`.

What a scanned line becomes (docs/deploy/README.md has the operator's key card):

* the station's operator prefix (``#GJ:`` by default) + ``RETRY`` / ``ABANDON`` /
  ``OVERRIDE:<lead>:<pin>`` / ``REPRINT:<lead>:<pin>``: operator keys; a PIN is
  checked against its hash in ``[pack.leads]`` (:mod:`edge.pins`, as the pick API's
  operators) and never logged;
* an order id or waybill in the node's replica: :class:`WaybillScanned`;
* a SKU barcode (or a GS1 code whose GTIN is a SKU's, serial from AI 21):
  :class:`ItemScanned`;
* anything else: an unknown item while an order is open (the serial a
  serial-tracked item waits for), else an unknown waybill.

Safety beyond the station's own gate (``PackStation._may_print``):

* before every step the open order's version in the replica is compared with
  the station's; a newer release (a cancel that arrived mid-scan) reaches the
  station as :class:`OrderUpdated` first. The sync agent's downlink hook
  (:meth:`PackRuntime.on_down_applied`) does the same at once;
* a label's intent (``pack_label`` status ``sent``) commits with the step that
  sends the job, before the job leaves. After a crash the order counts as
  labelled: a rescan says "already labelled", only a lead's reprint prints
  again — a restart never prints a second label by itself.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal

from edge.config import EdgeConfig
from edge.devices.base import DeviceError
from edge.devices.lights import Lights
from edge.devices.printer import LabelPrinter
from edge.devices.scale import Scale
from edge.pins import verify_pin
from edge.runtimes.common import ExtraTx, StationRuntime, wall_ms
from edge.stations.common import barcode_problem
from edge.stations.pack import (
    Abandon,
    ItemScanned,
    LabelInfo,
    LabelPrinted,
    LeadOverride,
    OrderUpdated,
    OrderView,
    PackConfig,
    PackStation,
    Print,
    PrinterStatus,
    PrintFailed,
    QueryPrinter,
    ReprintRequested,
    RequestWeight,
    Retry,
    ScaleBack,
    ScaleLost,
    State,
    Tick,
    WaybillScanned,
    WeightStable,
)
from edge.store import journal, replica, waybill_pool
from edge.store.store import Store
from protocol.devices import gs1
from protocol.devices.zpl import WAYBILL_RE, ShippingLabel
from protocol.messages import (
    CatalogueUpsert,
    DownBatch,
    OrderLabelledPayload,
    OrderReleased,
    WaybillPoolUsedPayload,
)

log = logging.getLogger("guanjia.edge.pack")

#: Reasons of a failed print that say the job never left (edge/devices/printer.py):
#: the ready check before it failed or refused, or no connection at all.
_NOT_SENT = ("status before print", "refusing to print", "cannot connect", "connect to")
#: A scale that has never answered is reported down after this long.
SCALE_GRACE_MS = 3000
_OPEN = (
    State.SCANNING,
    State.AWAIT_SERIAL,
    State.WEIGHING,
    State.NO_WEIGHT,
    State.WEIGHT_HOLD,
    State.PRINTER_CHECK,
    State.PRINTING,
    State.PRINTER_PROBLEM,
    State.PRINT_UNCERTAIN,
)


def catalogue_entry(conn: sqlite3.Connection, sku: replica.Sku) -> CatalogueUpsert:
    barcodes = [
        str(r[0])
        for r in conn.execute("SELECT barcode FROM barcode WHERE sku_code = ?", (sku.sku_code,))
    ]
    # Built from rows the replica validated when they arrived: no second validation.
    return CatalogueUpsert.model_construct(
        sku_code=sku.sku_code,
        name=sku.name,
        barcodes=barcodes or [sku.sku_code],
        weight_g=sku.weight_g,
        gtin=sku.gtin,
        serial_tracked=sku.serial_tracked,
        components=list(sku.components),
    )


def order_view(
    conn: sqlite3.Connection,
    code: str,
    offline: bool = False,
    *,
    late_ms: int | None = None,
    now_ms: int = 0,
) -> OrderView | None:
    """An order by id or waybill (its own, or the offline pool's number printed on it), with
    its SKUs and the label already sent, if any. A pool number printed on the order is its
    waybill here until the hub's release says so too; without a printable waybill the view
    offers the courier's next free pool number with the uplink down (``offline``), and with
    it up once the release has waited ``late_ms`` or more for the hub's number by ``now_ms``
    (the store's wall clock: ``draw_late``; None: never)."""
    release = replica.order(conn, code)
    if release is None:
        pooled_order = waybill_pool.order_of(conn, code)
        release = replica.order(conn, pooled_order) if pooled_order is not None else None
    if release is None:
        return None
    pool_waybill = None
    late = False
    used = waybill_pool.used_by(conn, release.order_id)
    if used is not None and used != release.waybill:
        release = release.model_copy(update={"waybill": used, "waybill_route": None})
    elif release.waybill is None or not WAYBILL_RE.fullmatch(release.waybill):
        if not offline and late_ms is not None:
            since = replica.waiting_since(conn, release.order_id)
            late = since is not None and now_ms - since >= late_ms
        if offline or late:
            pool_waybill = waybill_pool.next_free(conn, release.carrier)
    skus: dict[str, CatalogueUpsert] = {}
    wanted = [line.sku_code for line in release.lines]
    while wanted:
        code_ = wanted.pop()
        if code_ in skus:
            continue
        sku = replica.sku(conn, code_)
        if sku is None:
            continue
        skus[code_] = catalogue_entry(conn, sku)
        wanted.extend(c.sku_code for c in sku.components)
    label = journal.label_of(conn, release.order_id)
    labelled = None
    if label is not None and label[0] in ("sent", "printed"):
        labelled = LabelInfo(tracking_number=label[1], printer=label[2], carrier=label[3])
    return OrderView(release, skus, labelled, pool_waybill, offline, draw_late=late)


def sku_for_scan(
    conn: sqlite3.Connection, text: str, current_year: int
) -> tuple[CatalogueUpsert, str | None] | None:
    """The SKU a scan names (barcode, else GS1 GTIN) and the serial it carries."""
    sku = replica.sku_by_barcode(conn, text)
    if sku is not None:
        return catalogue_entry(conn, sku), None
    if not (text[:1].isdigit() or text[:1] in "]("):
        return None
    try:
        data = gs1.parse(text, current_year=current_year)
    except gs1.GS1Error:
        return None
    if data.gtin14 is None:
        return None
    sku = replica.sku_by_gtin(conn, data.gtin14)
    return None if sku is None else (catalogue_entry(conn, sku), data.serial)


class PackRuntime(StationRuntime):
    kind = "pack"

    def __init__(
        self,
        store: Store,
        lights: Lights,
        config: EdgeConfig,
        *,
        scale: Scale | None = None,
        printers: Mapping[str, LabelPrinter] | None = None,
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
        pc = config.pack
        self.pack = pc
        self.station = PackStation(
            PackConfig(
                station=config.station.name,
                printers={p.courier: p.name for p in config.printers},
                tolerance_abs_g=pc.tolerance_abs_g,
                tolerance_pct=pc.tolerance_pct,
                packaging_g=dict(pc.packaging_g),
                default_packaging_g=pc.default_packaging_g,
                duplicate_window_ms=pc.duplicate_window_ms,
                weigh_timeout_ms=int(pc.weigh_timeout_s * 1000),
                printer_timeout_ms=int(pc.printer_timeout_s * 1000),
                print_timeout_ms=int(pc.print_timeout_s * 1000),
                operator=pc.operator,
            )
        )
        if scale is None:
            sc = config.scale
            assert sc is not None, "config validation requires [scale] for a pack station"
            scale = Scale(
                sc.port,
                protocol=sc.protocol,
                baudrate=sc.baudrate,
                silence_timeout=sc.silence_timeout_s,
            )
        self.scale = scale
        self.printers: dict[str, LabelPrinter] = (
            dict(printers)
            if printers is not None
            else {
                p.name: LabelPrinter(p.host, p.port, name=p.name, status_timeout=p.status_timeout_s)
                for p in config.printers
            }
        )
        self._weigh_task: asyncio.Task[None] | None = None
        self._query_task: asyncio.Task[None] | None = None
        self._next_printer_poll = 0
        self._scale_seen = False
        self._started_ms = 0
        self._year = 1970
        #: Whether the hub is reachable now (edge/node.py wires the sync agent's status):
        #: an order without a waybill then waits for the hub's, else takes the pool's.
        self.uplink: Callable[[], bool] = lambda: True
        #: With the uplink up, how long an order may wait for the hub's waybill before it
        #: takes a pool number (None: it waits for the hub's).
        self.pool_late_ms: int | None = (
            int(pc.pool_late_draw_s * 1000) if pc.pool_when_draw_late else None
        )

    async def start(self) -> None:
        import datetime

        self._started_ms = self.clock_ms()
        self._year = datetime.datetime.fromtimestamp(self._started_ms / 1000).year
        await self.scale.start()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        await self.scale.stop()
        for printer in self.printers.values():
            await printer.close()

    # --- input ------------------------------------------------------------------------------

    def handle(self, event: object) -> list[object]:
        return list(self.station.handle(event))  # type: ignore[arg-type]

    def dispatch(self, event: object, extra_tx: ExtraTx | None = None) -> list[object]:
        if not isinstance(event, OrderUpdated):
            self.check_order_version()
        return super().dispatch(event, extra_tx)

    def on_text(self, text: str) -> None:
        now = self.clock_ms()
        conn = self.store.conn
        state = self.station.state
        problem = barcode_problem(text)
        if problem is not None:
            # The station journals and shows it (repr() of the scan); nothing is looked up.
            if state in _OPEN:
                self.dispatch(ItemScanned(text, None, at_ms=now))
            else:
                self.dispatch(WaybillScanned(text, None, at_ms=now))
            return
        if state is State.AWAIT_SERIAL:
            found = sku_for_scan(conn, text, self._year)
            sku, serial = found if found is not None else (None, None)
            self.dispatch(ItemScanned(text, sku, serial, at_ms=now))
            return
        view = self._view(text)
        if view is not None:
            self.dispatch(WaybillScanned(text, view, at_ms=now))
            return
        found = sku_for_scan(conn, text, self._year)
        if found is not None:
            self.dispatch(ItemScanned(text, found[0], found[1], at_ms=now))
        elif state in _OPEN:
            self.dispatch(ItemScanned(text, None, at_ms=now))
        else:
            self.dispatch(WaybillScanned(text, None, at_ms=now))

    def on_key(self, key: str) -> None:
        now = self.clock_ms()
        word, _, rest = key.partition(":")
        word = word.upper()
        if word == "RETRY":
            self.dispatch(Retry(at_ms=now))
        elif word == "ABANDON":
            self.dispatch(Abandon(at_ms=now))
        elif word in ("OVERRIDE", "REPRINT"):
            lead, _, pin = rest.partition(":")
            if not lead:
                self.unknown_key(key)
                return
            ok = self._pin_ok(lead, pin)
            if word == "OVERRIDE":
                self.dispatch(LeadOverride(lead, ok, at_ms=now))
            else:
                self.dispatch(ReprintRequested(lead, ok, at_ms=now))
        else:
            self.unknown_key(key)

    def _pin_ok(self, lead: str, pin: str) -> bool:
        expected = self.pack.leads.get(lead)
        # argon2id costs ~50 ms on the loop: a lead's override is rare, a scan never waits on it.
        return bool(pin) and expected is not None and verify_pin(pin, expected)

    # --- cloud updates ------------------------------------------------------------------------

    def on_down_applied(self, batch: DownBatch) -> None:
        """Downlink hook (edge/sync.py): a newer release of the open order reaches the station now."""
        release = self.station.release
        if release is None:
            return
        if any(
            isinstance(c, OrderReleased) and c.payload.order_id == release.order_id
            for c in batch.changes
        ):
            self.check_order_version()

    def check_order_version(self) -> None:
        release = self.station.release
        if release is None:
            return
        row = self.store.conn.execute(
            "SELECT version FROM order_release WHERE order_id = ?", (release.order_id,)
        ).fetchone()
        if row is None or int(row[0]) <= release.version:
            return
        view = self._view(release.order_id)
        if view is not None:
            super().dispatch(OrderUpdated(view, at_ms=self.clock_ms()))

    def _view(self, code: str) -> OrderView | None:
        """The order a scan names, with the pool's number offered when the uplink is down or
        the hub's draw is late (``pack.pool_late_draw_s``)."""
        return order_view(
            self.store.conn,
            code,
            offline=not self.uplink(),
            late_ms=self.pool_late_ms,
            now_ms=self.store.wall_ms(),
        )

    # --- ticks: timeouts, scale health, printer polls ----------------------------------------

    def on_tick(self, now_ms: int) -> None:
        self.check_order_version()
        health = self.scale.health
        if health.connected:
            self._scale_seen = True
        if self.station.scale_ok and not health.connected:
            if self._scale_seen or now_ms - self._started_ms >= SCALE_GRACE_MS:
                reason = health.last_error or "no answer from the scale"
                self.dispatch(ScaleLost(reason, at_ms=now_ms))
        elif not self.station.scale_ok and health.connected:
            self.dispatch(ScaleBack(at_ms=now_ms))
        if (
            self.station.state is State.PRINTER_PROBLEM
            and now_ms >= self._next_printer_poll
            and (self._query_task is None or self._query_task.done())
        ):
            self._next_printer_poll = now_ms + int(self.pack.printer_poll_s * 1000)
            printer = self._printer_for_open_order()
            if printer is not None:
                self._query_task = self.spawn(self._query(printer), f"query {printer}")
        deadline = self.station.deadline_ms
        if deadline is not None and now_ms >= deadline:
            self.dispatch(Tick(now_ms))

    def _printer_for_open_order(self) -> str | None:
        release = self.station.release
        return None if release is None else self.station.config.printers.get(release.carrier)

    # --- steps: local rows and device commands -----------------------------------------------

    def on_record(self, conn: sqlite3.Connection, payload: object, at_ms: int) -> None:
        if isinstance(payload, OrderLabelledPayload):
            journal.label_printed(
                conn,
                payload.order_id,
                payload.printer,
                payload.carrier,
                payload.tracking_number,
                at_ms,
            )
        elif isinstance(payload, WaybillPoolUsedPayload):
            # With the label's intent and the fact, or not at all (raises if not free).
            waybill_pool.use(conn, payload.waybill_code, payload.order_id, at_ms)

    def before_commit(
        self, conn: sqlite3.Connection, event: object, commands: list[object]
    ) -> None:
        for command in commands:
            if isinstance(command, Print):
                label = command.label
                journal.label_intent(
                    conn,
                    label.order_id,
                    command.printer,
                    label.carrier,
                    label.waybill,
                    self.clock_ms(),
                )

    def device(self, command: object, event: object) -> None:
        if isinstance(command, RequestWeight):
            if self._weigh_task is not None:
                self._weigh_task.cancel()
            self._weigh_task = self.spawn(self._weigh(), "weigh")
        elif isinstance(command, QueryPrinter):
            self._query_task = self.spawn(self._query(command.printer), f"query {command.printer}")
        elif isinstance(command, Print):
            self.spawn(self._print(command.printer, command.label), f"print {command.printer}")
        else:  # pragma: no cover - the station has no other commands
            log.error("pack station: unknown command %r", command)

    async def _weigh(self) -> None:
        """Wait for a stable parcel weight while the station is weighing."""
        noted = False
        while self.station.state is State.WEIGHING:
            try:
                weight = await self.scale.stable_weight(timeout=0.5)
            except DeviceError as err:
                if not self.scale.health.connected:
                    if self.station.scale_ok and self.station.state is State.WEIGHING:
                        self.dispatch(ScaleLost(err.reason, at_ms=self.clock_ms()))
                    return
                if not noted:  # still settling, overload: the station's timeout decides
                    log.info("waiting for a stable weight: %s", err.reason)
                    noted = True
                continue
            grams = weight.grams
            if grams is None:
                log.warning("scale reports unit %s: cannot convert to grams", weight.unit)
                continue
            whole = int(grams.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
            if whole < self.pack.min_weight_g:
                continue  # an empty platform: wait for the parcel
            if self.station.state is State.WEIGHING:
                self.dispatch(WeightStable(whole, at_ms=self.clock_ms()))
            return

    async def _query(self, name: str) -> None:
        printer = self.printers.get(name)
        if printer is None:
            event = PrinterStatus(name, False, "printer not configured", at_ms=self.clock_ms())
        else:
            try:
                status = await printer.status()
            except DeviceError as err:
                event = PrinterStatus(name, False, err.reason, at_ms=self.clock_ms())
            else:
                problems = status.problems()
                event = PrinterStatus(
                    name, not problems, ", ".join(problems) or None, at_ms=self.clock_ms()
                )
        self.dispatch(event)

    async def _print(self, name: str, label: ShippingLabel) -> None:
        printer = self.printers.get(name)
        if printer is None:
            self.dispatch(
                PrintFailed(name, "printer not configured", sent=False, at_ms=self.clock_ms()),
                lambda conn: journal.label_unsent(conn, label.order_id, self.clock_ms()),
            )
            return
        try:
            await printer.print_label(label)
        except DeviceError as err:
            sent = not err.reason.startswith(_NOT_SENT)
            self.dispatch(
                PrintFailed(name, err.reason, sent=sent, at_ms=self.clock_ms()),
                None
                if sent
                else (lambda conn: journal.label_unsent(conn, label.order_id, self.clock_ms())),
            )
            return
        self.dispatch(LabelPrinted(name, at_ms=self.clock_ms()))
