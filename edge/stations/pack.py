"""Pack station (扫描出库 scan-verify, 称重 weighing, courier label): a pure state machine.

Theory of operation
-------------------
The operator scans a waybill (or order) barcode; the runtime looks the order up
in the node's store and hands the station :class:`WaybillScanned` with an
:class:`OrderView` (the release, the catalogue entries of its lines and
bundles, and whether a label was already printed). Each item scan arrives as
:class:`ItemScanned` with the catalogue entry the barcode resolved to, and is
judged against the open order: right item (green), wrong variant, not in the
order, over quantity, unknown barcode (red, each its own sound). A bundle line
takes either the bundle barcode or its components; a serial-tracked item wants
its serial (from the scan itself, or the next scan). Gift lines are lines.

When every line is complete the station records ``order.packed`` and asks for
a stable weight. Expected weight = sum of item weights + packaging for the box
type; the tolerance is ``tolerance_abs_g + tolerance_pct`` of the expectation.
Outside it (or an item without a catalogue weight) the order is held until a
lead overrides by PIN (logged) or the parcel is re-weighed. Then the station
checks the printer bound to the order's carrier and prints the label; the
printer's confirmation records ``order.labelled``. Each pack station talks to
the printer of the order's courier, so several printers print in parallel,
one per courier (并行打单).

Operator safety, enforced by construction and by :meth:`PackStation._may_print`
just before any :class:`Print`: no label while a line is incomplete, while the
weight is out of tolerance without an override, or for an order the cloud
cancelled or held (a cancel arriving mid-scan stops the order at once, and a
label already in the printer is recorded and shown as "void it"). A finished
order rescanned says so and prints again only on a lead's reprint (logged). A
print whose outcome is unknown (sent, then no answer) is never retried
automatically: only a lead's reprint prints again, even when the printer later reports the
job as not sent, and so is a job left unconfirmed when its order was put aside or stopped.

Every command list puts :class:`Record` first and :class:`Show` last, and every
Show has a Record (a :class:`~edge.stations.common.Verdict` at least) before it.
Time only comes in events (``at_ms``); :class:`Tick` drives the timeouts. A
scan of the same barcode within ``duplicate_window_ms`` of the previous one is
a scanner double read: recorded, logged and not counted (rule 0, before the
table).
"""

from __future__ import annotations

from collections.abc import Callable

from edge.stations.common import (
    Log,
    Record,
    Show,
    Signal,
    barcode_problem,
    printable,
    table_row,
)
from edge.stations.pack_events import (
    DO_NOT_SHIP,
    EVENT_TYPES,
    Abandon,
    Command,
    Event,
    ItemScanned,
    LabelInfo,
    LabelPrinted,
    LeadOverride,
    OrderUpdated,
    OrderView,
    PackConfig,
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
    lines_of,
    variant_base,
)
from edge.stations.pack_weigh import PackWeighing
from protocol.devices.zpl import WAYBILL_RE
from protocol.messages import (
    CatalogueUpsert,
    OrderPackedPayload,
    OrderRelease,
    PackedItem,
)

#: The station's vocabulary (pack_events.py) is part of this module's interface.
__all__ = [
    "EVENT_TYPES",
    "TRANSITIONS",
    "Abandon",
    "Command",
    "Event",
    "ItemScanned",
    "LabelInfo",
    "LabelPrinted",
    "LeadOverride",
    "OrderUpdated",
    "OrderView",
    "PackConfig",
    "PackStation",
    "Print",
    "PrintFailed",
    "PrinterStatus",
    "QueryPrinter",
    "ReprintRequested",
    "RequestWeight",
    "Retry",
    "ScaleBack",
    "ScaleLost",
    "State",
    "Tick",
    "WaybillScanned",
    "WeightStable",
]


class PackStation(PackWeighing):
    """The pack station: its transitions are the table at the end of this module."""

    def handle(self, event: Event) -> list[Command]:
        self.now_ms = max(self.now_ms, event.at_ms)
        if isinstance(event, WaybillScanned | ItemScanned):
            duplicate = self._duplicate(event.barcode, event.at_ms)
            if duplicate is not None:
                return duplicate
        handler = TRANSITIONS[(self.state, type(event))]
        next_state, commands = handler(self, event)
        self.state = next_state
        return commands

    # --- opening an order ---------------------------------------------------------------------

    def _open(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, WaybillScanned)
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return self.state, bad
        view = event.order
        code = event.barcode
        if view is None:
            return self.state, self._say(
                "order.unknown", Signal.UNKNOWN, f"no order for {code}", "warning", barcode=code
            )
        release = view.release
        outstanding = self.print_outstanding
        if outstanding is not None and outstanding[0].order_id == release.order_id:
            # A label job for this order went out and was never confirmed either way.
            view = OrderView(
                view.release,
                view.skus,
                LabelInfo(release.waybill or "?", outstanding[1], release.carrier),
            )
        if view.labelled is not None:
            self._clear_order()
            self.view = view
            text = (
                f"order {release.order_id} is already labelled "
                f"({view.labelled.carrier} {view.labelled.tracking_number}): "
                "not printed again; a lead can reprint"
            )
            return State.FINISHED, self._say(
                "order.already_done", Signal.ALREADY_DONE, text, "info"
            )
        if release.status in DO_NOT_SHIP:
            reason = f": {release.status_reason}" if release.status_reason else ""
            text = f"DO NOT SHIP order {release.order_id}: {release.status}{reason}"
            out = self._say(
                "order.do_not_ship", Signal.DO_NOT_SHIP, text, "warning", order_id=release.order_id
            )
            self._clear_order()
            return State.IDLE, out
        pooled = None
        draw_late = False
        if release.waybill is None or not WAYBILL_RE.fullmatch(release.waybill):
            if view.pool_waybill is not None and WAYBILL_RE.fullmatch(view.pool_waybill):
                # Offline: the label carries the pool's number (the hub binds it on report).
                pooled = view.pool_waybill
                release = release.model_copy(update={"waybill": pooled, "waybill_route": None})
                draw_late = view.draw_late
                view = OrderView(release, view.skus, view.labelled)
            elif view.offline or view.draw_late:
                why = "the uplink is down" if view.offline else "the hub's waybill is late"
                text = (
                    f"order {release.order_id} has no waybill and {why}: the "
                    f"offline waybill pool of {release.carrier} is empty; put it aside until "
                    "the hub is back"
                )
                out = self._say(
                    "order.pool_empty", Signal.HOLD, text, "error", order_id=release.order_id
                )
                self._clear_order()
                return State.IDLE, out
            else:
                text = f"order {release.order_id} has no printable waybill number yet: put it aside"
                out = self._say(
                    "order.no_waybill", Signal.HOLD, text, "warning", order_id=release.order_id
                )
                self._clear_order()
                return State.IDLE, out
        if release.carrier not in self.config.printers:
            text = f"no printer bound to carrier {release.carrier} at this station"
            out = self._say(
                "order.no_printer", Signal.HOLD, text, "error", order_id=release.order_id
            )
            self._clear_order()
            return State.IDLE, out
        self._clear_order()
        self.view = view
        self.pooled = pooled
        self.lines = lines_of(view)
        self.seen.update(view.skus)
        _, need = self.progress()
        gifts = sum(1 for line in self.lines if line.gift)
        extra = f" ({gifts} gift line{'s' if gifts > 1 else ''})" if gifts else ""
        if pooled is not None:
            why = "offline" if not draw_late else "the hub's waybill is late"
            extra += f" ({why}: waybill {pooled} from the pool)"
        text = f"order {release.order_id}: scan {need} item(s){extra}"
        return State.SCANNING, self._say("order.open", Signal.PROMPT, text)

    def _waybill_busy(self, event: Event) -> tuple[State, list[Command]]:
        """A waybill scanned while an order is open: the open order stays as it is."""
        assert isinstance(event, WaybillScanned)
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return self.state, bad
        current = self.release
        assert current is not None
        got, need = self.progress()
        if event.order is not None and event.order.release.order_id == current.order_id:
            text = f"order {current.order_id} is already open: {got} of {need} verified"
            return self.state, self._say("order.reopen", Signal.NOTICE, text)
        text = (
            f"waybill {event.barcode} scanned mid-order: finish order {current.order_id} "
            f"({got} of {need}) or put it aside first"
        )
        return self.state, self._say(
            "order.mid_order_waybill", Signal.WRONG_ITEM, text, "warning", barcode=event.barcode
        )

    # --- item scans ---------------------------------------------------------------------------

    def _judge(self, event: ItemScanned) -> tuple[int | None, list[Command]]:
        """Match an item scan to a line (index) or say why not (commands)."""
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return None, bad
        sku = event.sku
        if sku is None:
            return None, self._say(
                "item.unknown",
                Signal.UNKNOWN,
                f"unknown barcode {event.barcode}",
                "warning",
                barcode=event.barcode,
            )
        code = sku.sku_code
        # A plain line of this SKU first, then a bundle sold whole, then a bundle's component.
        for rank in (0, 1, 2):
            for i, line in enumerate(self.lines):
                plain = not line.components and line.sku_code == code
                whole = bool(line.components) and line.sku_code == code
                part = bool(line.components) and code in line.components
                if (plain, whole, part)[rank] and line.room_for(code):
                    return i, []
        fields: dict[str, str | None] = {"barcode": event.barcode, "sku_code": code}
        if any(line.references(code) for line in self.lines):
            text = f"too many {code}: the order needs no more"
            return None, self._say("item.over_qty", Signal.OVER_QTY, text, "warning", **fields)
        base = variant_base(code)
        for line in self.lines:
            for wanted in (line.sku_code, *line.components):
                if not line.complete and variant_base(wanted) == base and wanted != code:
                    text = f"wrong item: scanned {code}, the order wants {wanted}"
                    return None, self._say(
                        "item.wrong", Signal.WRONG_ITEM, text, "warning", **fields
                    )
        text = f"{code} is not in order {self.release.order_id if self.release else ''}"
        return None, self._say("item.not_in_order", Signal.NOT_IN_ORDER, text, "warning", **fields)

    def _item(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        index, refusal = self._judge(event)
        if index is None:
            return self.state, refusal
        sku = event.sku
        assert sku is not None
        self.seen[sku.sku_code] = sku
        if sku.serial_tracked:
            if event.serial is None:
                self.pending_serial = (index, sku, event.barcode)
                text = f"{sku.sku_code}: scan its serial number"
                return State.AWAIT_SERIAL, self._say(
                    "item.await_serial", Signal.PROMPT, text, barcode=event.barcode
                )
            return self._accept_serial(index, sku, event.barcode, event.serial)
        return self._count(index, sku, event.barcode, None)

    def _accept_serial(
        self, index: int, sku: CatalogueUpsert, barcode: str, serial: str
    ) -> tuple[State, list[Command]]:
        problem = barcode_problem(serial)
        if problem is not None:
            text = f"unreadable serial ({problem}): scan the serial of {sku.sku_code} again"
            self.pending_serial = (index, sku, barcode)
            return State.AWAIT_SERIAL, self._say(
                "item.serial_unreadable", Signal.UNKNOWN, text, "warning", serial=repr(serial)
            )
        used = {s for line in self.lines for ss in line.serials.values() for s in ss}
        if serial in used:
            text = f"serial {serial} was already scanned in this order: scan this item's serial"
            self.pending_serial = (index, sku, barcode)
            return State.AWAIT_SERIAL, self._say(
                "item.serial_duplicate", Signal.WRONG_ITEM, text, "warning", serial=serial
            )
        return self._count(index, sku, barcode, serial)

    def _count(
        self, index: int, sku: CatalogueUpsert, barcode: str, serial: str | None
    ) -> tuple[State, list[Command]]:
        self.pending_serial = None
        line = self.lines[index]
        line.add(sku.sku_code, serial)
        got, need = self.progress()
        gift = " (gift)" if line.gift else ""
        text = f"{sku.sku_code}{gift} ok: {got} of {need}"
        fields: dict[str, str | None] = {
            "barcode": barcode,
            "sku_code": sku.sku_code,
            "line_id": line.line_id,
            "serial": serial,
        }
        if not self._all_complete():
            return State.SCANNING, self._say("item.ok", Signal.OK, text, None, **fields)
        release = self.release
        assert release is not None
        packed = OrderPackedPayload(
            order_id=release.order_id,
            version=release.version,
            station=self.station,
            operator=self.config.operator,
            items=[
                PackedItem(
                    line_id=ln.line_id,
                    sku_code=scanned_sku,
                    qty=count,
                    serials=ln.serials.get(scanned_sku, []),
                )
                for ln in self.lines
                for scanned_sku, count in sorted(ln.scanned.items())
            ],
        )
        out: list[Command] = [self._verdict("item.ok", text, **fields), Record(packed)]
        if not self.scale_ok:
            done = f"all {need} items verified; the scale is unavailable: reconnect it, then Retry"
            out += [
                self._verdict("weight.no_scale", done),
                Log("error", done),
                Show(Signal.FAULT, done),
            ]
            return State.NO_WEIGHT, out
        done = f"all {need} items verified: put the parcel on the scale"
        self.deadline_ms = self.now_ms + self.config.weigh_timeout_ms
        out += [self._verdict("order.verified", done), RequestWeight(), Show(Signal.COMPLETE, done)]
        return State.WEIGHING, out

    def _serial(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        assert self.pending_serial is not None
        index, sku, barcode = self.pending_serial
        if event.sku is not None:
            text = (
                f"that is an item ({event.sku.sku_code}): scan the serial number of {sku.sku_code}"
            )
            return self.state, self._say(
                "item.serial_expected", Signal.WRONG_ITEM, text, "warning", barcode=event.barcode
            )
        return self._accept_serial(index, sku, barcode, event.barcode)

    def _item_after_verified(self, event: Event) -> tuple[State, list[Command]]:
        """All lines are complete: any further item is extra (never counted)."""
        assert isinstance(event, ItemScanned)
        index, refusal = self._judge(event)
        assert index is None  # every line is complete, nothing has room
        return self.state, refusal

    def _item_no_order(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        bad = self._unreadable(event.barcode)
        if bad is not None:
            return self.state, bad
        if event.sku is None:
            text = f"unknown barcode {event.barcode} (no order open: scan a waybill)"
            return self.state, self._say(
                "item.unknown", Signal.UNKNOWN, text, "warning", barcode=event.barcode
            )
        if self.state is State.FINISHED and self.release is not None:
            text = f"order {self.release.order_id} is finished: scan the next waybill"
            signal = Signal.ALREADY_DONE
        else:
            text = f"{event.sku.sku_code}: no order open, scan the waybill first"
            signal = Signal.NOT_IN_ORDER
        return self.state, self._say(
            "item.no_order", signal, text, "warning", barcode=event.barcode
        )

    def _item_do_not_ship(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        release = self.release
        assert release is not None
        text = f"DO NOT SHIP order {release.order_id} ({release.status}): put its items aside"
        return self.state, self._say(
            "item.do_not_ship",
            Signal.DO_NOT_SHIP,
            text,
            "warning",
            barcode=printable(event.barcode),
        )

    # --- cloud updates --------------------------------------------------------------------------

    def _update(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, OrderUpdated)
        current = self.release
        new = event.order.release
        if current is None or new.order_id != current.order_id or new.version <= current.version:
            return self.state, [
                Log("info", f"order update {new.order_id} v{new.version} not for the open order")
            ]
        if new.status in DO_NOT_SHIP:
            self.view = OrderView(
                new, {**self.view.skus, **event.order.skus} if self.view else event.order.skus
            )
            self.deadline_ms = None
            reason = f": {new.status_reason}" if new.status_reason else ""
            text = f"DO NOT SHIP order {new.order_id}: {new.status} by the hub{reason}; put its items aside"
            return State.DO_NOT_SHIP, self._say(
                "order.do_not_ship", Signal.DO_NOT_SHIP, text, "warning"
            )
        same_lines = [(ln.line_id, ln.sku_code, ln.qty) for ln in new.lines] == [
            (ln.line_id, ln.sku_code, ln.qty) for ln in current.lines
        ]
        new = self._keep_pooled(new)
        self.view = OrderView(new, {**(self.view.skus if self.view else {}), **event.order.skus})
        if same_lines:
            return self.state, [
                Log("info", f"order {new.order_id} now v{new.version}, lines unchanged")
            ]
        self.lines = lines_of(self.view)
        self.seen.update(event.order.skus)
        self.pending_serial = None
        self.weighed_grams = None
        self.weight_accepted = False
        self.override_by = None
        self.deadline_ms = None
        _, need = self.progress()
        text = f"order {new.order_id} changed by the hub: empty the parcel and scan all {need} items again"
        return State.SCANNING, self._say("order.changed", Signal.WRONG_ITEM, text, "warning")

    def _keep_pooled(self, new: OrderRelease, printed: bool = False) -> OrderRelease:
        """A newer release while the open order prints a pool number: without a waybill of
        its own, or once a label job went out with the pool number (even one that never left
        the printer's queue: its use is recorded), the pool number stays; else the hub's
        number (it came back before any label) replaces it."""
        if self.pooled is None:
            return new
        printable = new.waybill is not None and WAYBILL_RE.fullmatch(new.waybill)
        if printable and not self.pool_recorded and not printed:
            self.pooled = None
            return new
        return new.model_copy(update={"waybill": self.pooled, "waybill_route": None})

    def _update_finished(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, OrderUpdated)
        current = self.release
        new = event.order.release
        if current is None or new.order_id != current.order_id or new.version <= current.version:
            return self.state, [Log("info", f"order update {new.order_id} v{new.version} ignored")]
        assert self.view is not None
        new = self._keep_pooled(new, printed=True)
        self.view = OrderView(new, self.view.skus, self.view.labelled)
        if new.status in DO_NOT_SHIP:
            text = f"order {new.order_id} was {new.status} after labelling: pull the parcel"
            return self.state, self._say("order.do_not_ship", Signal.DO_NOT_SHIP, text, "warning")
        return self.state, [Log("info", f"finished order {new.order_id} now v{new.version}")]

    def _update_stopped(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, OrderUpdated)
        current = self.release
        new = event.order.release
        if current is None or new.order_id != current.order_id or new.version <= current.version:
            return self.state, [Log("info", f"order update {new.order_id} v{new.version} ignored")]
        assert self.view is not None
        self.view = OrderView(new, self.view.skus)
        if new.status in DO_NOT_SHIP:
            return self.state, [Log("info", f"order {new.order_id} still {new.status}")]
        text = f"order {new.order_id} released again: scan its waybill to start it over"
        return self.state, self._say("order.released_again", Signal.NOTICE, text, "info")

    # --- operator keys, timeouts, ignored input -------------------------------------------------

    def _retry(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, Retry)
        if self.state in (State.WEIGHING, State.NO_WEIGHT, State.WEIGHT_HOLD):
            return self._request_weight("weighing again: put the parcel on the scale")
        assert self.state is State.PRINTER_PROBLEM
        text = "checking the printer again"
        return self._check_printer([self._verdict("printer.retry", text)], text)

    def _abandon(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, Abandon)
        release = self.release
        text = (
            f"order {release.order_id} put aside: take its items out of the parcel"
            if release is not None and self.state not in (State.FINISHED,)
            else "ready for the next waybill"
        )
        out = self._say("order.abandoned", Signal.NOTICE, text, "info")
        self._clear_order()
        return State.IDLE, out

    def _tick(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, Tick)
        if self.deadline_ms is None or event.at_ms < self.deadline_ms:
            return self.state, []
        self.deadline_ms = None
        if self.state is State.WEIGHING:
            text = "no stable weight: check the parcel sits still on the scale, then Retry"
            return State.NO_WEIGHT, self._say("weight.timeout", Signal.FAULT, text, "error")
        if self.state is State.PRINTER_CHECK:
            self.printer_problem = f"printer {self._printer()} does not answer"
            text = f"{self.printer_problem}: check it, then Retry"
            return State.PRINTER_PROBLEM, self._say("printer.problem", Signal.FAULT, text, "error")
        assert self.state is State.PRINTING
        text = "the printer did not confirm the label: if none came out, a lead reprints"
        return State.PRINT_UNCERTAIN, self._say("print.uncertain", Signal.FAULT, text, "error")

    def _ignored(self, event: Event) -> tuple[State, list[Command]]:
        """An operator input that means nothing now: say so (journal, log, light)."""
        text = f"{type(event).__name__} ignored: nothing to do in {self.state.value}"
        lead = getattr(event, "lead", None)
        return self.state, self._say("input.ignored", Signal.NOTICE, text, "info", lead=lead)

    def _logged(self, event: Event) -> tuple[State, list[Command]]:
        """Device or cloud chatter that changes nothing now: a log line is the verdict."""
        return self.state, [Log("info", f"{type(event).__name__} ignored in {self.state.value}")]

    def _quiet(self, event: Event) -> tuple[State, list[Command]]:
        """A tick with no deadline, or a printer status poll outside a print: nothing to say."""
        return self.state, []


_Handler = Callable[[PackStation, Event], tuple[State, list[Command]]]
S = State
P = PackStation

_ORDER_OPEN = (S.SCANNING, S.AWAIT_SERIAL)
_VERIFIED = (
    S.WEIGHING,
    S.NO_WEIGHT,
    S.WEIGHT_HOLD,
    S.PRINTER_CHECK,
    S.PRINTING,
    S.PRINTER_PROBLEM,
    S.PRINT_UNCERTAIN,
)


def _row(**handlers: _Handler) -> dict[type, _Handler]:
    return table_row(EVENT_TYPES, handlers)


#: state -> event -> handler (returns the next state and the commands). Every pair is listed.
# fmt: off
TABLE: dict[State, dict[type, _Handler]] = {
    S.IDLE: _row(
        WaybillScanned=P._open, ItemScanned=P._item_no_order, WeightStable=P._logged,
        ScaleLost=P._scale_lost, ScaleBack=P._scale_back, PrinterStatus=P._quiet,
        LabelPrinted=P._late_label, PrintFailed=P._late_print_failed, LeadOverride=P._ignored,
        ReprintRequested=P._ignored, OrderUpdated=P._logged, Retry=P._ignored,
        Abandon=P._ignored, Tick=P._quiet,
    ),
    S.SCANNING: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item, WeightStable=P._logged,
        ScaleLost=P._scale_lost, ScaleBack=P._scale_back, PrinterStatus=P._quiet,
        LabelPrinted=P._late_label, PrintFailed=P._late_print_failed, LeadOverride=P._ignored,
        ReprintRequested=P._ignored, OrderUpdated=P._update, Retry=P._ignored,
        Abandon=P._abandon, Tick=P._quiet,
    ),
    S.AWAIT_SERIAL: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._serial, WeightStable=P._logged,
        ScaleLost=P._scale_lost, ScaleBack=P._scale_back, PrinterStatus=P._quiet,
        LabelPrinted=P._late_label, PrintFailed=P._late_print_failed, LeadOverride=P._ignored,
        ReprintRequested=P._ignored, OrderUpdated=P._update, Retry=P._ignored,
        Abandon=P._abandon, Tick=P._quiet,
    ),
    S.WEIGHING: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._weighed, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._quiet, LabelPrinted=P._late_label, PrintFailed=P._late_print_failed,
        LeadOverride=P._ignored, ReprintRequested=P._ignored, OrderUpdated=P._update,
        Retry=P._retry, Abandon=P._abandon, Tick=P._tick,
    ),
    S.NO_WEIGHT: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._weighed, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._quiet, LabelPrinted=P._late_label, PrintFailed=P._late_print_failed,
        LeadOverride=P._ignored, ReprintRequested=P._ignored, OrderUpdated=P._update,
        Retry=P._retry, Abandon=P._abandon, Tick=P._quiet,
    ),
    S.WEIGHT_HOLD: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._weighed, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._quiet, LabelPrinted=P._late_label, PrintFailed=P._late_print_failed,
        LeadOverride=P._override, ReprintRequested=P._ignored, OrderUpdated=P._update,
        Retry=P._retry, Abandon=P._abandon, Tick=P._quiet,
    ),
    S.PRINTER_CHECK: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._logged, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._printer_status, LabelPrinted=P._late_label,
        PrintFailed=P._late_print_failed, LeadOverride=P._ignored, ReprintRequested=P._ignored,
        OrderUpdated=P._update, Retry=P._ignored, Abandon=P._abandon, Tick=P._tick,
    ),
    S.PRINTING: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._logged, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._quiet, LabelPrinted=P._labelled, PrintFailed=P._print_failed,
        LeadOverride=P._ignored, ReprintRequested=P._ignored, OrderUpdated=P._update,
        Retry=P._ignored, Abandon=P._abandon, Tick=P._tick,
    ),
    S.PRINTER_PROBLEM: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._logged, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._printer_status, LabelPrinted=P._late_label,
        PrintFailed=P._late_print_failed, LeadOverride=P._ignored, ReprintRequested=P._ignored,
        OrderUpdated=P._update, Retry=P._retry, Abandon=P._abandon, Tick=P._quiet,
    ),
    S.PRINT_UNCERTAIN: _row(
        WaybillScanned=P._waybill_busy, ItemScanned=P._item_after_verified,
        WeightStable=P._logged, ScaleLost=P._scale_lost, ScaleBack=P._scale_back,
        PrinterStatus=P._quiet, LabelPrinted=P._labelled, PrintFailed=P._late_print_failed,
        LeadOverride=P._ignored, ReprintRequested=P._reprint, OrderUpdated=P._update,
        Retry=P._ignored, Abandon=P._abandon, Tick=P._quiet,
    ),
    S.FINISHED: _row(
        WaybillScanned=P._open, ItemScanned=P._item_no_order, WeightStable=P._logged,
        ScaleLost=P._scale_lost, ScaleBack=P._scale_back, PrinterStatus=P._quiet,
        LabelPrinted=P._late_label, PrintFailed=P._late_print_failed, LeadOverride=P._ignored,
        ReprintRequested=P._reprint, OrderUpdated=P._update_finished, Retry=P._ignored,
        Abandon=P._abandon, Tick=P._quiet,
    ),
    S.DO_NOT_SHIP: _row(
        WaybillScanned=P._open, ItemScanned=P._item_do_not_ship, WeightStable=P._logged,
        ScaleLost=P._scale_lost, ScaleBack=P._scale_back, PrinterStatus=P._quiet,
        LabelPrinted=P._late_label, PrintFailed=P._late_print_failed, LeadOverride=P._ignored,
        ReprintRequested=P._ignored, OrderUpdated=P._update_stopped, Retry=P._ignored,
        Abandon=P._abandon, Tick=P._quiet,
    ),
}
# fmt: on
TRANSITIONS: dict[tuple[State, type], _Handler] = {
    (state, event): handler for state, row in TABLE.items() for event, handler in row.items()
}
