"""Scan-check station: judge each scanned barcode against the local catalogue.

Theory of operation
-------------------
The runtime reads a barcode, looks it up in the node's store and hands the
station a :class:`Scanned` event carrying what it found. The station answers
with commands, which the runtime executes in order: :class:`RecordScan` first
(a durable commit of the scan and its outbox event), then :class:`Show` (the
light and sound). So the operator never sees a verdict that a power cut could
take back. A device fault turns the station to FAULT, which shows the fault
pattern; scans are still judged and recorded there (the scanner evidently
works), and the fault clears when the device recovers.

This is the walking skeleton's station; the pack, pick and stocktake stations
follow the same shape and share its vocabulary (:mod:`edge.stations.common`:
:class:`Signal`, :class:`Show`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from edge.stations.common import Show, Signal, barcode_problem
from protocol.messages import ScanPayload


class State(enum.Enum):
    READY = "ready"
    FAULT = "fault"


# --- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scanned:
    barcode: str
    sku_code: str | None  # None: the barcode is not in the catalogue


@dataclass(frozen=True, slots=True)
class DeviceFault:
    device: str
    reason: str


@dataclass(frozen=True, slots=True)
class DeviceRecovered:
    device: str


Event = Scanned | DeviceFault | DeviceRecovered

# --- commands -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordScan:
    payload: ScanPayload


Command = RecordScan | Show


class ScanCheckStation:
    def __init__(self, station: str) -> None:
        self.station = station
        self.state = State.READY
        self.faults: set[str] = set()

    def handle(self, event: Event) -> list[Command]:
        handler = _TRANSITIONS.get((self.state, type(event)))
        if handler is None:  # pragma: no cover - the table covers every pair
            raise AssertionError(f"no transition for {type(event).__name__} in {self.state}")
        next_state, commands = handler(self, event)
        self.state = next_state
        return commands

    # --- handlers ---------------------------------------------------------------------

    def _scan(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, Scanned)
        problem = barcode_problem(event.barcode)
        if problem is not None:
            # Nothing to record: the read itself is broken. The operator rescans.
            return self.state, [Show(Signal.UNKNOWN, f"unreadable scan: {problem}")]
        known = event.sku_code is not None
        payload = ScanPayload(
            station=self.station,
            barcode=event.barcode,
            sku_code=event.sku_code,
            verdict="ok" if known else "unknown",
        )
        show = (
            Show(Signal.OK, f"{event.barcode} = {event.sku_code}")
            if known
            else Show(Signal.UNKNOWN, f"unknown barcode {event.barcode}")
        )
        return self.state, [RecordScan(payload), show]

    def _fault(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, DeviceFault)
        self.faults.add(event.device)
        return State.FAULT, [Show(Signal.FAULT, f"{event.device}: {event.reason}")]

    def _recover(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, DeviceRecovered)
        self.faults.discard(event.device)
        if self.faults:
            return State.FAULT, []
        return State.READY, [Show(Signal.CLEAR, f"{event.device} recovered")]

    def _ignore(self, event: Event) -> tuple[State, list[Command]]:
        return self.state, []


_Handler = Callable[[ScanCheckStation, Event], tuple[State, list[Command]]]

# (state, event) -> handler; the handler returns the next state and the commands.
_TRANSITIONS: dict[tuple[State, type], _Handler] = {
    (State.READY, Scanned): ScanCheckStation._scan,
    (State.READY, DeviceFault): ScanCheckStation._fault,
    (State.READY, DeviceRecovered): ScanCheckStation._ignore,
    (State.FAULT, Scanned): ScanCheckStation._scan,
    (State.FAULT, DeviceFault): ScanCheckStation._fault,
    (State.FAULT, DeviceRecovered): ScanCheckStation._recover,
}
