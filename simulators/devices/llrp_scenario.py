"""Tag populations for the LLRP reader simulator: which tags, where, how often, how loud.

A scenario is a Python object (tests) or a JSON / TOML file::

    antennas = 4          # MaxNumberOfAntennaSupported the reader advertises
    round_ms = 50         # one simulated inventory round
    [[tags]]
    epc = "urn:epc:id:sgtin:0614141.812345.12345"   # or tag URI, or 24 hex digits
    antennas = [1, 2]
    read_rate_hz = 20     # singulations per second per antenna
    rssi_mean = -52.0     # dBm
    rssi_noise = 2.0      # dBm standard deviation
    arrive_s = 0.0        # simulated seconds since the simulator started
    depart_s = 5.0        # omit to stay forever

Times are *simulated* seconds: the clock advances one ``round_ms`` per
inventory round, so read counts do not depend on how busy the test machine is.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.devices.epc import parse_epc


@dataclass(slots=True)
class ScenarioTag:
    epc: str
    antennas: tuple[int, ...] = (1,)
    read_rate_hz: float = 10.0
    rssi_mean: float = -55.0
    rssi_noise: float = 2.0
    arrive_s: float = 0.0
    depart_s: float | None = None
    epc_bytes: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.epc_bytes = parse_epc(self.epc)
        self.antennas = tuple(int(a) for a in self.antennas)
        if self.read_rate_hz < 0:
            raise ValueError(f"tag {self.epc}: read_rate_hz must be >= 0")

    def present(self, t: float) -> bool:
        return t >= self.arrive_s and (self.depart_s is None or t < self.depart_s)


@dataclass(slots=True)
class Scenario:
    tags: list[ScenarioTag] = field(default_factory=list)
    antennas: int = 4
    round_ms: float = 50.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        tags = []
        for raw in data.get("tags", []):
            kw = dict(raw)
            if "antennas" in kw:
                kw["antennas"] = tuple(kw["antennas"])
            tags.append(ScenarioTag(**kw))
        return cls(
            tags=tags,
            antennas=int(data.get("antennas", 4)),
            round_ms=float(data.get("round_ms", 50.0)),
        )

    @classmethod
    def load(cls, path: Path) -> Scenario:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            return cls.from_dict(tomllib.loads(text))
        return cls.from_dict(json.loads(text))

    @classmethod
    def demo(cls) -> Scenario:
        """Three tags on two antennas; one leaves after 10 s."""
        return cls(
            tags=[
                ScenarioTag("urn:epc:id:sgtin:0614141.812345.12345", antennas=(1,)),
                ScenarioTag("urn:epc:id:sgtin:0614141.812345.12346", antennas=(1, 2)),
                ScenarioTag("urn:epc:id:sgtin:0614141.812345.12347", antennas=(2,), depart_s=10),
            ]
        )
