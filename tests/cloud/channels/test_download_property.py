"""Nothing missed, nothing doubled: download runs against many seeded fault schedules, checked
against the simulator's ground truth (issue 16, "Proof"); and the ablations that show the
simulator is hard enough to catch each rule switched off."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine, func, select

from cloud.channels.download import Tuning
from cloud.db.models import ChannelRun
from simulators.marketplace.market import Faults
from tests.cloud.channels.harness import make_hub, simulate, stock_up

CHUNKS = 4  # spread over the workers of make test-fast
SEEDS_PER_CHUNK = 30  # make test: 120 schedules on SQLite; --long: 1,000 on each database
PG_PER_CHUNK = 8  # make test on PostgreSQL: 32 (1-3 s a schedule there on a 2-core); --long: 1,000
LONG_PER_CHUNK = 250
FAST_PER_CHUNK = 5  # make test-fast (--hypothesis-profile=fast): the inner loop


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_no_order_missed_or_doubled_under_seeded_faults(
    engine: Engine, request: pytest.FixtureRequest, chunk: int
) -> None:
    """Per seed: buyers act on the virtual clock, downloads run in between under that seed's
    fault schedule, then the buyers stop and the shop settles. Every order in the truth log is
    stored at its final ``modified``, no Guanjia order is made twice, the watermark never moves
    back and no stored ``modified`` ever decreases (checked after every run)."""
    hub = make_hub(engine)
    per = PG_PER_CHUNK if engine.dialect.name == "postgresql" else SEEDS_PER_CHUNK
    if request.config.getoption("--long"):
        per = LONG_PER_CHUNK
    elif request.config.getoption("--hypothesis-profile", None) == "fast":
        per = FAST_PER_CHUNK
    seeds = range(chunk * per, (chunk + 1) * per)
    failures = {seed: wrong for seed in seeds if (wrong := simulate(hub, seed))}
    assert failures == {}


def test_keys_expiring_mid_run_lose_nothing(engine: Engine) -> None:
    """The same invariants with the shop's session key expiring at random calls
    (``Faults.session_expiry``): each time the run parks the shop, a person saves the new key
    the seller gave, and the next run reads on from the watermark."""
    hub = make_hub(engine)
    count = 1 if engine.dialect.name == "postgresql" else 2
    for seed in range(3000, 3000 + count):
        faults = Faults.seeded(seed)
        faults.session_expiry = 0.02
        assert simulate(hub, seed, faults=faults) == [], seed
    with hub.factory() as s:
        parked = s.execute(
            select(func.count()).where(ChannelRun.outcome == "needs_reauth")
        ).scalar_one()
    assert parked >= count  # the keys did expire, mid-run


def _first_failure(
    engine: Engine,
    faults: Faults,
    tuning: Tuning,
    back_paging: bool,
    interval: tuple[float, float] = (30.0, 300.0),
    list_fields: bool = True,
) -> list[str]:
    hub = make_hub(engine)
    for seed in range(1000, 1020):
        wrong = simulate(
            hub,
            seed,
            faults=replace(faults),
            tuning=tuning,
            back_paging=back_paging,
            interval=interval,
            list_fields=list_fields,
        )
        if wrong:
            # The same schedule with every rule on is clean: the rule switched off failed it.
            again = make_hub(engine, f"full{seed}")
            full = simulate(again, seed, faults=replace(faults), interval=interval)
            assert full == [], full
            return wrong
    return []


def test_ablation_forward_paging_misses_orders(engine: Engine) -> None:
    # Runs further apart than the overlap: the next run's overlap cannot pick up what forward
    # paging skipped near the old end of a window (runs every 15 to 30 minutes are common).
    faults = Faults(change_between_pages=0.9)
    wrong = _first_failure(engine, faults, Tuning(), back_paging=False, interval=(900, 1800))
    assert any(w.startswith("missed") or "stored modified" in w for w in wrong), wrong


def test_ablation_no_overlap_misses_late_indexed_orders(engine: Engine) -> None:
    faults = Faults(late_index=0.7, late_index_max=300.0)
    wrong = _first_failure(engine, faults, Tuning(overlap=Tuning().overlap * 0), back_paging=True)
    assert any(w.startswith("missed") or "stored modified" in w for w in wrong), wrong


def test_ablation_no_modified_guard_lets_an_older_version_win(engine: Engine) -> None:
    # Runs close together and replicas up to five minutes behind: a trade changed twice within
    # minutes is read again from a replica that has only the older change.
    # Read one call per trade (fullinfo.get): the list's own rows come from an index that
    # never goes back, so only a lagging replica can hand over an older version.
    faults = Faults(replica_lag=0.9, replica_lag_max=300.0)
    wrong = _first_failure(
        engine, faults, Tuning(guard=False), back_paging=True, interval=(20, 60), list_fields=False
    )
    assert any("went back" in w or "stored modified" in w for w in wrong), wrong


#: Shipping adds a release and a ship per order and the outbox's calls: ~2x a schedule's time,
#: so fewer schedules in make test (10 on SQLite, 4 on PostgreSQL; 200 each with --long).
SHIP_CHUNKS = 2
SHIP_PER_CHUNK, SHIP_PG_PER_CHUNK, SHIP_LONG_PER_CHUNK, SHIP_FAST_PER_CHUNK = 5, 2, 100, 1


@pytest.mark.parametrize("chunk", range(SHIP_CHUNKS))
def test_each_shipment_confirmed_once_under_seeded_faults(
    engine: Engine, request: pytest.FixtureRequest, chunk: int
) -> None:
    """Per seed, as above, and after each run some imported orders ship in Guanjia and the
    outbox is drained (one call per try) under the same fault schedule, which includes
    ``ship_timeout`` (the shipment commits, the answer is lost). At the end every order
    shipped is confirmed on the marketplace exactly once, with its parcel number (the truth
    log's count), every outbox row is done, and the download invariants hold as before."""
    hub = make_hub(engine)
    stock_up(hub)
    per = SHIP_PG_PER_CHUNK if engine.dialect.name == "postgresql" else SHIP_PER_CHUNK
    if request.config.getoption("--long"):
        per = SHIP_LONG_PER_CHUNK
    elif request.config.getoption("--hypothesis-profile", None) == "fast":
        per = SHIP_FAST_PER_CHUNK
    seeds = range(5000 + chunk * per, 5000 + (chunk + 1) * per)
    failures = {seed: wrong for seed in seeds if (wrong := simulate(hub, seed, shipping=True))}
    assert failures == {}


def test_ablation_already_shipped_not_done_fails_confirmations(engine: Engine) -> None:
    # Lost answers: without "shipped already, with our number = done" the retry of a
    # shipment that did commit is marked failed (a person would be asked to act on nothing).
    hub = make_hub(engine)
    stock_up(hub)
    for seed in range(6000, 6005):
        wrong = simulate(
            hub, seed, faults=Faults(ship_timeout=0.5), shipping=True, same_tracking_is_done=False
        )
        if wrong:
            assert any("confirmation failed" in w for w in wrong), wrong
            again = make_hub(engine, f"full{seed}")
            stock_up(again)
            full = simulate(again, seed, faults=Faults(ship_timeout=0.5), shipping=True)
            assert full == [], full
            return
    raise AssertionError("no schedule showed the rule is needed")


def test_ablation_no_rescan_misses_orders_indexed_after_the_overlap(engine: Engine) -> None:
    # Versions reach the index up to 50 minutes late, beyond the lag and the 10-minute
    # overlap: only the hourly re-scan of the last day finds them. The shop settles for two
    # hours so that every version is visible by the end.
    faults = Faults(late_index=0.5, late_index_max=3000.0)
    hub = make_hub(engine)
    for seed in range(7000, 7010):
        wrong = simulate(hub, seed, faults=replace(faults), settle=48)
        if wrong:
            assert any(w.startswith("missed") or "stored modified" in w for w in wrong), wrong
            again = make_hub(engine, f"full{seed}")
            full = simulate(again, seed, faults=replace(faults), settle=48, rescan=True)
            assert full == [], full
            return
    raise AssertionError("no schedule showed the re-scan is needed")
