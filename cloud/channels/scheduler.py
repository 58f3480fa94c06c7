"""The hub's channel worker: every ``poll_s`` it claims the due shops (cloud/channels/schedule.py)
and downloads them, runs the due re-scans of the last day and the daily diffs of order ids
(cloud/channels/diff.py), then drains the shipment outbox (cloud/channels/shipments.py) and
the e-waybill draws (cloud/channels/waybills.py).

Everything it acts on is in the database: the schedules, the queued "download now" runs, the
leases and the outbox. So any number of hub processes may run one each; a process that stops
loses nothing (its leases run out and another process carries on).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels import (
    diff,
    messages,
    pool_force,
    refunds,
    schedule,
    shipments,
    stock_push,
    waybill_pool,
    waybills,
)
from cloud.channels.download import DEFAULT_TUNING, RunResult, Tuning, download
from cloud.channels.ports import (
    InventorySink,
    MessageSource,
    OrderSource,
    RefundSource,
    ShipmentConfirmer,
    WaybillProvider,
)
from cloud.db.engine import transaction
from cloud.db.models import ChannelShop

log = logging.getLogger("guanjia.cloud.channels")
T = TypeVar("T")


@dataclass
class Tick:
    runs: list[RunResult] = field(default_factory=list)
    sent: shipments.Sent = field(default_factory=shipments.Sent)
    hinted: int = 0
    drawn: waybills.Drawn = field(default_factory=waybills.Drawn)
    pooled: waybill_pool.Topped = field(default_factory=waybill_pool.Topped)
    refund_runs: list[refunds.RefundsResult] = field(default_factory=list)
    consumed: list[messages.Consumed] = field(default_factory=list)
    pushed: stock_push.Pushed = field(default_factory=stock_push.Pushed)


class Scheduler:
    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        owner: str,
        sources: Callable[[ChannelShop], OrderSource],
        confirmers: Callable[[ChannelShop], ShipmentConfirmer],
        now: Callable[[], datetime],
        tuning: Tuning = DEFAULT_TUNING,
        poll_s: float = 10.0,
        close: Callable[[], None] = lambda: None,
        diff_tuning: diff.DiffTuning = diff.DEFAULT_DIFF,
        waybill_providers: Callable[[ChannelShop], WaybillProvider] | None = None,
        refund_sources: Callable[[ChannelShop], RefundSource | None] | None = None,
        message_sources: Callable[[ChannelShop], MessageSource | None] | None = None,
        sinks: Callable[[ChannelShop], InventorySink] | None = None,
        push_poll_s: float = 0.25,
        publish: Callable[[dict[str, int]], None] | None = None,
        pool_wait: timedelta = pool_force.DEFAULT_WAIT,
        push_loop: bool = True,
        parallel: int = 4,
    ) -> None:
        #: How many claimed shops a tick runs at once (threads: the work is mostly waiting).
        self.parallel = parallel
        #: Downlink changes a tick queued (the pools' top-ups and give-backs, the releases of
        #: drawn waybills), handed to the hub's MQTT client after their commits so they reach
        #: the nodes at once; they are in the downlink outbox already, so a hub that stops
        #: first loses nothing (the node pulls them at its next hello).
        self.publish = publish
        #: How long a node may take to answer a give-back before its task opens.
        self.pool_wait = pool_wait
        self.diff_tuning = diff_tuning
        #: The refunds stream after each orders run; the pushed messages (TMC) every tick.
        self.refund_sources, self.message_sources = refund_sources, message_sources
        self.factory, self.owner = factory, owner
        self.sources, self.confirmers, self.now = sources, confirmers, now
        self.tuning, self.poll_s, self._close = tuning, poll_s, close
        self.waybill_providers = waybill_providers
        self.sinks, self.push_poll_s = sinks, push_poll_s
        #: Whether ``start`` runs the stock push loop here; without it, ticks drain the rows.
        self.push_loop = push_loop
        self._pusher: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> Tick:
        """Claim and run the due shops, then the due re-scans, then send the due
        confirmations."""
        out = Tick()
        with transaction(self.factory) as s:
            claimed = schedule.claim_due(
                s, self.owner, self.now(), self.tuning.lease, rescan_every=self.tuning.rescan_every
            )

        def download_one(c: schedule.Claimed) -> None:
            self._run(out, c.shop_id, c.run_id, rescan=False)
            self._refunds(out, c.shop_id)

        self._each(claimed, download_one)
        self._messages(out)
        with transaction(self.factory) as s:
            rescans = schedule.claim_rescans(
                s, self.owner, self.now(), self.tuning.lease, self.tuning.rescan_every
            )
        self._each(rescans, lambda shop_id: self._run(out, shop_id, None, rescan=True))
        with transaction(self.factory) as s:
            diffs = diff.claim_diffs(
                s, self.owner, self.now(), self.tuning.lease, self.diff_tuning.every
            )
        self._each(
            diffs, lambda shop_id: self._run(out, shop_id, None, rescan=False, daily_diff=True)
        )
        out.sent = shipments.drain(self.factory, self.confirmers, owner=self.owner, now=self.now)
        out.hinted = self._pull_hinted()
        if self.waybill_providers is not None:  # e-waybills drawn and given back
            out.drawn = waybills.drain(
                self.factory,
                self.waybill_providers,
                owner=self.owner,
                now=self.now,
                publish=self.publish,
            )
            # The nodes' offline pools topped up and given back (cloud/channels/waybill_pool.py).
            out.pooled = waybill_pool.drain(
                self.factory,
                self.waybill_providers,
                owner=self.owner,
                now=self.now,
                publish=self.publish,
                wait=self.pool_wait,
            )
        if self.sinks is not None and self._pusher is None:
            # The stock push's dirty SKUs (cloud/channels/stock_push.py), unless the push
            # thread of this process does it (one pusher per process: they share the owner).
            out.pushed = stock_push.drain(self.factory, self.sinks, owner=self.owner, now=self.now)
        return out

    def _each(self, items: Sequence[T], work: Callable[[T], None]) -> None:
        """``work`` for each claimed shop, up to ``parallel`` at once. A download mostly
        waits on the marketplace (pages, call-limit waits, backoff), so one slow shop would
        hold up every shop claimed after it, and their leases would run down meanwhile. A
        shop whose run raises is logged and the others go on (its lease runs out and its
        next due time comes round, as when the process stops)."""

        def guarded(item: T) -> None:
            try:
                work(item)
            except Exception:
                log.exception("channels: a shop's run failed; the others go on")

        if self.parallel <= 1 or len(items) <= 1:
            for item in items:
                guarded(item)
            return
        with ThreadPoolExecutor(
            max_workers=min(self.parallel, len(items)), thread_name_prefix="channels-shop"
        ) as pool:
            list(pool.map(guarded, items))

    def _pull_hinted(self) -> int:
        """Orders named by webhooks (Shopify's), read whole now (cloud/channels/shopify)."""
        from cloud.channels.shopify import webhooks

        with self.factory() as s:
            due = webhooks.due_shops(s)
        pulled = 0
        for shop_id in due:
            with self.factory() as s:
                shop = s.get(ChannelShop, shop_id)
                assert shop is not None
                s.expunge(shop)
            pulled += webhooks.pull_hinted(
                self.factory,
                shop_id,
                self.sources(shop),
                owner=self.owner,
                now=self.now,
                tuning=self.tuning,
            )
        return pulled

    def _run(
        self,
        out: Tick,
        shop_id: int,
        run_id: int | None,
        *,
        rescan: bool,
        daily_diff: bool = False,
    ) -> None:
        with self.factory() as s:
            shop = s.get(ChannelShop, shop_id)
            assert shop is not None
            s.expunge(shop)
        try:
            source = self.sources(shop)
        except Exception:  # its lease runs out and its next due time comes round
            log.exception("channels: no adapter for shop %s", shop.code)
            return
        if daily_diff:
            if not hasattr(source, "created"):  # an adapter without a full id list
                return
            differ = cast(diff.DiffSource, source)
            out.runs.append(
                diff.run_diff(
                    self.factory,
                    shop_id,
                    differ,
                    owner=self.owner,
                    now=self.now,
                    tuning=self.tuning,
                    diff=self.diff_tuning,
                )
            )
            return
        out.runs.append(
            download(
                self.factory,
                shop_id,
                source,
                owner=self.owner,
                now=self.now,
                tuning=self.tuning,
                run_id=run_id,
                rescan=rescan,
            )
        )

    def _shop(self, shop_id: int) -> ChannelShop:
        with self.factory() as s:
            shop = s.get(ChannelShop, shop_id)
            assert shop is not None
            s.expunge(shop)
        return shop

    def _refunds(self, out: Tick, shop_id: int) -> None:
        if self.refund_sources is None:
            return
        source = self.refund_sources(self._shop(shop_id))
        if source is None:  # a marketplace whose refunds we do not read yet (Shopify)
            return
        out.refund_runs.append(
            refunds.download_refunds(
                self.factory, shop_id, source, owner=self.owner, now=self.now, tuning=self.tuning
            )
        )

    def _messages(self, out: Tick) -> None:
        """A batch of each scheduled shop's pushed messages (hints: polling stays)."""
        if self.message_sources is None:
            return
        with self.factory() as s:
            ids = list(
                s.execute(
                    select(ChannelShop.id)
                    .where(ChannelShop.status == "active", ChannelShop.schedule_enabled)
                    .order_by(ChannelShop.id)
                ).scalars()
            )
        for shop_id in ids:
            shop = self._shop(shop_id)
            pushed = self.message_sources(shop)
            if pushed is None:  # no pushed messages on this marketplace (Shopify: webhooks)
                continue
            out.consumed.append(
                messages.consume(
                    self.factory,
                    shop_id,
                    pushed,
                    self.sources(shop),
                    owner=self.owner,
                    now=self.now,
                    tuning=self.tuning,
                )
            )

    # --- the thread of a hub process -----------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="channels", daemon=True)
        self._thread.start()
        if self.sinks is not None and self.push_loop:
            # The stock push has a loop of its own: a download may take minutes, and a stock
            # change should reach the shops within seconds (issue 16: p99 ≤ 2 s). Looking
            # costs one indexed query of the dirty rows.
            self._pusher = threading.Thread(target=self._push_loop, name="channels-stock")
            self._pusher.daemon = True
            self._pusher.start()

    def pause(self, seconds: float) -> bool:
        """A wait of a marketplace call that ends at once when the hub stops."""
        return self._stop.wait(seconds)

    def wake(self) -> None:
        """Something was queued here (a "download now"): look now, not at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pusher is not None:
            self._pusher.join(timeout)
        self._close()

    def _push_loop(self) -> None:
        assert self.sinks is not None
        while not self._stop.wait(self.push_poll_s):
            try:
                stock_push.drain(self.factory, self.sinks, owner=self.owner, now=self.now)
            except Exception:
                log.exception("channels: a stock push failed; trying again")

    def _loop(self) -> None:
        # The first look after one poll: a hub that starts and stops at once (tests, a
        # migration run) never reaches out to a marketplace.
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.tick()
            except Exception:
                log.exception("channels: a scheduler tick failed; trying again")
