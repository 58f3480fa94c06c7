"""The receiving station's vocabulary: states, what the runtime looks up, events, records,
commands (the machine itself is :mod:`edge.stations.receive`)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from edge.stations.common import Log, Record, Show
from protocol.devices.zpl_item import ItemLabel
from protocol.messages import (
    BinInfo,
    PoReceivedPayload,
    PoRelease,
    ReceivedLine,
    TransferReceivedPayload,
)

QcVerdict = Literal["pass", "fail"]
LabelPolicy = Literal["serial", "every_unit", "off"]
#: Zones failed units may go to; the cloud books a pass into such a bin's bucket too.
QC_ZONES = ("damaged", "qc", "hold")
MAX_REASON_CHARS = 200
#: A receipt's fact holds at most 500 lines (one per SKU, verdict and reason) of which each
#: holds at most 10,000 serials (PoReceivedPayload, ReceivedLine): a unit that would go
#: beyond is refused at the dock.
MAX_GROUPS = 500
MAX_GROUP_SERIALS = 10_000


class State(enum.Enum):
    IDLE = "idle"  # no receipt open: scan a PO
    COUNTING = "counting"  # receipt open: item scans counted against the PO lines
    AWAIT_FAIL = "await_fail"  # FAIL keyed: the next item scanned fails QC
    PUTAWAY = "putaway"  # counting done: scan a bin for each group


# --- values the runtime looks up --------------------------------------------------------


Document = Literal["po", "transfer"]


@dataclass(frozen=True, slots=True)
class PoView:
    """The document a receipt counts against: a purchase order, or a transfer (调拨单)
    shown in a PO's shape (``transfer.release``: ordered = shipped, expected = allowed =
    still in transit, no tolerance; its status ``withdrawn`` reads as ``cancelled``)."""

    release: PoRelease
    #: sku -> units in receipts finished on this node that the release does not hold yet.
    pending: Mapping[str, int] = field(default_factory=dict)
    #: The warehouse's bins (for putaway suggestions).
    bins: Sequence[BinInfo] = ()
    document: Document = "po"
    #: A transfer's sending warehouse.
    origin: str | None = None

    @property
    def label(self) -> str:
        """How the operator's texts name it: "PO X" or "transfer X"."""
        word = "transfer" if self.document == "transfer" else "PO"
        return f"{word} {self.release.po_number}"


@dataclass(frozen=True, slots=True)
class ItemView:
    sku_code: str
    name: str
    #: Code 128 data for its label (the SKU code if ASCII, else a barcode), if any.
    label_code: str | None = None
    serial_tracked: bool = False
    weight_g: int | None = None
    #: Units released orders on this node wait for (fast-mover test).
    open_demand: int = 0
    #: Bins the node expects to hold this SKU already.
    stocked_bins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiveConfig:
    station: str
    node_id: str
    warehouse: str
    operator: str | None = None
    labels: LabelPolicy = "serial"
    small_item_max_g: int = 300
    fast_mover_min_units: int = 5
    duplicate_window_ms: int = 30


@dataclass(frozen=True, slots=True)
class Unit:
    sku_code: str
    verdict: QcVerdict
    reason: str | None = None
    serial: str | None = None


GroupKey = tuple[str, QcVerdict, str]  # (sku, verdict, reason or "")


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoScanned:
    barcode: str
    po: PoView | None
    at_ms: int = 0
    #: ``po`` None and the scan an ASN or waybill that several open POs carry: their numbers.
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemScanned:
    barcode: str
    item: ItemView | None
    serial: str | None = None  # GS1 AI (21) of the same scan
    at_ms: int = 0
    #: Another receipt of this node that counted ``serial`` on the same transfer and that
    #: the release does not hold yet (edge/runtimes/receive.py ``serial_taken``).
    taken: str | None = None


@dataclass(frozen=True, slots=True)
class BinScanned:
    barcode: str
    bin: BinInfo | None  # None: no bin of this warehouse has the code
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class QcFail:
    reason: str
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Finish:
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Abandon:
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Reprint:
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class LabelPrinted:
    job: int
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class PrintFailed:
    job: int
    problem: str
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class PoUpdated:
    """A newer release of the open PO arrived (closed or cancelled meanwhile, new figures)."""

    po: PoView
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Resumed:
    """The open receipt as the store kept it, handed over after a restart."""

    po: PoView
    receipt_id: str
    units: tuple[Unit, ...]
    items: Mapping[str, ItemView]
    putaway: bool
    placed: Mapping[GroupKey, str]
    at_ms: int = 0


Event = (
    PoScanned
    | ItemScanned
    | BinScanned
    | QcFail
    | Finish
    | Abandon
    | Reprint
    | LabelPrinted
    | PrintFailed
    | PoUpdated
    | Resumed
)
EVENT_TYPES: tuple[type, ...] = (
    PoScanned,
    ItemScanned,
    BinScanned,
    QcFail,
    Finish,
    Abandon,
    Reprint,
    LabelPrinted,
    PrintFailed,
    PoUpdated,
    Resumed,
)


# --- records (local state, committed before the light) and commands ----------------------


@dataclass(frozen=True, slots=True)
class ReceiptOpened:
    receipt_id: str
    number: int  # the receipt counter value it used
    po_number: str
    warehouse: str
    document: Document = "po"


@dataclass(frozen=True, slots=True)
class UnitCounted:
    receipt_id: str
    unit_no: int
    unit: Unit
    serial_no: int | None = None  # the serial counter value it used, if one was issued


@dataclass(frozen=True, slots=True)
class GroupPlaced:
    receipt_id: str
    key: GroupKey
    bin: str


@dataclass(frozen=True, slots=True)
class ReceiptStage:
    receipt_id: str
    stage: Literal["putaway", "finished", "abandoned"]


@dataclass(frozen=True, slots=True)
class PrintItem:
    job: int
    label: ItemLabel


Command = Record | Log | Show | PrintItem


# --- pure figures of a receipt -------------------------------------------------------------


def suggest_bin(
    bins: Sequence[BinInfo], item: ItemView | None, verdict: QcVerdict, cfg: ReceiveConfig
) -> BinInfo | None:
    """The putaway bin for a group (docs/stations.md "Receiving station"): QC fail to a
    damaged, QC or hold bin; a fast mover (released orders wait for it) to the 畅销区; a
    small item by weight to the 小商品区; else the 备货区. Within a zone a bin already
    holding the SKU, else the lowest walk order."""
    if verdict == "fail":
        zones: tuple[str, ...] = QC_ZONES
    elif item is not None and item.open_demand >= cfg.fast_mover_min_units:
        zones = ("fast_mover", "pick", "reserve")
    elif item is not None and item.weight_g is not None and item.weight_g <= cfg.small_item_max_g:
        zones = ("small_item", "pick", "reserve")
    else:
        zones = ("reserve", "pick")
    stocked = set(item.stocked_bins) if item is not None else set()
    for zone in zones:
        found = [b for b in bins if b.zone == zone]
        if found:
            return min(found, key=lambda b: (b.code not in stocked, b.walk_order, b.code))
    return None


def receipt_fact(
    po: PoView,
    receipt_id: str,
    cfg: ReceiveConfig,
    groups: Mapping[GroupKey, Sequence[Unit]],
    placed: Mapping[GroupKey, str],
) -> PoReceivedPayload | TransferReceivedPayload:
    """The finished receipt as the fact of its document (po.received / transfer.received)."""
    rel = po.release
    lines = [
        ReceivedLine(
            sku_code=sku,
            qty=len(units),
            verdict=verdict,
            reason=reason or None,
            bin=placed.get((sku, verdict, reason)),
            serials=[u.serial for u in units if u.serial is not None],
        )
        for (sku, verdict, reason), units in groups.items()
    ]
    common: dict[str, Any] = {
        "receipt_id": receipt_id,
        "warehouse": rel.warehouse,
        "station": cfg.station,
        "operator": cfg.operator,
        "lines": lines,
    }
    if po.document == "transfer":
        return TransferReceivedPayload(transfer_number=rel.po_number, **common)
    return PoReceivedPayload(po_number=rel.po_number, **common)
