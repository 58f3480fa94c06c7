"""A Double-11 hour for ``guanjia bench channels``: many buyers paying across many shops, a
call quota per app, and the list windows answered from a time-ordered log (not by scanning
every trade, which a million trades would make quadratic).

- :func:`window` answers ``trades.sold.increment.get`` / ``trades.sold.get`` windows with the
  same rows as scanning :meth:`Market.indexed` would (each trade's newest visible version, in
  the window), from ``Market.log``: every version in the order made, so a window's candidates
  are one bisected slice of it;
- :func:`quota_check`: TOP limits calls per app; over the quota the call is refused with code 7
  and "This ban will last for 1 more seconds" (the simulator's ``calls_per_s``; 0 = none);
- :class:`Seller`: buyers place and pay at a rate on the wall clock (the hub signs with its
  own clock), spread over the shops; each trade's payment time is kept for the lag figure.
"""

from __future__ import annotations

import bisect
import threading
import time
from typing import Any

from simulators.marketplace.clock import fmt
from simulators.marketplace.market import Market

#: ``Market.parts`` key of the windows kept between the pages of a listing (``window``).
WINDOWS = "double11.windows"


def window(
    market: Market, seller_nick: str, start: float, end: float, *, created: bool = False
) -> list[tuple[int, int, dict[str, Any]]]:
    """The index's rows whose newest visible version's ``modified`` (or whose ``created``)
    lies in ``[start, end]``: the rows :meth:`Market.indexed` gives, filtered, without the
    scan, each as ``(modified or created, tid, trade)``. The trade is the version itself,
    not a copy: a page projects the hundred rows it answers, and copying every row of a
    window of thousands for each page was most of the simulator's time in a Double-11 hour."""
    log = market.log.get(seller_nick, [])
    # A back-paged listing asks for the same window page after page: its rows are kept while
    # nothing can have changed them (no version recorded for the seller since, every version
    # in it visible then, the clock not set back), else made again. A window of thousands of
    # trades made again for each of its pages was most of the simulator's time at 100,000
    # orders (the listing's cost grew with the square of the window).
    kept: dict[tuple[str, float, float, bool], Any] = market.parts.setdefault(WINDOWS, {})
    key = (seller_nick, start, end, created)
    hit = kept.get(key)
    if hit is not None and hit[0] == len(log) and hit[1] <= market.now:
        rows: list[tuple[int, int, dict[str, Any]]] = hit[2]
        return rows
    lo = bisect.bisect_left(log, (int(start), -1))
    hi = bisect.bisect_right(log, (int(end), 1 << 70))
    out = []
    seen: set[int] = set()
    now = market.now
    all_visible = True
    for _, tid in log[lo:hi]:
        if tid in seen:
            continue
        seen.add(tid)
        versions = market.trades[tid]
        newest = None
        for v in versions:
            if v.visible_at <= now:
                if newest is None or v.modified >= newest.modified:
                    newest = v
            else:
                all_visible = False  # it may show later: the rows may change with the clock
        if newest is None:
            continue
        if created:
            first = versions[0].modified  # ``created`` is the first version's second
            if start <= first <= end:
                out.append((first, tid, newest.trade))
        elif start <= newest.modified <= end:
            out.append((newest.modified, tid, newest.trade))
    if all_visible:
        if len(kept) >= 256:
            kept.clear()
        kept[key] = (len(log), now, out)
    return out


def quota_check(market: Market, app_key: str) -> float:
    """Seconds of ban when this call is over the app's quota (a one-second bucket), else 0."""
    if getattr(market, "seller", None) is not None:  # a Double-11 hour: on the wall clock
        market.now = max(market.now, time.time())
    limit = market.calls_per_s
    if limit <= 0:
        return 0.0
    second = int(market.now)
    used = market.quota_used.get(app_key)
    if used is None or used[0] != second:
        used = [second, 0]
        market.quota_used[app_key] = used
    used[1] += 1
    return (second + 1) - market.now if used[1] > limit else 0.0


class Seller:
    """Buyers of a Double-11 hour: ``orders`` trades placed and paid at ``rate`` a second on
    the wall clock, round-robin over the shops. ``paid_at[tid]`` is when each was paid."""

    def __init__(self, market: Market, orders: int, rate: float) -> None:
        self.market, self.orders, self.rate = market, orders, rate
        self.paid_at: dict[int, float] = {}
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="double11", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        m = self.market
        t0 = time.time()
        sold = 0
        while sold < self.orders:
            due = min(self.orders, int((time.time() - t0) * self.rate) + 1)
            with m.lock:
                m.now = max(m.now, time.time())
                for _ in range(due - sold):
                    tid = m.place()
                    m.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS", pay_time=fmt(m.now))
                    self.paid_at[tid] = m.now
                sold = due
            time.sleep(0.005)
        self.done.set()


def control(market: Market, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """``/_sim/double11/...``: ``start`` {"orders", "rate", "calls_per_s"}; ``status``;
    ``paid`` (each trade's payment time and shop, for the bench's lag and missed figures)."""
    seller: Seller | None = getattr(market, "seller", None)
    if name == "start":
        market.call_cost = 0.0  # on the wall clock: API calls take the time they take
        market.calls_per_s = float(args.get("calls_per_s", 0.0))
        market.now = max(market.now, time.time())
        seller = Seller(market, int(args["orders"]), float(args["rate"]))
        market.seller = seller  # type: ignore[attr-defined]
        seller.start()
        return {"started": True}
    if seller is None:
        return None
    if name == "status":
        return {"sold": len(seller.paid_at), "done": seller.done.is_set(), "calls": market.calls}
    if name == "paid":
        return {
            "paid": [
                [str(t), at, market.trades[t][0].trade["seller_nick"]]
                for t, at in list(seller.paid_at.items())
            ],
            "calls": market.calls,
        }
    return None
