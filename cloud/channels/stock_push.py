"""The stock push (同步库存): each shop is shown our figure of each SKU, without ever
re-adding units it sold that we have not downloaded yet.

Our figure is the F9 view's ``channel_stock`` (available + in transit; a bundle by its
scarcest part; own-brand goods with what their parts can make: cloud/stock/views.py), less
the shop's safety stock, times its share (rounded down): ``F``.

**Why not write F.** Between a sale on the marketplace and our download of it, the channel
has one unit fewer and our figure does not; writing F then (全量, an overwrite) hands the
unit back and it is sold twice — oversold. Reading the channel first does not help: a buyer
may pay between our read and our write.

**What we do.** Per (shop, SKU) we keep ``base`` (P): the channel's quantity when we first
read it plus the units of that shop's orders we held then (``D``, below), plus every change
we applied since. The channel's quantity is P − (units it sold since) and we want it to be
F − (units it sold that we have not downloaded) = F − (sold − (D − D₀)). Their difference,
the change to send, is **F + D − P**: the sales cancel out, so the change needs no read of
the channel and a purchase at any moment changes nothing of it. It is sent as an
incremental update (Taobao ``type=2``), which the marketplace applies atomically with the
purchases, under an idempotency key (Tmall's ``outer_biz_key``) stored before the call: a
change whose answer was lost is sent again with the same key and applied once; P moves
only by changes the marketplace confirmed. A sink without such a key (Shopify's
``inventory_levels/adjust.json``: ``InventorySink.keyed`` is False) cannot tell, so a lost
increase is counted as applied and a lost decrease sent again: the shop may then show fewer
than our figure, never more.

``D`` is the units of the shop's downloaded orders that our figure has already taken (the
order holds its reservation, or has shipped). It is read *before* our figure: an order
reserved in between then makes the change too small, never too large, and its reservation
marked the SKU dirty again, so the next push corrects it.

The rows are marked dirty by triggers (migration 0028) in the transaction that changes the
stock; ``gen`` counts the marks, and a push clears ``dirty`` only if ``gen`` is what it read
before computing, so a change during a push is pushed again (coalesced: one push per SKU,
however many changes). Rows are leased (one conditional UPDATE each, as the shipment outbox)
so two hub processes never push the same SKU of a shop at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels import shops, stock_locations
from cloud.channels.ports import (
    AuthRejected,
    ChannelError,
    ChannelListing,
    InventorySink,
    Retryable,
)

# Our figure, D and the marks live in stock_figures.py (the push per location uses them too);
# kept importable from here.
from cloud.channels.stock_figures import held_units as held_units
from cloud.channels.stock_figures import mark_all as mark_all
from cloud.channels.stock_figures import our_figure as our_figure
from cloud.channels.stock_figures import our_figure_at as our_figure_at
from cloud.channels.stock_figures import shown as shown
from cloud.db.channel_stock import ChannelStockItem, ChannelStockPolicy
from cloud.db.engine import transaction
from cloud.db.models import ChannelShop

LEASE = timedelta(minutes=2)
#: The marketplace refuses a change that would take its quantity below 0 (it sold more).
BELOW_ZERO = "isv.item-quantity-update-error"


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 600))


@dataclass
class Pushed:
    pushed: int = 0  # changes the marketplace confirmed
    unchanged: int = 0  # nothing to send
    retry: int = 0
    failed: int = 0
    unlisted: int = 0


# --- the push ------------------------------------------------------------------------------


def claim(
    session: Session, owner: str, now: datetime, lease: timedelta = LEASE, limit: int = 200
) -> list[int]:
    free = or_(ChannelStockItem.lease_until.is_(None), ChannelStockItem.lease_until < now)
    due = (
        ChannelStockItem.dirty,
        or_(ChannelStockItem.next_try_at.is_(None), ChannelStockItem.next_try_at <= now),
        # A shop waiting for re-authorisation is not called (shops.park).
        ChannelStockItem.shop_id.not_in(shops.parked_shops()),
    )
    ids = list(
        session.execute(
            select(ChannelStockItem.id).where(*due, free).order_by(ChannelStockItem.id).limit(limit)
        ).scalars()
    )
    out = []
    for row_id in ids:
        done = session.execute(
            update(ChannelStockItem)
            .where(ChannelStockItem.id == row_id, *due, free)
            .values(lease_owner=owner, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            out.append(row_id)
    return out


def _write(factory: sessionmaker[Session], row_id: int, owner: str, values: dict[str, Any]) -> bool:
    """Write a push's outcome only while the row is still ours (a process that stalled past
    its lease does not overwrite what the row's new holder wrote)."""
    with transaction(factory) as s:
        done = s.execute(
            update(ChannelStockItem)
            .where(ChannelStockItem.id == row_id, ChannelStockItem.lease_owner == owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def _release(gen: int, **values: Any) -> dict[str, Any]:
    """Values that end a push: clean unless marked again since ``gen`` was read."""
    return {
        "dirty": case((ChannelStockItem.gen == gen, False), else_=True),
        "lease_owner": None,
        "lease_until": None,
        **values,
    }


def push_row(
    factory: sessionmaker[Session],
    sink: InventorySink,
    row_id: int,
    *,
    owner: str,
    now: Callable[[], datetime],
    blind: bool = False,
) -> str:
    """Push one leased row; its outcome: "pushed", "unchanged", "retry", "failed" or
    "unlisted". ``blind`` overwrites the channel with F (the ablation: it oversells)."""
    with factory() as s:
        row = s.get(ChannelStockItem, row_id)
        assert row is not None
        policy = s.get(ChannelStockPolicy, row.shop_id)
        s.expunge_all()
    if policy is None or not policy.enabled:
        _write(factory, row_id, owner, _release(row.gen, state="ok", error="push is off"))
        return "unchanged"
    attempts = row.attempts
    with factory() as s:
        places = stock_locations.mapping(s, row.shop_id)
    try:
        if places and not blind:
            # Several locations mapped (a Shopify shop): each from its warehouse's figure.
            located = cast(stock_locations.LocationSink, sink)
            outcome, gen = stock_locations.push_locations(
                factory, located, row, policy, places, owner, now
            )
            if outcome == "lost":
                return "retry"  # the lease is another's now: it writes the outcome
            state = "unlisted" if outcome == "unlisted" else "ok"
            done = {"attempts": 0, "pushed_at": now()} if outcome == "pushed" else {}
            _write(factory, row_id, owner, _release(gen, state=state, error=None, **done))
            return outcome
        if row.num_iid is None or row.base is None:
            with factory() as s:  # D before the channel: see the module's docstring
                d0 = held_units(s, row.shop_id, [row.sku_code]).get(row.sku_code, 0)
            found = sink.listing(row.sku_code)
            if found is None:
                _write(factory, row_id, owner, _release(row.gen, state="unlisted", error=None))
                return "unlisted"
            row.num_iid, row.sku_id = found.item_id, found.sku_id
            row.base, row.channel_qty = found.quantity + d0, found.quantity
            if not _write(
                factory,
                row_id,
                owner,
                {
                    "num_iid": row.num_iid,
                    "sku_id": row.sku_id,
                    "base": row.base,
                    "channel_qty": row.channel_qty,
                },
            ):
                return "retry"
        listing = ChannelListing(row.num_iid, row.sku_id or "", row.channel_qty or 0)
        if row.pending_delta is not None and row.pending_key is not None:
            # A change whose answer was lost: the same change under the same key first.
            if sink.keyed or row.pending_delta < 0:
                # Keyless (Shopify), a decrease is sent again: applied twice at worst, the
                # shop then shows fewer than it could, never more.
                qty = sink.add(listing, row.pending_delta, row.pending_key)
            else:
                # Keyless, an increase is counted as applied and not sent again: if it was
                # not, the shop shows fewer than it could (sending it again could oversell).
                found = sink.listing(row.sku_code)  # what it shows now (for the cap below)
                qty = found.quantity if found is not None else (row.channel_qty or 0)
            row.base += row.pending_delta
            row.channel_qty = qty
            _write(
                factory,
                row_id,
                owner,
                {"base": row.base, "channel_qty": qty, "pending_delta": None, "pending_key": None},
            )
        with factory() as s:
            gen = s.execute(
                select(ChannelStockItem.gen).where(ChannelStockItem.id == row_id)
            ).scalar_one()
            d = held_units(s, row.shop_id, [row.sku_code]).get(row.sku_code, 0)
            target = shown(our_figure(s, row.account_id, row.sku_code, now()), policy)
        if blind:
            qty = sink.set(listing, target)
            _write(
                factory,
                row_id,
                owner,
                _release(
                    gen,
                    state="ok",
                    error=None,
                    target=target,
                    channel_qty=qty,
                    attempts=0,
                    pushed_at=now(),
                ),
            )
            return "pushed"
        delta = target + d - row.base
        if row.channel_qty is not None and delta < -row.channel_qty:
            # The channel has sold more than we now have for it: it can only go to 0.
            delta = -row.channel_qty
        if delta == 0:
            _write(factory, row_id, owner, _release(gen, state="ok", error=None, target=target))
            return "unchanged"
        key = f"gj{row.shop_id}-{row.id}-{row.seq + 1}"
        if not _write(
            factory, row_id, owner, {"pending_delta": delta, "pending_key": key, "seq": row.seq + 1}
        ):
            return "retry"
        qty = sink.add(listing, delta, key)
        _write(
            factory,
            row_id,
            owner,
            _release(
                gen,
                state="ok",
                error=None,
                base=row.base + delta,
                target=target,
                channel_qty=qty,
                pending_delta=None,
                pending_key=None,
                attempts=0,
                pushed_at=now(),
            ),
        )
        return "pushed"
    except AuthRejected as err:
        # The shop's authorisation is gone: park the shop (its rows wait, not tried and not
        # counted, until a new key is saved: shops.reauthorise makes them due again).
        with transaction(factory) as s:
            shops.park(s, row.shop_id, str(err))
        _write(
            factory,
            row_id,
            owner,
            # Refused before anything was done: a change in flight is forgotten (none was
            # applied), and the next push computes it again.
            {
                "state": "retry",
                "error": str(err)[:500],
                "pending_delta": None,
                "pending_key": None,
                "lease_owner": None,
                "lease_until": None,
            },
        )
        return "retry"
    except Retryable as err:
        # A full call bucket (429) refused the call before anything was done: forget a
        # change in flight. Any other failure may have been applied: it stays pending.
        unapplied = {"pending_delta": None, "pending_key": None} if err.sub_code == "429" else {}
        _write(
            factory,
            row_id,
            owner,
            {
                **unapplied,
                "state": "retry",
                "error": str(err)[:500],
                "attempts": attempts + 1,
                "next_try_at": now() + backoff(attempts + 1),
                "lease_owner": None,
                "lease_until": None,
            },
        )
        return "retry"
    except ChannelError as err:
        if err.sub_code == BELOW_ZERO and row.num_iid is not None:
            # Refused, so not applied: forget it, read the channel back, go again at once.
            values: dict[str, Any] = {"pending_delta": None, "pending_key": None}
            try:
                found = sink.listing(row.sku_code)
            except ChannelError:
                found = None
            if found is not None:
                values["channel_qty"] = found.quantity
            _write(factory, row_id, owner, {**values, "lease_owner": None, "lease_until": None})
            return "retry"
        _write(
            factory,
            row_id,
            owner,
            _release(row.gen, state="failed", error=str(err)[:500], attempts=attempts + 1),
        )
        return "failed"


def drain(
    factory: sessionmaker[Session],
    sink_for: Callable[[ChannelShop], InventorySink],
    *,
    owner: str,
    now: Callable[[], datetime],
    lease: timedelta = LEASE,
    blind: bool = False,
    limit: int = 200,
) -> Pushed:
    """Push every due row this process can lease (at most ``limit``)."""
    with transaction(factory) as s:
        ids = claim(s, owner, now(), lease, limit)
        shop_of = (
            dict(
                s.execute(
                    select(ChannelStockItem.id, ChannelStockItem.shop_id).where(
                        ChannelStockItem.id.in_(ids)
                    )
                ).all()
            )
            if ids
            else {}
        )
    out = Pushed()
    sinks: dict[int, InventorySink] = {}
    for row_id in ids:
        shop_id = shop_of[row_id]
        if shop_id not in sinks:
            with factory() as s:
                shop = s.get(ChannelShop, shop_id)
                assert shop is not None
                s.expunge(shop)
            sinks[shop_id] = sink_for(shop)
        result = push_row(factory, sinks[shop_id], row_id, owner=owner, now=now, blind=blind)
        setattr(out, result, getattr(out, result) + 1)
    return out
