"""The node's TOML configuration, validated at start: unknown keys are errors.

A typo in a config file must stop the daemon with the key's name, not be
ignored until the day that setting matters.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from protocol.topics import NODE_ID_PATTERN

NodeId = Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]
Port = Annotated[int, Field(ge=0, le=65535)]
Pin = Annotated[int, Field(ge=0, le=40)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSection(_Section):
    id: NodeId
    data_dir: Path = Path("./guanjia-edge-data")


class MqttSection(_Section):
    host: str = "127.0.0.1"
    port: Port = 1883
    username: str | None = None
    password: str | None = None
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30


class StationSection(_Section):
    kind: Literal["pack", "pick", "stocktake", "inbound", "demo"] = "demo"
    name: NodeId = "station-1"


class ScannerSection(_Section):
    """``line``: a TCP port that takes one barcode per line (tests, simulators, serial bridges)."""

    kind: Literal["line"] = "line"
    host: str = "127.0.0.1"
    port: Port = 0


class FeedbackSection(_Section):
    kind: Literal["console", "gpio"] = "console"
    green_pin: Pin = 17
    red_pin: Pin = 27
    buzzer_pin: Pin = 22
    #: Use gpiozero's mock pin factory (for a bench without GPIO).
    mock_pins: bool = False


class SyncSection(_Section):
    batch_events: Annotated[int, Field(ge=1, le=2000)] = 500
    batch_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = 512 * 1024
    window: Annotated[int, Field(ge=1, le=64)] = 4
    retry_interval_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    #: How often the node republishes its retained status (backlog, oldest unacked age).
    status_interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    #: Delivered outbox rows deleted per transaction (0 keeps them all).
    prune_batch: Annotated[int, Field(ge=0, le=100_000)] = 5000


class EdgeConfig(_Section):
    node: NodeSection
    mqtt: MqttSection = MqttSection()
    station: StationSection = StationSection()
    scanner: ScannerSection = ScannerSection()
    feedback: FeedbackSection = FeedbackSection()
    sync: SyncSection = SyncSection()


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and the key."""


def load_config(path: Path) -> EdgeConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    try:
        config = EdgeConfig.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors(include_url=False):
            key = ".".join(str(p) for p in e["loc"])
            msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
            lines.append(f"  {key}: {msg}")
        raise ConfigError(f"{path}: invalid config\n" + "\n".join(lines)) from None
    if not config.node.data_dir.is_absolute():
        # Relative to the config file, so a unit file's working directory does not matter.
        data_dir = (path.parent / config.node.data_dir).resolve()
        config = config.model_copy(
            update={"node": config.node.model_copy(update={"data_dir": data_dir})}
        )
    return config
