"""The API bench end to end at a tiny volume: a real server, a real load process, no timing
assertions (figures are the bench's output, not a test's)."""

from __future__ import annotations

import pytest

from cloud.bench.api import bench_api
from cloud.bench.load import _pct


def test_bench_api_runs_the_mix_against_a_real_server(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL variant makes its own schema; one database is enough here")
    out = bench_api(None, skus=40, orders=120, rate=40.0, duration_s=1.5, workers=2)
    assert out["database"] == "sqlite"
    assert out["workers"] == 2
    # The floor ran too, on the same server: the token check alone, answered every time.
    assert out["floor_errors"] == 0
    assert 0 < out["floor_p50_ms"] <= out["floor_p99_ms"]
    assert out["requests"] == 60  # rate x duration, every one answered or counted
    assert out["errors"] == 0, out["error_statuses"]
    assert out["unfinished"] == 0
    assert 0 < out["p50_ms"] <= out["p99_ms"] <= out["max_ms"]
    # The mix reached reads and writes alike.
    assert {"orders_list", "skus_search"} <= set(out["by_kind"])
    # The dashboard's pages too, with the browser's session cookie: each answered 200 (a
    # page that sent the generator to the login page would be a 303, counted as an error).
    assert {"page_audit", "page_orders", "page_stock"} & set(out["by_kind"])
    assert sum(k["n"] for k in out["by_kind"].values()) == 60
    # The slowest seconds of the run (1.5 s: seconds 0 and 1), slowest first, each within
    # the run's own figures: where the tail sits in time (issue 20).
    slow = out["slow_seconds"]
    assert sorted(int(sec) for sec, _, _ in slow) == [0, 1]
    assert slow[0][1] >= slow[1][1] and all(p99 <= mx <= out["max_ms"] for _, p99, mx in slow)
    # CPU per answered request (issue 20): the hub's (SQLite's inside it) beside the limit,
    # and the load generator's apart; both did work.
    assert out["server_cpu_ms_per_request"] > 0
    assert out["database_cpu_ms_per_request"] == 0.0
    assert out["server_and_database_cpu_ms_per_request"] == out["server_cpu_ms_per_request"]
    assert out["cpu_limit_ms_per_request"] == 3.0
    assert out["load_generator_cpu_ms_per_request"] > 0


def test_percentile_is_nearest_rank() -> None:
    xs = [float(i) for i in range(1, 101)]
    assert _pct(xs, 50) == 50.0
    assert _pct(xs, 99) == 99.0
    assert _pct(xs, 100) == 100.0
    assert _pct([7.0], 99) == 7.0
