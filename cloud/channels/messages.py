"""Pushed messages (Taobao TMC) as hints: each message says only that a trade changed; the
trade is then read whole (``fullinfo.get``) and stored through the same intake as a download
(changes.store: ``modified`` guard, unique key, later changes reaching the order).

Rules, and why:
- **De-duplicated by message id in the database** (``channel_message``, INSERT … ON CONFLICT
  DO NOTHING, in the transaction that stores the trades): delivery is at least once, so a
  message comes again when its confirm was lost, and duplicates arrive in one batch.
- **Never trusting the body**: messages come out of order and a body may be older than the
  trade; the trade read whole has its own ``modified``, and the guard keeps the newest.
- **Confirmed after the commit**: a process that stops between the two gets the message again
  (and the id makes it a no-op); confirming first would lose the hint.
- **Polling stays the backstop**: TMC may drop a message (and keeps them 24 h only), so the
  scheduled downloads and the hourly re-scan still cover every window; messages only make a
  change arrive sooner.
- Under the shop's lease, as a download: one hub process at a time per shop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels import changes, shops
from cloud.channels.download import DEFAULT_TUNING, Tuning
from cloud.channels.ports import (
    ChannelError,
    ChannelTrade,
    MessageSource,
    OrderSource,
    Refused,
)
from cloud.db.channel_changes import ChannelMessage
from cloud.db.engine import dialect_of, transaction
from cloud.db.models import ChannelShop

#: TMC keeps a message 24 h; an id older than twice that cannot come again.
KEEP = timedelta(hours=48)


@dataclass
class Consumed:
    polled: int = 0
    fresh: int = 0  # messages not seen before
    pulled: int = 0  # trades read whole
    confirmed: int = 0
    outcome: str = "ok"  # "ok", "busy", "failed"
    error: str | None = None


def consume(
    factory: sessionmaker[Session],
    shop_id: int,
    messages: MessageSource,
    orders: OrderSource,
    *,
    owner: str,
    now: Callable[[], datetime],
    tuning: Tuning = DEFAULT_TUNING,
    limit: int = 100,
    dedup: bool = True,
) -> Consumed:
    """One batch of the shop's messages. ``dedup=False`` is for the ablation test only."""
    out = Consumed()
    with transaction(factory) as s:
        shop = s.get(ChannelShop, shop_id)
        if shop is None or shop.status != "active":
            out.outcome = "busy"
            return out
        if not shops.take_lease(s, shop_id, owner, now(), tuning.lease):
            out.outcome = "busy"
            return out
        account_id = shop.account_id
    try:
        batch = messages.poll(limit)
        out.polled = len(batch)
        if not batch:
            return out
        ids = list(dict.fromkeys(m.message_id for m in batch))
        with factory() as s:
            seen = set(
                s.execute(
                    select(ChannelMessage.message_id).where(
                        ChannelMessage.shop_id == shop_id, ChannelMessage.message_id.in_(ids)
                    )
                ).scalars()
            )
        if dedup:
            fresh = {m.message_id: m for m in batch if m.message_id not in seen}
            tids = list(dict.fromkeys(m.external_id for m in fresh.values() if m.external_id))
        else:  # the ablation: every delivery used, duplicates and repeats included
            fresh = {m.message_id: m for m in batch}
            tids = [m.external_id for m in batch if m.external_id]
        out.fresh = len(fresh)
        read_at = now()
        trades: list[ChannelTrade] = []
        for tid in tids:
            try:
                trades.extend(orders.fetch([tid]))
            except Refused:
                continue  # a trade we may not read (another seller's, gone): polling covers it
            out.pulled += 1
        at = now()
        with transaction(factory) as s:
            if not shops.keep_lease(s, shop_id, owner, at, tuning.lease):
                out.outcome, out.error = "failed", "the lease ran out; nothing stored"
                return out
            if fresh:
                pg = dialect_of(s) == "postgresql"
                stmt = postgresql.insert(ChannelMessage) if pg else sqlite.insert(ChannelMessage)
                s.execute(
                    stmt.on_conflict_do_nothing(index_elements=["shop_id", "message_id"]),
                    [
                        {
                            "account_id": account_id,
                            "shop_id": shop_id,
                            "message_id": m.message_id,
                            "topic": m.topic,
                            "external_id": m.external_id,
                            "received_at": at,
                        }
                        for m in fresh.values()
                    ],
                )
            live = s.get(ChannelShop, shop_id)
            assert live is not None
            changes.store(s, live, trades, at, read_at, guard=tuning.guard)
            s.execute(
                delete(ChannelMessage).where(
                    ChannelMessage.shop_id == shop_id, ChannelMessage.received_at < at - KEEP
                )
            )
        # After the commit: a message confirmed is never delivered again.
        messages.confirm(ids)
        out.confirmed = len(ids)
    except ChannelError as err:
        out.outcome, out.error = "failed", str(err)
    finally:
        with transaction(factory) as s:
            shops.drop_lease(s, shop_id, owner)
    return out
