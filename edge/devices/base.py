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
from dataclasses import dataclass, field

from edge.errors import EdgeError
from protocol.backoff import Backoff


class DeviceError(EdgeError):
    """A device failed or answered something we cannot use; says which and why."""

    code = "device"

    def __init__(self, device: str, reason: str) -> None:
        super().__init__(f"{device}: {reason}")
        self.device = device
        self.reason = reason


def reconnect_backoff(base: float = 0.1, cap: float = 30.0) -> Backoff:
    """A driver's reconnect schedule: the shared one, drawing its jitter from ``random``."""
    return Backoff(random.random, base=base, cap=cap)


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
