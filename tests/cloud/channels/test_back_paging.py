"""Back-paging the increment list when the window moves under it (docs/channels.md,
"Back-paging and entries"): trades leaving the window are harmless, versions entering it
shift a trade onto a page already read, and a count behind its rows hides the last pages.
A scripted list for the exact interleavings, the simulator for the count fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from cloud.channels.taobao.client import top_time
from cloud.channels.taobao.orders import TaobaoOrders
from simulators.marketplace.market import Faults, Market
from tests.cloud.channels.harness import make_hub, make_shop

T0 = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


class ScriptedList:
    """A TOP increment list newest ``modified`` first, whose rows change before a given
    call: ``script[n]`` runs just before call ``n`` (1-based) is answered."""

    def __init__(self, rows: dict[str, int], script: dict[int, Any]) -> None:
        self.rows = dict(rows)  # tid -> seconds after T0 (its modified)
        self.script = script
        self.calls = 0

    def call(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        self.calls += 1
        if self.calls in self.script:
            self.script[self.calls](self.rows)
        order = sorted(self.rows.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        size, no = int(params["page_size"]), int(params["page_no"])
        chunk = order[(no - 1) * size : no * size]
        trades = [
            {"tid": tid, "modified": top_time(T0 + timedelta(seconds=m)), "status": "x"}
            for tid, m in chunk
        ]
        out: dict[str, Any] = {"total_results": len(order)}
        if trades:
            out["trades"] = {"trade": trades}
        return out


def listing(client: ScriptedList, **kw: Any) -> set[str]:
    source = TaobaoOrders(client, page_size=3, list_fields=False, **kw)  # type: ignore[arg-type]
    return set(source.listed(T0, T0 + timedelta(hours=2)).modified)


#: Nine trades, three pages: call 1 counts, then pages 3, 2, 1.
NINE = {f"{i:02d}": 100 * i for i in range(1, 10)}


def enter_new(rows: dict[str, int]) -> None:
    rows["99"] = 5_000  # a new trade indexed late, at the top of the window


def jump(rows: dict[str, int]) -> None:
    rows["01"] = 5_000  # the oldest trade's newer version is indexed: it jumps to the top


@pytest.mark.parametrize("change", [enter_new, jump], ids=["new trade", "newer version"])
def test_a_version_entering_while_paging_is_not_missed(change: Any) -> None:
    # After page 3 (call 2) is read, the entry shifts every trade down one place: "04", the
    # last of page 2, lands on page 3, already read.
    found = listing(ScriptedList(NINE, {3: change}))
    assert found == set(NINE) | ({"99"} if change is enter_new else set())


@pytest.mark.parametrize("change", [enter_new, jump], ids=["new trade", "newer version"])
def test_ablation_one_listing_misses_the_shifted_trade(change: Any) -> None:
    found = listing(ScriptedList(NINE, {3: change}), max_listings=1)
    assert "04" not in found


def test_trades_leaving_the_window_need_no_second_listing() -> None:
    def leave(rows: dict[str, int]) -> None:
        del rows["08"]  # modified again, now after the window's end

    client = ScriptedList(NINE, {3: leave})
    source = TaobaoOrders(client, page_size=3, list_fields=False)  # type: ignore[arg-type]
    out = source.listed(T0, T0 + timedelta(hours=2))
    assert set(NINE) - {"08"} <= set(out.modified) and out.relisted == 0
    # The count, page 3 (full, so page 4 is read too: the count may be behind), 2 and 1.
    assert client.calls == 5


def test_a_window_that_keeps_moving_is_listed_a_bounded_number_of_times() -> None:
    n = iter(range(100, 200))
    every = {c: (lambda rows: rows.__setitem__(f"{next(n)}", 6_000)) for c in range(2, 60)}
    client = ScriptedList(NINE, every)
    source = TaobaoOrders(client, page_size=3, list_fields=False)  # type: ignore[arg-type]
    out = source.listed(T0, T0 + timedelta(hours=2))
    # Three listings, then the union stands (an entry before every call can shift a trade
    # past every pass; the re-scan and the daily diff read the window again).
    assert out.relisted == 2 and client.calls < 30


def test_a_count_behind_its_rows_is_read_past(engine: Engine) -> None:
    """The simulator's ``lying_total``: the count of a window is short by up to 150 rows.
    Reading on past a full last page finds every trade; trusting the count does not."""
    market = Market(seed=11, faults=Faults(lying_total=1.0))
    shop = make_shop(make_hub(engine), market, "tb1")
    tids = {str(market.place()) for _ in range(40)}
    market.advance(600)
    start, end = shop.now() - timedelta(hours=1), shop.now() - timedelta(minutes=2)
    body = shop.source(page_size=5).client.call(
        "taobao.trades.sold.increment.get",
        {
            "fields": "tid,modified",
            "start_modified": top_time(start),
            "end_modified": top_time(end),
            "page_no": "1",
            "page_size": "5",
        },
    )
    assert body["total_results"] < 40  # the fault is on: the count is short
    full = shop.source(page_size=5).listed(start, end)
    assert tids <= set(full.modified)
    trusting = shop.source(page_size=5)
    trusting.probe_past_count = False
    assert not tids <= set(trusting.listed(start, end).modified)
