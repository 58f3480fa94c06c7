"""Waiting for a count on a shared, loaded machine, by a pace measured in the same run.

A fixed deadline ("5,000 commits in 60 s") measures the machine, not the code: at a load
average of 25 on 2 cores a node committed ~15 scans a second and the long-outage test
timed out before any fault was injected (issue 19, docs/chaos.md). :func:`wait_count`
instead measures how long the first ``baseline`` units take and allows the rest
``slowdown`` times that pace. What a deadline is for still fails: a pace that collapses
as the count grows (work per unit growing with the backlog), and no progress at all for
``stall_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_count(
    count: Callable[[], int],
    target: int,
    what: str,
    *,
    baseline: int,
    slowdown: float = 3.0,
    floor_s: float = 30.0,
    stall_s: float = 30.0,
    step_s: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Poll ``count()`` until it reaches ``target``; return the seconds it took.

    Fails (AssertionError, with the figures) when ``count`` stands still for ``stall_s``,
    or when ``target`` is not reached within ``slowdown`` times the time the pace of the
    first ``baseline`` units projects (at least ``floor_s``, so that a fast machine's
    jitter is no failure). Before ``baseline`` is reached only a stall fails.
    """
    if not 0 < baseline < target:
        raise ValueError(f"baseline must be in 1..{target - 1}, not {baseline}")
    t0 = moved = clock()
    last = count()
    deadline: float | None = None
    base_s = 0.0
    while last < target:
        sleep(step_s)
        now, n = clock(), count()
        if n != last:
            last, moved = n, now
        if deadline is None and last >= baseline:
            base_s = now - t0
            deadline = max(floor_s, slowdown * base_s * target / baseline)
        if now - moved > stall_s:
            raise AssertionError(f"{what}: stuck at {last} of {target} for {stall_s:.0f} s")
        if deadline is not None and now - t0 > deadline:
            raise AssertionError(
                f"{what}: {last} of {target} after {now - t0:.1f} s; the first {baseline} "
                f"took {base_s:.1f} s, so the pace allowed {deadline:.1f} s "
                f"({slowdown:g}x the projected {base_s * target / baseline:.1f} s)"
            )
    return clock() - t0
