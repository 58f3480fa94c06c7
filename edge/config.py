"""The node's TOML configuration, validated at start: unknown keys are errors.

A typo in a config file must stop the daemon with the key's name, not be
ignored until the day that setting matters.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from edge.errors import EdgeError
from edge.pins import pin_hash_problem
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


Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


def _usable_pin_hash(value: str) -> str:
    problem = pin_hash_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


#: A lead's PIN is kept as its salted hash (edge/pins.py: `guanjia edge hash-pin`), never
#: the PIN itself; an old unsalted SHA-256 is refused with what to do instead.
PinHash = Annotated[
    str, StringConstraints(min_length=10, max_length=500), AfterValidator(_usable_pin_hash)
]
#: Station kinds that have a runtime today (edge/node.py picks it by kind).
RUNNABLE_KINDS = ("demo", "pack", "pick", "stocktake", "inbound", "returns")


class StationSection(_Section):
    kind: Literal["pack", "pick", "stocktake", "inbound", "returns", "demo"] = "demo"
    name: NodeId = "station-1"
    #: Scans starting with this are operator keys (retry, abandon, lead PIN, count start),
    #: not barcodes; printed as a key card at the station (docs/deploy/README.md).
    command_prefix: Annotated[str, StringConstraints(min_length=1, max_length=8)] = "#GJ:"


class ScannerSection(_Section):
    """``line``: a TCP port that takes one barcode per line (tests, simulators, serial bridges)."""

    kind: Literal["line"] = "line"
    host: str = "127.0.0.1"
    port: Port = 0


class FeedbackSection(_Section):
    """Light and sound (edge/devices/lights.py): ``console`` prints; ``gpio`` and ``patterns``
    (an older name, still accepted) play the patterns on two LEDs and a buzzer."""

    kind: Literal["console", "gpio", "patterns"] = "console"
    green_pin: Pin = 17
    red_pin: Pin = 27
    buzzer_pin: Pin = 22
    #: Use gpiozero's mock pin factory (for a bench without GPIO).
    mock_pins: bool = False


class SyncSection(_Section):
    batch_events: Annotated[int, Field(ge=1, le=2000)] = 500
    batch_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = 512 * 1024
    #: Batches awaiting the cloud's ack. 8 × 500 events keeps the hub's group commit fed
    #: (``guanjia bench sync``: 4 left PostgreSQL under 20,000 events/s, 8 gave 25–30k).
    window: Annotated[int, Field(ge=1, le=64)] = 8
    retry_interval_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    #: How often the node republishes its retained status (backlog, oldest unacked age).
    status_interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    #: The sync watchdog's alarm when the uplink has been down this long (events waiting
    #: alarm sooner: after twice ``retry_interval_s`` without an ack).
    link_alarm_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    #: Delivered outbox rows deleted per transaction (0 keeps them all).
    prune_batch: Annotated[int, Field(ge=0, le=100_000)] = 5000


class ScaleSection(_Section):
    """The parcel scale on a serial line (edge/devices/scale.py)."""

    port: Annotated[str, StringConstraints(min_length=1)]
    protocol: Literal["mt-sics", "toledo"] = "mt-sics"
    baudrate: Annotated[int, Field(ge=300, le=921_600)] = 9600
    #: No answer / no frame for this long marks the scale down (the station shows FAULT).
    silence_timeout_s: Annotated[float, Field(gt=0, le=60)] = 1.0


class PrinterSection(_Section):
    """One courier's label printer (ZPL, raw TCP): one printer per courier (并行打单)."""

    name: Code
    courier: Code
    host: str
    port: Port = 9100
    status_timeout_s: Annotated[float, Field(gt=0, le=60)] = 2.0


class RfidSection(_Section):
    """An LLRP reader for RFID stocktakes (edge/devices/rfid.py)."""

    host: str
    port: Port = 5084
    antennas: Annotated[list[Annotated[int, Field(ge=1, le=64)]], Field(min_length=1)] = [1]


class PackSection(_Section):
    """Weight tolerance and timeouts of the pack station (edge/stations/pack.py)."""

    tolerance_abs_g: Annotated[int, Field(ge=0, le=100_000)] = 30
    tolerance_pct: Annotated[float, Field(ge=0, le=100)] = 5.0
    #: box type -> packaging grams.
    packaging_g: dict[Code, Annotated[int, Field(ge=0, le=100_000)]] = {}
    default_packaging_g: Annotated[int, Field(ge=0, le=100_000)] = 0
    #: Stable readings below this are an empty platform, not a parcel.
    min_weight_g: Annotated[int, Field(ge=0, le=100_000)] = 5
    duplicate_window_ms: Annotated[int, Field(ge=0, le=5000)] = 30
    weigh_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    printer_timeout_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    print_timeout_s: Annotated[float, Field(gt=0, le=600)] = 20.0
    #: How often a printer with a problem is asked again (the label prints once it is ready).
    printer_poll_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    #: With the uplink up, an order whose release has had no printable waybill this long (the
    #: hub's draw is slow or failing: a courier outage) takes a number of the offline pool,
    #: as with the uplink down (docs/channels.md "The pool with the uplink up"). The hub draws
    #: within seconds of the release and retries a failed draw after 30 s and 60 s, so two
    #: minutes is a failing draw, not a slow tick. ``pool_when_draw_late = false``: such an
    #: order waits for the hub's number.
    pool_when_draw_late: bool = True
    pool_late_draw_s: Annotated[float, Field(ge=0, le=86_400)] = 120.0
    operator: Code | None = None
    #: lead id -> the hash of the lead's PIN (weight overrides, reprints): `guanjia edge hash-pin`.
    leads: dict[Code, PinHash] = {}


class PickSection(_Section):
    """The pick station: a JSON API for PDAs on the LAN, served by the node daemon (docs/pick-api.md)."""

    #: Operators file (ids, PIN hashes, roles), relative to the config file.
    operators: Path
    host: str = "0.0.0.0"
    port: Port = 8710
    warehouse: Code | None = None
    #: The PDA pages' service worker (docs/pda.md "Offline on the LAN"): on for a node whose
    #: handhelds see it as a secure context (a managed browser policy, or HTTPS by a local CA).
    pda_service_worker: bool = False


class MetricsSection(_Section):
    """Prometheus metrics (edge/ops/metrics.py); port 0 turns the endpoint off."""

    host: str = "127.0.0.1"
    port: Port = 0


class StocktakeSection(_Section):
    warehouse: Code
    method: Literal["scanner", "rfid"] = "scanner"
    duplicate_window_ms: Annotated[int, Field(ge=0, le=5000)] = 30
    #: RFID: tags seen are handed to the station in batches this often.
    sweep_flush_s: Annotated[float, Field(gt=0, le=60)] = 0.5


class ReceiveSection(_Section):
    """The receiving station (``station.kind = "inbound"``, edge/stations/receive.py)."""

    #: The warehouse this dock receives for: a PO of another warehouse is refused.
    warehouse: Code
    #: Item labels: ``serial`` for serial-tracked units only, ``every_unit``, or ``off``.
    labels: Literal["serial", "every_unit", "off"] = "serial"
    #: The item label printer (ZPL, raw TCP) at the QC table.
    printer_host: str | None = None
    printer_port: Port = 9100
    printer_status_timeout_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    #: Putaway: an item up to this weight goes to the small-item zone (小商品区).
    small_item_max_g: Annotated[int, Field(ge=0, le=1_000_000)] = 300
    #: Putaway: released orders on this node waiting for this many units make a fast mover.
    fast_mover_min_units: Annotated[int, Field(ge=1, le=1_000_000)] = 5
    duplicate_window_ms: Annotated[int, Field(ge=0, le=5000)] = 30
    operator: Code | None = None


class ReturnsSection(_Section):
    """The returns station (``station.kind = "returns"``, edge/stations/returns.py)."""

    #: The warehouse this returns table receives for: a return to another is refused.
    warehouse: Code
    duplicate_window_ms: Annotated[int, Field(ge=0, le=5000)] = 30
    operator: Code | None = None


class EdgeConfig(_Section):
    node: NodeSection
    mqtt: MqttSection = MqttSection()
    station: StationSection = StationSection()
    scanner: ScannerSection = ScannerSection()
    feedback: FeedbackSection = FeedbackSection()
    sync: SyncSection = SyncSection()
    scale: ScaleSection | None = None
    printers: list[PrinterSection] = []
    rfid: RfidSection | None = None
    pack: PackSection = PackSection()
    stocktake: StocktakeSection | None = None
    receive: ReceiveSection | None = None
    returns: ReturnsSection | None = None
    pick: PickSection | None = None
    metrics: MetricsSection = MetricsSection()

    @model_validator(mode="after")
    def _station_has_its_devices(self) -> EdgeConfig:
        kind = self.station.kind
        if kind not in RUNNABLE_KINDS:
            raise ValueError(
                f"station.kind {kind!r} has no runtime yet (runnable: {', '.join(RUNNABLE_KINDS)})"
            )
        names = [p.name for p in self.printers]
        if len(set(names)) != len(names):
            raise ValueError("printers: two printers have the same name")
        couriers = [p.courier for p in self.printers]
        if len(set(couriers)) != len(couriers):
            raise ValueError("printers: one printer per courier (a courier is listed twice)")
        if kind == "pack":
            if self.scale is None:
                raise ValueError("a pack station needs a [scale] section")
            if not self.printers:
                raise ValueError("a pack station needs at least one [[printers]] entry")
        if kind == "pick" and self.pick is None:
            raise ValueError("a pick station needs a [pick] section (operators file)")
        if kind == "stocktake":
            if self.stocktake is None:
                raise ValueError("a stocktake station needs a [stocktake] section (warehouse)")
            if self.stocktake.method == "rfid" and self.rfid is None:
                raise ValueError("an RFID stocktake needs an [rfid] section")
        if kind == "inbound":
            if self.receive is None:
                raise ValueError("a receiving station needs a [receive] section (warehouse)")
            if self.receive.labels != "off" and self.receive.printer_host is None:
                raise ValueError('[receive] labels need printer_host (or labels = "off")')
        if kind == "returns" and self.returns is None:
            raise ValueError("a returns station needs a [returns] section (warehouse)")
        return self


class ConfigError(EdgeError):
    """The config file cannot be used; the message names the file and the key."""

    code = "config"


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
            key = ".".join(str(p) for p in e["loc"]) or "(config)"
            msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
            msg = msg.removeprefix("Value error, ")
            lines.append(f"  {key}: {msg}")
        raise ConfigError(f"{path}: invalid config\n" + "\n".join(lines)) from None
    if not config.node.data_dir.is_absolute():
        # Relative to the config file, so a unit file's working directory does not matter.
        data_dir = (path.parent / config.node.data_dir).resolve()
        config = config.model_copy(
            update={"node": config.node.model_copy(update={"data_dir": data_dir})}
        )
    if config.pick is not None and not config.pick.operators.is_absolute():
        operators = (path.parent / config.pick.operators).resolve()
        config = config.model_copy(
            update={"pick": config.pick.model_copy(update={"operators": operators})}
        )
    return config
