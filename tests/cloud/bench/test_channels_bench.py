"""``guanjia bench channels`` runs end to end at a small size (docs/benchmarks.md, Channels):
the simulator in its own process over a socket, a call quota low enough to be met, nothing
missed or doubled, every figure there."""

from __future__ import annotations

import os

import pytest

from cloud.bench.channels import bench_channels

URLS: list[str | None] = [None]
if os.environ.get("GUANJIA_TEST_DATABASE_URL"):
    URLS.append(os.environ["GUANJIA_TEST_DATABASE_URL"])


@pytest.mark.parametrize("url", URLS, ids=lambda u: "postgresql" if u else "sqlite")
def test_bench_channels_small(url: str | None) -> None:
    # On PostgreSQL the shops' downloads run in two hub processes (--processes, S33).
    r = bench_channels(
        url, orders=300, shop_count=3, rate=600, calls_per_s=4, lag_s=1.0, processes=bool(url)
    )
    assert r["orders_sold"] == 300 and r["shops"] == 3
    assert r["missed"] == 0 and r["duplicated"] == 0 and r["errors"] == []
    assert r["end_to_end_orders_per_s"] > 0 and r["raw_insert_orders_per_s"] > 0
    assert 0 < r["lag_p50_s"] <= r["lag_p99_s"] <= r["lag_max_s"]
    assert r["api_calls"] >= 3
    # Who used the cores over the download phase (S32): each part's CPU, the collector's time.
    assert r["phase_s"] > 0 and r["cpu_machine_s"] > 0
    assert {"cpu_hub_s", "cpu_simulator_s", "cpu_postgresql_s", "hub_gc_s"} <= r.keys()
    # The worker processes' CPU is counted in the hub's.
    assert r["worker_kind"] == ("processes" if url else "threads")
    assert r["cpu_hub_s"] > 0 and r["hub_cpu_ms_per_order"] > 0
