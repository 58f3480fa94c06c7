"""Typed MQTT messages (pydantic v2) and their envelope.

Every message carries ``v`` (the schema version) and the ``node`` it concerns.
Edge events travel in an :class:`EventEnvelope`; its ``type`` selects the
payload model (a discriminated union), so an unknown type or a payload that
does not fit is a clear validation error, never a silently stored dict.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from protocol.topics import NODE_ID_PATTERN

SCHEMA_VERSION: Final = 1


#: The ``v`` of every message: the integer 1, exactly (strict: in Python True == 1 and
#: 1.0 == 1, and a lax ``Literal[1]`` took ``"v": true`` and ``"v": 1.0`` as version 1;
#: issue 19, finding 6). Strict ints keep the typed-dict twin of the codec fast path.
SchemaVersion = Annotated[int, Field(strict=True, ge=SCHEMA_VERSION, le=SCHEMA_VERSION)]
#: Sequences are SQLite/PostgreSQL signed 64-bit integers, starting at 1.
MAX_SEQ: Final = 2**63 - 1
#: Upper bounds on one event batch; an edge never builds a larger one.
MAX_BATCH_EVENTS: Final = 2000
MAX_BATCH_BYTES: Final = 1024 * 1024

NodeId = Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]
Seq = Annotated[int, Field(ge=1, le=MAX_SEQ)]
Cursor = Annotated[int, Field(ge=0, le=MAX_SEQ)]  # "applied through": 0 means nothing yet
Epoch = Annotated[int, Field(ge=1, le=MAX_SEQ)]
Hlc = Annotated[int, Field(ge=0, le=2**63 - 1)]
# Printable text only: a control character in a barcode is a scanner fault, not data.
Barcode = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
SkuCode = Annotated[
    str, StringConstraints(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]+$")
]


def _none(value: list[str]) -> bool:
    """A list field added to a message later is left off the wire while empty, so a peer
    older than the field (``extra="forbid"``) still takes the message (docs/protocol.md)."""
    return not value


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- event payloads (edge -> cloud) -------------------------------------------------
#
# Edge events report facts (docs/sync.md, "Conflicts"): what was scanned, picked,
# packed, weighed, labelled, counted, each referencing the order version the node
# had. The cloud decides what a fact means for the order; a fact that conflicts
# with the cloud's state is accepted and becomes a task for a human.

OrderId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Code = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Qty = Annotated[int, Field(ge=0, le=1_000_000)]
Grams = Annotated[int, Field(ge=0, le=10_000_000)]
Version = Annotated[int, Field(ge=1, le=MAX_SEQ)]
StationKind = Literal["pack", "pick", "stocktake", "inbound", "returns", "demo"]


class ScanPayload(Message):
    """A barcode scanned at a station and the verdict the operator was shown."""

    station: NodeId
    barcode: Barcode
    sku_code: SkuCode | None = None
    verdict: Literal["ok", "unknown"]


class NodeStartedPayload(Message):
    """A node (re)started: its new epoch begins with this event."""

    software: Name
    station_kind: StationKind


class PickedLine(Message):
    line_id: Code
    sku_code: SkuCode
    qty: Qty
    bin: Code | None = None
    #: Picked fewer than asked (``qty`` is what was picked); flagged for a lead.
    short: bool = False
    #: Another SKU was picked in its place (``sku_code`` is what was picked).
    substitute_for: SkuCode | None = None
    #: The serials scanned at the pick, one per unit: only a transfer's pick of a
    #: serial-tracked SKU scans them (edge/stations/pick.py); an order's units are scanned
    #: at the pack station.
    serials: list[Barcode] = Field(default_factory=list, max_length=10_000, exclude_if=_none)


class OrderPickedPayload(Message):
    order_id: OrderId
    version: Version
    station: NodeId
    operator: Code | None = None
    lines: list[PickedLine] = Field(min_length=1, max_length=500)


class PackedItem(Message):
    line_id: Code
    sku_code: SkuCode
    qty: Qty
    serials: list[Barcode] = Field(default_factory=list, max_length=500)


class OrderPackedPayload(Message):
    """Every line of the order was scan-verified into the parcel."""

    order_id: OrderId
    version: Version
    station: NodeId
    operator: Code | None = None
    items: list[PackedItem] = Field(min_length=1, max_length=500)


class OrderWeighedPayload(Message):
    order_id: OrderId
    version: Version
    station: NodeId
    grams: Grams
    expected_grams: Grams
    within_tolerance: bool
    #: The lead who accepted a weight outside tolerance (by PIN), if any.
    override_by: Code | None = None


class OrderLabelledPayload(Message):
    order_id: OrderId
    version: Version
    station: NodeId
    carrier: Code
    tracking_number: Code
    printer: Code
    #: A lead's reprint (logged); the first print has ``reprint: false``.
    reprint: bool = False
    reprint_by: Code | None = None


class WaybillPoolUsedPayload(Message):
    """A number from the node's offline e-waybill pool went on an order's label: the order
    had no printable waybill and the uplink was down, or the hub's draw was late
    (docs/channels.md "The offline pool", "The pool with the uplink up").
    Recorded in the step that sends the label job, with the pool row marked used; the hub
    binds the number to the order once and refuses a number already on another order or
    given back by force (docs/channels.md "A node that never answers")."""

    order_id: OrderId
    version: Version
    station: NodeId
    carrier: Code
    waybill_code: Code


class WaybillPoolReleasedPayload(Message):
    """The node's answer to a ``waybill.pool_release`` (docs/channels.md "Giving numbers
    back"): ``released`` are gone from its pool for good (free ones removed, and ones it never
    had) in the transaction that applied the request, so it can never print them; ``used`` were
    already printed (their ``waybill.pool_used`` facts are earlier in the outbox). Only then
    does the hub cancel ``released`` at the courier."""

    carrier: Code
    release: Code
    released: list[Code] = Field(max_length=500)
    used: list[Code] = Field(default_factory=list, max_length=500)


class SerialLabelPrintedPayload(Message):
    """The node's report that it printed the item label a ``serial.label`` asked for
    (docs/inbound.md "The new serial's label"): written with the label's ``printed`` state in
    one transaction after the printer took the job, once per request. ``unconfirmed``: the
    node stopped after sending the job and before the printer confirmed it; it counts the
    label as printed and never prints it again by itself (a lead asks for a re-print)."""

    request: Code
    serial: Barcode
    sku_code: SkuCode
    printer: Code
    #: Strict: a lax bool takes "yes" and "off" as flags (JSON has true and false).
    reprint: Annotated[bool, Field(strict=True)] = False
    unconfirmed: Annotated[bool, Field(strict=True)] = False


class CountedLine(Message):
    bin: Code
    sku_code: SkuCode
    expected: Qty
    counted: Qty
    serials: list[Barcode] = Field(default_factory=list, max_length=10_000)


class StocktakeCountedPayload(Message):
    """A finished count: variances against the stock expected when the count started."""

    count_id: Code
    warehouse: Code
    method: Literal["scanner", "rfid"]
    scope: Literal["full", "partial"]
    station: NodeId
    lines: list[CountedLine] = Field(max_length=10_000)
    missed_bins: list[Code] = Field(default_factory=list, max_length=10_000)


ReceiptQty = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]


class ReceivedLine(Message):
    """Units of one SKU counted at the receiving station, with their QC verdict
    (pass: sellable; fail: the damaged bucket, with the reason)."""

    sku_code: SkuCode
    qty: ReceiptQty
    verdict: Literal["pass", "fail"]
    reason: Name | None = None
    #: The bin the units were put away in, if the station knows it yet.
    bin: Code | None = None
    serials: list[Barcode] = Field(default_factory=list, max_length=10_000)


class PoReceivedPayload(Message):
    """A receipt against a purchase order, made at a receiving station (入库质检).

    ``receipt_id`` is the station's natural key: the hub books a receipt id once, however
    often it arrives (docs/inbound.md "Receipts")."""

    receipt_id: Code
    po_number: Code
    warehouse: Code
    station: NodeId
    operator: Code | None = None
    lines: list[ReceivedLine] = Field(min_length=1, max_length=500)


LineNo = Annotated[int, Field(strict=True, ge=1, le=500)]


class ReturnedLine(Message):
    """What came back of one line of an after-sales request, as the returns table's QC
    found it: sellable (back on the shelf), damaged (售后坏品, with the reason), missing
    (asked back but not in the parcel). Plain fields only (event payloads have a typed-dict
    twin in protocol/codec.py, which takes no validators): that the units add up to the
    request line and that damaged ones have a reason is the hub's check, whose refusal
    becomes a task (cloud/facts/); the station never sends otherwise."""

    line_no: LineNo
    sku_code: SkuCode
    sellable: Qty = 0
    damaged: Qty = 0
    missing: Qty = 0
    reason: Name | None = None
    serials: list[Barcode] = Field(default_factory=list, max_length=10_000)


class ReturnReceivedPayload(Message):
    """A return received and QC'd at a returns station (售后收货), against the after-sales
    request the hub released (``return.release``). ``receipt_id`` is the station's natural
    key: the hub books it once however often it arrives (docs/inbound.md "Returns and
    exchanges")."""

    receipt_id: Code
    request: Code
    warehouse: Code
    station: NodeId
    operator: Code | None = None
    #: The return waybill scanned, if the parcel was found by it.
    return_waybill: Barcode | None = None
    lines: list[ReturnedLine] = Field(min_length=1, max_length=500)


class TransferReceivedPayload(Message):
    """Goods of a transfer (调拨单) received at a receiving station of the receiving
    warehouse, with QC per line. ``receipt_id`` is the station's natural key, as for
    ``po.received``: the hub books it once however often it arrives (docs/inbound.md
    "Transfers")."""

    receipt_id: Code
    transfer_number: Code
    warehouse: Code
    station: NodeId
    operator: Code | None = None
    lines: list[ReceivedLine] = Field(min_length=1, max_length=500)


class ShippedLine(Message):
    """Units of one line of a transfer picked at the sender and shipped: ``qty`` from
    ``bin`` (a line picked from two bins is two lines); ``short`` when the line's bins held
    fewer than the transfer asks (``qty`` is what was picked, possibly 0)."""

    line_no: LineNo
    sku_code: SkuCode
    qty: Qty
    bin: Code | None = None
    short: bool = False
    #: The serials of the units that left, scanned at the pick for a serial-tracked SKU
    #: (one per unit; the hub refuses more than ``qty`` or one twice).
    serials: list[Barcode] = Field(default_factory=list, max_length=10_000, exclude_if=_none)


class TransferShippedPayload(Message):
    """A transfer (调拨单) picked and shipped at a pick node of the sending warehouse
    (``transfer.outbound``): what left the building, per line and bin. ``shipment_id`` is
    the node's natural key: the hub books it once however often it arrives; ``shipment``
    the release's shipment number it answers (docs/inbound.md "Transfers")."""

    shipment_id: Code
    transfer_number: Code
    shipment: Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
    warehouse: Code
    station: NodeId
    operator: Code | None = None
    lines: list[ShippedLine] = Field(min_length=1, max_length=500)


class _EventBase(Message):
    v: SchemaVersion = SCHEMA_VERSION
    node: NodeId
    epoch: Epoch
    seq: Seq
    id: UUID
    hlc: Hlc


class ScanRecorded(_EventBase):
    type: Literal["scan.recorded"] = "scan.recorded"
    payload: ScanPayload


class NodeStarted(_EventBase):
    type: Literal["node.started"] = "node.started"
    payload: NodeStartedPayload


class OrderPicked(_EventBase):
    type: Literal["order.picked"] = "order.picked"
    payload: OrderPickedPayload


class OrderPacked(_EventBase):
    type: Literal["order.packed"] = "order.packed"
    payload: OrderPackedPayload


class OrderWeighed(_EventBase):
    type: Literal["order.weighed"] = "order.weighed"
    payload: OrderWeighedPayload


class OrderLabelled(_EventBase):
    type: Literal["order.labelled"] = "order.labelled"
    payload: OrderLabelledPayload


class WaybillPoolUsed(_EventBase):
    type: Literal["waybill.pool_used"] = "waybill.pool_used"
    payload: WaybillPoolUsedPayload


class WaybillPoolReleased(_EventBase):
    type: Literal["waybill.pool_released"] = "waybill.pool_released"
    payload: WaybillPoolReleasedPayload


class SerialLabelPrinted(_EventBase):
    type: Literal["serial.label_printed"] = "serial.label_printed"
    payload: SerialLabelPrintedPayload


class StocktakeCounted(_EventBase):
    type: Literal["stocktake.counted"] = "stocktake.counted"
    payload: StocktakeCountedPayload


class PoReceived(_EventBase):
    type: Literal["po.received"] = "po.received"
    payload: PoReceivedPayload


class ReturnReceived(_EventBase):
    type: Literal["return.received"] = "return.received"
    payload: ReturnReceivedPayload


class TransferReceived(_EventBase):
    type: Literal["transfer.received"] = "transfer.received"
    payload: TransferReceivedPayload


class TransferShipped(_EventBase):
    type: Literal["transfer.shipped"] = "transfer.shipped"
    payload: TransferShippedPayload


Event = (
    ScanRecorded
    | NodeStarted
    | OrderPicked
    | OrderPacked
    | OrderWeighed
    | OrderLabelled
    | WaybillPoolUsed
    | WaybillPoolReleased
    | SerialLabelPrinted
    | StocktakeCounted
    | PoReceived
    | ReturnReceived
    | TransferReceived
    | TransferShipped
)
EventEnvelope = Annotated[Event, Field(discriminator="type")]
EVENT_ADAPTER: Final[TypeAdapter[Event]] = TypeAdapter(EventEnvelope)
EVENT_TYPES: Final[dict[str, type[Event]]] = {
    "scan.recorded": ScanRecorded,
    "node.started": NodeStarted,
    "order.picked": OrderPicked,
    "order.packed": OrderPacked,
    "order.weighed": OrderWeighed,
    "order.labelled": OrderLabelled,
    "waybill.pool_used": WaybillPoolUsed,
    "waybill.pool_released": WaybillPoolReleased,
    "serial.label_printed": SerialLabelPrinted,
    "stocktake.counted": StocktakeCounted,
    "po.received": PoReceived,
    "return.received": ReturnReceived,
    "transfer.received": TransferReceived,
    "transfer.shipped": TransferShipped,
}


# --- cloud -> edge ----------------------------------------------------------------------


class Ack(Message):
    """Cumulative acknowledgement: the cloud has durably applied ``1..acked_through``.

    ``resend_from`` asks the edge to send again from that seq (a gap was seen).
    ``parked`` lists seqs that were malformed and parked for review (they count
    as applied so the stream behind them flows).
    """

    v: SchemaVersion = SCHEMA_VERSION
    node: NodeId
    acked_through: Cursor
    resend_from: Seq | None = None
    parked: list[Seq] = Field(default_factory=list, max_length=MAX_BATCH_EVENTS)


class BundleComponent(Message):
    sku_code: SkuCode
    qty: Annotated[int, Field(ge=1, le=1000)]


class CatalogueUpsert(Message):
    """A SKU as stations need it. Optional fields default to "not a bundle, no serials"."""

    sku_code: SkuCode
    name: Name
    barcodes: list[Barcode] = Field(min_length=1, max_length=32)
    weight_g: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    #: GTIN-14 for RFID (SGTIN-96 EPC -> SKU) and GS1 barcodes.
    gtin: Annotated[str, StringConstraints(pattern=r"^[0-9]{14}$")] | None = None
    serial_tracked: bool = False
    #: Selling the bundle consumes each component; packing accepts either form.
    components: list[BundleComponent] = Field(default_factory=list, max_length=50)


class CatalogueRemove(Message):
    """A SKU the hub deleted from its catalogue (only one nothing referred to: a code typed
    by mistake): the node drops it and its barcodes, so a scan of them is unknown again."""

    sku_code: SkuCode


class Recipient(Message):
    name: Name
    phone: Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=r"^[0-9+\- ]+$")]
    province: Name
    city: Name
    district: Name | None = None
    address: Name


class OrderLine(Message):
    line_id: Code
    sku_code: SkuCode
    qty: Annotated[int, Field(ge=1, le=100_000)]
    gift: bool = False


class OrderRelease(Message):
    """An audited order released to this node's warehouse, at ``version``.

    A later version replaces an earlier one; ``status`` ``cancelled`` or
    ``on_hold`` means "do not ship" (the pack station shows red, long tone).
    """

    order_id: OrderId
    version: Version
    status: Literal["released", "on_hold", "cancelled"] = "released"
    status_reason: Name | None = None
    carrier: Code
    waybill: Code | None = None
    #: The courier's route code and sorting centre for the waybill (e-waybills: from the
    #: courier's print data), printed big on the label; ``None`` for the stand-in numbers.
    waybill_route: Name | None = None
    box_type: Code | None = None
    recipient: Recipient
    lines: list[OrderLine] = Field(min_length=1, max_length=500)
    #: Pick wave this order belongs to, if the hub batched it.
    wave: Code | None = None
    #: The one pick node that may pick this order (its pick lease); every other node of the
    #: warehouse packs it but never offers it for picking. ``None``: leased to no node yet.
    pick_node: NodeId | None = None


class BinInfo(Message):
    code: Code
    zone: Literal[
        "pick", "reserve", "shipping", "qc", "fast_mover", "small_item", "hold", "damaged"
    ]
    x: float
    y: float
    walk_order: Annotated[int, Field(ge=0, le=10_000_000)]
    barcode: Barcode | None = None


class BinsUpsert(Message):
    warehouse: Code
    bins: list[BinInfo] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class StockLevel(Message):
    bin: Code
    sku_code: SkuCode
    qty: Qty


class StockExpected(Message):
    """Expected stock per bin (for stocktake); replaces what the node had for these bins."""

    warehouse: Code
    bins: list[Code] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)
    levels: list[StockLevel] = Field(max_length=10_000)


class PoReleaseLine(Message):
    """A line the station counts against: ``expected`` is what is still to come, ``allowed``
    the most it may still take (the PO's over-receipt tolerance included)."""

    sku_code: SkuCode
    name: Name | None = None
    barcodes: list[Barcode] = Field(default_factory=list, max_length=32)
    ordered: Qty
    received: Qty
    expected: Qty
    allowed: Qty
    #: A transfer's line only (``transfer.release``): the serials of the units in transit,
    #: when the sender's pick scanned every one of them (``transfer.shipped``); the station
    #: then takes only these serials. Empty: not checked (a PO, a hub shipment, a SKU that is
    #: not serial-tracked).
    serials: list[Barcode] = Field(default_factory=list, max_length=10_000, exclude_if=_none)


class PoRelease(Message):
    """A purchase order released to the nodes of its receiving warehouse (docs/inbound.md).

    A later release of the same PO replaces the earlier one; ``status`` other than
    ``open`` means "receive nothing more against it" (closed, cancelled or fully received)."""

    po_number: Code
    warehouse: Code
    status: Literal["open", "closed", "cancelled", "received"]
    supplier: Name | None = None
    #: ISO date (YYYY-MM-DD); protocol/ takes no clock or date type.
    eta: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] | None = None
    #: Over/under-receipt tolerance in percent, as decimal text ("5", "2.5").
    tolerance_pct: Annotated[
        str, StringConstraints(pattern=r"^(100(\.0{1,2})?|[0-9]{1,2}(\.[0-9]{1,2})?)$")
    ] = "0"
    lines: list[PoReleaseLine] = Field(min_length=1, max_length=500)
    #: References of the deliveries announced for this PO: the supplier's ASN numbers
    #: (发货单号) and the couriers' waybills (运单号). The receiving station opens the PO
    #: when one of them is scanned instead of its number (docs/inbound.md "ASN scan").
    #: Messages forbid unknown fields: upgrade the edge nodes before the hub (docs/protocol.md).
    delivery_refs: list[Barcode] = Field(default_factory=list, max_length=32)


class ReturnReleaseLine(Message):
    """A line of an approved after-sales request: the units the buyer sends back."""

    line_no: LineNo
    sku_code: SkuCode
    name: Name | None = None
    barcodes: list[Barcode] = Field(default_factory=list, max_length=32)
    qty: Annotated[int, Field(strict=True, ge=1, le=1_000_000)]


class ReturnRelease(Message):
    """An approved after-sales request released to the nodes of the warehouse the goods
    come back to (docs/inbound.md "Returns and exchanges"). A later release of the same
    request replaces the earlier one; ``status`` other than ``open`` means "receive
    nothing against it" (received already, closed, or rejected after all)."""

    request: Code
    order_id: OrderId
    warehouse: Code
    kind: Literal["return", "exchange"]
    status: Literal["open", "received", "closed"]
    #: The buyer's return waybill if known, and the outbound waybill of the order: the
    #: returns table finds the request by either, or by the order number.
    return_waybill: Barcode | None = None
    tracking_number: Barcode | None = None
    lines: list[ReturnReleaseLine] = Field(min_length=1, max_length=500)


class TransferRelease(Message):
    """A shipped transfer released to the nodes of its receiving warehouse: the station
    receives it by scanning its number, like a PO. Each line's ``ordered`` is what was
    shipped, ``expected`` and ``allowed`` what is still in transit (a transfer has no
    over-receipt tolerance: more than was shipped cannot arrive). A later release replaces
    the earlier one; ``status`` other than ``open`` means "receive nothing more": all of
    it ``received``, or ``withdrawn`` (its shipment taken back at the sender, 冲销出库)."""

    transfer_number: Code
    warehouse: Code
    from_warehouse: Code
    status: Literal["open", "received", "withdrawn"]
    lines: list[PoReleaseLine] = Field(min_length=1, max_length=500)


class WaybillPoolTopUp(Message):
    """Pre-drawn e-waybill numbers of one courier for this node's offline pool: the pack
    station prints one of them when an order has no waybill and the uplink is down. Each
    top-up adds numbers; a number already in the pool is kept as it is. ``batch`` is the
    hub's id of it: when numbers of a batch are used the hub sends the batch again with those
    left (none, once all are used), superseding the first, so a node that resyncs from the
    compacted downlink never gets a used number back."""

    carrier: Code
    batch: Code
    waybills: list[Code] = Field(max_length=500)


class WaybillPoolRelease(Message):
    """The hub asks for these unused numbers of the node's pool back (the pool's target was
    lowered, or the node is retired). The node removes the free ones from its pool and answers
    ``waybill.pool_released`` in the same transaction; the hub cancels them at the courier only
    after that answer, so a number the hub gives back is never printed. ``release`` is the
    hub's id of the request (a repeated request is answered again, changing nothing)."""

    carrier: Code
    release: Code
    waybills: list[Code] = Field(min_length=1, max_length=500)


class TransferOutboundLine(Message):
    line_no: LineNo
    sku_code: SkuCode
    qty: Annotated[int, Field(strict=True, ge=1, le=1_000_000)]


class TransferOutbound(Message):
    """An audited transfer (出库审核 done) released to the nodes of its sending warehouse:
    ``pick_node`` picks its lines (from ``from_bin`` if the transfer names one) and reports
    ``transfer.shipped`` for ``shipment``. A later release replaces the earlier one;
    ``status`` other than ``open`` means "pick and ship nothing of it": ``shipped`` (by the
    hub or a node) or ``withdrawn`` (cancelled). After a 冲销出库 it is ``open`` again with
    the next shipment number, and so it is when a lead asks for the rest of a shipment
    picked short: then each line's ``qty`` is what is left of it to ship, lines shipped
    whole left out (docs/inbound.md "Transfers")."""

    transfer_number: Code
    warehouse: Code
    to_warehouse: Code
    status: Literal["open", "shipped", "withdrawn"]
    shipment: Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
    from_bin: Code | None = None
    #: The one pick node that may pick it; ``None``: the hub knows no pick node there.
    pick_node: NodeId | None = None
    lines: list[TransferOutboundLine] = Field(min_length=1, max_length=500)


class SerialLabel(Message):
    """The hub asks the node to print the item label of a unit whose serial it issued
    (``HUB-S<counter>``, a serial seen twice and resolved: docs/inbound.md "The new
    serial's label"), as the receiving station prints one (protocol/devices/zpl_item.py):
    the SKU and its Code 128 barcode, and the serial. ``request`` is the hub's id of the
    request: applied again, it prints nothing more; a lead's re-print after a printed label
    is a new request with ``reprint: true``."""

    request: Code
    serial: Barcode
    sku_code: SkuCode
    name: Name | None = None
    barcodes: list[Barcode] = Field(default_factory=list, max_length=32)
    warehouse: Code
    #: The receipt the unit came in with, and the serial it carried (to find the unit).
    receipt: Code | None = None
    replaces: Barcode | None = None
    reprint: Annotated[bool, Field(strict=True)] = False


class _ChangeBase(Message):
    seq: Seq


class CatalogueUpserted(_ChangeBase):
    type: Literal["catalogue.upsert"] = "catalogue.upsert"
    payload: CatalogueUpsert


class CatalogueRemoved(_ChangeBase):
    type: Literal["catalogue.remove"] = "catalogue.remove"
    payload: CatalogueRemove


class OrderReleased(_ChangeBase):
    type: Literal["order.release"] = "order.release"
    payload: OrderRelease


class BinsUpserted(_ChangeBase):
    type: Literal["bins.upsert"] = "bins.upsert"
    payload: BinsUpsert


class StockExpectedSet(_ChangeBase):
    type: Literal["stock.expected"] = "stock.expected"
    payload: StockExpected


class PoReleased(_ChangeBase):
    type: Literal["po.release"] = "po.release"
    payload: PoRelease


class ReturnReleased(_ChangeBase):
    type: Literal["return.release"] = "return.release"
    payload: ReturnRelease


class TransferReleased(_ChangeBase):
    type: Literal["transfer.release"] = "transfer.release"
    payload: TransferRelease


class WaybillPoolToppedUp(_ChangeBase):
    type: Literal["waybill.pool"] = "waybill.pool"
    payload: WaybillPoolTopUp


class WaybillPoolReleaseAsked(_ChangeBase):
    type: Literal["waybill.pool_release"] = "waybill.pool_release"
    payload: WaybillPoolRelease


class TransferOutboundReleased(_ChangeBase):
    type: Literal["transfer.outbound"] = "transfer.outbound"
    payload: TransferOutbound


class SerialLabelAsked(_ChangeBase):
    type: Literal["serial.label"] = "serial.label"
    payload: SerialLabel


Change = (
    CatalogueUpserted
    | OrderReleased
    | BinsUpserted
    | StockExpectedSet
    | PoReleased
    | ReturnReleased
    | TransferReleased
    | WaybillPoolToppedUp
    | WaybillPoolReleaseAsked
    | TransferOutboundReleased
    | SerialLabelAsked
    | CatalogueRemoved
)
DownChange = Annotated[Change, Field(discriminator="type")]
CHANGE_ADAPTER: Final[TypeAdapter[Change]] = TypeAdapter(DownChange)
CHANGE_TYPES: Final[dict[str, type[Change]]] = {
    "catalogue.upsert": CatalogueUpserted,
    "order.release": OrderReleased,
    "bins.upsert": BinsUpserted,
    "stock.expected": StockExpectedSet,
    "po.release": PoReleased,
    "return.release": ReturnReleased,
    "transfer.release": TransferReleased,
    "waybill.pool": WaybillPoolToppedUp,
    "waybill.pool_release": WaybillPoolReleaseAsked,
    "transfer.outbound": TransferOutboundReleased,
    "serial.label": SerialLabelAsked,
    "catalogue.remove": CatalogueRemoved,
}


class DownBatch(Message):
    """Changes for one node, in its downlink sequence; ``head`` is the newest seq the cloud has.

    ``after``: the changes continue the log right after this seq. The cloud
    compacts a node's log by dropping changes superseded by a later change of
    the same key (a SKU, an order, a set of bins), so seqs inside a batch may
    skip; ``after`` says the skipped ones were superseded, not lost. Without
    ``after`` the changes must be contiguous.
    """

    v: SchemaVersion = SCHEMA_VERSION
    node: NodeId
    changes: list[DownChange] = Field(max_length=MAX_BATCH_EVENTS)
    head: Cursor
    after: Cursor | None = None


class Pull(Message):
    """Edge -> cloud: send me downlink changes after ``after`` (my ``last_applied``)."""

    v: SchemaVersion = SCHEMA_VERSION
    node: NodeId
    after: Cursor


class DeviceStatus(Message):
    """One device of a node as its driver sees it (edge/devices/base.py DeviceHealth)."""

    name: Code
    kind: Code
    connected: bool
    errors: Annotated[int, Field(ge=0)] = 0
    last_error: Annotated[str, StringConstraints(max_length=300)] | None = None
    last_reading_age_s: Annotated[float, Field(ge=0)] | None = None


class NodeState(Message):
    """Retained presence: the birth message, periodic status, and the last will (``online: false``).

    The sync figures let the hub show, per node, how far behind it is without
    waiting for the events themselves: ``backlog`` events not yet acked, the
    age of the oldest of them, and an ``alarm`` when the node sees no progress.
    """

    v: SchemaVersion = SCHEMA_VERSION
    node: NodeId
    online: bool
    epoch: Epoch | None = None
    software: Name | None = None
    last_seq: Cursor | None = None
    acked_through: Cursor | None = None
    backlog: Cursor | None = None
    oldest_unacked_age_s: Annotated[float, Field(ge=0)] | None = None
    alarm: Annotated[str, StringConstraints(max_length=300)] | None = None
    devices: list[DeviceStatus] = Field(default_factory=list, max_length=64)


class HubState(Message):
    """Retained by the cloud on ``guanjia/v1/hub/state``; edges drain only while it is online."""

    v: SchemaVersion = SCHEMA_VERSION
    online: bool


#: The event class that carries each payload class (to build an event from its payload).
PAYLOAD_EVENTS: Final[dict[type[Message], type[Event]]] = {
    cls.model_fields["payload"].annotation: cls  # type: ignore[misc]
    for cls in EVENT_TYPES.values()
}


def dump(msg: Message) -> dict[str, Any]:
    return msg.model_dump(mode="json")
