"""The paced count wait of the fault tests (tests/support/pace.py), on a simulated clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.pace import wait_count


def _run(rate: Callable[[float], int], **kw: float) -> float:
    """``wait_count`` for 5,000 units counted by ``rate(t)``, on a clock only sleep moves."""
    t = [0.0]

    def sleep(s: float) -> None:
        t[0] += s

    return wait_count(
        lambda: rate(t[0]),
        5000,
        "scans",
        baseline=500,
        clock=lambda: t[0],
        sleep=sleep,
        step_s=0.5,
        **kw,
    )


def test_the_deadline_follows_the_pace_measured_in_the_run() -> None:
    # A loaded machine, 15 a second throughout: 333 s, far past a fixed 60 s, passes.
    assert 333 <= _run(lambda t: int(15 * t)) <= 335
    # A fast one passes too; its deadline is the floor (30 s), not 3x a fraction of a second.
    assert _run(lambda t: int(2000 * t)) <= 3
    # A pace that collapses as the count grows (each commit slower than the one before:
    # n ~ sqrt(t)) fails, with the figures.
    with pytest.raises(AssertionError, match=r"scans: \d+ of 5000 after .* the first 500 took"):
        _run(lambda t: int(200 * t**0.5))
    # No progress at all fails after the stall bound, even before the baseline.
    with pytest.raises(AssertionError, match="stuck at 120 of 5000 for 30 s"):
        _run(lambda t: min(120, int(50 * t)))
    with pytest.raises(ValueError, match="baseline"):
        wait_count(lambda: 0, 10, "x", baseline=10)
