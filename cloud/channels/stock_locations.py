"""A Shopify shop with several locations (docs/channels.md "Several Shopify locations").

A real shop keeps stock per location (Admin REST "Location", "InventoryLevel": a level is an
inventory item *at a location*; ``inventory_levels/adjust.json`` takes ``location_id``,
``inventory_item_id`` and ``available_adjustment``), and sells from them in the order the
seller ranks them. One figure pushed to "the first active location" (what the push did
before) shows the whole of our stock at one place, and none of it where our other warehouse
ships from. So:

- **A mapping per shop**: which of our warehouses each Shopify location is
  (``channel_shop_location``). Saved only for a location the shop has: the id is checked
  against ``locations.json`` read from the shop when saving (an unknown id is a 422 with a
  sentence naming the shop's ids); one location per warehouse and one warehouse per
  location. Saving one imports the orders held because Shopify sold them from it
  (sold_at.py), and moves those held because Shopify moved their fulfillment order there
  (follow.py).
- **The push per location**: a shop with a mapping is pushed per mapped location, each from
  that warehouse's figure (the F10 view's ``channel_stock`` of the warehouse; the shop's
  safety stock and share applied to it, as to the total before) and that warehouse's units
  of the shop's downloaded orders (D): the same rule F + D − P as stock_push.py, with P,
  the quantity and a change in flight kept per location (``channel_stock_location``). An
  unmapped warehouse is not pushed; a shop with no mapping is pushed as before (one
  location).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels import follow, remap, shops, sold_at, stock_figures
from cloud.channels.ports import ChannelListing, Retryable
from cloud.db.channel_stock import (
    ChannelShopLocation,
    ChannelStockItem,
    ChannelStockLocation,
    ChannelStockPolicy,
)
from cloud.db.engine import transaction
from cloud.db.models import ChannelOrder, ChannelShop, SalesOrder, SalesOrderLine, Warehouse
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError

#: The shop's active locations as the marketplace lists them: id -> name.
Locations = Mapping[str, str]


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Shopify's location id (digits; ``locations.json`` ``id``).
    location_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]


def _shopify_shop(session: Session, account_id: int, code: str) -> ChannelShop:
    shop = shops.shop_by_code(session, account_id, code)
    if shop.platform != "shopify":
        raise InvalidError(
            N_("shop %(shop)s is not a Shopify shop: only Shopify shops have locations"),
            shop=code,
        )
    return shop


def mapping(session: Session, shop_id: int) -> dict[str, str]:
    """Our warehouse code -> the shop's location id."""
    rows = session.execute(
        select(ChannelShopLocation.warehouse, ChannelShopLocation.location_id).where(
            ChannelShopLocation.shop_id == shop_id
        )
    ).all()
    return {str(w): str(loc) for w, loc in rows}


def location_of_order(session: Session, shop_id: int, order_id: str) -> str | None:
    """The shop's location of the warehouse the order ships from; None when unmapped."""
    return session.execute(
        select(ChannelShopLocation.location_id)
        .join(Warehouse, Warehouse.code == ChannelShopLocation.warehouse)
        .join(SalesOrder, SalesOrder.warehouse_id == Warehouse.id)
        .where(
            ChannelShopLocation.shop_id == shop_id,
            SalesOrder.id == order_id,
            Warehouse.account_id == ChannelShopLocation.account_id,
        )
    ).scalar_one_or_none()


def warehouse_codes(session: Session, account_id: int) -> list[str]:
    """The seller's warehouses (a page offers them to map)."""
    return list(
        session.execute(
            select(Warehouse.code)
            .where(Warehouse.account_id == account_id)
            .order_by(Warehouse.code)
        ).scalars()
    )


def listed(session: Session, account_id: int, code: str) -> list[dict[str, Any]]:
    shop = shops.shop_by_code(session, account_id, code)
    rows = session.execute(
        select(ChannelShopLocation)
        .where(ChannelShopLocation.shop_id == shop.id)
        .order_by(ChannelShopLocation.warehouse)
    ).scalars()
    return [as_dict(r) for r in rows]


@dataclass(frozen=True)
class Seen:
    """A shop's active locations as read from Shopify, and what they were read with: the
    write re-checks that the shop is still that store (a mapping is never saved against
    locations read from another store or with a key since replaced)."""

    shop_id: int
    api_url: str
    session_key: str
    locations: Locations


def shop_to_read(session: Session, account_id: int, code: str, warehouse: str) -> ChannelShop:
    """The checks that need no call to Shopify (404 for a shop not the seller's; 422 for a
    shop that is not Shopify's or a warehouse the seller does not have), then the shop,
    detached: its ``locations.json`` is read *after* this transaction has ended."""
    shop = _shopify_shop(session, account_id, code)
    _warehouse_exists(session, account_id, warehouse)
    session.expunge(shop)
    return shop


def read(shop: ChannelShop, known: Callable[[ChannelShop], Locations]) -> Seen:
    """Ask the shop for its locations, in no transaction: Shopify may be slow or hang (up to
    the client's timeout), and a transaction held meanwhile would hold its locks (SQLite's
    write lock, PostgreSQL's row locks) for as long."""
    return Seen(shop.id, shop.api_url, shop.session_key, dict(known(shop)))


def map_location(
    factory: sessionmaker[Session],
    account_id: int,
    code: str,
    warehouse: str,
    body: LocationIn,
    known: Callable[[ChannelShop], Locations],
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """The whole of a save (the API, the page and ``guanjia channels locations map``): a short
    read, Shopify's ``locations.json`` with no transaction open, then a short write that
    checks again what may have changed meanwhile (``set_location``)."""
    with factory() as s:
        shop = shop_to_read(s, account_id, code, warehouse)
    seen = read(shop, known)
    with transaction(factory) as s:
        return as_dict(set_location(s, account_id, code, warehouse, body, seen, actor, now))


def as_dict(row: ChannelShopLocation) -> dict[str, Any]:
    return {
        "warehouse": row.warehouse,
        "location_id": row.location_id,
        "location_name": row.location_name,
        "changed_by": row.changed_by,
        "changed_at": row.changed_at,
    }


def _warehouse_exists(session: Session, account_id: int, warehouse: str) -> None:
    has = session.execute(
        select(Warehouse.id).where(Warehouse.account_id == account_id, Warehouse.code == warehouse)
    ).scalar_one_or_none()
    if has is None:
        raise InvalidError(N_("no warehouse %(warehouse)r"), "warehouse", warehouse=warehouse[:64])


def set_location(
    session: Session,
    account_id: int,
    code: str,
    warehouse: str,
    body: LocationIn,
    seen: Seen,
    actor: str,
    now: datetime,
) -> ChannelShopLocation:
    """Map our ``warehouse`` to the shop's location ``body.location_id``, given the shop's
    locations ``seen`` (``read`` before this transaction). 404 for a shop not the seller's;
    422 for a shop that is not Shopify's, a warehouse the seller does not have, a location id
    the shop does not list, or a location mapped to another warehouse already; 409 when the
    shop was changed (its store or key) since its locations were read. Each is checked here
    again, in this transaction, whatever the read found: the read held no lock. Nothing
    changes on a refusal. Every SKU then owes the shop a push (its figures per location)."""
    shop = _shopify_shop(session, account_id, code)
    if (shop.id, shop.api_url, shop.session_key) != (
        seen.shop_id,
        seen.api_url,
        seen.session_key,
    ):
        raise ConflictError(
            N_("shop %(shop)s was changed while its locations were read from Shopify; try again"),
            shop=code,
        )
    _warehouse_exists(session, account_id, warehouse)
    locations = seen.locations
    if body.location_id not in locations:
        raise InvalidError(
            N_(
                "location %(location)s is not one of shop %(shop)s's active locations on "
                "Shopify (%(known)s)"
            ),
            "location_id",
            location=body.location_id,
            shop=code,
            known=", ".join(f"{i} {n}" for i, n in sorted(locations.items())) or "-",
        )
    rows = list(
        session.execute(
            select(ChannelShopLocation)
            .where(ChannelShopLocation.shop_id == shop.id)
            .with_for_update()
        ).scalars()
    )
    taken = next(
        (r for r in rows if r.location_id == body.location_id and r.warehouse != warehouse), None
    )
    if taken is not None:
        raise InvalidError(
            N_("location %(location)s of shop %(shop)s is warehouse %(warehouse)s's already"),
            "location_id",
            location=body.location_id,
            shop=code,
            warehouse=taken.warehouse,
        )
    row = next((r for r in rows if r.warehouse == warehouse), None)
    if row is None:
        row = ChannelShopLocation(shop_id=shop.id, warehouse=warehouse, account_id=account_id)
        session.add(row)
    elif row.location_id != body.location_id:
        _forget(session, shop.id, row.location_id)
    row.location_id, row.location_name = body.location_id, locations[body.location_id][:200]
    row.changed_by, row.changed_at = actor[:64], now
    session.flush()
    _mark(session, account_id, shop.id)
    # Orders Shopify sold from this location, held for want of a warehouse: imported now
    # (sold_at.py).
    remap.retry_held(session, shop, now, sold_at.UNMAPPED_LOCATION)
    # Orders held because Shopify moved their fulfillment order to this location: they
    # follow it now, in this transaction (follow.py).
    follow.held_for(session, shop, body.location_id, warehouse, now)
    return row


def remove_location(session: Session, account_id: int, code: str, warehouse: str) -> None:
    """The warehouse is no longer pushed to the shop (404 when it was not mapped)."""
    shop = _shopify_shop(session, account_id, code)
    row = session.get(ChannelShopLocation, (shop.id, warehouse), with_for_update=True)
    if row is None:
        raise NotFoundError(
            N_("warehouse %(warehouse)s is not mapped to a location of shop %(shop)s"),
            warehouse=warehouse[:64],
            shop=code,
        )
    _forget(session, shop.id, row.location_id)
    session.delete(row)
    session.flush()
    _mark(session, account_id, shop.id)


def _forget(session: Session, shop_id: int, location_id: str) -> None:
    """A location no longer ours to push: its P is read again if it is mapped once more."""
    items = select(ChannelStockItem.id).where(ChannelStockItem.shop_id == shop_id)
    session.execute(
        delete(ChannelStockLocation).where(
            ChannelStockLocation.item_id.in_(items), ChannelStockLocation.location_id == location_id
        )
    )


def _mark(session: Session, account_id: int, shop_id: int) -> None:
    stock_figures.mark_all(session, account_id, shop_id)


# --- the push per location -------------------------------------------------------------------


def held_at(session: Session, shop_id: int, warehouse: str, code: str) -> int:
    """D at one warehouse: units of the shop's downloaded orders reserved or shipped there
    (the split halves of an order included: stock_figures.of_channel)."""
    n = 0
    for halves in (False, True):
        n += session.execute(
            select(func.coalesce(func.sum(SalesOrderLine.qty), 0))
            .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
            .join(ChannelOrder, stock_figures.of_channel(halves))
            .join(Warehouse, Warehouse.id == SalesOrder.warehouse_id)
            .where(
                ChannelOrder.shop_id == shop_id,
                Warehouse.code == warehouse,
                or_(SalesOrder.reserved, SalesOrder.status == "shipped"),
                SalesOrderLine.sku_code == code,
            )
        ).scalar_one()
    return int(n)


class LocationSink(Protocol):
    """What the push needs of a sink with locations (cloud/channels/shopify/stock.py)."""

    keyed: bool

    def listing_at(self, sku_code: str, location_id: str) -> ChannelListing | None: ...

    def add(self, listing: ChannelListing, delta: int, key: str) -> int: ...


def push_locations(
    factory: sessionmaker[Session],
    sink: LocationSink,
    row: ChannelStockItem,
    policy: ChannelStockPolicy,
    places: dict[str, str],
    owner: str,
    now: Callable[[], datetime],
) -> tuple[str, int]:
    """Push one leased item to each mapped location; ("pushed" | "unchanged" | "unlisted" |
    "lost", the ``gen`` read before the figures); "lost": the item's lease is no longer
    ``owner``'s, so nothing more was written or sent (the new holder pushes it). Raises as the sink does; a 429 (refused before
    anything was done) forgets the location's change in flight, any other failure leaves it
    pending (stock_push.py's rule for a keyless sink applies per location)."""
    with factory() as s:
        gen = s.execute(
            select(ChannelStockItem.gen).where(ChannelStockItem.id == row.id)
        ).scalar_one()
    outcome = "unlisted"
    for warehouse, location in sorted(places.items()):
        with factory() as s:
            state = s.get(ChannelStockLocation, (row.id, location))
            d0 = held_at(s, row.shop_id, warehouse, row.sku_code)  # D before the channel
            s.expunge_all()
        if state is None or state.base is None:
            found = sink.listing_at(row.sku_code, location)
            if found is None:
                continue  # not stocked there: nothing to push to it
            state = ChannelStockLocation(
                item_id=row.id,
                location_id=location,
                base=found.quantity + d0,
                channel_qty=found.quantity,
                seq=0,
            )
            if not _first(factory, owner, state):
                return "lost", int(gen)  # another worker holds the item now: it pushes
            item_id = found.item_id
        else:
            item_id = row.num_iid or ""
            if not item_id:
                found = sink.listing_at(row.sku_code, location)
                if found is None:
                    continue
                item_id = found.item_id
        if row.num_iid != item_id:
            with transaction(factory) as s:
                s.execute(
                    update(ChannelStockItem)
                    .where(ChannelStockItem.id == row.id, ChannelStockItem.lease_owner == owner)
                    .values(num_iid=item_id)
                    .execution_options(synchronize_session=False)
                )
            row.num_iid = item_id
        assert state.base is not None
        listing = ChannelListing(item_id, location, state.channel_qty or 0)
        if state.pending_delta is not None and state.pending_key is not None:
            if sink.keyed or state.pending_delta < 0:
                qty = _send(
                    factory, owner, sink, listing, state, state.pending_delta, state.pending_key
                )
            else:
                again = sink.listing_at(row.sku_code, location)
                qty = again.quantity if again is not None else (state.channel_qty or 0)
            state.base += state.pending_delta
            _save(factory, owner, state, base=state.base, channel_qty=qty, pending=None)
            state.channel_qty = qty
        with factory() as s:
            d = held_at(s, row.shop_id, warehouse, row.sku_code)
            target = stock_figures.shown(
                stock_figures.our_figure_at(s, row.account_id, row.sku_code, warehouse, now()),
                policy,
            )
        delta = target + d - state.base
        if state.channel_qty is not None and delta < -state.channel_qty:
            delta = -state.channel_qty  # sold more there than we now have for it: to 0
        if outcome == "unlisted":
            outcome = "unchanged"
        if delta == 0:
            _save(factory, owner, state, target=target)
            continue
        key = f"gj{row.shop_id}-{row.id}-{location}-{state.seq + 1}"
        state.seq += 1
        if not _save(factory, owner, state, pending=(delta, key), seq=state.seq):
            return "lost", int(gen)  # not stored as in flight: not sent either
        state.pending_delta, state.pending_key = delta, key
        qty = _send(factory, owner, sink, listing, state, delta, key)
        state.base += delta
        _save(factory, owner, state, base=state.base, channel_qty=qty, target=target, pending=None)
        outcome = "pushed"
    return outcome, int(gen)


def _send(
    factory: sessionmaker[Session],
    owner: str,
    sink: LocationSink,
    listing: ChannelListing,
    state: ChannelStockLocation,
    delta: int,
    key: str,
) -> int:
    try:
        return sink.add(listing, delta, key)
    except Retryable as err:
        if err.sub_code == "429":  # refused before anything was done: not in flight
            _save(factory, owner, state, pending=None)
        raise


_KEEP: Any = object()


def _save(
    factory: sessionmaker[Session],
    owner: str,
    state: ChannelStockLocation,
    *,
    base: int | None = None,
    channel_qty: int | None = None,
    target: int | None = None,
    seq: int | None = None,
    pending: Any = _KEEP,
) -> bool:
    """Write a location's push state while the item's lease is ``owner``'s; False when it
    is not (nothing written)."""
    values: dict[str, Any] = {}
    for name, value in (("base", base), ("channel_qty", channel_qty), ("target", target)):
        if value is not None:
            values[name] = value
    if seq is not None:
        values["seq"] = seq
    if pending is not _KEEP:
        values["pending_delta"], values["pending_key"] = pending if pending else (None, None)
    if not values:
        return True
    with transaction(factory) as s:
        # Only while the item's lease is still ours (as stock_push.py ``_write``).
        ours = select(ChannelStockItem.id).where(
            ChannelStockItem.id == state.item_id, ChannelStockItem.lease_owner == owner
        )
        done = s.execute(
            update(ChannelStockLocation)
            .where(
                ChannelStockLocation.item_id.in_(ours),
                ChannelStockLocation.location_id == state.location_id,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def _first(factory: sessionmaker[Session], owner: str, state: ChannelStockLocation) -> bool:
    """The location's first state (P from the level just read), written only while the
    item's lease is ``owner``'s: a worker whose lease ran out while it read the level (a slow
    Shopify) must not put its P over the one the lease's new holder has written and pushed
    from. The item's row is locked while the lease is checked (PostgreSQL: FOR UPDATE, so a
    claim waits for this commit; SQLite: the write transaction began IMMEDIATE). False: not
    ours, nothing written."""
    with transaction(factory) as s:
        ours = s.execute(
            select(ChannelStockItem.id)
            .where(ChannelStockItem.id == state.item_id, ChannelStockItem.lease_owner == owner)
            .with_for_update()
        ).first()
        if ours is None:
            return False
        s.merge(state)
        return True
