"""The receiving station's table: every (state, event) pair, the happy path, each bad scan."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from edge.stations import receive
from edge.stations.common import Record, Show, Signal, Verdict, durable_first
from edge.stations.receive import ReceiveStation
from edge.stations.receive_model import (
    EVENT_TYPES,
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
from protocol.messages import BinInfo, PoReceivedPayload, PoRelease, PoReleaseLine

CONFIG = ReceiveConfig(station="rcv-1", node_id="wh1-rcv-1", warehouse="WH1", operator="R02")
BINS = (
    BinInfo(code="F-01", zone="fast_mover", x=0, y=1, walk_order=1, barcode="BIN-F01"),
    BinInfo(code="S-01", zone="small_item", x=1, y=1, walk_order=5, barcode="BIN-S01"),
    BinInfo(code="R-02", zone="reserve", x=2, y=2, walk_order=9, barcode="BIN-R02"),
    BinInfo(code="R-01", zone="reserve", x=2, y=1, walk_order=8, barcode="BIN-R01"),
    BinInfo(code="D-01", zone="damaged", x=9, y=9, walk_order=99, barcode="BIN-D01"),
)
CASE = ItemView("CASE-GOLD", "皮套 金色", "CASE-GOLD", weight_g=900)
PEN = ItemView("PEN-1", "pen", "6900000000042", weight_g=20)
HOT = ItemView("HOT-1", "hot seller", "HOT-1", weight_g=900, open_demand=12)
PHONE = ItemView("PHONE-1", "phone", "PHONE-1", serial_tracked=True, weight_g=400)
NOT_ON_PO = ItemView("OTHER-1", "other", "OTHER-1")


def line(sku: str, ordered: int, allowed: int | None = None, received: int = 0) -> PoReleaseLine:
    return PoReleaseLine(
        sku_code=sku,
        ordered=ordered,
        received=received,
        expected=ordered - received,
        allowed=ordered - received if allowed is None else allowed,
    )


PO = PoRelease(
    po_number="PO-1",
    warehouse="WH1",
    status="open",
    supplier="迪沃",
    tolerance_pct="5",
    lines=[line("CASE-GOLD", 4, 5), line("PEN-1", 2), line("HOT-1", 2), line("PHONE-1", 2)],
)


def view(release: PoRelease = PO, **pending: int) -> PoView:
    return PoView(release, {k.replace("_", "-"): v for k, v in pending.items()}, BINS)


def shows(cmds: Sequence[object]) -> list[Show]:
    return [c for c in cmds if isinstance(c, Show)]


def records(cmds: Sequence[object], kind: type) -> list[object]:
    return [c.payload for c in cmds if isinstance(c, Record) and isinstance(c.payload, kind)]


def last_signal(cmds: Sequence[object]) -> Signal:
    return shows(cmds)[-1].signal


class Clock:
    def __init__(self) -> None:
        self.t = 1000

    def __call__(self) -> int:
        self.t += 1000  # far apart: never a double read
        return self.t


def drive(state: State) -> tuple[ReceiveStation, Clock]:
    s, t = ReceiveStation(CONFIG), Clock()
    if state is State.IDLE:
        return s, t
    s.handle(PoScanned("PO-1", view(), t()))
    s.handle(ItemScanned("CASE-GOLD", CASE, at_ms=t()))
    if state is State.AWAIT_FAIL:
        s.handle(QcFail("scratched", t()))
    if state is State.PUTAWAY:
        s.handle(Finish(t()))
    assert s.state is state
    return s, t


def samples(t: Clock) -> list[object]:
    resumed = Resumed(
        view(), "wh1-rcv-1-R000009", (Unit("PEN-1", "pass"),), {"PEN-1": PEN}, False, {}
    )
    return [
        PoScanned("PO-1", view(), t()),
        ItemScanned("6900000000042", PEN, at_ms=t()),
        BinScanned("BIN-R01", BINS[3], t()),
        QcFail("torn box", t()),
        Finish(t()),
        Abandon(t()),
        Reprint(t()),
        LabelPrinted(1, t()),
        PrintFailed(1, "paper out", t()),
        PoUpdated(view(), t()),
        resumed,
    ]


#: Where each pair leads when not back to the same state.
EXPECTED_NEXT: dict[tuple[State, type], State] = {
    (State.IDLE, PoScanned): State.COUNTING,
    (State.IDLE, Resumed): State.COUNTING,
    (State.COUNTING, QcFail): State.AWAIT_FAIL,
    (State.COUNTING, Finish): State.PUTAWAY,
    (State.COUNTING, Abandon): State.IDLE,
    (State.AWAIT_FAIL, ItemScanned): State.COUNTING,
    (State.AWAIT_FAIL, Finish): State.PUTAWAY,
    (State.AWAIT_FAIL, Abandon): State.IDLE,
    (State.PUTAWAY, BinScanned): State.IDLE,  # the one group placed: the receipt is done
    (State.PUTAWAY, Finish): State.IDLE,
    (State.PUTAWAY, Abandon): State.IDLE,
}


def test_table_lists_every_state_event_pair() -> None:
    assert set(receive.TRANSITIONS) == {(s, e) for s in State for e in EVENT_TYPES}


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("index", range(len(EVENT_TYPES)))
def test_every_transition_is_durable_first_and_says_something(state: State, index: int) -> None:
    station, t = drive(state)
    event = samples(t)[index]
    cmds = station.handle(event)  # type: ignore[arg-type]
    assert cmds, f"{type(event).__name__} in {state} gave nothing at all"
    assert durable_first(cmds)
    for i, c in enumerate(cmds):
        if isinstance(c, Show):  # every light has its journal record before it
            assert any(
                isinstance(c2, Record) and isinstance(c2.payload, Verdict) for c2 in cmds[:i]
            )
    assert station.state is EXPECTED_NEXT.get((state, type(event)), state)


def test_a_receipt_counts_qcs_labels_puts_away_and_records_one_fact() -> None:
    s, t = ReceiveStation(CONFIG, next_receipt=7, next_serial=41), Clock()
    cmds = s.handle(PoScanned("PO-1", view(), t()))
    (opened,) = records(cmds, ReceiptOpened)
    assert opened == ReceiptOpened("wh1-rcv-1-R000007", 7, "PO-1", "WH1")
    assert last_signal(cmds) is Signal.PROMPT and "10 unit(s) expected" in shows(cmds)[-1].text
    for item in (CASE, CASE, PEN, HOT):
        assert last_signal(s.handle(ItemScanned(item.sku_code, item, at_ms=t()))) is Signal.OK
    # A serial-tracked unit gets the node's next serial and a label; the counter is recorded.
    cmds = s.handle(ItemScanned("PHONE-1", PHONE, at_ms=t()))
    (unit,) = records(cmds, UnitCounted)
    assert isinstance(unit, UnitCounted) and unit.serial_no == 41
    assert unit.unit.serial == "wh1-rcv-1-S0000041"
    (job,) = [c for c in cmds if isinstance(c, PrintItem)]
    assert job.label.barcode == "PHONE-1" and job.label.serial == "wh1-rcv-1-S0000041"
    # A GS1 scan's own serial is kept: no counter used.
    cmds = s.handle(ItemScanned("(01)...(21)SUP-9", PHONE, serial="SUP-9", at_ms=t()))
    (unit,) = records(cmds, UnitCounted)
    assert isinstance(unit, UnitCounted) and unit.serial_no is None and unit.unit.serial == "SUP-9"
    # QC fail with a reason: the next item scanned fails.
    assert last_signal(s.handle(QcFail("scratched", t()))) is Signal.PROMPT
    cmds = s.handle(ItemScanned("CASE-GOLD", CASE, at_ms=t()))
    assert "QC fail (scratched)" in shows(cmds)[-1].text and s.state is State.COUNTING
    # Putaway, group by group, with suggestions by kind.
    cmds = s.handle(Finish(t()))
    assert records(cmds, ReceiptStage) == [ReceiptStage("wh1-rcv-1-R000007", "putaway")]
    assert "put 2 CASE-GOLD away in bin R-01 (reserve)" in shows(cmds)[-1].text
    cmds = s.handle(BinScanned("BIN-R02", BINS[2], t()))  # another reserve bin: accepted
    assert "in R-02 (suggested R-01)" in shows(cmds)[-1].text
    assert "bin S-01 (small_item)" in shows(cmds)[-1].text  # the pen is small
    s.handle(BinScanned("BIN-S01", BINS[1], t()))
    assert s.suggest(("HOT-1", "pass", "")) == BINS[0]  # fast mover near dispatch
    s.handle(BinScanned("BIN-F01", BINS[0], t()))
    s.handle(BinScanned("BIN-R01", BINS[3], t()))  # the phones
    cmds = s.handle(BinScanned("BIN-R01", BINS[3], t()))  # failed case into reserve: refused
    assert last_signal(cmds) is Signal.WRONG_ITEM and s.state is State.PUTAWAY
    assert not records(cmds, GroupPlaced)
    cmds = s.handle(BinScanned("BIN-D01", BINS[4], t()))
    (fact,) = records(cmds, PoReceivedPayload)
    assert isinstance(fact, PoReceivedPayload)
    assert last_signal(cmds) is Signal.COMPLETE and s.state is State.IDLE
    assert fact.receipt_id == "wh1-rcv-1-R000007" and fact.operator == "R02"
    got = {(ln.sku_code, ln.verdict): (ln.qty, ln.bin, ln.reason, ln.serials) for ln in fact.lines}
    assert got == {
        ("CASE-GOLD", "pass"): (2, "R-02", None, []),
        ("PEN-1", "pass"): (1, "S-01", None, []),
        ("HOT-1", "pass"): (1, "F-01", None, []),
        ("PHONE-1", "pass"): (2, "R-01", None, ["wh1-rcv-1-S0000041", "SUP-9"]),
        ("CASE-GOLD", "fail"): (1, "D-01", "scratched", []),
    }
    assert records(cmds, ReceiptStage) == [ReceiptStage("wh1-rcv-1-R000007", "finished")]
    # The next receipt takes the next numbers.
    cmds = s.handle(PoScanned("PO-1", view(), t()))
    assert records(cmds, ReceiptOpened)[0] == ReceiptOpened("wh1-rcv-1-R000008", 8, "PO-1", "WH1")
    (unit,) = records(s.handle(ItemScanned("PHONE-1", PHONE, at_ms=t())), UnitCounted)
    assert isinstance(unit, UnitCounted) and unit.unit.serial == "wh1-rcv-1-S0000042"


def test_over_receipt_beyond_tolerance_is_refused_with_pending_receipts_counted() -> None:
    s, t = ReceiveStation(CONFIG), Clock()
    s.handle(PoScanned("PO-1", view(CASE_GOLD=3), t()))  # 3 of 5 allowed already received here
    for _ in range(2):
        assert last_signal(s.handle(ItemScanned("CASE-GOLD", CASE, at_ms=t()))) is Signal.OK
    cmds = s.handle(ItemScanned("CASE-GOLD", CASE, at_ms=t()))
    assert last_signal(cmds) is Signal.OVER_QTY
    assert "tolerance of 5% allows 5 more and 5 are counted" in shows(cmds)[-1].text
    assert not records(cmds, UnitCounted) and s.counted("CASE-GOLD") == 2


@pytest.mark.parametrize(
    ("event", "signal", "kind"),
    [
        (PoScanned("PO-9", None), Signal.UNKNOWN, "po.unknown"),
        (
            PoScanned("PO-1", view(PO.model_copy(update={"warehouse": "BCP"}))),
            Signal.WRONG_ITEM,
            "po.wrong_warehouse",
        ),
        (
            PoScanned("PO-1", view(PO.model_copy(update={"status": "closed"}))),
            Signal.HOLD,
            "po.not_open",
        ),
        (
            PoScanned("PO-1", view(PO.model_copy(update={"status": "received"}))),
            Signal.ALREADY_DONE,
            "po.not_open",
        ),
        (PoScanned("PO\x07", None), Signal.UNKNOWN, "scan.unreadable"),
        (ItemScanned("CASE-GOLD", CASE), Signal.WRONG_ITEM, "scan.no_receipt"),
    ],
)
def test_bad_scans_with_no_receipt_open_change_nothing(
    event: object, signal: Signal, kind: str
) -> None:
    s = ReceiveStation(CONFIG)
    cmds = s.handle(event)  # type: ignore[arg-type]
    assert last_signal(cmds) is signal and s.state is State.IDLE and s.next_receipt == 1
    verdicts = records(cmds, Verdict)
    assert [v.kind for v in verdicts if isinstance(v, Verdict)] == [kind]
    assert not records(cmds, ReceiptOpened)


@pytest.mark.parametrize(
    ("event", "signal", "kind"),
    [
        (ItemScanned("777", None), Signal.UNKNOWN, "item.unknown"),
        (ItemScanned("OTHER-1", NOT_ON_PO), Signal.NOT_IN_ORDER, "item.not_on_po"),
        (ItemScanned("CASE\x00", None), Signal.UNKNOWN, "scan.unreadable"),
        (ItemScanned("SN", PHONE, serial="SUP-1"), Signal.OVER_QTY, "item.serial_twice"),
        (
            PoScanned("PO-2", view(PO.model_copy(update={"po_number": "PO-2"}))),
            Signal.WRONG_ITEM,
            "po.mid_receipt",
        ),
        (BinScanned("BIN-R01", BINS[3]), Signal.WRONG_ITEM, "scan.bin_too_early"),
        (QcFail("  "), Signal.UNKNOWN, "qc.no_reason"),
        (QcFail("x" * 201), Signal.UNKNOWN, "qc.no_reason"),
    ],
)
def test_bad_scans_while_counting_count_nothing(event: object, signal: Signal, kind: str) -> None:
    s, t = ReceiveStation(CONFIG), Clock()
    s.handle(PoScanned("PO-1", view(), t()))
    s.handle(ItemScanned("SN", PHONE, serial="SUP-1", at_ms=t()))
    before = list(s.units)
    cmds = s.handle(dataclasses.replace(event, at_ms=t()))  # type: ignore[arg-type,type-var]
    assert last_signal(cmds) is signal, shows(cmds)
    assert [v.kind for v in records(cmds, Verdict) if isinstance(v, Verdict)] == [kind]
    assert s.units == before and not records(cmds, UnitCounted)
    assert s.state is State.COUNTING


def test_a_double_read_is_not_counted() -> None:
    s = ReceiveStation(CONFIG)
    s.handle(PoScanned("PO-1", view(), 1000))
    s.handle(ItemScanned("CASE-GOLD", CASE, at_ms=2000))
    cmds = s.handle(ItemScanned("CASE-GOLD", CASE, at_ms=2010))
    assert last_signal(cmds) is Signal.NOTICE and s.counted("CASE-GOLD") == 1
    s.handle(ItemScanned("CASE-GOLD", CASE, at_ms=2100))
    assert s.counted("CASE-GOLD") == 2


def test_a_failed_label_is_reprinted_with_the_same_serial() -> None:
    s, t = ReceiveStation(CONFIG), Clock()
    s.handle(PoScanned("PO-1", view(), t()))
    (job,) = [
        c for c in s.handle(ItemScanned("PHONE-1", PHONE, at_ms=t())) if isinstance(c, PrintItem)
    ]
    cmds = s.handle(PrintFailed(job.job, "paper out", t()))
    assert last_signal(cmds) is Signal.FAULT and "REPRINT" in shows(cmds)[-1].text
    cmds = s.handle(Reprint(t()))
    (again,) = [c for c in cmds if isinstance(c, PrintItem)]
    assert again.label == job.label and again.job != job.job
    assert not records(cmds, UnitCounted)
    assert last_signal(s.handle(Reprint(t()))) is Signal.NOTICE  # nothing left to reprint


def test_every_unit_labels_and_off() -> None:
    every = ReceiveStation(ReceiveConfig("rcv-1", "n1", "WH1", labels="every_unit"))
    every.handle(PoScanned("PO-1", view(), 1000))
    (job,) = [
        c for c in every.handle(ItemScanned("P", PEN, at_ms=2000)) if isinstance(c, PrintItem)
    ]
    assert job.label.barcode == "6900000000042" and job.label.serial is None
    off = ReceiveStation(ReceiveConfig("rcv-1", "n1", "WH1", labels="off"))
    off.handle(PoScanned("PO-1", view(), 1000))
    assert not [
        c for c in off.handle(ItemScanned("P", PHONE, at_ms=2000)) if isinstance(c, PrintItem)
    ]


def test_a_po_closed_mid_count_stops_counting_but_finishes() -> None:
    s, t = drive(State.COUNTING)
    closed = view(PO.model_copy(update={"status": "closed"}))
    assert last_signal(s.handle(PoUpdated(closed, t()))) is Signal.HOLD
    cmds = s.handle(ItemScanned("CASE-GOLD", CASE, at_ms=t()))
    assert last_signal(cmds) is Signal.HOLD and not records(cmds, UnitCounted)
    s.handle(Finish(t()))
    cmds = s.handle(Finish(t()))  # finish without putaway: the fact goes, bins unknown
    (fact,) = records(cmds, PoReceivedPayload)
    assert isinstance(fact, PoReceivedPayload) and fact.lines[0].bin is None


def test_resume_in_putaway_goes_on_with_the_open_group() -> None:
    s, t = ReceiveStation(CONFIG), Clock()
    units = (Unit("CASE-GOLD", "pass"), Unit("PEN-1", "fail", "wet"))
    placed: dict[GroupKey, str] = {("CASE-GOLD", "pass", ""): "R-01"}
    cmds = s.handle(
        Resumed(view(), "n-R000003", units, {"CASE-GOLD": CASE, "PEN-1": PEN}, True, placed, t())
    )
    assert (
        s.state is State.PUTAWAY
        and "put 1 PEN-1 (QC fail: wet) away in bin D-01" in shows(cmds)[-1].text
    )
    cmds = s.handle(BinScanned("BIN-D01", BINS[4], t()))
    (fact,) = records(cmds, PoReceivedPayload)
    assert isinstance(fact, PoReceivedPayload) and fact.receipt_id == "n-R000003"
    assert [(ln.sku_code, ln.bin) for ln in fact.lines] == [
        ("CASE-GOLD", "R-01"),
        ("PEN-1", "D-01"),
    ]


def test_a_receipt_refuses_a_unit_its_fact_could_not_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most MAX_GROUPS lines per fact: the unit that would make one more is refused."""
    monkeypatch.setattr(receive, "MAX_GROUPS", 2)
    s, t = ReceiveStation(CONFIG), Clock()
    s.handle(PoScanned("PO-1", view(), t()))
    s.handle(ItemScanned("CASE-GOLD", CASE, at_ms=t()))
    s.handle(ItemScanned("PEN-1", PEN, at_ms=t()))
    cmds = s.handle(ItemScanned("HOT-1", HOT, at_ms=t()))
    assert last_signal(cmds) is Signal.HOLD and "is full" in shows(cmds)[-1].text
    assert not records(cmds, UnitCounted)
    assert last_signal(s.handle(ItemScanned("PEN-1", PEN, at_ms=t()))) is Signal.OK  # same group


def test_a_transfer_is_received_like_a_po_and_becomes_a_transfer_fact() -> None:
    """A transfer (调拨单) in a PO's shape: counted against what is still in transit (no
    tolerance), refused beyond it with the transfer's figures, and a ``transfer.received``
    fact at the end; a PO of the same number is another document."""
    from protocol.messages import TransferReceivedPayload

    tr = PoRelease(
        po_number="TR-9",
        warehouse="WH1",
        status="open",
        lines=[line("CASE-GOLD", 3, received=1)],
    )
    doc = PoView(tr, {}, BINS, document="transfer", origin="WH2")
    s, t = ReceiveStation(CONFIG), Clock()
    out = s.handle(PoScanned("TR-9", doc, t()))
    assert last_signal(out) is Signal.PROMPT
    assert "transfer TR-9 from WH2" in shows(out)[-1].text
    opened = records(out, ReceiptOpened)
    assert [(o.po_number, o.document) for o in opened] == [("TR-9", "transfer")]  # type: ignore[attr-defined]
    for _ in range(2):
        assert last_signal(s.handle(ItemScanned("CASE-GOLD", CASE, at_ms=t()))) is Signal.OK
    over = s.handle(ItemScanned("CASE-GOLD", CASE, at_ms=t()))
    assert last_signal(over) is Signal.OVER_QTY
    assert "transfer TR-9 shipped 3, 1 received before; 2 more can arrive" in shows(over)[-1].text
    # The PO "TR-9" would be another document: not the open one.
    busy = s.handle(PoScanned("TR-9", view(PO.model_copy(update={"po_number": "TR-9"})), t()))
    assert last_signal(busy) is Signal.WRONG_ITEM
    s.handle(Finish(t()))
    out = s.handle(Finish(t()))  # no bins: the fact without them
    facts = records(out, TransferReceivedPayload)
    assert len(facts) == 1 and not records(out, PoReceivedPayload)
    fact = facts[0]
    assert fact.transfer_number == "TR-9" and fact.warehouse == "WH1"  # type: ignore[attr-defined]
    assert [(ln.sku_code, ln.qty) for ln in fact.lines] == [("CASE-GOLD", 2)]  # type: ignore[attr-defined]
    assert s.state is State.IDLE


def test_a_withdrawn_transfer_is_not_received() -> None:
    tr = PoRelease(po_number="TR-8", warehouse="WH1", status="cancelled", lines=[line("PEN-1", 2)])
    s, t = ReceiveStation(CONFIG), Clock()
    out = s.handle(PoScanned("TR-8", PoView(tr, {}, BINS, document="transfer"), t()))
    assert last_signal(out) is Signal.HOLD and "transfer TR-8 is cancelled" in shows(out)[-1].text
    assert s.state is State.IDLE and not records(out, ReceiptOpened)


def test_a_transfers_units_are_received_only_by_the_serials_that_left() -> None:
    """The sender's pick scanned the serials (``transfer.release`` lines' ``serials``): the
    receiver takes those only. No serial, a serial that did not leave (or arrived already),
    one counted twice: a red light, nothing counted; the serials listed are counted."""
    from protocol.messages import TransferReceivedPayload

    phones = line("PHONE-1", 3).model_copy(update={"serials": ["S-1", "S-2", "S-3"]})
    tr = PoRelease(po_number="TR-7", warehouse="WH1", status="open", lines=[phones])
    s, t = ReceiveStation(CONFIG), Clock()
    s.handle(PoScanned("TR-7", PoView(tr, {}, BINS, document="transfer", origin="WH2"), t()))
    for scan, serial, kind in [
        ("PHONE-1", None, "item.serial_wanted"),
        ("S-9", "S-9", "item.serial_not_shipped"),
    ]:
        out = s.handle(ItemScanned(scan, PHONE, serial=serial, at_ms=t()))
        assert last_signal(out) is Signal.WRONG_ITEM, shows(out)
        assert [v.kind for v in records(out, Verdict)] == [kind]  # type: ignore[attr-defined]
        assert not records(out, UnitCounted) and s.counted("PHONE-1") == 0
    assert "serial S-9 is not in transit on transfer TR-7" in shows(out)[-1].text
    # A code that is no item at all: maybe a serial that did not leave; red all the same.
    out = s.handle(ItemScanned("S-10", None, at_ms=t()))
    assert last_signal(out) is Signal.UNKNOWN
    assert "no serial in transit on transfer TR-7" in shows(out)[-1].text
    assert last_signal(s.handle(ItemScanned("S-2", PHONE, serial="S-2", at_ms=t()))) is Signal.OK
    again = s.handle(ItemScanned("S-2", PHONE, serial="S-2", at_ms=t()))
    assert last_signal(again) is Signal.OVER_QTY and s.counted("PHONE-1") == 1
    s.handle(ItemScanned("S-3", PHONE, serial="S-3", at_ms=t()))
    s.handle(Finish(t()))
    (fact,) = records(s.handle(Finish(t())), TransferReceivedPayload)
    assert [(ln.qty, ln.serials) for ln in fact.lines] == [(2, ["S-2", "S-3"])]  # type: ignore[attr-defined]


def test_a_transfer_line_without_serials_is_received_as_before() -> None:
    """A hub shipment scans no serials: the line lists none and the station issues them."""
    tr = PoRelease(po_number="TR-6", warehouse="WH1", status="open", lines=[line("PHONE-1", 1)])
    s, t = ReceiveStation(CONFIG), Clock()
    s.handle(PoScanned("TR-6", PoView(tr, {}, BINS, document="transfer"), t()))
    out = s.handle(ItemScanned("PHONE-1", PHONE, at_ms=t()))
    assert last_signal(out) is Signal.OK and "wh1-rcv-1-S0000001" in shows(out)[-1].text


def test_a_serial_another_receipt_of_the_node_took_is_refused() -> None:
    """The runtime names the node's other receipt that counted the serial (not yet in the
    release: ``ItemScanned.taken``): a red light, nothing counted; the next serial counts."""
    phones = line("PHONE-1", 2).model_copy(update={"serials": ["S-1", "S-2"]})
    tr = PoRelease(po_number="TR-7", warehouse="WH1", status="open", lines=[phones])
    s, t = ReceiveStation(CONFIG), Clock()
    s.handle(PoScanned("TR-7", PoView(tr, {}, BINS, document="transfer", origin="WH2"), t()))
    out = s.handle(ItemScanned("S-1", PHONE, serial="S-1", at_ms=t(), taken="wh1-rcv-1-R000001"))
    assert last_signal(out) is Signal.OVER_QTY and not records(out, UnitCounted)
    assert [v.kind for v in records(out, Verdict)] == ["item.serial_taken"]  # type: ignore[attr-defined]
    assert "serial S-1 was received already in receipt wh1-rcv-1-R000001" in shows(out)[-1].text
    assert s.counted("PHONE-1") == 0
    assert last_signal(s.handle(ItemScanned("S-2", PHONE, serial="S-2", at_ms=t()))) is Signal.OK
