"""Stocktake: frozen expectation, scanner and RFID counts, variances, missed bins, unknown input."""

from __future__ import annotations

import pytest

from edge.stations import stocktake
from edge.stations.common import Record, Show, Signal, durable_first
from edge.stations.stocktake import (
    AbortCount,
    BinScanned,
    CountStarted,
    FinishCount,
    ItemScanned,
    RecountBin,
    State,
    StocktakeConfig,
    StocktakeReport,
    StocktakeStation,
    TagRead,
    TagsSeen,
)
from protocol.messages import (
    BinInfo,
    CatalogueUpsert,
    StockExpected,
    StockLevel,
    StocktakeCountedPayload,
)

A = CatalogueUpsert(sku_code="A", name="a", barcodes=["111"])
B = CatalogueUpsert(sku_code="B", name="b", barcodes=["222"])
EXPECTED = StockExpected(
    warehouse="WH1",
    bins=["X1", "X2", "X3"],
    levels=[
        StockLevel(bin="X1", sku_code="A", qty=2),
        StockLevel(bin="X2", sku_code="B", qty=3),
        StockLevel(bin="X3", sku_code="A", qty=1),
    ],
)
BINS = {
    c: BinInfo(code=c, zone="pick", x=0.0, y=float(i), walk_order=i, barcode=f"BC-{c}")
    for i, c in enumerate(["X1", "X2", "X3", "Y9"])
}


def start(method: str = "scanner") -> CountStarted:
    return CountStarted("C1", method, "partial", EXPECTED, BINS, 1)  # type: ignore[arg-type]


def run(s: StocktakeStation, *events: stocktake.Event) -> list[stocktake.Command]:
    out: list[stocktake.Command] = []
    for e in events:
        cmds = s.handle(e)
        assert durable_first(cmds), cmds
        for i, c in enumerate(cmds):
            if isinstance(c, Show):
                assert any(isinstance(p, Record) for p in cmds[:i])
        out += cmds
    return out


def result(cmds: list[stocktake.Command]) -> tuple[StocktakeCountedPayload, StocktakeReport]:
    (fact,) = [
        c.payload
        for c in cmds
        if isinstance(c, Record) and isinstance(c.payload, StocktakeCountedPayload)
    ]
    (report,) = [
        c.payload for c in cmds if isinstance(c, Record) and isinstance(c.payload, StocktakeReport)
    ]
    return fact, report


def test_table_lists_every_pair() -> None:
    assert set(stocktake.TRANSITIONS) == {(s, e) for s in State for e in stocktake.EVENT_TYPES}


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize(
    "event",
    [
        start(),
        BinScanned("BC-X1", 10**6),
        ItemScanned("111", A, None, 10**6),
        TagsSeen(("X1",), (TagRead("E1", "A"),), 10**6),
        RecountBin(10**6),
        FinishCount(10**6),
        AbortCount(10**6),
    ],
)
def test_every_pair_is_durable_first_and_answers(state: State, event: stocktake.Event) -> None:
    s = StocktakeStation(StocktakeConfig("st-1"))
    prefix: dict[State, list[stocktake.Event]] = {
        State.IDLE: [], State.COUNTING: [start()], State.IN_BIN: [start(), BinScanned("BC-X2", 10)],
        State.FINISHED: [start(), FinishCount(10)],
    }  # fmt: skip
    run(s, *prefix[state])
    assert s.state is state
    assert run(s, event)


def test_scanner_count_variances_and_missed_bins() -> None:
    s = StocktakeStation(StocktakeConfig("st-1"))
    run(
        s,
        start(),
        BinScanned("BC-X1", 1000),
        ItemScanned("111", A, None, 2000),
        ItemScanned("222", B, None, 3000),
    )
    cmds = run(s, ItemScanned("999", None, None, 4000), ItemScanned("1\x1b", None, None, 5000))
    assert [c.signal for c in cmds if isinstance(c, Show)] == [Signal.UNKNOWN, Signal.UNKNOWN]
    cmds = run(s, BinScanned("BC-Y9", 6000))
    assert [c.signal for c in cmds if isinstance(c, Show)] == [Signal.WRONG_ITEM]  # out of scope
    run(
        s,
        BinScanned("X2", 7000),
        ItemScanned("222", B, None, 8000),
        ItemScanned("222", B, None, 8000),
    )  # double read
    fact, report = result(run(s, FinishCount(9000)))
    got = {(ln.bin, ln.sku_code): (ln.expected, ln.counted) for ln in fact.lines}
    assert got == {("X1", "A"): (2, 1), ("X1", "B"): (0, 1), ("X2", "B"): (3, 1)}
    assert fact.missed_bins == ["X3"] and report.missed_bins == ("X3",)
    assert {(v.bin, v.sku_code, v.delta) for v in report.variances} == {
        ("X1", "A", -1),
        ("X1", "B", 1),
        ("X2", "B", -2),
    }
    assert report.unknown_barcodes == ("999",)
    assert fact.method == "scanner" and fact.scope == "partial" and fact.warehouse == "WH1"


def test_serials_count_once_and_recount_zeroes_a_bin() -> None:
    s = StocktakeStation(StocktakeConfig("st-1"))
    run(s, start(), BinScanned("X1", 1000), ItemScanned("111", A, "S1", 2000))
    cmds = run(s, ItemScanned("111", A, "S1", 3000))
    assert [c.signal for c in cmds if isinstance(c, Show)] == [Signal.OVER_QTY]
    run(s, RecountBin(4000), ItemScanned("111", A, "S1", 5000), ItemScanned("111", A, "S2", 6000))
    fact, _ = result(run(s, FinishCount(7000)))
    (line,) = [ln for ln in fact.lines if ln.sku_code == "A"]
    assert (line.counted, line.serials) == (2, ["S1", "S2"])


def test_expectation_is_frozen_at_count_start() -> None:
    s = StocktakeStation(StocktakeConfig("st-1"))
    run(s, start())
    EXPECTED.levels[0].model_copy(update={"qty": 99})  # the store moving on changes nothing here
    run(s, BinScanned("X1", 10), ItemScanned("111", A, None, 20), ItemScanned("111", A, None, 1000))
    fact, report = result(run(s, FinishCount(2000)))
    assert [(ln.expected, ln.counted) for ln in fact.lines] == [(2, 2)] and report.variances == ()


def test_rfid_sweeps_dedupe_epcs_report_unknowns_and_spread_a_zone() -> None:
    s = StocktakeStation(StocktakeConfig("st-1"))
    run(s, start("rfid"))
    cmds = run(s, BinScanned("X1", 10))
    assert [c.signal for c in cmds if isinstance(c, Show)] == [Signal.NOTICE]  # wrong method
    tags = (
        TagRead("E1", "A", "1"),
        TagRead("E2", "A", "2"),
        TagRead("E3", "A", "3"),
        TagRead("E4", "B", "9"),
        TagRead("BAD", None),
    )
    cmds = run(s, TagsSeen(("X1", "X3"), tags, 20))
    assert [c.signal for c in cmds if isinstance(c, Show)] == [Signal.UNKNOWN]
    run(s, TagsSeen(("X1", "X3"), tags[:2], 30))  # seen again: counted once
    fact, report = result(run(s, FinishCount(40)))
    got = {(ln.bin, ln.sku_code): ln.counted for ln in fact.lines}
    # 3 × A over X1 (expects 2) and X3 (expects 1); B was not expected in either: first swept bin
    assert got == {("X1", "A"): 2, ("X3", "A"): 1, ("X1", "B"): 1}
    assert fact.missed_bins == ["X2"] and report.unknown_epcs == ("BAD",) and fact.method == "rfid"


def test_abort_reports_nothing() -> None:
    s = StocktakeStation(StocktakeConfig("st-1"))
    cmds = run(s, start(), AbortCount(5))
    assert not [
        c for c in cmds if isinstance(c, Record) and isinstance(c.payload, StocktakeCountedPayload)
    ]
    assert s.state is State.IDLE
