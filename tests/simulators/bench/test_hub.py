"""What the sync benches read of the hub: through its CLI's JSON, not its tables."""

from __future__ import annotations

from simulators.bench.hub import parse_event_stats


def test_event_stats_answer_is_read_from_its_last_line() -> None:
    out = (
        "some warning on stdout\n"
        '{"total": 3, "distinct": 3, "nodes_with_gaps": 0, "lag_ms": [12.5, 40, 7]}\n'
    )
    lags, held = parse_event_stats(out)
    assert lags == [12.5, 40.0, 7.0]
    assert held == {"stored_total": 3.0, "stored_distinct": 3.0, "nodes_with_gaps": 0.0}
