"""The pack station's printing steps: ask the carrier's printer, print only through the
safety gate, confirm, and the lead's reprint. A print whose outcome is unknown is never
retried by itself (edge/stations/pack.py, theory of operation)."""

from __future__ import annotations

from edge.stations.common import (
    Log,
    Record,
    Show,
    Signal,
)
from edge.stations.pack_core import PackCore
from edge.stations.pack_events import (
    DO_NOT_SHIP,
    Command,
    Event,
    LabelInfo,
    LabelPrinted,
    OrderView,
    Print,
    PrinterStatus,
    PrintFailed,
    QueryPrinter,
    ReprintRequested,
    State,
    lines_of,
)
from protocol.devices.zpl import ShippingLabel
from protocol.messages import (
    OrderLabelledPayload,
    WaybillPoolUsedPayload,
)


class PackPrinting(PackCore):
    # --- printing ------------------------------------------------------------------------------

    def _check_printer(self, durable: list[Command], text: str) -> tuple[State, list[Command]]:
        printer = self._printer()
        if printer is None:
            release = self.release
            carrier = release.carrier if release is not None else "?"
            problem = f"no printer bound to carrier {carrier}"
            self.printer_problem = problem
            return State.PRINTER_PROBLEM, [
                *durable,
                self._verdict("printer.problem", problem),
                Log("error", problem),
                Show(Signal.FAULT, problem),
            ]
        self.deadline_ms = self.now_ms + self.config.printer_timeout_ms
        return State.PRINTER_CHECK, [*durable, QueryPrinter(printer), Show(Signal.PROMPT, text)]

    def _printer_status(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, PrinterStatus)
        printer = self._printer()
        if event.printer != printer:
            return self.state, [Log("info", f"status of printer {event.printer} ignored")]
        if not event.ok:
            problem = f"printer {printer}: {event.problem or 'not ready'}"
            self.deadline_ms = None
            if self.state is State.PRINTER_PROBLEM and problem == self.printer_problem:
                return self.state, []  # the same problem polled again
            self.printer_problem = problem
            text = f"{problem}: fix it, the label prints when it is ready"
            return State.PRINTER_PROBLEM, self._say("printer.problem", Signal.FAULT, text, "error")
        return self._print(printer)

    def _print(self, printer: str) -> tuple[State, list[Command]]:
        release = self.release
        assert release is not None
        why_not = self._may_print()
        if why_not is not None:  # pragma: no cover - the table never gets here unsafely
            text = f"label blocked: {why_not}"
            return State.WEIGHT_HOLD, self._say("print.blocked", Signal.HOLD, text, "error")
        assert release.waybill is not None
        assert self.weighed_grams is not None
        r = release.recipient
        label = ShippingLabel(
            waybill=release.waybill,
            carrier=release.carrier,
            order_id=release.order_id,
            weight_g=self.weighed_grams,
            recipient_name=r.name,
            recipient_phone=r.phone,
            province=r.province,
            city=r.city,
            district=r.district or "",
            address=r.address,
            route=release.waybill_route or "",
        )
        reprint = self.reprint_by is not None
        self.print_outstanding = (release, printer, self.reprint_by)
        self.printer_problem = None
        self.deadline_ms = self.now_ms + self.config.print_timeout_ms
        text = f"printing {release.carrier} label {release.waybill} on {printer}"
        used: list[Command] = []
        if self.pooled is not None and self.pooled == release.waybill:
            # Committed with the label's intent: the number is this order's from now on.
            self.pool_recorded = True
            used.append(
                Record(
                    WaybillPoolUsedPayload(
                        order_id=release.order_id,
                        version=release.version,
                        station=self.station,
                        carrier=release.carrier,
                        waybill_code=self.pooled,
                    )
                )
            )
        return State.PRINTING, [
            *used,
            self._verdict("print.sent", text),
            Print(printer, label, reprint),
            Show(Signal.PROMPT, text),
        ]

    def _labelled_fact(self, printer: str) -> Record:
        assert self.print_outstanding is not None
        release, _, reprint_by = self.print_outstanding
        assert release.waybill is not None
        return Record(
            OrderLabelledPayload(
                order_id=release.order_id,
                version=release.version,
                station=self.station,
                carrier=release.carrier,
                tracking_number=release.waybill,
                printer=printer,
                reprint=reprint_by is not None,
                reprint_by=reprint_by,
            )
        )

    def _labelled(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, LabelPrinted)
        outstanding = self.print_outstanding
        release = self.release
        if outstanding is None or release is None or outstanding[0].order_id != release.order_id:
            return self.state, [Log("warning", f"unexpected label from {event.printer}")]
        fact = self._labelled_fact(event.printer)
        self.print_outstanding = None
        self.deadline_ms = None
        self.reprint_by = None
        text = f"order {release.order_id} done: label {release.waybill} printed"
        skus = self.view.skus if self.view is not None else {}
        info = LabelInfo(release.waybill or "", event.printer, release.carrier)
        self.view = OrderView(release, skus, info)
        return State.FINISHED, [
            fact,
            self._verdict("order.labelled", text),
            Show(Signal.COMPLETE, text),
        ]

    def _late_label(self, event: Event) -> tuple[State, list[Command]]:
        """A label confirmation outside PRINTING: a fact if we sent that job, else noise."""
        assert isinstance(event, LabelPrinted)
        outstanding = self.print_outstanding
        if outstanding is None:
            return self.state, [Log("warning", f"unexpected label from {event.printer}")]
        fact = self._labelled_fact(event.printer)
        self.print_outstanding = None
        printed = outstanding[0]
        release = self.release
        now = release if release is not None and release.order_id == printed.order_id else printed
        if now.status in DO_NOT_SHIP:
            text = f"DO NOT SHIP: a label printed for {now.order_id} ({now.status}): void it"
            signal = Signal.DO_NOT_SHIP
        else:
            text = f"a label printed for {now.order_id} after it stopped printing: void it"
            signal = Signal.HOLD
        return self.state, [
            fact,
            self._verdict("print.void", text, order_id=now.order_id),
            Log("warning", text),
            Show(signal, text),
        ]

    def _print_failed(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, PrintFailed)
        self.deadline_ms = None
        if event.sent:
            text = (
                f"printer {event.printer}: {event.problem}; the label may or may not have "
                "printed: if none came out, a lead reprints"
            )
            return State.PRINT_UNCERTAIN, self._say("print.uncertain", Signal.FAULT, text, "error")
        self.print_outstanding = None
        self.printer_problem = f"printer {event.printer}: {event.problem}"
        text = f"{self.printer_problem}: nothing printed; fix it, the label prints when it is ready"
        return State.PRINTER_PROBLEM, self._say("printer.problem", Signal.FAULT, text, "error")

    def _late_print_failed(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, PrintFailed)
        if self.print_outstanding is None:
            return self.state, [Log("warning", f"unexpected print failure from {event.printer}")]
        # The job stays outstanding even when the report says it was not sent: the station
        # had stopped waiting for it (timed out and told the operator "if none came out, a
        # lead reprints", or was put aside), or the printer had already reported it sent.
        # Clearing it let a rescan of the order print a second label with no lead's reprint
        # (found by test_random_sequences_never_print_unsafely). The module's rule: an
        # outcome once unknown prints again only on a lead's reprint.
        text = f"printer {event.printer}: {event.problem} (order no longer printing)"
        return self.state, [self._verdict("print.failed_late", text), Log("warning", text)]

    def _reprint(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ReprintRequested)
        release = self.release
        assert release is not None
        if not event.pin_ok:
            text = f"reprint refused: wrong PIN for {event.lead}"
            return self.state, self._say(
                "print.reprint_refused", Signal.HOLD, text, "warning", lead=event.lead
            )
        if release.status in DO_NOT_SHIP:
            text = f"DO NOT SHIP order {release.order_id} ({release.status}): no reprint"
            return self.state, self._say(
                "print.reprint_refused", Signal.DO_NOT_SHIP, text, "warning", lead=event.lead
            )
        if self.weighed_grams is None:
            # A finished order rescanned from the store: the label shows the weight, so weigh it.
            self._reload_for_reprint()
            self.reprint_by = event.lead
            text = f"reprint by {event.lead}: put the parcel on the scale"
            st, cmds = self._request_weight(text)
            return st, [
                self._verdict("print.reprint", text, lead=event.lead),
                Log("warning", text),
                *cmds,
            ]
        self.reprint_by = event.lead
        text = f"reprint of {release.waybill} by lead {event.lead}"
        return self._check_printer(
            [self._verdict("print.reprint", text, lead=event.lead), Log("warning", text)], text
        )

    def _reload_for_reprint(self) -> None:
        """Treat the rescanned finished order as verified: it was, when it was labelled."""
        assert self.view is not None
        self.lines = lines_of(self.view)
        self.seen.update(self.view.skus)
        for line in self.lines:
            line.got = dict(line.need)
            line.scanned = {line.sku_code: line.qty}
