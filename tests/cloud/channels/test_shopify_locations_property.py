"""The stock push per Shopify location under seeded schedules (issue 16 "Proof", docs/
channels.md "Several Shopify locations"): shops with 2-3 locations mapped to different
warehouses, buyers paying during pushes and full call buckets; per location never oversold,
and each location converges to its own warehouse's figure (located_harness.py). The
ablation (each location pushed from the shop-wide figure) oversells a location. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cloud.channels import sold_at, stock_figures
from tests.cloud.channels.located_harness import simulate_located
from tests.support.seeds import seed_range

SQLITE_SEEDS, PG_SEEDS = 3, 1  # make test (short); --long: 200 more on each database
LONG_CHUNKS, LONG_PER_CHUNK = 10, 20


def test_each_location_never_oversold_and_converges_to_its_warehouse(engine: Engine) -> None:
    """And every order is reserved where Shopify sold it; some drew from two locations and
    were split (one order per fulfillment order)."""
    n = PG_SEEDS if engine.dialect.name == "postgresql" else SQLITE_SEEDS
    stats: dict[str, int] = {}
    failures = {
        seed: wrong for seed in range(n) if (wrong := simulate_located(engine, seed, stats=stats))
    }
    assert failures == {}
    assert stats.get("split", 0) > 0, stats  # the world does split orders


def test_ablation_reserving_at_our_routed_warehouse_fails(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the rule (sold_at.parts never applies: every order at our main warehouse,
    whole), orders are reserved where Shopify did not sell them."""
    if engine.dialect.name == "postgresql":
        pytest.skip("the rule's arithmetic is the same on both databases; CI time is tight")
    monkeypatch.setattr(sold_at, "parts", lambda _payload, _located: None)
    for seed in range(6):
        wrong = simulate_located(engine, seed)
        if any("reserved at" in w for w in wrong):
            return
    raise AssertionError("reserving at our warehouse never went wrong: too easy a world")


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(LONG_CHUNKS))
def test_each_location_long(engine: Engine, chunk: int, request: pytest.FixtureRequest) -> None:
    seeds = range(100 + chunk * LONG_PER_CHUNK, 100 + (chunk + 1) * LONG_PER_CHUNK)
    given = seed_range(request.config, range(0))
    if given:  # --seed-range: each chunk its share of the range given
        seeds = given[chunk::LONG_CHUNKS]
    failures = {seed: wrong for seed in seeds if (wrong := simulate_located(engine, seed))}
    assert failures == {}


def test_ablation_the_shop_wide_figure_at_each_location_oversells(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each location pushed from our figure of every warehouse (what one location showed
    before the mapping): a location sells units its warehouse never had."""
    if engine.dialect.name == "postgresql":
        pytest.skip("the push's arithmetic is the same on both databases; CI time is tight")

    real = stock_figures.our_figure_at

    def shop_wide(s: Session, account_id: int, code: str, _warehouse: str, now: datetime) -> Any:
        return real(s, account_id, code, None, now)  # None: every warehouse

    monkeypatch.setattr(stock_figures, "our_figure_at", shop_wide)
    for seed in range(12):
        wrong = simulate_located(engine, seed)
        if any(w.startswith("oversold") for w in wrong):
            return
    raise AssertionError("the shop-wide figure never oversold a location: too easy a world")
