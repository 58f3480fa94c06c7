"""Pick station: table coverage, durable-first, allocation, short picks, substitutions, movements."""

from __future__ import annotations

import pytest

from edge.stations import pick
from edge.stations.common import Record, Show, Signal, StockMovement, Verdict, durable_first
from edge.stations.pick import (
    BinScanned,
    ItemScanned,
    OrderUpdated,
    PickConfig,
    PickStation,
    ShortPick,
    State,
    Substitute,
    WaveLoaded,
)
from protocol.messages import (
    BinInfo,
    CatalogueUpsert,
    OrderLine,
    OrderPickedPayload,
    OrderRelease,
    Recipient,
    StockLevel,
)

R = Recipient(name="王五", phone="13700000000", province="湖南", city="长沙", address="1 号")
BINS = {
    c: BinInfo(code=c, zone="pick", x=x, y=y, walk_order=w, barcode=f"B-{c}")
    for c, x, y, w in [("P1", 0.0, 1.0, 1), ("P2", 0.0, 5.0, 2), ("P3", 1.5, 5.0, 3)]
}
A = CatalogueUpsert(sku_code="A", name="a", barcodes=["111"])
B = CatalogueUpsert(sku_code="B", name="b", barcodes=["222"])
C = CatalogueUpsert(sku_code="C", name="c", barcodes=["333"])


def order(
    oid: str, *lines: tuple[str, int], status: str = "released", version: int = 1
) -> OrderRelease:
    return OrderRelease(
        order_id=oid,
        version=version,
        status=status,
        carrier="ZTO",
        recipient=R,  # type: ignore[arg-type]
        lines=[
            OrderLine(line_id=f"{oid}-{i}", sku_code=s, qty=q) for i, (s, q) in enumerate(lines)
        ],
    )


ORDERS = (order("O1", ("A", 2), ("B", 1)), order("O2", ("A", 1)))
#: A transfer's pick of a serial-tracked SKU (edge/runtimes/pick_transfer.py hands it over so).
AS = CatalogueUpsert(sku_code="A", name="a", barcodes=["111"], serial_tracked=True)
TRANSFER = OrderRelease(
    order_id="TR-1",
    version=1,
    status="released",
    carrier=pick.TRANSFER_CARRIER,
    recipient=R,  # type: ignore[arg-type]
    lines=[OrderLine(line_id="1", sku_code="A", qty=4)],
)
STOCK = (StockLevel(bin="P2", sku_code="A", qty=5), StockLevel(bin="P3", sku_code="B", qty=1))


def run(s: PickStation, *events: pick.Event) -> list[pick.Command]:
    out: list[pick.Command] = []
    for e in events:
        cmds = s.handle(e)
        assert durable_first(cmds), cmds
        for i, c in enumerate(cmds):
            if isinstance(c, Show):
                assert any(isinstance(p, Record) for p in cmds[:i])
        out += cmds
    return out


def loaded(at: int = 0) -> PickStation:
    s = PickStation(PickConfig("pick-1"))
    run(s, WaveLoaded("W1", ORDERS, BINS, STOCK, at))
    return s


def test_table_lists_every_pair() -> None:
    assert set(pick.TRANSITIONS) == {(s, e) for s in State for e in pick.EVENT_TYPES}


def drive(state: State) -> PickStation:
    s = PickStation(PickConfig("pick-1"))
    steps: dict[State, list[pick.Event]] = {
        State.IDLE: [],
        State.AT_BIN: [WaveLoaded("W1", ORDERS, BINS, STOCK, 1)],
        State.PICKING: [WaveLoaded("W1", ORDERS, BINS, STOCK, 1), BinScanned("B-P2", 1000)],
        State.SUBSTITUTE: [
            WaveLoaded("W1", ORDERS, BINS, STOCK, 1),
            BinScanned("B-P2", 1000),
            Substitute(2000),
        ],
        State.AWAIT_SERIAL: [
            WaveLoaded("TR-1", (TRANSFER,), BINS, STOCK, 1),
            BinScanned("B-P2", 1000),
            ItemScanned("111", AS, 2000),
        ],
        State.DONE: [WaveLoaded("W1", (), BINS, (), 1)],
    }
    run(s, *steps[state])
    assert s.state is state
    return s


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize(
    "event",
    [
        WaveLoaded("W2", ORDERS, BINS, STOCK, 10**6),
        BinScanned("B-P3", 10**6),
        ItemScanned("111", A, 10**6),
        ShortPick(10**6),
        Substitute(10**6),
        OrderUpdated(order("O2", ("A", 1), status="cancelled", version=2), 10**6),
    ],
)
def test_every_pair_is_durable_first_and_answers(state: State, event: pick.Event) -> None:
    s = drive(state)
    cmds = run(s, event)
    assert cmds  # a verdict, at least a log line
    assert isinstance(s.state, State)


def test_route_and_a_full_wave_become_movements_and_facts() -> None:
    s = loaded()
    assert [(st.bin, st.sku_code, st.qty) for st in s.stops] == [("P2", "A", 3), ("P3", "B", 1)]
    cmds = run(s, ItemScanned("111", A, 500))
    assert s.state is State.AT_BIN and [sh.signal for sh in cmds if isinstance(sh, Show)] == [
        Signal.WRONG_ITEM
    ]
    cmds = run(s, BinScanned("B-P3", 900))
    assert [sh.signal for sh in cmds if isinstance(sh, Show)] == [Signal.WRONG_ITEM]
    run(s, BinScanned("B-P2", 1000), ItemScanned("111", A, 2000), ItemScanned("111", A, 3000))
    cmds = run(s, ItemScanned("111", A, 4000))
    moves = [
        c.payload for c in cmds if isinstance(c, Record) and isinstance(c.payload, StockMovement)
    ]
    assert [(m.bin, m.sku_code, m.delta) for m in moves] == [("P2", "A", -3)]
    run(s, BinScanned("P3", 5000))  # the bin code itself is accepted too
    cmds = run(s, ItemScanned("222", B, 6000))
    assert s.state is State.DONE
    picked = {
        p.order_id: p
        for p in (c.payload for c in cmds if isinstance(c, Record))
        if isinstance(p, OrderPickedPayload)
    }
    assert [(ln.sku_code, ln.qty, ln.short) for ln in picked["O1"].lines] == [
        ("A", 2, False),
        ("B", 1, False),
    ]
    assert [(ln.sku_code, ln.qty) for ln in picked["O2"].lines] == [("A", 1)]


def test_short_pick_and_substitution_are_flagged() -> None:
    s = loaded()
    run(
        s,
        BinScanned("B-P2", 1000),
        ItemScanned("111", A, 2000),
        Substitute(3000),
        ItemScanned("333", C, 4000),
    )
    cmds = run(s, ShortPick(5000))
    assert [
        m.payload.sku_code
        for m in cmds
        if isinstance(m, Record) and isinstance(m.payload, StockMovement)
    ] == ["A", "C"]
    run(s, BinScanned("B-P3", 6000))
    cmds = run(s, ShortPick(7000))
    picked = {
        p.order_id: p
        for p in (c.payload for c in cmds if isinstance(c, Record))
        if isinstance(p, OrderPickedPayload)
    }
    o1 = [(ln.sku_code, ln.qty, ln.short, ln.substitute_for) for ln in picked["O1"].lines]
    assert o1 == [("A", 1, True, None), ("C", 1, True, "A"), ("B", 0, True, None)]
    assert [(ln.qty, ln.short) for ln in picked["O2"].lines] == [(0, True)]


def test_wrong_item_without_substitute_is_refused() -> None:
    s = loaded()
    run(s, BinScanned("B-P2", 1000))
    cmds = run(s, ItemScanned("333", C, 2000))
    assert [sh.signal for sh in cmds if isinstance(sh, Show)] == [Signal.WRONG_ITEM] and s.stops[
        0
    ].got == 0
    cmds = run(s, ItemScanned("999", None, 3000), ItemScanned("1\x0011", None, 4000))
    assert [sh.signal for sh in cmds if isinstance(sh, Show)] == [Signal.UNKNOWN, Signal.UNKNOWN]


def test_double_read_counts_once() -> None:
    s = loaded()
    run(s, BinScanned("B-P2", 1000), ItemScanned("111", A, 2000))
    cmds = run(s, ItemScanned("111", A, 2000))
    assert [
        v.payload.kind for v in cmds if isinstance(v, Record) and isinstance(v.payload, Verdict)
    ] == ["scan.duplicate"]
    assert s.stops[0].got == 1


def test_no_stock_is_short_from_the_start_and_cancel_drops_unstarted_stops() -> None:
    s = PickStation(PickConfig("pick-1"))
    run(s, WaveLoaded("W1", (*ORDERS, order("O3", ("B", 1))), BINS, STOCK, 0))
    assert s.unallocated == [("O3", "O3-0", "B", 1)]
    cmds = run(s, OrderUpdated(order("O2", ("A", 1), status="cancelled", version=2), 10))
    assert [sh.signal for sh in cmds if isinstance(sh, Show)] == [Signal.DO_NOT_SHIP]
    assert s.stops[0].qty == 2  # O2's unit is off the list


def test_a_transfers_serial_tracked_units_leave_by_serial_split_over_its_bins() -> None:
    """4 units over two bins (P1 holds 1, P2 the other 3): each unit's item scan
    wants its serial; a serial twice or an item instead is red and counts nothing; a short
    while a serial is awaited ends the stop without that unit; the serials go with the
    pick's line of the bin they were picked from."""
    stock = (StockLevel(bin="P1", sku_code="A", qty=1), StockLevel(bin="P2", sku_code="A", qty=5))
    s = PickStation(PickConfig("pick-1"))
    run(s, WaveLoaded("TR-1", (TRANSFER,), BINS, stock, 1))
    assert [(st.bin, st.qty) for st in s.stops] == [("P1", 1), ("P2", 3)]
    run(s, BinScanned("B-P1", 100), ItemScanned("111", AS, 200))
    assert s.state is State.AWAIT_SERIAL
    run(s, ItemScanned("SN-1", None, 300))
    assert s.state is State.AT_BIN
    run(s, BinScanned("B-P2", 400), ItemScanned("111", AS, 500))
    cmds = run(s, ItemScanned("SN-1", None, 600))
    assert [c.signal for c in cmds if isinstance(c, Show)] == [Signal.WRONG_ITEM]
    assert s.state is State.AWAIT_SERIAL and s.stops[1].picked == 0
    cmds = run(s, ItemScanned("111", AS, 700))
    assert [c.signal for c in cmds if isinstance(c, Show)] == [Signal.WRONG_ITEM]
    run(s, ItemScanned("SN-2", None, 800), ItemScanned("111", AS, 900))
    run(s, ItemScanned("(01)x(21)SN-3", AS.model_copy(), 950, "SN-3"))
    run(s, ItemScanned("111", AS, 1000))
    cmds = run(s, ShortPick(1100))  # the 4th unit's serial never came: it stays
    assert s.state is State.DONE
    (fact,) = [
        c.payload
        for c in cmds
        if isinstance(c, Record) and isinstance(c.payload, OrderPickedPayload)
    ]
    assert [(ln.bin, ln.qty, ln.short, ln.serials) for ln in fact.lines] == [
        ("P1", 1, False, ["SN-1"]),
        ("P2", 2, True, ["SN-2", "SN-3"]),
    ]


def test_an_orders_pick_scans_no_serials() -> None:
    s = PickStation(PickConfig("pick-1"))
    run(s, WaveLoaded("W1", (order("O1", ("A", 1)),), BINS, STOCK, 1), BinScanned("B-P2", 10))
    cmds = run(s, ItemScanned("111", AS, 20))
    assert s.state is State.DONE
    (fact,) = [
        c.payload
        for c in cmds
        if isinstance(c, Record) and isinstance(c.payload, OrderPickedPayload)
    ]
    assert fact.lines[0].serials == []
