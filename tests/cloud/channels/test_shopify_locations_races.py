"""Races around the several Shopify locations (cloud/channels/stock_locations.py,
docs/channels.md "Several Shopify locations"): a mapping's save reads the shop's
``locations.json`` with no database connection held and checks again, in its short write,
what may have changed meanwhile; a push worker whose lease ran out while it read a
location's level writes nothing and sends nothing. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, select, update

from cloud.channels import stock_locations, stock_push
from cloud.channels.ports import ChannelListing
from cloud.db.channel_stock import ChannelStockItem, ChannelStockLocation
from cloud.db.engine import transaction
from cloud.db.models import ChannelShop
from cloud.errors import ConflictError, InvalidError
from tests.cloud.channels.stock_harness import drain, sink
from tests.cloud.channels.test_shopify_locations import SZ, YW, at, figure_at, located, mapped


def save(shop: Any, warehouse: str, location: int, known: Any) -> dict[str, Any]:
    return stock_locations.map_location(
        shop.hub.factory,
        shop.hub.account_id,
        shop.code,
        warehouse,
        stock_locations.LocationIn(location_id=str(location)),
        known,
        "lead",
        datetime.now(UTC),
    )


def test_the_shops_locations_are_read_with_no_connection_held(engine: Engine) -> None:
    """While Shopify answers (slowly, or not at all until the client's timeout), the hub
    holds no database connection, so no transaction and none of its locks."""
    shop = located(engine, 71)
    held = {"now": 0, "during": -1}

    def out(*_: object) -> None:
        held["now"] += 1

    def back(*_: object) -> None:
        held["now"] -= 1

    event.listen(engine, "checkout", out)
    event.listen(engine, "checkin", back)
    try:

        def known(_shop: object) -> dict[str, str]:
            held["during"] = held["now"]
            return sink(shop).locations()  # type: ignore[attr-defined,no-any-return]

        save(shop, "WH1", SZ, known)
    finally:
        event.remove(engine, "checkout", out)
        event.remove(engine, "checkin", back)
    assert held["during"] == 0
    assert mapped(shop) == [("WH1", str(SZ), "Shenzhen")]


def test_what_changed_during_the_read_is_checked_again(engine: Engine) -> None:
    """Another save took the location while Shopify was being asked: 422 "taken". The
    shop's key was replaced meanwhile (locations read with the old one): 409. Either way
    nothing of this save is stored."""
    shop = located(engine, 72)

    def known_then_taken(_shop: object) -> dict[str, str]:
        found = sink(shop).locations()  # type: ignore[attr-defined]
        save(shop, "WH2", YW, lambda _s: found)  # a second person's save, finished first
        return found  # type: ignore[no-any-return]

    with pytest.raises(InvalidError, match="is warehouse WH2's already") as err:
        save(shop, "WH1", YW, known_then_taken)
    assert err.value.status == 422
    assert mapped(shop) == [("WH2", str(YW), "Yiwu")]

    def known_then_rekeyed(_shop: object) -> dict[str, str]:
        found = sink(shop).locations()  # type: ignore[attr-defined]
        with transaction(shop.hub.factory) as s:
            s.execute(
                update(ChannelShop)
                .where(ChannelShop.id == shop.shop_id)
                .values(session_key="shpat-another")
            )
        return found  # type: ignore[no-any-return]

    with pytest.raises(ConflictError, match="was changed while its locations were read") as err2:
        save(shop, "WH1", SZ, known_then_rekeyed)
    assert err2.value.status == 409
    assert mapped(shop) == [("WH2", str(YW), "Yiwu")]


class Slow:
    """A Shopify sink whose first level read is answered only after ``meanwhile`` ran (a
    slow answer: the level is the one read before it)."""

    keyed = False

    def __init__(self, inner: Any, meanwhile: Any) -> None:
        self.inner, self.meanwhile, self.adds = inner, meanwhile, 0

    def listing_at(self, sku_code: str, location_id: str) -> ChannelListing | None:
        found = self.inner.listing_at(sku_code, location_id)
        if self.meanwhile is not None:
            go, self.meanwhile = self.meanwhile, None
            go()
        return found  # type: ignore[no-any-return]

    def add(self, listing: ChannelListing, delta: int, key: str) -> int:
        self.adds += 1
        return self.inner.add(listing, delta, key)  # type: ignore[no-any-return]


def test_a_worker_that_lost_its_lease_writes_no_first_state_and_sends_nothing(
    engine: Engine,
) -> None:
    """Worker A leases SKU-A and reads Shenzhen's level (0: listed at 0 until the first
    push); Shopify answers slowly, A's lease runs out, worker B leases the item and pushes
    it (P written, the figure sent). A's answer then arrives: A must not write its P from
    the old level (it would make B's push count as never made and send the figure again:
    oversold), nor send anything."""
    shop = located(engine, 73)
    save(shop, "WH1", SZ, lambda _s: sink(shop).locations())  # type: ignore[attr-defined]
    drain(shop)  # every other SKU settled; SKU-A made due again below
    with transaction(shop.hub.factory) as s:
        row_id = s.execute(
            select(ChannelStockItem.id).where(
                ChannelStockItem.shop_id == shop.shop_id, ChannelStockItem.sku_code == "SKU-A"
            )
        ).scalar_one()
        # As if never pushed to Shenzhen: the level read again (its first state).
        s.execute(delete(ChannelStockLocation).where(ChannelStockLocation.item_id == row_id))
        s.execute(update(ChannelStockItem).where(ChannelStockItem.id == row_id).values(dirty=True))
    with shop.market.lock:  # the level back to 0 (what A's stale read sees)
        shop.market.stock.put_levels(shop.market, shop.domain, {"SKU-A": 0}, SZ)  # type: ignore[attr-defined]
    with transaction(shop.hub.factory) as s:
        assert stock_push.claim(s, "hub-A", shop.now(), timedelta(seconds=30)) == [row_id]

    def worker_b() -> None:
        with transaction(shop.hub.factory) as s:  # A's lease has run out
            s.execute(
                update(ChannelStockItem)
                .where(ChannelStockItem.id == row_id)
                .values(lease_until=shop.now() - timedelta(seconds=1))
            )
        assert drain(shop, owner="hub-B").pushed == 1

    slow = Slow(sink(shop), worker_b)
    outcome = stock_push.push_row(shop.hub.factory, slow, row_id, owner="hub-A", now=shop.now)  # type: ignore[arg-type]
    assert outcome == "retry"
    assert slow.adds == 0
    assert at(shop, "SKU-A", SZ) == figure_at(shop, "SKU-A", "WH1")
    with shop.hub.factory() as s:
        state = s.get(ChannelStockLocation, (row_id, str(SZ)))
        assert state is not None
        first = (state.base, state.seq)
    assert first == (figure_at(shop, "SKU-A", "WH1"), 1)  # B's
    drain(shop)
    assert at(shop, "SKU-A", SZ) == figure_at(shop, "SKU-A", "WH1")
