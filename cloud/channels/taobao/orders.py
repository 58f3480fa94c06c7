"""Taobao as an order source: ``taobao.trades.sold.increment.get`` for what changed in a window,
``taobao.trade.fullinfo.get`` for each trade's whole record.

Rules, from the TOP API pages of these methods:
- a window spans at most one day (``start_modified`` to ``end_modified``);
- results come newest ``modified`` first, so a trade changed while we page leaves the window
  and the trades after it move up a place: paging forward skips one at every such move. The
  docs say to page from the last page backwards; then a move only repeats a trade. So the
  count comes first (``use_has_next`` would drop ``total_results``), then the pages last to
  first, page 1 included again;
- without ``type`` only the default trade types come back; we name every type we handle;
- the list is partial (only the fields asked, from the search index), so each trade is read
  whole with ``fullinfo.get``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.channels.ids import digits
from cloud.channels.ports import ChannelTrade, Listing, Refused
from cloud.channels.taobao.client import TopClient, parse_top_time, top_time

#: Every trade type we download (TOP's default list hides the last four).
TRADE_TYPES = (
    "fixed",
    "auction",
    "guarantee_trade",
    "step",
    "independent_simple_trade",
    "independent_shop_trade",
    "auto_delivery",
    "ec",
    "cod",
    "game_equipment",
    "shopex_trade",
    "netcn_trade",
    "external_trade",
    "instant_trade",
    "b2c_cod",
    "tmall_i18n",
    "eticket",
    "o2o_offlinetrade",
    "nopaid",
)
PAID = frozenset({"WAIT_SELLER_SEND_GOODS"})
CLOSED = frozenset({"TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO", "TRADE_NO_CREATE_PAY"})
FULLINFO_FIELDS = (
    "tid,type,status,created,modified,pay_time,buyer_nick,buyer_message,seller_memo,"
    "payment,post_fee,total_fee,receiver_name,receiver_state,receiver_city,receiver_district,"
    "receiver_town,receiver_address,receiver_mobile,orders,"
    # The buyer's invoice request (cloud/finance/einvoice/auto.py reads it from the payload).
    "invoice_name,invoice_kind,payer_register_no"
)


class TaobaoOrders:
    max_span = timedelta(days=1)

    def __init__(
        self,
        client: TopClient,
        *,
        page_size: int = 100,
        back_paging: bool = True,
        types: tuple[str, ...] = TRADE_TYPES,
        list_fields: bool = True,
        max_listings: int = 3,
        probe_past_count: bool = True,
    ) -> None:
        self.client, self.page_size = client, page_size
        self.back_paging, self.types = back_paging, types
        #: Ask the increment list for every field fullinfo.get gives (its ``fields`` takes
        #: any of the Trade's), so a listed trade needs no call of its own: one call per
        #: 100 trades instead of one per trade (docs/benchmarks.md, Channels). Off: the list
        #: gives ids and ``modified`` only and each trade is read with fullinfo.get.
        self.list_fields = list_fields
        #: How many times a window is listed when it moves under the listing (see
        #: ``_back_pass``): bounded, so a busy window cannot keep a run listing forever.
        self.max_listings = max_listings
        #: Read on past a full last page (off only for the ablation test).
        self.probe_past_count = probe_past_count

    @property
    def calls(self) -> int:
        return self.client.calls

    def listed(self, start: datetime, end: datetime) -> Listing:
        if end - start > self.max_span:
            raise ValueError("a Taobao window spans at most one day")
        out = Listing()
        calls0 = self.client.calls
        for rows in self._pages(start, end, out):
            for row in rows:
                tid, modified = _tid(row), parse_top_time(row.get("modified")).astimezone(UTC)
                # A trade seen twice (pages moved under us) counts with its newest listing.
                if tid not in out.modified or modified > out.modified[tid]:
                    out.modified[tid] = modified
                    if self.list_fields and isinstance(row.get("orders"), dict):
                        out.trades[tid] = _trade(row)
                    else:  # not whole: read it with fullinfo.get
                        out.trades.pop(tid, None)
        out.calls = self.client.calls - calls0
        return out

    def fetch(self, external_ids: list[str]) -> list[ChannelTrade]:
        return [self.trade(tid) for tid in external_ids]

    def created(self, start: datetime, end: datetime) -> Listing:
        """Every trade *created* in the window (``taobao.trades.sold.get`` by
        ``start_created``/``end_created``), whatever the increment list showed: the daily
        diff's full id list (cloud/channels/diff.py). Back-paged as the increment list is:
        a trade indexed while we page moves the later pages down, never skips one."""
        out = Listing()
        calls0 = self.client.calls
        for rows in self._pages(start, end, out, created=True):
            for row in rows:
                tid, modified = _tid(row), parse_top_time(row.get("modified")).astimezone(UTC)
                if tid not in out.modified or modified > out.modified[tid]:
                    out.modified[tid] = modified
        out.calls = self.client.calls - calls0
        return out

    def _pages(self, start: datetime, end: datetime, out: Listing, created: bool = False) -> Any:
        method, field = "taobao.trades.sold.increment.get", "modified"
        if created:
            method, field = "taobao.trades.sold.get", "created"

        def page(no: int) -> dict[str, Any]:
            out.pages += 1
            return self.client.call(
                method,
                {
                    "fields": FULLINFO_FIELDS
                    if self.list_fields and not created
                    else "tid,modified,status,type",
                    f"start_{field}": top_time(start),
                    f"end_{field}": top_time(end),
                    "type": ",".join(self.types),
                    "page_no": str(no),
                    "page_size": str(self.page_size),
                },
            )

        first = page(1)
        if not self.back_paging:  # forward, as the anchors do (kept for the ablation test)
            yield _rows(first)
            no = 1
            while len(_rows(first)) == self.page_size:
                no += 1
                first = page(no)
                yield _rows(first)
            return
        for attempt in range(1, self.max_listings + 1):
            if attempt > 1:
                out.relisted += 1
                first = page(1)
            moved = yield from self._back_pass(first, page, jumps=not created)
            if not moved:
                return
        # Still moving after max_listings passes: the union of the passes stands (a trade is
        # missed only if every pass missed it); the hourly re-scan and the daily diff read
        # the window again (docs/channels.md, "Back-paging and entries").

    def _back_pass(
        self, first: dict[str, Any], page: Callable[[int], dict[str, Any]], *, jumps: bool
    ) -> Generator[list[dict[str, Any]], None, bool]:
        """One listing of the window, last page first. Returns True when the window moved
        under it in a way back-paging does not survive, so the caller lists it again.

        Back-paging survives a trade *leaving* the window (the pages after it shift up: a
        trade is read twice, never skipped). It does not survive a version *entering* it
        while we page (a new trade indexed late, or a trade whose newer version is indexed
        and jumps up the order): the trades below the entry shift down one place and the
        one at a page boundary lands on a page already read. Both kinds show: an entry of a
        new trade raises ``total_results`` on a later call; a jump lists one trade twice
        with two ``modified``. Either one, and the window is listed again. (In ``created``
        order a newer version does not move its trade: ``jumps`` is off there.)"""
        total = first.get("total_results")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise Refused("increment.get gave no total_results")
        last = math.ceil(total / self.page_size)
        if last == 0 and _rows(first):
            last = 1  # rows under a count of 0: the count is behind its rows
        seen: dict[str, datetime] = {}
        moved = False

        def rows_of(body: dict[str, Any]) -> list[dict[str, Any]]:
            nonlocal moved
            count = body.get("total_results")
            if isinstance(count, int) and count > total:
                moved = True
            rows = _rows(body)
            for row in rows:
                tid, modified = _tid(row), parse_top_time(row.get("modified"))
                if seen.setdefault(tid, modified) != modified and jumps:
                    moved = True
            return rows

        if last == 0:
            return False
        tail = rows_of(page(last) if last > 1 else first)
        # A full last page may not be the last: the count can lag its rows (the index
        # counts and lists in two steps). Read on until a page is not full.
        beyond = last
        while self.probe_past_count and len(tail) == self.page_size:
            beyond += 1
            yield tail
            tail = rows_of(page(beyond))
        yield tail
        for no in range(last - 1, 0, -1):
            yield rows_of(page(no))
        return moved

    def trade(self, tid: str) -> ChannelTrade:
        body = self.client.call(
            "taobao.trade.fullinfo.get", {"tid": tid, "fields": FULLINFO_FIELDS}
        )
        trade = body.get("trade")
        if not isinstance(trade, dict):
            raise Refused(f"fullinfo.get {tid}: no trade in the answer")
        return _trade(trade)


def _trade(trade: dict[str, Any]) -> ChannelTrade:
    """A trade as fullinfo.get or the increment list (asked for the same fields) gives it."""
    status = str(trade.get("status", ""))
    return ChannelTrade(
        external_id=_tid(trade),
        modified=parse_top_time(trade.get("modified")).astimezone(UTC),
        status=status,
        trade_type=str(trade.get("type", "")),
        paid=status in PAID,
        closed=status in CLOSED,
        payload=trade,
    )


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    # TOP leaves "trades" out when the page is empty.
    wrapper = body.get("trades") or {}
    rows = wrapper.get("trade", []) if isinstance(wrapper, dict) else []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise Refused("increment.get: trades.trade is not a list of objects")
    return rows


def _tid(row: dict[str, Any]) -> str:
    raw = row.get("tid_str") or row.get("tid")
    tid = digits(raw)
    if tid is None:
        raise Refused(f"a trade without a usable tid: {str(raw)[:40]!r}")
    return tid
