"""Capped exponential backoff with full jitter, shared by every reconnect loop.

One schedule for the edge's device drivers and sync agent and the hub's ingest
worker (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015): the
n-th retry waits a delay drawn uniformly from ``[0, min(cap, base * 2**n)]``.
Full jitter keeps a fleet of nodes, or several hub workers, from reconnecting
in lockstep after a broker restart.

Sans-I/O like the rest of ``protocol``: it neither sleeps nor draws random
numbers itself. The caller passes the uniform draw (``random.random`` in
production, a fixed value in tests) and does the waiting.
"""

from __future__ import annotations

from collections.abc import Callable


class Backoff:
    """The delay before each retry; ``reset()`` after a success."""

    def __init__(self, rand: Callable[[], float], base: float = 0.1, cap: float = 30.0) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._rand = rand
        self.attempt = 0

    def ceiling(self) -> float:
        """The largest delay the next retry may draw."""
        return min(self.cap, self.base * (1 << min(self.attempt, 62)))

    def next_delay(self) -> float:
        ceiling = self.ceiling()
        self.attempt += 1
        return ceiling * self._rand()

    def reset(self) -> None:
        self.attempt = 0
