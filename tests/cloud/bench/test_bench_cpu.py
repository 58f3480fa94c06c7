"""Whose CPU the API bench counts (cloud/bench/cpu.py): the hub's PostgreSQL backends, found by
the name its connections carry, and nobody else's."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from cloud.bench.api import _cpu_per_request
from cloud.bench.cpu import CPU_LIMIT_MS_PER_REQUEST, BackendCpu, proc_cpu_s, tagged
from cloud.db.engine import make_engine

#: Enough work in a backend to show in /proc (clock ticks of 10 ms).
BUSY = "SELECT count(*) FROM generate_series(1, 3000000)"


def test_the_tagged_backends_cpu_is_counted_and_others_are_not(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite runs inside the hub: no backends")
    name = f"test-{uuid.uuid4().hex[:8]}"
    ours, theirs = make_engine(tagged(db_url, name)), make_engine(db_url)
    try:
        with ours.connect() as mine, theirs.connect() as other:
            pid = mine.execute(text("SELECT pg_backend_pid()")).scalar_one()
            if proc_cpu_s(pid) is None:
                pytest.skip("the PostgreSQL server's processes are not readable here")
            with BackendCpu(db_url, name, interval_s=0.05) as quiet:
                other.execute(text(BUSY))  # a backend not of ours: not counted
            with BackendCpu(db_url, name, interval_s=0.05) as busy:
                mine.execute(text(BUSY))
                mine.execute(text(BUSY))
        assert quiet.backends == 1 and busy.backends == 1
        assert quiet.cpu_s is not None and busy.cpu_s is not None
        assert quiet.cpu_s <= 0.02  # a tick or two of polling noise at most
        assert busy.cpu_s >= 0.1  # two counts of 3 million rows: well over 100 ms
    finally:
        ours.dispose()
        theirs.dispose()


def test_cpu_per_request_sums_the_hub_and_its_database_beside_the_limit() -> None:
    class Db:
        cpu_s = 0.9
        backends = 5

    report = {"requests": 1000, "unfinished": 100}
    out = _cpu_per_request(report, 2.7, Db(), 0.45)  # type: ignore[arg-type]
    # Per answered request (900): 3.0 ms in the hub, 1.0 in PostgreSQL, 0.5 in the load.
    assert out["server_cpu_ms_per_request"] == 3.0
    assert out["database_cpu_ms_per_request"] == 1.0
    assert out["server_and_database_cpu_ms_per_request"] == 4.0
    assert out["cpu_limit_ms_per_request"] == CPU_LIMIT_MS_PER_REQUEST == 3.0
    assert out["load_generator_cpu_ms_per_request"] == 0.5
    assert out["database_backends"] == 5
    # SQLite: the database's CPU is inside the hub's.
    sqlite = _cpu_per_request(report, 2.7, None, 0.45)
    assert sqlite["database_cpu_ms_per_request"] == 0.0
    assert sqlite["server_and_database_cpu_ms_per_request"] == 3.0
