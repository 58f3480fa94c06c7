"""Pick route: visits every needed bin once, never longer than the walk-order route, deterministic."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.bench.station import bench_pick_route, make_warehouse
from edge.stations.route import Layout, distance_matrix, plan_route
from protocol.messages import BinInfo

TABLE = make_warehouse(1000)
CODES = sorted(TABLE)


def test_aisle_metric_goes_round_the_rack_end() -> None:
    lay = Layout(front=0.0, back=10.0, min_x=0.0)
    d = distance_matrix([(0.0, 2.0), (0.0, 7.0), (3.0, 2.0), (3.0, 9.0)], lay, "aisle")
    assert d[0, 1] == 5.0  # same aisle: straight along it
    assert d[0, 2] == 3.0 + 4.0  # other aisle: out by the front (2 + 2), across 3
    assert d[0, 3] == 3.0 + min(2 + 9, 8 + 1)  # nearer end is the back


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(CODES), min_size=1, max_size=60), st.integers(0, 3))
def test_route_visits_each_needed_bin_once_and_is_no_longer_than_naive(
    needed: list[str], seed: int
) -> None:
    rng = random.Random(seed)
    extra = [f"NOWHERE-{rng.randint(0, 3)}"] if seed == 3 else []  # bins without coordinates
    route = plan_route(needed + extra, TABLE)
    assert sorted(route.bins) == sorted(set(needed + extra))
    assert route.length <= route.naive_length + 1e-9
    assert route.bins[len(route.bins) - len(route.unlocated) :] == route.unlocated
    assert set(route.unlocated) == set(extra)
    assert plan_route(list(reversed(needed + extra)), TABLE) == route  # deterministic


def test_nan_coordinates_are_unlocated_and_last() -> None:
    bins = dict(TABLE)
    bins["ODD"] = BinInfo(code="ODD", zone="pick", x=math.nan, y=1.0, walk_order=0)
    route = plan_route([CODES[5], "ODD", CODES[500]], bins)
    assert route.bins[-1] == "ODD" and route.unlocated == ("ODD",)


def test_zones_are_not_revisited_when_walk_order_groups_them() -> None:
    needed = random.Random(7).sample(CODES, 80)
    route = plan_route(needed, TABLE)
    zones = [TABLE[c].zone for c in route.bins]
    runs = [z for i, z in enumerate(zones) if i == 0 or zones[i - 1] != z]
    assert len(runs) == len(set(runs))


def test_optimised_route_beats_walk_order_on_a_wave() -> None:
    figures = bench_pick_route(lines=60, bins=1000, seed=3)
    assert figures["stops"] > 0
    assert figures["route_length_m"] < figures["naive_walk_order_length_m"]
