"""The returns station's state machine (edge/stations/returns.py): a parcel found by its
return waybill or order, items QC'd sellable or damaged, the rest missing, one
``return.received`` fact recorded before the light; every refusal a red light with the
reason and nothing counted."""

from __future__ import annotations

from typing import Any

from edge.stations.common import Record, Show, Signal, Verdict, durable_first
from edge.stations.returns import (
    TABLE,
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
from protocol.messages import ReturnReceivedPayload, ReturnRelease, ReturnReleaseLine

CFG = ReturnsConfig(
    station="wh1-returns-1", node_id="wh1-returns-1", warehouse="WH1", operator="R07"
)


def _release(**over: Any) -> ReturnRelease:
    body: dict[str, Any] = {
        "request": "AS-JY1-1",
        "order_id": "JY1",
        "warehouse": "WH1",
        "kind": "return",
        "status": "open",
        "return_waybill": "SF100",
        "lines": [
            ReturnReleaseLine(line_no=1, sku_code="CASE", barcodes=["690001"], qty=2),
            ReturnReleaseLine(line_no=2, sku_code="FILM", barcodes=["690002"], qty=1),
        ],
    }
    body.update(over)
    return ReturnRelease(**body)


def _show(cmds: list[Any]) -> Show:
    shows = [c for c in cmds if isinstance(c, Show)]
    assert len(shows) == 1 and durable_first(cmds), cmds
    return shows[0]


def _records(cmds: list[Any], kind: type) -> list[Any]:
    return [c.payload for c in cmds if isinstance(c, Record) and isinstance(c.payload, kind)]


def _opened(st: ReturnsStation, at: int = 1000) -> None:
    cmds = st.handle(ParcelScanned("SF100", at, ReturnView(_release(), waybill="SF100")))
    assert _show(cmds).signal == Signal.PROMPT and st.state == State.COUNTING
    assert _records(cmds, ReturnOpened) == [
        ReturnOpened("wh1-returns-1-T000001", 1, "AS-JY1-1", "SF100")
    ]


def test_every_state_lists_every_event() -> None:
    assert set(TABLE) == set(State)


def test_a_parcel_qcd_sellable_and_damaged_records_one_fact_before_the_light() -> None:
    st = ReturnsStation(CFG)
    _opened(st)
    assert _show(st.handle(ItemScanned("690001", 2000, "CASE"))).signal == Signal.OK
    assert _show(st.handle(Damaged("屏幕碎裂", 3000))).signal == Signal.PROMPT
    assert st.state == State.DAMAGED
    cmds = st.handle(ItemScanned("690001", 4000, "CASE"))
    assert _show(cmds).text == "CASE 2/2 damaged (屏幕碎裂)"
    assert _records(cmds, ReturnUnitCounted)[0].unit == ReturnUnit(1, "CASE", "damaged", "屏幕碎裂")
    cmds = st.handle(Finish(5000))
    assert _show(cmds).signal == Signal.COMPLETE and st.state == State.IDLE
    [fact] = _records(cmds, ReturnReceivedPayload)
    assert fact.receipt_id == "wh1-returns-1-T000001" and fact.request == "AS-JY1-1"
    assert fact.return_waybill == "SF100" and fact.operator == "R07"
    assert [(ln.line_no, ln.sellable, ln.damaged, ln.missing, ln.reason) for ln in fact.lines] == [
        (1, 1, 1, 0, "屏幕碎裂"),
        (2, 0, 0, 1, None),
    ]
    assert _records(cmds, ReturnStage) == [ReturnStage("wh1-returns-1-T000001", "finished")]
    assert "1 missing" in _show(cmds).text
    # the next parcel gets the next receipt id
    st.handle(ParcelScanned("JY1", 6000, ReturnView(_release())))
    assert st.open is not None and st.open.receipt_id == "wh1-returns-1-T000002"


def test_refusals_are_red_with_the_reason_and_count_nothing() -> None:
    st = ReturnsStation(CFG)
    cases = [
        (ParcelScanned("SF999", 100, None), Signal.UNKNOWN, "no approved return for SF999"),
        (
            ParcelScanned("SF100", 200, ReturnView(_release(warehouse="WH2"))),
            Signal.WRONG_ITEM,
            "comes back to warehouse WH2, this table is WH1",
        ),
        (
            ParcelScanned("SF100", 300, ReturnView(_release(status="received"))),
            Signal.ALREADY_DONE,
            "is received",
        ),
        (
            ParcelScanned("SF100", 400, ReturnView(_release(status="closed"))),
            Signal.DO_NOT_SHIP,
            "is closed",
        ),
        (ItemScanned("690001", 500, "CASE"), Signal.UNKNOWN, "scan the parcel's return waybill"),
    ]
    for ev, signal, says in cases:
        cmds = st.handle(ev)
        show = _show(cmds)
        assert (show.signal, st.state) == (signal, State.IDLE), (ev, show)
        assert says in show.text, show.text
        assert not _records(cmds, ReturnOpened)
    _opened(st, at=1000)
    counted = [
        (ItemScanned("000BAD", 2000, None), Signal.UNKNOWN, "unknown barcode 000BAD"),
        (
            ItemScanned("690009", 3000, "OTHER"),
            Signal.NOT_IN_ORDER,
            "OTHER is not on return AS-JY1-1",
        ),
        (ItemScanned("690002", 4000, "FILM"), Signal.OK, "FILM 1/1 sellable"),
        (ItemScanned("690002", 5000, "FILM"), Signal.OVER_QTY, "asks back 1, all counted"),
        (ParcelScanned("SF777", 6000, None), Signal.WRONG_ITEM, "FINISH or ABANDON it first"),
        (Damaged("  ", 7000), Signal.HOLD, "needs a reason"),
    ]
    for ev, signal, says in counted:
        cmds = st.handle(ev)
        show = _show(cmds)
        assert show.signal == signal and says in show.text, (ev, show)
        assert bool(_records(cmds, ReturnUnitCounted)) == (signal == Signal.OK)
        unknown = [v for v in _records(cmds, Verdict) if v.kind == "item.unknown"]
        assert all(v.barcode == "000BAD" for v in unknown)
    assert st.open is not None and len(st.open.units) == 1


def test_abandon_sends_nothing_and_a_double_read_is_ignored() -> None:
    st = ReturnsStation(CFG)
    _opened(st)
    st.handle(ItemScanned("690001", 2000, "CASE"))
    cmds = st.handle(ItemScanned("690001", 2010, "CASE"))  # the scanner read twice
    assert _show(cmds).signal == Signal.NOTICE and st.open is not None and len(st.open.units) == 1
    cmds = st.handle(Abandon(3000))
    assert _records(cmds, ReturnStage) == [ReturnStage("wh1-returns-1-T000001", "abandoned")]
    assert not _records(cmds, ReturnReceivedPayload) and st.state == State.IDLE


def test_a_request_rejected_meanwhile_turns_the_light_to_hold() -> None:
    st = ReturnsStation(CFG)
    _opened(st)
    assert st.handle(ReleaseUpdated(_release(request="AS-OTHER", status="closed"), 2000)) == []
    cmds = st.handle(ReleaseUpdated(_release(status="closed"), 3000))
    assert _show(cmds).signal == Signal.HOLD and "ABANDON" in _show(cmds).text


def test_a_restarted_station_resumes_its_open_receipt() -> None:
    st = ReturnsStation(CFG, next_receipt=8)
    units = (ReturnUnit(1, "CASE", "sellable"),)
    cmds = st.handle(Resumed(ReturnView(_release()), "wh1-returns-1-T000007", units, 1000))
    assert st.state == State.COUNTING and "CASE 1/2" in _show(cmds).text
    st.handle(ItemScanned("690001", 2000, "CASE"))
    [fact] = _records(st.handle(Finish(3000)), ReturnReceivedPayload)
    assert fact.receipt_id == "wh1-returns-1-T000007"
    assert [(ln.sellable, ln.missing) for ln in fact.lines] == [(2, 0), (0, 1)]
