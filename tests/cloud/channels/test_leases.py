"""Two hub processes never run the same shop at once; a run whose lease ran out writes
nothing (the database holds the lease, so this holds across processes and machines)."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import Engine

from cloud.channels.download import RunResult, Tuning, download
from cloud.channels.ports import ChannelTrade, Listing
from cloud.channels.taobao.orders import TaobaoOrders
from simulators.marketplace.market import Market
from tests.cloud.channels.harness import Shop, make_hub, make_shop
from tests.cloud.channels.test_download import paid


class Paused:
    """A source that stops in its first list call until told to go on."""

    def __init__(self, inner: TaobaoOrders, on_list: threading.Event, go: threading.Event) -> None:
        self.inner, self.on_list, self.go = inner, on_list, go
        self.max_span = inner.max_span

    @property
    def calls(self) -> int:
        return self.inner.calls

    def listed(self, start: datetime, end: datetime) -> Listing:
        self.on_list.set()
        assert self.go.wait(30)
        return self.inner.listed(start, end)

    def fetch(self, external_ids: list[str]) -> list[ChannelTrade]:
        return self.inner.fetch(external_ids)


def _run_in_thread(
    shop: Shop, source: object, owner: str, out: dict[str, object]
) -> threading.Thread:
    def go() -> None:
        out[owner] = download(shop.hub.factory, shop.shop_id, source, owner=owner, now=shop.now)  # type: ignore[arg-type]

    t = threading.Thread(target=go)
    t.start()
    return t


def test_a_second_process_is_busy_while_the_first_runs(engine: Engine) -> None:
    shop = make_shop(make_hub(engine), Market(seed=21), "tb1")
    (tid,) = paid(shop)
    listing, go = threading.Event(), threading.Event()
    results: dict[str, RunResult] = {}
    first = _run_in_thread(shop, Paused(shop.source(), listing, go), "hub-1", results)
    assert listing.wait(30)  # hub-1 holds the lease and is fetching
    second = shop.run(owner="hub-2")
    assert second.outcome == "busy" and "another hub process" in (second.error or "")
    go.set()
    first.join(30)
    assert results["hub-1"].outcome == "ok"
    assert shop.stored()[tid].state == "imported"


def test_a_run_whose_lease_ran_out_stores_nothing(engine: Engine) -> None:
    shop = make_shop(make_hub(engine), Market(seed=22), "tb1")
    paid(shop)
    listing, go = threading.Event(), threading.Event()
    results: dict[str, RunResult] = {}
    first = _run_in_thread(shop, Paused(shop.source(), listing, go), "hub-1", results)
    assert listing.wait(30)
    # hub-1 stalls past its lease (10 min); hub-2 takes the shop over and downloads it.
    shop.market.advance(11 * 60)
    taken = shop.run(owner="hub-2", tuning=Tuning())
    assert taken.outcome == "ok" and taken.new == 1
    mark = shop.watermark()
    go.set()
    first.join(30)
    stale = results["hub-1"]
    assert stale.outcome == "failed" and "lease ran out" in (stale.error or "")
    assert shop.watermark() == mark  # hub-1 wrote nothing
