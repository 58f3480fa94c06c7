"""``guanjia bench finance`` runs end to end at a small size (docs/benchmarks.md, Finance)."""

from __future__ import annotations

import os

import pytest

from cloud.bench.finance import bench_finance

URLS: list[str | None] = [None]
if os.environ.get("GUANJIA_TEST_DATABASE_URL"):
    URLS.append(os.environ["GUANJIA_TEST_DATABASE_URL"])


@pytest.mark.parametrize("url", URLS, ids=lambda u: "postgresql" if u else "sqlite")
def test_bench_finance_small(url: str | None) -> None:
    r = bench_finance(url, entries=60, batch=25, postings=400)
    assert r["entries"] == 60
    assert r["ledger_entries_per_s"] > 0 and r["raw_insert_entries_per_s"] > 0
    assert r["postings_in_books"] >= 400
    assert r["trial_balance_table_ms"] >= 0
