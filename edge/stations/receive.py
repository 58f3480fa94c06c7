"""Receiving station (收货, 入库质检 QC, 上架 putaway): a pure state machine.

Theory of operation
-------------------
The operator scans the purchase order's number on the delivery note; the runtime
finds the PO in the node's store (kept from the cloud's ``po.release``,
docs/inbound.md) and hands the station :class:`PoScanned` with a :class:`PoView`:
the release and the units of this PO that receipts finished on this node hold
but the release does not include yet (``pending``: the uplink may be down for a
day). A PO of another warehouse, or one not open, is refused with the reason.

Each item scan arrives as :class:`ItemScanned` with the :class:`ItemView` the
barcode resolved to (catalogue, the PO line's barcodes, or a GS1 GTIN). It is
counted against the PO line of its SKU: a SKU not on the PO, an unknown barcode,
and a unit beyond the line's ``allowed`` (the PO's over-receipt tolerance,
docs/inbound.md "Tolerance") are refused with a red light and the reason, and
nothing is counted. A unit passes QC unless the operator first keys
``FAIL:<reason>``: then the next item scanned counts as failed with that reason
(QC fail goes to the damaged bucket, docs/inbound.md "Receipts").

Labels: a serial-tracked unit gets a serial made from the node id and a counter
the store keeps (a counter value is recorded before the label that shows it is
sent, so a restart never issues it again), unless its scan carried one (GS1 AI
21). The station prints an item label (ZPL Code 128, protocol/devices/zpl_item.py)
for every serial, or for every unit with ``labels = "every_unit"``. A failed print
is shown and kept; ``REPRINT`` sends the kept labels again, with the same serials.

``FINISH`` ends the count: the units, grouped by (SKU, verdict, reason), are put
away group by group. For each the station suggests a bin (QC fail: a damaged, QC
or hold bin; a fast mover, one that released orders on this node wait for: the
畅销区 ``fast_mover`` zone near dispatch; a small item by weight: the 小商品区
``small_item`` zone; otherwise the 备货区 ``reserve`` zone; within a zone a bin
already holding the SKU, else the lowest walk order) and the operator confirms
by scanning a bin. Any bin of the warehouse may be scanned instead (the shelf
may be full), but failed units only go to a damaged, QC or hold bin. When every
group is placed, or on a second ``FINISH``, the station records the
``po.received`` fact under the receipt id made on the node (node id + counter),
which the cloud books once however often it arrives.

Durability: every count, placement and stage of the receipt is a :class:`Record`
committed before its light (docs/stations.md "Operator safety"), so a receipt
killed between two scans resumes where the last light left it
(:class:`Resumed`). Time arrives as ``at_ms`` in events; there are no timeouts.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.stations.common import (
    Log,
    LogLevel,
    Record,
    Show,
    Signal,
    Verdict,
    barcode_problem,
    barcode_problem_said,
    printable,
    table_row,
)
from edge.stations.receive_model import (
    EVENT_TYPES,
    MAX_GROUP_SERIALS,
    MAX_GROUPS,
    MAX_REASON_CHARS,
    QC_ZONES,
    Abandon,
    BinScanned,
    Command,
    Event,
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
    QcVerdict,
    ReceiptOpened,
    ReceiptStage,
    ReceiveConfig,
    Reprint,
    Resumed,
    State,
    Unit,
    UnitCounted,
    receipt_fact,
    suggest_bin,
)
from edge.stations.sentences import Common, Receiving, Sentence, Words, english, key_word, say, word
from protocol.devices.zpl_item import ItemLabel
from protocol.messages import (
    BinInfo,
    PoReleaseLine,
)


class ReceiveStation:
    def __init__(self, config: ReceiveConfig, next_receipt: int = 1, next_serial: int = 1) -> None:
        self.config = config
        self.state = State.IDLE
        self.now_ms = 0
        #: Counters the store keeps; the next value to use.
        self.next_receipt = next_receipt
        self.next_serial = next_serial
        self.po: PoView | None = None
        #: The open document's lines by SKU (a scan's line lookup stays O(1) on a 500-line PO).
        self.lines: dict[str, PoReleaseLine] = {}
        #: A transfer's serials in transit per SKU, as a set (built when first asked).
        self.listed: dict[str, frozenset[str]] = {}
        self.receipt_id: str | None = None
        self.units: list[Unit] = []
        #: Units per SKU and the serials of this receipt (a scan's checks stay O(1)).
        self.tally: dict[str, int] = {}
        self.serials: set[str] = set()
        self.group_sizes: dict[GroupKey, int] = {}
        self.items: dict[str, ItemView] = {}
        self.placed: dict[GroupKey, str] = {}
        self.fail_reason: str | None = None
        self.jobs: dict[int, ItemLabel] = {}  # sent, not yet confirmed
        self.failed: dict[int, ItemLabel] = {}  # the printer refused: REPRINT sends them
        self._job = 0
        self.last_scan: tuple[str, int] | None = None

    def handle(self, event: Event) -> list[Command]:
        self.now_ms = max(self.now_ms, event.at_ms)
        if isinstance(event, PoScanned | ItemScanned | BinScanned):
            last, self.last_scan = self.last_scan, (event.barcode, event.at_ms)
            window = self.config.duplicate_window_ms
            if (
                last is not None
                and last[0] == event.barcode
                and 0 <= event.at_ms - last[1] <= window
            ):
                said = say(Common.DOUBLE_READ, code=printable(event.barcode))
                return self._say("scan.duplicate", Signal.NOTICE, said, "warning")
            problem = barcode_problem_said(event.barcode)
            if problem is not None:
                said = say(Common.UNREADABLE, problem=problem)
                return self._say(
                    "scan.unreadable", Signal.UNKNOWN, said, "warning", barcode=repr(event.barcode)
                )
        elif isinstance(event, QcFail | Finish | Abandon | Reprint):
            self.last_scan = None  # an operator key between two reads: not a double read
        next_state, commands = TRANSITIONS[(self.state, type(event))](self, event)
        self.state = next_state
        return commands

    # --- figures --------------------------------------------------------------------------

    def counted(self, sku: str) -> int:
        return self.tally.get(sku, 0)

    def _add(self, unit: Unit) -> None:
        self.units.append(unit)
        self.tally[unit.sku_code] = self.tally.get(unit.sku_code, 0) + 1
        key = (unit.sku_code, unit.verdict, unit.reason or "")
        self.group_sizes[key] = self.group_sizes.get(key, 0) + 1
        if unit.serial is not None:
            self.serials.add(unit.serial)

    def room(self, sku: str) -> int | None:
        """Units of ``sku`` the PO still takes in this receipt (None: not on the PO)."""
        assert self.po is not None
        line = self.lines.get(sku)
        if line is None:
            return None
        return line.allowed - self.po.pending.get(sku, 0) - self.counted(sku)

    def groups(self) -> dict[GroupKey, list[Unit]]:
        out: dict[GroupKey, list[Unit]] = {}
        for u in self.units:
            out.setdefault((u.sku_code, u.verdict, u.reason or ""), []).append(u)
        return out

    def open_groups(self) -> list[GroupKey]:
        return [k for k in self.groups() if k not in self.placed]

    def suggest(self, key: GroupKey) -> BinInfo | None:
        """The putaway bin for a group (receive_model.suggest_bin)."""
        assert self.po is not None
        return suggest_bin(self.po.bins, self.items.get(key[0]), key[1], self.config)

    # --- helpers ----------------------------------------------------------------------------

    def _doc(self, po: PoView | None = None) -> Sentence:
        """The open document as the operator's texts name it: "PO X" or "transfer X"."""
        po = po or self.po
        assert po is not None
        number = po.release.po_number
        return say(Words.TRANSFER if po.document == "transfer" else Words.PO, number=number)

    def _say(
        self,
        kind: str,
        signal: Signal,
        said: Sentence | tuple[Sentence, ...],
        level: LogLevel | None = None,
        *before: Command,
        **fields: str | None,
    ) -> list[Command]:
        """Records first, then the verdict, a log line and the light (durable first)."""
        po = self.po.release.po_number if self.po is not None else None
        fields.setdefault("order_id", po)
        said = said if isinstance(said, tuple) else (said,)
        text = english(said)
        verdict = Verdict(self.config.station, kind, text, at_ms=self.now_ms, said=said, **fields)
        out: list[Command] = [*before, Record(verdict)]
        if level is not None:
            out.append(Log(level, text))
        out.append(Show(signal, text))
        return out

    def _clear(self) -> None:
        self.po = None
        self.lines = {}
        self.listed = {}
        self.receipt_id = None
        self.units = []
        self.tally = {}
        self.serials = set()
        self.group_sizes = {}
        self.items = {}
        self.placed = {}
        self.fail_reason = None

    def _label(self, item: ItemView, serial: str | None) -> list[Command]:
        policy = self.config.labels
        if policy == "off" or (policy == "serial" and serial is None):
            return []
        code = item.label_code or serial
        if code is None:
            return [Log("warning", f"{item.sku_code} has no Code 128 barcode: no label printed")]
        self._job += 1
        label = ItemLabel(item.sku_code, item.name, code, serial if code != serial else None)
        self.jobs[self._job] = label
        return [PrintItem(self._job, label)]

    # --- opening a receipt ----------------------------------------------------------------

    def _open(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, PoScanned)
        code = event.barcode
        if event.po is None and event.candidates:
            said = say(
                Receiving.PO_AMBIGUOUS,
                code=code,
                n=len(event.candidates),
                pos=", ".join(event.candidates[:5]),
            )
            return self.state, self._say(
                "po.ambiguous_ref", Signal.UNKNOWN, said, "warning", barcode=code
            )
        if event.po is None:
            said = say(Receiving.PO_UNKNOWN, code=code)
            return self.state, self._say(
                "po.unknown", Signal.UNKNOWN, said, "warning", barcode=code
            )
        rel = event.po.release
        doc = self._doc(event.po)
        if rel.warehouse != self.config.warehouse:
            said = say(
                Receiving.PO_WRONG_WAREHOUSE,
                doc=doc,
                warehouse=rel.warehouse,
                here=self.config.warehouse,
            )
            return self.state, self._say(
                "po.wrong_warehouse", Signal.WRONG_ITEM, said, "warning", order_id=rel.po_number
            )
        if rel.status != "open":
            signal = Signal.ALREADY_DONE if rel.status == "received" else Signal.HOLD
            said = say(Receiving.PO_NOT_OPEN, doc=doc, status=word(rel.status))
            return self.state, self._say(
                "po.not_open", signal, said, "warning", order_id=rel.po_number
            )
        self._clear()
        self.po = event.po
        self.lines = {ln.sku_code: ln for ln in event.po.release.lines}
        self.listed = {}
        number = self.next_receipt
        self.next_receipt += 1
        self.receipt_id = f"{self.config.node_id[:50]}-R{number:06d}"
        opened = Record(
            ReceiptOpened(self.receipt_id, number, rel.po_number, rel.warehouse, event.po.document)
        )
        expected = sum(
            max(0, ln.expected - event.po.pending.get(ln.sku_code, 0)) for ln in rel.lines
        )
        source = event.po.origin if event.po.document == "transfer" else rel.supplier
        said = say(
            Receiving.PO_OPEN,
            doc=doc,
            source=say(Receiving.FROM, source=source) if source else "",
            # found by a delivery reference (ASN or waybill)
            delivery=say(Receiving.DELIVERY, code=code) if code != rel.po_number else "",
            lines=len(rel.lines),
            expected=expected,
            receipt=self.receipt_id,
        )
        return State.COUNTING, self._say("po.open", Signal.PROMPT, said, None, opened)

    def _po_busy(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, PoScanned)
        assert self.po is not None
        mine = self.po.release.po_number
        if (
            event.po is not None
            and event.po.release.po_number == mine
            and event.po.document == self.po.document
        ):
            said = say(Receiving.PO_REOPEN, doc=self._doc(), receipt=str(self.receipt_id))
            return self.state, self._say("po.reopen", Signal.NOTICE, said)
        said = say(
            Receiving.PO_MID_RECEIPT,
            code=event.barcode,
            receipt=str(self.receipt_id),
            doc=self._doc(),
        )
        return self.state, self._say(
            "po.mid_receipt", Signal.WRONG_ITEM, said, "warning", barcode=event.barcode
        )

    # --- counting ---------------------------------------------------------------------------

    def _item(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        assert self.po is not None
        item, code = event.item, event.barcode
        po = self._doc()
        if item is None:
            # A transfer whose lines list the serials that left: the code may be a unit's
            # serial label that did not leave on it.
            listed = self.po.document == "transfer" and any(
                ln.serials for ln in self.lines.values()
            )
            said = say(
                Receiving.ITEM_UNKNOWN_SERIAL if listed else Receiving.ITEM_UNKNOWN,
                code=code,
                doc=po,
            )
            return self.state, self._say(
                "item.unknown", Signal.UNKNOWN, said, "warning", barcode=code
            )
        fields: dict[str, str | None] = {"barcode": code, "sku_code": item.sku_code}
        room = self.room(item.sku_code)
        if room is None:
            said = say(Receiving.ITEM_NOT_ON_PO, sku=item.sku_code, doc=po)
            return self.state, self._say(
                "item.not_on_po", Signal.NOT_IN_ORDER, said, "warning", **fields
            )
        if self.po.release.status != "open":
            said = say(Receiving.ITEM_PO_NOT_OPEN, doc=po, status=word(self.po.release.status))
            return self.state, self._say("item.po_not_open", Signal.HOLD, said, "warning", **fields)
        if room <= 0:
            line = self.lines[item.sku_code]
            have = self.counted(item.sku_code) + self.po.pending.get(item.sku_code, 0)
            figures: dict[str, str | int] = {
                "ordered": line.ordered,
                "allowed": line.allowed,
                "have": have,
            }
            said = (
                say(
                    Receiving.OVER_TRANSFER,
                    sku=item.sku_code,
                    doc=po,
                    received=line.received,
                    **figures,
                )
                if self.po.document == "transfer"
                else say(
                    Receiving.OVER_PO,
                    sku=item.sku_code,
                    doc=po,
                    pct=str(self.po.release.tolerance_pct),
                    **figures,
                )
            )
            return self.state, self._say(
                "item.over_receipt", Signal.OVER_QTY, said, "warning", **fields
            )
        verdict: QcVerdict = "fail" if self.state is State.AWAIT_FAIL else "pass"
        reason = self.fail_reason if verdict == "fail" else None
        key: GroupKey = (item.sku_code, verdict, reason or "")
        size = self.group_sizes.get(key)
        # The fact's limits (protocol/messages.py PoReceivedPayload, ReceivedLine): refused
        # at the dock, not found out when the receipt is finished.
        if (size is None and len(self.group_sizes) >= MAX_GROUPS) or (
            item.serial_tracked and (size or 0) >= MAX_GROUP_SERIALS
        ):
            said = say(Receiving.RECEIPT_FULL, receipt=str(self.receipt_id), doc=po)
            return self.state, self._say(
                "item.receipt_full", Signal.HOLD, said, "warning", **fields
            )
        serial, serial_no = event.serial, None
        if serial is not None and not item.serial_tracked:
            serial = None
        refused = self._not_shipped(item, serial, fields)
        if refused is not None:
            return self.state, refused
        if serial is not None:
            if barcode_problem(serial) is not None or serial in self.serials:
                said = say(Receiving.SERIAL_TWICE, serial=printable(serial))
                return self.state, self._say(
                    "item.serial_twice", Signal.OVER_QTY, said, "warning", **fields
                )
            if event.taken is not None:
                # Another receipt of this node took it and the hub has not booked it yet (or
                # this node is offline): the release still lists it, the node's store knows.
                said = say(Receiving.SERIAL_TAKEN, serial=printable(serial), receipt=event.taken)
                return self.state, self._say(
                    "item.serial_taken", Signal.OVER_QTY, said, "warning", **fields
                )
        elif item.serial_tracked:
            serial_no = self.next_serial
            self.next_serial += 1
            serial = f"{self.config.node_id[:50]}-S{serial_no:07d}"
        unit = Unit(item.sku_code, verdict, reason, serial)
        assert self.receipt_id is not None
        self._add(unit)
        self.items[item.sku_code] = item
        self.fail_reason = None
        counted = Record(UnitCounted(self.receipt_id, len(self.units), unit, serial_no))
        got = self.counted(item.sku_code)
        sn = say(Receiving.SERIAL, serial=serial) if serial else ""
        if verdict == "fail":
            said = say(Receiving.ITEM_FAIL, sku=item.sku_code, reason=str(unit.reason), serial=sn)
        else:
            said = say(Receiving.ITEM_PASS, sku=item.sku_code, serial=sn, n=got)
        fields["serial"] = serial
        out = self._say(f"item.{verdict}", Signal.OK, said, None, counted, **fields)
        return State.COUNTING, out + self._label(item, serial)

    def _not_shipped(
        self, item: ItemView, serial: str | None, fields: dict[str, str | None]
    ) -> list[Command] | None:
        """A transfer whose line lists the serials in transit (the sender's pick scanned
        them; docs/inbound.md "Serials of a transfer's units") takes only those: a unit
        without its serial, or with another, is refused (red light, nothing counted)."""
        assert self.po is not None
        line = self.lines.get(item.sku_code)
        if self.po.document != "transfer" or line is None or not line.serials:
            return None
        doc = self._doc()
        if serial is None:
            said = say(Receiving.SERIAL_WANTED, sku=item.sku_code, doc=doc)
            return self._say("item.serial_wanted", Signal.WRONG_ITEM, said, "warning", **fields)
        listed = self.listed.get(item.sku_code)
        if listed is None:
            listed = self.listed[item.sku_code] = frozenset(line.serials)
        if serial not in listed:
            said = say(Receiving.SERIAL_NOT_SHIPPED, serial=printable(serial), doc=doc)
            return self._say(
                "item.serial_not_shipped", Signal.WRONG_ITEM, said, "warning", **fields
            )
        return None

    def _qc_fail(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, QcFail)
        reason = event.reason.strip()
        problem = barcode_problem(reason) if reason else "empty"
        if problem is not None or len(reason) > MAX_REASON_CHARS:
            said = say(Receiving.QC_NO_REASON, max=MAX_REASON_CHARS)
            return self.state, self._say("qc.no_reason", Signal.UNKNOWN, said, "warning")
        self.fail_reason = reason
        said = say(Receiving.QC_ARMED, reason=reason)
        return State.AWAIT_FAIL, self._say("qc.fail_armed", Signal.PROMPT, said)

    def _finish_count(self, event: Event) -> tuple[State, list[Command]]:
        assert self.receipt_id is not None
        if not self.units:
            said = say(Receiving.RECEIPT_EMPTY, receipt=self.receipt_id)
            return self.state, self._say("receipt.empty", Signal.NOTICE, said)
        self.fail_reason = None
        stage = Record(ReceiptStage(self.receipt_id, "putaway"))
        return self._next_group(stage, prefix=say(Receiving.COUNTED, n=len(self.units)))

    def _next_group(
        self, *before: Command, prefix: Sentence | None = None
    ) -> tuple[State, list[Command]]:
        key = self.open_groups()[0]
        n = len(self.groups()[key])
        where = self.suggest(key)
        sku, verdict, reason = key
        said = say(
            Receiving.PUTAWAY,
            n=n,
            sku=sku,
            fail=say(Receiving.FAILED_WITH, reason=reason) if verdict == "fail" else "",
            to=say(Receiving.TO_BIN, bin=where.code, zone=word(where.zone))
            if where
            else say(Receiving.TO_ANY_BIN),
        )
        parts = (prefix, said) if prefix is not None else (said,)
        return State.PUTAWAY, self._say("putaway.suggest", Signal.PROMPT, parts, None, *before)

    # --- putaway and finishing -------------------------------------------------------------

    def _bin(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, BinScanned)
        assert self.receipt_id is not None
        bin_ = event.bin
        if bin_ is None:
            said = say(Receiving.UNKNOWN_BIN, code=event.barcode, warehouse=self.config.warehouse)
            return self.state, self._say("putaway.unknown_bin", Signal.UNKNOWN, said, "warning")
        key = self.open_groups()[0]
        if key[1] == "fail" and bin_.zone not in QC_ZONES:
            said = say(Receiving.WRONG_ZONE_FAIL, sku=key[0], bin=bin_.code, zone=word(bin_.zone))
            return self.state, self._say("putaway.wrong_zone", Signal.WRONG_ITEM, said, "warning")
        if key[1] == "pass" and bin_.zone == "damaged":
            said = say(Receiving.WRONG_ZONE_PASS, sku=key[0], bin=bin_.code)
            return self.state, self._say("putaway.wrong_zone", Signal.WRONG_ITEM, said, "warning")
        suggested = self.suggest(key)
        self.placed[key] = bin_.code
        placed = Record(GroupPlaced(self.receipt_id, key, bin_.code))
        other = (
            say(Receiving.SUGGESTED, bin=suggested.code)
            if suggested and suggested.code != bin_.code
            else ""
        )
        done = say(
            Receiving.PLACED, n=len(self.groups()[key]), sku=key[0], bin=bin_.code, other=other
        )
        if self.open_groups():
            return self._next_group(placed, prefix=done)
        return self._finish(placed, prefix=done)

    def _finish(
        self, *before: Command, prefix: Sentence | None = None
    ) -> tuple[State, list[Command]]:
        assert self.po is not None
        assert self.receipt_id is not None
        fact = receipt_fact(self.po, self.receipt_id, self.config, self.groups(), self.placed)
        unplaced = len(self.open_groups())
        said = say(
            Receiving.DONE,
            receipt=self.receipt_id,
            doc=self._doc(),
            n=len(self.units),
            rest=say(Receiving.UNPLACED, n=unplaced) if unplaced else "",
        )
        out = self._say(
            "receipt.done",
            Signal.COMPLETE,
            (prefix, said) if prefix is not None else (said,),
            "info",
            *before,
            Record(fact),
            Record(ReceiptStage(self.receipt_id, "finished")),
        )
        self._clear()
        return State.IDLE, out

    def _finish_putaway(self, event: Event) -> tuple[State, list[Command]]:
        return self._finish()

    def _abandon(self, event: Event) -> tuple[State, list[Command]]:
        assert self.receipt_id is not None
        rid = self.receipt_id
        out = self._say(
            "receipt.abandoned",
            Signal.NOTICE,
            say(Receiving.ABANDONED, receipt=rid),
            "warning",
            Record(ReceiptStage(rid, "abandoned")),
        )
        self._clear()
        return State.IDLE, out

    # --- labels, cloud updates, restart ------------------------------------------------------

    def _printed(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, LabelPrinted)
        label = self.jobs.pop(event.job, None)
        what = f"{label.sku_code} {label.serial or ''}".strip() if label else f"job {event.job}"
        return self.state, [Log("info", f"item label printed: {what}")]

    def _print_failed(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, PrintFailed)
        label = self.jobs.pop(event.job, None)
        if label is None:
            return self.state, [
                Log("warning", f"print job {event.job} failed late: {event.problem}")
            ]
        self.failed[event.job] = label
        said = say(
            Receiving.LABEL_FAILED,
            sku=label.sku_code,
            serial=label.serial or "",
            problem=event.problem,
        )
        return self.state, self._say(
            "label.failed", Signal.FAULT, said, "error", sku_code=label.sku_code
        )

    def _reprint(self, event: Event) -> tuple[State, list[Command]]:
        if not self.failed:
            return self.state, self._say(
                "label.nothing_to_reprint", Signal.NOTICE, say(Receiving.NOTHING_TO_REPRINT)
            )
        again = sorted(self.failed.items())
        self.failed = {}
        cmds: list[Command] = []
        for _, label in again:
            self._job += 1
            self.jobs[self._job] = label
            cmds.append(PrintItem(self._job, label))
        said = say(Receiving.REPRINTING, n=len(again))
        return self.state, self._say("label.reprint", Signal.CLEAR, said, "info") + cmds

    def _po_updated(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, PoUpdated)
        if (
            self.po is None
            or event.po.release.po_number != self.po.release.po_number
            or event.po.document != self.po.document
        ):
            return self.state, [Log("info", "a release of another document: nothing open changes")]
        self.po = event.po
        self.lines = {ln.sku_code: ln for ln in event.po.release.lines}
        self.listed = {}
        rel = event.po.release
        if rel.status == "open":
            return self.state, [Log("info", f"{event.po.label}: newer figures from the cloud")]
        said = say(Receiving.PO_STOPPED, doc=self._doc(event.po), status=word(rel.status))
        return self.state, self._say("po.stopped", Signal.HOLD, said, "warning")

    def _resume(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, Resumed)
        self._clear()
        self.po = event.po
        self.lines = {ln.sku_code: ln for ln in event.po.release.lines}
        self.listed = {}
        self.receipt_id = event.receipt_id
        for unit in event.units:
            self._add(unit)
        self.items = dict(event.items)
        self.placed = dict(event.placed)
        n = len(self.units)
        if event.putaway and self.open_groups():
            return self._next_group(
                prefix=say(Receiving.RESUMED_PUTAWAY, receipt=event.receipt_id, n=n)
            )
        if event.putaway:
            return self._finish()
        said = say(Receiving.RESUMED, receipt=event.receipt_id, doc=self._doc(event.po), n=n)
        return State.COUNTING, self._say("receipt.resumed", Signal.PROMPT, said, "info")

    # --- inputs that mean nothing now -------------------------------------------------------

    def _scan_idle(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned | BinScanned)
        said = say(Receiving.DOCUMENT_FIRST, code=event.barcode)
        return self.state, self._say(
            "scan.no_receipt", Signal.WRONG_ITEM, said, "warning", barcode=event.barcode
        )

    def _bin_counting(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, BinScanned)
        said = say(Receiving.BIN_TOO_EARLY, code=event.barcode)
        return self.state, self._say("scan.bin_too_early", Signal.WRONG_ITEM, said, "warning")

    def _item_putaway(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ItemScanned)
        said = say(Receiving.ITEM_IN_PUTAWAY, code=event.barcode)
        return self.state, self._say("scan.item_in_putaway", Signal.WRONG_ITEM, said, "warning")

    def _ignored(self, event: Event) -> tuple[State, list[Command]]:
        what = key_word(type(event).__name__)
        said = say(Common.IGNORED, what=what, state=word(self.state.value))
        return self.state, self._say("input.ignored", Signal.NOTICE, said, "info")

    def _logged(self, event: Event) -> tuple[State, list[Command]]:
        return self.state, [Log("info", f"{type(event).__name__} ignored in {self.state.value}")]


_Handler = Callable[[ReceiveStation, Event], tuple[State, list[Command]]]
S, R = State, ReceiveStation


def _row(**handlers: _Handler) -> dict[type, _Handler]:
    return table_row(EVENT_TYPES, handlers)


#: state -> event -> handler (returns the next state and the commands). Every pair is listed.
# fmt: off
TABLE: dict[State, dict[type, _Handler]] = {
    S.IDLE: _row(
        PoScanned=R._open, ItemScanned=R._scan_idle, BinScanned=R._scan_idle, QcFail=R._ignored,
        Finish=R._ignored, Abandon=R._ignored, Reprint=R._reprint, LabelPrinted=R._printed,
        PrintFailed=R._print_failed, PoUpdated=R._po_updated, Resumed=R._resume,
    ),
    S.COUNTING: _row(
        PoScanned=R._po_busy, ItemScanned=R._item, BinScanned=R._bin_counting, QcFail=R._qc_fail,
        Finish=R._finish_count, Abandon=R._abandon, Reprint=R._reprint, LabelPrinted=R._printed,
        PrintFailed=R._print_failed, PoUpdated=R._po_updated, Resumed=R._logged,
    ),
    S.AWAIT_FAIL: _row(
        PoScanned=R._po_busy, ItemScanned=R._item, BinScanned=R._bin_counting, QcFail=R._qc_fail,
        Finish=R._finish_count, Abandon=R._abandon, Reprint=R._reprint, LabelPrinted=R._printed,
        PrintFailed=R._print_failed, PoUpdated=R._po_updated, Resumed=R._logged,
    ),
    S.PUTAWAY: _row(
        PoScanned=R._po_busy, ItemScanned=R._item_putaway, BinScanned=R._bin, QcFail=R._ignored,
        Finish=R._finish_putaway, Abandon=R._abandon, Reprint=R._reprint, LabelPrinted=R._printed,
        PrintFailed=R._print_failed, PoUpdated=R._po_updated, Resumed=R._logged,
    ),
}
# fmt: on
TRANSITIONS: dict[tuple[State, type], _Handler] = {
    (state, event): handler for state, row in TABLE.items() for event, handler in row.items()
}
