"""Every request and response body of the API, in one place.

Most are defined here. A few request bodies are the domain's own input models (an order,
a SKU, a rule, a carrier, a warehouse, an order patch, a pick node): the domain validates
what it is given whoever calls it (the API, an import, the seed, a bench), so those are
defined beside the domain function that takes them and named here, so that this module
still lists every body the API accepts.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloud.catalogue.skus import SkuIn
from cloud.orders.audit_rules import CarrierIn, RuleIn
from cloud.orders.core import OrderIn, OrderPatch
from cloud.orders.release import PickNodeIn
from cloud.stock.warehouses import WarehouseIn
from protocol.messages import BinInfo, Code, NodeId, OrderId, SkuCode

__all__ = [  # the domain's input models, served as request bodies (see the module's note)
    "CarrierIn",
    "OrderIn",
    "OrderPatch",
    "PickNodeIn",
    "RuleIn",
    "SkuIn",
    "WarehouseIn",
]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]
    mqtt: Literal["connected", "disconnected", "disabled"]
    version: str
    #: Partitions of the nodes' events this process's ingest holds (docs/sync.md,
    #: "Partitions"); None without ingest.
    partitions: int | None = None


class NodeOut(BaseModel):
    node_id: str
    epoch: int
    acked_through: int
    down_head: int
    online: bool
    software: str | None
    first_seen: datetime
    last_seen: datetime
    last_seq: int | None
    backlog: int | None
    oldest_unacked_age_s: float | None
    alarm: str | None
    status_at: datetime | None
    sync_lag_ms: int | None
    devices: list[dict[str, Any]] | None = None


class NodeSampleOut(BaseModel):
    """A node's figures at one minute (cloud/nodes/history.py); ``None`` while offline."""

    at: datetime
    online: bool
    backlog: int | None
    oldest_unacked_age_s: float | None
    sync_lag_ms: int | None


class EventOut(BaseModel):
    node_id: str
    seq: int
    event_id: str
    epoch: int
    hlc: int
    type: str
    payload: dict[str, Any]
    received_at: datetime
    clock_suspect: bool


class RejectionOut(BaseModel):
    topic: str
    node_id: str | None
    reason: str
    size: int
    received_at: datetime


class ParkedOut(BaseModel):
    node_id: str
    seq: int
    reason: str
    raw: dict[str, Any]
    received_at: datetime


class IngestReport(BaseModel):
    """``GET /ingest``: one account's nodes only (cloud/api/nodes.py ``ingest_report``)."""

    connected: bool
    #: Unresolved parked events of the account's nodes.
    parked_total: int
    rejected_total: int
    rejected_by_reason: dict[str, int]
    recent_rejections: list[RejectionOut]
    parked_events: list[ParkedOut]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    scope: str
    expires_in: int


class MeOut(BaseModel):
    username: str
    #: The seller account's name, as login names it (its serial key is never exposed:
    #: it would tell how many sellers the hub has; issue 13, finding 3).
    account: str
    role: str
    scopes: list[str]


#: A username: ASCII, no ":" (login splits "account:user" at the last one, cloud/api/auth.py);
#: stored in lower case (cloud/auth.py normalise_username).
Username = Annotated[
    str, StringConstraints(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@\-]+$")
]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username
    password: Annotated[str, StringConstraints(min_length=8, max_length=200)]
    role: Literal["admin", "auditor", "warehouse_lead", "picker", "finance", "readonly"]


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["admin", "auditor", "warehouse_lead", "picker", "finance", "readonly"] | None = (
        None
    )
    active: bool | None = None
    password: Annotated[str, StringConstraints(min_length=8, max_length=200)] | None = None


class UserOut(BaseModel):
    #: The user's public id (random; cloud/db/models.py ``new_public_id``).
    id: str = Field(validation_alias="public_id")
    username: str
    role: str
    active: bool
    changed_by: str
    changed_at: datetime


class AccountIn(BaseModel):
    """A new seller account and its first admin (the platform operator's route)."""

    model_config = ConfigDict(extra="forbid")
    #: Named at login: no ":" (cloud/api/auth.py) and no control characters.
    name: Annotated[
        str, StringConstraints(min_length=2, max_length=120, pattern=r"^[^:\x00-\x1f\x7f]+$")
    ]
    admin_username: Username
    #: Left out: one is drawn and sent back once, in ``admin_password``.
    admin_password: Annotated[str, StringConstraints(min_length=8, max_length=200)] | None = None


class AccountOut(BaseModel):
    name: str
    admin_username: str
    #: Only when the hub drew it: shown this once, stored only as a hash.
    admin_password: str | None = None


class ImportReport(BaseModel):
    imported: int


class WarehouseOut(BaseModel):
    #: The warehouse's public id (random); the API names a warehouse by its code.
    id: str = Field(validation_alias="public_id")
    code: str
    name: str
    kind: str
    changed_by: str
    changed_at: datetime


class BinsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bins: list[BinInfo] = Field(min_length=1, max_length=2000)


class BinOut(BinInfo):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse: Code


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: As printed by ``guanjia node enroll``: 16 symbols, dashes and spaces ignored.
    code: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 -]+$")
    ]


class ClaimOut(BaseModel):
    node_id: str
    claimed_by: str
    claimed_at: datetime


class AssignmentOut(BaseModel):
    node_id: str
    warehouse: str
    changed_by: str
    changed_at: datetime


Qty = Annotated[int, Field(ge=1, le=1_000_000)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse: Code
    sku_code: SkuCode
    qty: Qty
    bin: Code | None = None
    po_number: Code | None = None
    reason: Reason = "receipt"


class InboundLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku_code: SkuCode
    qty: Qty


class PurchaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse: Code
    po_number: Code
    eta: date | None = None
    supplier: Annotated[str, StringConstraints(max_length=120)] | None = None
    lines: list[InboundLine] = Field(min_length=1, max_length=500)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_warehouse: Code
    to_warehouse: Code
    sku_code: SkuCode
    qty: Qty
    from_bin: Code | None = None
    to_bin: Code | None = None
    reason: Reason = "transfer"


class AdjustIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse: Code
    sku_code: SkuCode
    delta: Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
    reason: Reason
    bin: Code | None = None
    bucket: Literal["sellable", "damaged", "qc", "hold"] = "sellable"
    #: Let stock go negative (needs the stock:override scope; logged on the movement).
    override: bool = False


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason
    override: bool = False


class MovementOut(BaseModel):
    id: str
    #: The warehouse's code, as every request names it (never its serial key).
    warehouse: str
    sku_code: str
    kind: str
    bucket: str
    qty_delta: int
    reserved_delta: int
    bin_code: str | None
    bin_delta: int
    reason: str
    document: str
    actor: str
    created_at: datetime
    reverses_id: str | None
    event_key: str | None
    override: bool


class MovementRef(BaseModel):
    ids: list[str]


class OrderLineOut(BaseModel):
    line_id: str
    sku_code: str
    qty: int
    price_cents: int
    gift: bool


class DecisionOut(BaseModel):
    check: str
    outcome: str
    rule_key: str | None
    rule_version: int | None
    reason: str
    actor: str
    created_at: datetime


class LogOut(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    reason: str | None
    actor: str
    at: datetime


class OrderOut(BaseModel):
    order_no: str
    channel: str
    status: str
    on_hold: bool
    hold_reason: str | None
    warehouse: str
    carrier: str | None
    carrier_source: str | None
    buyer_nick: str
    recipient: dict[str, Any]
    buyer_remark: str | None
    seller_note: str | None
    buyer_carrier: str | None
    seller_carrier: str | None
    total_cents: int
    reserved: bool
    version: int
    tracking_number: str | None
    weighed_g: int | None
    merged_into: str | None
    split_from: str | None
    created_at: datetime
    changed_at: datetime
    changed_by: str
    lines: list[OrderLineOut] = Field(default_factory=list)


class OrderDetail(OrderOut):
    decisions: list[DecisionOut]
    history: list[LogOut]


class OrdersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    orders: list[OrderIn] = Field(min_length=1, max_length=1000)
    auto_audit: bool = True


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


class SplitLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_id: Code
    qty: Qty


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[SplitLine] = Field(min_length=1, max_length=500)


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_nos: list[OrderId] = Field(min_length=2, max_length=50)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[str, StringConstraints(max_length=300)] | None = None


class RuleOut(BaseModel):
    rule_key: str
    version: int
    kind: str
    name: str
    priority: int
    conditions: list[dict[str, Any]]
    action: dict[str, Any]
    active: bool
    superseded_at: datetime | None
    created_by: str
    created_at: datetime


class CarrierOut(BaseModel):
    code: str
    name: str
    cost_cents: int
    unreachable: list[str]
    changed_by: str
    changed_at: datetime


class TaskOut(BaseModel):
    #: The task's public id (random; cloud/db/models.py ``new_public_id``).
    id: str = Field(validation_alias="public_id")
    kind: str
    order_no: str | None
    node_id: str | None
    event_id: str | None
    detail: str
    status: str
    created_at: datetime
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolution: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    #: For a count variance: true books the adjustments, false books nothing.
    approve: bool | None = None


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Pick wave (batch) the order joins on the node.
    wave: (
        Annotated[
            str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
        ]
        | None
    ) = None
    #: The pick node that picks it (its pick lease); default: the hub chooses (docs/sync.md).
    pick_node: NodeId | None = None


#: A 商户号: 8 to 12 digits (WeChat Pay's merchant numbers).
Mchid = Annotated[str, StringConstraints(pattern=r"^\d{8,12}$")]
#: A PEM file's text (a 4096-bit private key is ~3.3 KB; a certificate chain a few KB).
Pem = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class WechatJobIn(BaseModel):
    """A merchant's daily WeChat Pay bill fetch (cloud/finance/wechat_jobs.py ``add_job``,
    as ``guanjia finance wechat add-job``): the keys are checked before anything is stored."""

    model_config = ConfigDict(extra="forbid")
    mchid: Mchid
    #: The merchant API certificate's serial number (证书序列号).
    serial_no: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    #: The merchant's API private key (apiclient_key.pem), PEM text.
    private_key: Pem
    #: WeChat Pay's public key (微信支付公钥) or its platform certificate, PEM text; empty:
    #: the hub downloads the platform certificates with ``api_v3_key``.
    platform_key: Annotated[str, StringConstraints(max_length=20_000)] = ""
    #: The merchant's APIv3 key (APIv3密钥, 32 characters), for the certificate download.
    api_v3_key: Annotated[str, StringConstraints(max_length=64)] = ""
    #: Its id (Wechatpay-Serial, ``PUB_KEY_ID_…``); empty: not checked.
    platform_serial: Annotated[str, StringConstraints(max_length=64)] = ""
    first_day: date
    api_url: Annotated[str, StringConstraints(min_length=1, max_length=300)] = (
        "https://api.mch.weixin.qq.com"
    )


class RefetchIn(BaseModel):
    """The day to fetch again: the job's cursor goes back to the day before it."""

    model_config = ConfigDict(extra="forbid")
    day: date
