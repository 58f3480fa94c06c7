"""What every device driver shares: errors, health, and reconnect backoff.

A driver is a thin adapter (like a Home Assistant integration): one owner
object per device holds its state and availability, reconnects with capped,
jittered backoff, logs the first failure and the recovery once (not every
retry), and translates library errors into :class:`DeviceError` at the
boundary with ``raise ... from err``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class DeviceError(Exception):
    """A device failed or answered something we cannot use; says which and why."""

    def __init__(self, device: str, reason: str) -> None:
        super().__init__(f"{device}: {reason}")
        self.device = device
        self.reason = reason


class Backoff:
    """Capped exponential backoff with full jitter (AWS architecture blog, 2015).

    ``next_delay()`` returns a delay drawn uniformly from
    ``[0, min(cap, base * 2**attempt)]``; ``reset()`` after a success.
    Full jitter keeps a fleet of nodes from reconnecting in lockstep after a
    broker restart.
    """

    def __init__(
        self,
        base: float = 0.1,
        cap: float = 30.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._rand = rand
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (1 << min(self.attempt, 62)))
        self.attempt += 1
        return ceiling * self._rand()

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class DeviceHealth:
    """Availability of one device as the station and the cloud see it."""

    name: str
    kind: str
    connected: bool = False
    last_reading_at: float | None = None
    errors: int = 0
    last_error: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "connected": self.connected,
            "last_reading_at": self.last_reading_at,
            "errors": self.errors,
            "last_error": self.last_error,
            **self.extra,
        }


class AvailabilityLog:
    """Logs a device's first failure and its recovery once each, not every retry."""

    def __init__(self, health: DeviceHealth, logger: logging.Logger) -> None:
        self.health = health
        self._log = logger
        self._down_since: float | None = None

    def failed(self, reason: str, now: float | None = None) -> None:
        self.health.errors += 1
        self.health.last_error = reason
        if self.health.connected or self._down_since is None:
            self._log.warning("%s %s unavailable: %s", self.health.kind, self.health.name, reason)
            self._down_since = time.monotonic() if now is None else now
        self.health.connected = False

    def recovered(self, now: float | None = None) -> None:
        if self._down_since is not None:
            now = time.monotonic() if now is None else now
            self._log.info(
                "%s %s available again after %.1f s",
                self.health.kind,
                self.health.name,
                now - self._down_since,
            )
            self._down_since = None
        self.health.connected = True
