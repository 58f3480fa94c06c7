"""A run's overlap lists its last minutes again: a version the hub holds unchanged is not
stored again, one that changed is (intake.unchanged, docs/benchmarks.md S33). Runs on SQLite
and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from cloud.channels.intake import store, unchanged
from cloud.channels.ports import ChannelTrade
from cloud.db.engine import transaction
from cloud.db.models import ChannelShop
from simulators.marketplace.market import Market
from tests.cloud.channels.harness import Shop, make_hub, make_shop

SETTLE = timedelta(minutes=10)


@pytest.fixture
def shop(engine: Engine) -> Shop:
    return make_shop(make_hub(engine), Market(seed=11), "tb1")


def test_only_versions_held_unchanged_and_unsettled_are_spared(shop: Shop) -> None:
    x = shop.now().replace(microsecond=0)
    waiting = ("WAIT_BUYER_PAY", "fixed", False, False)
    with transaction(shop.hub.factory) as s:
        row = s.get(ChannelShop, shop.shop_id)
        assert row is not None
        stored = [ChannelTrade(e, x, *waiting, {"tid": e, "memo": "a"}) for e in "123"]
        # "4": paid but without lines, so held ("the trade has no lines").
        stored.append(ChannelTrade("4", x, "WAIT_SELLER_SEND_GOODS", "fixed", True, False, {}))
        store(s, row, stored, x, x + timedelta(seconds=5))
    assert shop.stored()["4"].state == "held"
    listed = [
        ChannelTrade("1", x, *waiting, {"tid": "1", "memo": "a"}),  # the same version
        ChannelTrade("2", x, *waiting, {"tid": "2", "memo": "b"}),  # same second, changed
        ChannelTrade("3", x + timedelta(seconds=1), *waiting, {"tid": "3", "memo": "a"}),
        ChannelTrade("4", x, "WAIT_SELLER_SEND_GOODS", "fixed", True, False, {}),  # held
        ChannelTrade("5", x, *waiting, {"tid": "5"}),  # not stored
    ]
    with shop.hub.factory() as s:
        assert unchanged(s, shop.shop_id, listed, x + timedelta(seconds=30), SETTLE) == {"1"}
        # Read now, more than ``settle`` after its second, "1" settles: stored again.
        late = x + SETTLE + timedelta(seconds=2)
        assert unchanged(s, shop.shop_id, listed, late, SETTLE) == set()
        edge = x + SETTLE + timedelta(seconds=1)
        assert unchanged(s, shop.shop_id, listed, edge, SETTLE) == {"1"}


def test_the_overlap_stores_a_changed_version_and_spares_an_unchanged_one(shop: Shop) -> None:
    tid = shop.market.place()
    shop.market.advance(5)
    shop.market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS")
    shop.market.advance(130)  # past the safety lag (2 min), well inside settle (10 min)
    first = shop.run()
    assert (first.outcome, first.new) == ("ok", 1)
    row = shop.stored()[str(tid)]
    assert row.state == "imported"
    read_at, versions = row.read_at, row.versions

    # Listed again by the next run's overlap, unchanged: the row is left as it is (before:
    # every column written again, read_at moved on).
    shop.market.advance(5)
    again = shop.run()
    assert (again.outcome, again.new, again.changed) == ("ok", 0, 0)
    row = shop.stored()[str(tid)]
    assert (row.read_at, row.versions) == (read_at, versions)

    # A second change in the same second (the index showed the first): same ``modified``,
    # another payload. It is stored, as before.
    version = shop.market.trades[tid][-1].trade
    version["seller_memo"] = "the second change of that second"
    shop.market.advance(5)
    third = shop.run()
    assert (third.outcome, third.new, third.changed) == ("ok", 0, 1)
    row = shop.stored()[str(tid)]
    assert row.payload["seller_memo"] == "the second change of that second"
    assert row.versions == versions + 1 and row.read_at > read_at
