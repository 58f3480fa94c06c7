"""Device health travels in the node's status: what the drivers know, the hub sees."""

from __future__ import annotations

import time
from typing import Any

from edge.devices.base import DeviceHealth
from edge.node import device_statuses
from edge.runtimes.common import StationRuntime
from protocol import codec
from protocol.messages import NodeState


class Runtime:
    def __init__(self, devices: list[DeviceHealth]) -> None:
        self._devices = devices

    def device_health(self) -> list[DeviceHealth]:
        return self._devices


def test_statuses_from_driver_health() -> None:
    scale = DeviceHealth("scale-1", "scale", connected=True, last_reading_at=time.time() - 2)
    printer = DeviceHealth("zebra-sf", "printer", connected=False, errors=3, last_error="paper out")
    got = device_statuses(Runtime([scale, printer]))  # type: ignore[arg-type]
    assert [(d.name, d.connected, d.errors, d.last_error) for d in got] == [
        ("scale-1", True, 0, None),
        ("zebra-sf", False, 3, "paper out"),
    ]
    assert got[0].last_reading_age_s is not None
    assert 1.5 < got[0].last_reading_age_s < 10
    state = NodeState(node="wh1-pack-1", online=True, devices=got)
    assert codec.decode(NodeState, codec.encode(state)) == state
    assert device_statuses(None) == []


def test_runtime_collects_its_drivers() -> None:
    class Fake:
        def __init__(self, name: str) -> None:
            self.health = DeviceHealth(name, "x")

    rt: Any = object.__new__(StationRuntime)
    rt.scale = Fake("scale")
    rt.printers = {"SF": Fake("p-sf"), "ZTO": Fake("p-zto")}
    assert [h.name for h in StationRuntime.device_health(rt)] == ["scale", "p-sf", "p-zto"]
