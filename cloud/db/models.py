"""SQLAlchemy 2 tables of the hub. Schema changes go through Alembic (cloud/migrations)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back aware, in UTC.

    PostgreSQL's ``timestamptz`` keeps the zone; SQLite's text storage drops it, and a naive
    value read back is not an RFC 3339 ``date-time`` (the API's OpenAPI format), nor comparable
    with the aware ``now`` the domain uses. Values are stored as UTC on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def new_public_id() -> str:
    """A random 122-bit id (UUID version 4) as text: what the API shows instead of a counter.

    Serial keys stay the tables' own (joins, foreign keys); a counter in a URL or a body
    tells anyone how many users, tasks or warehouses the whole hub made between two of
    theirs, other sellers' included (OWASP API Security Top 10 2023, API1; OWASP WSTG
    4.5.4 "Testing for Insecure Direct Object References").
    """
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's documented form
        int: BigInteger,
        dict[str, Any]: JSON,
        datetime: UtcDateTime(),
    }


class Node(Base):
    """An edge node as the hub knows it: its cursor upstream and its presence."""

    __tablename__ = "node"
    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[int] = mapped_column(default=0)
    acked_through: Mapped[int] = mapped_column(default=0)
    down_head: Mapped[int] = mapped_column(default=0)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    software: Mapped[str | None] = mapped_column(String(200))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    # As the node last reported them in its retained status (NodeState).
    last_seq: Mapped[int | None]
    backlog: Mapped[int | None]
    oldest_unacked_age_s: Mapped[float | None] = mapped_column(Float)
    alarm: Mapped[str | None] = mapped_column(String(300))
    status_at: Mapped[datetime | None]
    #: Creation (HLC) to cloud commit of the newest event applied, when the node's clock is sane.
    sync_lag_ms: Mapped[int | None]
    #: Each device's health as the node last reported it (NodeState.devices).
    devices: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: When the newest :class:`NodeSample` was taken (cloud/nodes/history.py): read from the
    #: row the status update loads anyway, so a status costs no extra query to know whether
    #: a minute has passed.
    sampled_at: Mapped[datetime | None]


class NodeSample(Base):
    """A node's backlog, oldest unacked age and lag at one minute (cloud/nodes/history.py).

    At most one per node per minute (the key), pruned beyond a retention."""

    __tablename__ = "node_sample"
    node_id: Mapped[str] = mapped_column(
        ForeignKey("node.node_id", ondelete="CASCADE"), primary_key=True
    )
    #: The minute (UTC, seconds zero) the sample stands for.
    at: Mapped[datetime] = mapped_column(primary_key=True)
    online: Mapped[bool] = mapped_column(Boolean)
    backlog: Mapped[int | None]
    oldest_unacked_age_s: Mapped[float | None] = mapped_column(Float)
    sync_lag_ms: Mapped[int | None]


class Event(Base):
    """Every edge event applied, exactly once per (node, seq)."""

    __tablename__ = "event"
    node_id: Mapped[str] = mapped_column(ForeignKey("node.node_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    epoch: Mapped[int]
    hlc: Mapped[int]
    type: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    #: The node's clock was far from the hub's when it wrote this event.
    clock_suspect: Mapped[bool] = mapped_column(Boolean, default=False)


class ParkedEvent(Base):
    """An event whose place in the stream is known but whose content is bad: kept for review."""

    __tablename__ = "parked_event"
    node_id: Mapped[str] = mapped_column(ForeignKey("node.node_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    raw: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class IngestRejection(Base):
    """A message on an ingest topic that could not be placed at all (counted, never silent)."""

    __tablename__ = "ingest_rejection"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(300))
    node_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    size: Mapped[int]
    received_at: Mapped[datetime]


class Downlink(Base):
    """Changes for one node in its own downlink sequence (cloud -> edge)."""

    __tablename__ = "downlink"
    __table_args__ = (Index("ix_downlink_node_key", "node_id", "key", "seq"),)
    node_id: Mapped[str] = mapped_column(ForeignKey("node.node_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    #: What the change is about (a SKU, an order, a set of bins): a later change with the
    #: same key supersedes it, so compaction may drop it (docs/sync.md, "Compaction").
    key: Mapped[str] = mapped_column(String(300), default="")
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


# --- tenancy, users -------------------------------------------------------------------
#
# Every business row below belongs to exactly one seller account (``account_id``); the
# domain modules take the caller's account and never read across it.


class Account(Base):
    """A seller account (the tenant)."""

    __tablename__ = "account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime]
    #: Counts the changes of the account's audit rules and carriers (migration 0061): a hub
    #: process keeps them loaded while this is unchanged (cloud/orders/rule_cache.py).
    rules_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class User(Base):
    """A user of one seller account. The name is unique in its account only and stored in
    lower case (cloud/accounts.py ``normalise_username``): "Admin" and "admin" are one user,
    and two sellers may each have an "admin". Login names the account (cloud/api/auth.py)."""

    __tablename__ = "app_user"
    __table_args__ = (
        UniqueConstraint("account_id", "username", name="uq_app_user_account_username"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(
        String(36), unique=True, index=True, default=new_public_id
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: In every token as the claim ``ver``; bumped when the user is disabled, changes role or
    #: password, which revokes every token issued before (cloud/auth.py ``TokenVersions``).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]


# --- warehouses ----------------------------------------------------------------------


class Warehouse(Base):
    __tablename__ = "warehouse"
    __table_args__ = (UniqueConstraint("account_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(
        String(36), unique=True, index=True, default=new_public_id
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    #: main, damaged (售后坏品仓) or component (半成品仓).
    kind: Mapped[str] = mapped_column(String(16), default="main")
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]


class Bin(Base):
    __tablename__ = "bin"
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    zone: Mapped[str] = mapped_column(String(16))
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    walk_order: Mapped[int]
    barcode: Mapped[str | None] = mapped_column(String(128))
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]


class NodeAssignment(Base):
    """Which account and warehouse an edge node serves (its downlink carries theirs)."""

    __tablename__ = "node_assignment"
    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), index=True)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]


class NodeOwner(Base):
    """The seller account an edge node belongs to (cloud/nodes/ownership.py).

    Written by enrollment (``guanjia node enroll NODE --account NAME``), by a claim with the
    node's one-time code, or by the platform's ``guanjia node transfer``; never by a seller
    naming a node id. ``account_id`` is null while the node waits for its claim code.
    """

    __tablename__ = "node_owner"
    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    #: SHA-256 of the normalised claim code; null once claimed (a code is single-use).
    claim_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    claim_expires_at: Mapped[datetime | None]
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime]


# --- catalogue -----------------------------------------------------------------------


class Sku(Base):
    __tablename__ = "sku"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    sku_code: Mapped[str] = mapped_column(String(120), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The seller's code rule (货号建立规则): brand + model + (series + category) + colour.
    brand: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(64))
    series: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(64))
    colour: Mapped[str | None] = mapped_column(String(64))
    #: item, bundle (捆绑商品: selling it consumes its components) or component (半成品, BCP).
    kind: Mapped[str] = mapped_column(String(16), default="item")
    #: Own-brand goods (自主品牌): channel stock also counts what the components can make.
    own_brand: Mapped[bool] = mapped_column(Boolean, default=False)
    weight_g: Mapped[int | None]
    length_mm: Mapped[int | None]
    width_mm: Mapped[int | None]
    height_mm: Mapped[int | None]
    price_cents: Mapped[int | None]
    min_price_cents: Mapped[int | None]
    gtin: Mapped[str | None] = mapped_column(String(14))
    serial_tracked: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Lower-cased code, name and barcodes: the F10 keyword search matches against it.
    search_text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(64))


class Barcode(Base):
    __tablename__ = "barcode"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "sku_code"], ["sku.account_id", "sku.sku_code"], ondelete="CASCADE"
        ),
        Index("ix_barcode_sku", "account_id", "sku_code"),
    )
    account_id: Mapped[int] = mapped_column(primary_key=True)
    barcode: Mapped[str] = mapped_column(String(128), primary_key=True)
    sku_code: Mapped[str] = mapped_column(String(120))


class SkuComponent(Base):
    """One line of a bundle or of an own-brand item's bill of semi-finished parts."""

    __tablename__ = "sku_component"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "sku_code"], ["sku.account_id", "sku.sku_code"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["account_id", "component_code"], ["sku.account_id", "sku.sku_code"]),
    )
    account_id: Mapped[int] = mapped_column(primary_key=True)
    sku_code: Mapped[str] = mapped_column(String(120), primary_key=True)
    component_code: Mapped[str] = mapped_column(String(120), primary_key=True)
    qty: Mapped[int]


# --- stock ledger --------------------------------------------------------------------


class StockMovement(Base):
    """One append-only ledger entry. Never updated or deleted; mistakes get a reversal."""

    __tablename__ = "stock_movement"
    __table_args__ = (
        Index("ix_movement_stock", "account_id", "warehouse_id", "sku_code"),
        Index("ix_movement_kind_at", "account_id", "kind", "created_at"),
        # A document's movements of a seller, whatever the planner knows (migration 0060).
        Index("ix_movement_document", "account_id", "document", "kind", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    sku_code: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    #: sellable, damaged, qc or hold: the bucket ``qty_delta`` applies to.
    bucket: Mapped[str] = mapped_column(String(16), default="sellable")
    qty_delta: Mapped[int]
    reserved_delta: Mapped[int]
    bin_code: Mapped[str | None] = mapped_column(String(64))
    bin_delta: Mapped[int]
    #: The English the API answers: a sentence the hub wrote, or a person's words as typed.
    reason: Mapped[str] = mapped_column(String(300))
    #: The sentence's gettext message id and parameters (cloud/errors.py ``written``), so the
    #: pages say it in their language (migration 0051). Null for a person's words and for a
    #: row from before whose English did not parse: the page shows ``reason`` as it is.
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    document: Mapped[str] = mapped_column(String(120), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    #: The movement this one compensates (unique: a movement is reversed at most once).
    reverses_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    #: Idempotency key of the edge fact that caused it ("node:seq:n").
    event_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    #: Stock went negative by an explicit, logged override.
    override: Mapped[bool] = mapped_column(Boolean, default=False)


class StockLevel(Base):
    """Running totals of the ledger per SKU and warehouse (rebuildable from the movements).

    The row is also the lock that serialises reservations of the same stock.
    """

    __tablename__ = "stock_level"
    # The stock views read a page of SKUs' levels across warehouses (and their parts').
    __table_args__ = (Index("ix_stock_level_sku", "account_id", "sku_code"),)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), primary_key=True)
    sku_code: Mapped[str] = mapped_column(String(120), primary_key=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    damaged: Mapped[int] = mapped_column(default=0)
    qc: Mapped[int] = mapped_column(default=0)
    hold: Mapped[int] = mapped_column(default=0)


class StockSalesDay(Base):
    """Net units shipped per SKU, warehouse and UTC day: the ledger's ship movements less
    their reversals, summed in the same transaction (``stock.rebuild_sales`` recomputes it
    from the ledger alone). The stock views read their sales columns from here instead of
    scanning a month of movements on every request."""

    __tablename__ = "stock_sales_day"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    sku_code: Mapped[str] = mapped_column(String(120), primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    units: Mapped[int] = mapped_column(default=0)


class BinLevel(Base):
    __tablename__ = "bin_level"
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), primary_key=True)
    bin_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku_code: Mapped[str] = mapped_column(String(120), primary_key=True)
    qty: Mapped[int] = mapped_column(default=0)


class Supplier(Base):
    """A supplier purchase orders are placed with (供应商); cloud/inbound/orders.py."""

    __tablename__ = "supplier"
    __table_args__ = (UniqueConstraint("account_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    contact: Mapped[str | None] = mapped_column(String(200))
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime]


class PurchaseOrder(Base):
    """A purchase order (采购单): draft → confirmed → partially_received → received, or
    closed / cancelled. Its open lines are the stock views' in-transit column (采购在途)."""

    __tablename__ = "purchase_order"
    __table_args__ = (
        UniqueConstraint("account_id", "number"),
        Index("ix_po_list", "account_id", "status", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    number: Mapped[str] = mapped_column(String(64))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("supplier.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    eta: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(24))
    #: Over/under-receipt tolerance in percent of each line's quantity.
    tolerance_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal(0))
    status_reason: Mapped[str | None] = mapped_column(String(300))
    #: References of the deliveries announced for it: the supplier's ASN numbers (发货单号)
    #: and the couriers' waybills (运单号), at most 32, sent in ``po.release`` so the
    #: receiving station opens the PO by one (docs/inbound.md "ASN scan").
    delivery_refs: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime]


class PurchaseOrderLine(Base):
    """One SKU of a purchase order. ``in_transit`` is true while the rest (``qty`` less
    ``received``) is still expected: the PO is confirmed or partially received. Warehouse
    and account are repeated here so the stock views read in-transit by index."""

    __tablename__ = "purchase_order_line"
    __table_args__ = (
        UniqueConstraint("po_id", "sku_code"),
        Index("ix_po_line_stock", "account_id", "warehouse_id", "sku_code"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    po_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    sku_code: Mapped[str] = mapped_column(String(120))
    qty: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    #: Units received (QC passed and failed); ``rejected``: of those, failed QC.
    received: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    in_transit: Mapped[bool] = mapped_column(Boolean, default=False)


class PurchaseReceipt(Base):
    """A receipt booked against a PO, keyed by the id its source gave it (the API caller's,
    or the edge fact's): the same receipt sent twice books once."""

    __tablename__ = "purchase_receipt"
    __table_args__ = (UniqueConstraint("account_id", "receipt_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    receipt_id: Mapped[str] = mapped_column(String(64))
    po_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"))
    #: "api" or the node the fact came from.
    source: Mapped[str] = mapped_column(String(80))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    movement_ids: Mapped[list[str]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


# --- orders --------------------------------------------------------------------------


class SalesOrder(Base):
    __tablename__ = "sales_order"
    __table_args__ = (
        UniqueConstraint("account_id", "order_no"),
        # ix_order_status and ix_order_recent (the order list's): below the class, as they
        # name its columns in their order.
        # The list's filters and the phone search (cloud/orders/views.py, migration 0020):
        # each narrows the newest-first walk to one value's orders instead of all of them.
        Index("ix_order_channel", "account_id", "channel", "created_at"),
        Index("ix_order_carrier", "account_id", "carrier", "created_at"),
        Index("ix_order_warehouse", "account_id", "warehouse_id", "created_at"),
        Index("ix_order_shipped", "account_id", "shipped_at"),
        Index("ix_order_phone", "account_id", "phone"),
        Index("ix_order_phone_tail", "account_id", "phone_tail"),
        # The halves of a split order (cloud/channels/sold_at.py; migration 0059).
        Index("ix_order_split_from", "account_id", "split_from"),
        # A waybill number drawn for a release is checked free (cloud/orders/release.py
        # ``allocate``): without it each release read the seller's orders (migration 0060).
        Index("ix_order_tracking", "account_id", "tracking_number"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    order_no: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    on_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_reason: Mapped[str | None] = mapped_column(String(300))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    carrier: Mapped[str | None] = mapped_column(String(64))
    #: "rule_key@version" of the courier rule that chose ``carrier`` (or "buyer"/"seller").
    carrier_source: Mapped[str | None] = mapped_column(String(120))
    buyer_nick: Mapped[str] = mapped_column(String(120))
    recipient: Mapped[dict[str, Any]]
    buyer_remark: Mapped[str | None] = mapped_column(Text)
    seller_note: Mapped[str | None] = mapped_column(Text)
    buyer_carrier: Mapped[str | None] = mapped_column(String(64))
    seller_carrier: Mapped[str | None] = mapped_column(String(64))
    total_cents: Mapped[int]
    #: Stock for every line is reserved at ``warehouse_id``.
    reserved: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Version of the release sent to the edge (bumps on every re-send).
    version: Mapped[int] = mapped_column(default=0)
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    weighed_g: Mapped[int | None]
    merged_into: Mapped[str | None] = mapped_column(String(64))
    split_from: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    changed_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(80))
    #: The recipient's phone, digits only (core.phone_columns), and its last 4 digits: what
    #: sellers search by (a buyer reads out the number, or its end). Copied from ``recipient``.
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_tail: Mapped[str | None] = mapped_column(String(4))
    #: When the order last went to ``shipped`` (None when it has not, or was reversed).
    shipped_at: Mapped[datetime | None]


# The order list (newest first, optionally by status) reads these in order and stops at the
# page: without them every page sorted all of the account's orders. In the list's own order
# (created_at DESC, then order_no: migration 0070): SQLite had sorted each run of orders of
# one download's timestamp in a temporary B-tree (0.83 ms of a page of 50 at offsets up to
# 450 over 20,000 orders; 0.15 ms without), PostgreSQL incrementally.
Index(
    "ix_order_status",
    SalesOrder.account_id,
    SalesOrder.status,
    SalesOrder.created_at.desc(),
    SalesOrder.order_no,
)
Index("ix_order_recent", SalesOrder.account_id, SalesOrder.created_at.desc(), SalesOrder.order_no)


class SalesOrderLine(Base):
    __tablename__ = "sales_order_line"
    order_id: Mapped[str] = mapped_column(
        ForeignKey("sales_order.id", ondelete="CASCADE"), primary_key=True
    )
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku_code: Mapped[str] = mapped_column(String(120))
    qty: Mapped[int]
    price_cents: Mapped[int]
    gift: Mapped[bool] = mapped_column(Boolean, default=False)


class PickLease(Base):
    """A released order's pick: its wave and the one node that may pick it (cloud/orders/release.py).

    Every later version of the release carries both. Written at release, moved by a lead.
    """

    __tablename__ = "pick_lease"
    __table_args__ = (Index("ix_pick_lease_wave", "wave"),)
    order_id: Mapped[str] = mapped_column(
        ForeignKey("sales_order.id", ondelete="CASCADE"), primary_key=True
    )
    wave: Mapped[str | None] = mapped_column(String(64))
    #: ``None``: the hub knew no pick node of the warehouse; no node picks it until a lead says.
    node_id: Mapped[str | None] = mapped_column(String(64))
    changed_by: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime]


class OrderDecision(Base):
    """Why the audit did what it did: one row per check or rule that fired."""

    __tablename__ = "order_decision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"), index=True)
    check: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    rule_key: Mapped[str | None] = mapped_column(String(64))
    rule_version: Mapped[int | None]
    #: The English the API answers.
    reason: Mapped[str] = mapped_column(Text)
    #: The reason's gettext message id and parameters (cloud/orders/audit_rules.py
    #: ``Decision``), so the pages say it in their language (migration 0046). Null on a row
    #: from before whose English did not parse: the page shows ``reason`` as it is.
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


class OrderLog(Base):
    """Every state change of an order (audit trail of who did what, and why)."""

    __tablename__ = "order_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    #: The English the API answers: a sentence the hub wrote, or a person's words as typed.
    reason: Mapped[str | None] = mapped_column(Text)
    #: The sentence's gettext message id and parameters (cloud/orders/reasons.py ``written``),
    #: so the pages say it in their language (migration 0048). Null for a person's words and
    #: for a row from before whose English did not parse: the page shows ``reason`` as it is.
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime]


# --- rules ---------------------------------------------------------------------------


class Rule(Base):
    """One version of an audit rule (courier, gift or hold); edits add a version."""

    __tablename__ = "audit_rule"
    __table_args__ = (UniqueConstraint("account_id", "rule_key", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    rule_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int]
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    action: Mapped[dict[str, Any]]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Null for the current version; set when a newer version replaced it.
    superseded_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Carrier(Base):
    """A courier (快递) the seller ships with: cost and where it does not deliver."""

    __tablename__ = "carrier"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    cost_cents: Mapped[int]
    #: Provinces, cities or districts it does not reach, and address keywords (乡/村) it refuses.
    unreachable: Mapped[list[str]] = mapped_column(JSON)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]


# --- human tasks ---------------------------------------------------------------------


class Task(Base):
    """Something a person must look at: a conflicting edge fact, a short pick, a variance."""

    __tablename__ = "task"
    __table_args__ = (Index("ix_task_open", "account_id", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(
        String(36), unique=True, index=True, default=new_public_id
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    kind: Mapped[str] = mapped_column(String(32))
    order_no: Mapped[str | None] = mapped_column(String(64))
    node_id: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(36))
    #: The English sentence, as the API answers it.
    detail: Mapped[str] = mapped_column(Text)
    #: The sentence's gettext message id and parameters (cloud/tasks.py), so the pages say it
    #: in their language; NULL for tasks opened before migration 0038.
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)
    #: A resolution the hub wrote (a task that closed by itself): its gettext message id and
    #: parameters, so the pages say it in their language; NULL for a person's words
    #: (migration 0054).
    resolution_message: Mapped[str | None] = mapped_column(Text)
    resolution_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --- login protection ------------------------------------------------------------------


class LoginAttempts(Base):
    """Failed logins counted per username and per client address, shared by every worker
    (cloud/login.py). ``key`` is a SHA-256 of the name or address, so a row's size is fixed
    whatever a client sends; rows whose window and lockout are over are pruned.

    Times are seconds since the epoch (``time.time()``): compared, never shown.
    """

    __tablename__ = "login_attempts"
    #: "user" or "client".
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[float] = mapped_column(Float, index=True)
    failures: Mapped[int] = mapped_column(Integer)
    #: Lockouts so far (the next lasts twice as long); forgotten with the row.
    strikes: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[float] = mapped_column(Float)


# --- background imports ----------------------------------------------------------------


class ImportJob(Base):
    """A SKU import run as a background job (cloud/catalogue/jobs.py): its state and
    progress live here, so any hub process may run it and any may report it.

    ``claim`` names the one run that may write to the job (a new random token per claim);
    ``heartbeat_at`` is renewed while it runs, and a job ``running`` whose heartbeat is
    older than the lease is taken over by another process (its worker died).
    """

    __tablename__ = "import_job"
    __table_args__ = (
        Index("ix_import_job_account_status", "account_id", "status"),
        Index("ix_import_job_status", "status", "heartbeat_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(
        String(36), unique=True, index=True, default=new_public_id
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    created_by: Mapped[str] = mapped_column(String(80))
    #: "csv" or "xlsx".
    kind: Mapped[str] = mapped_column(String(8))
    size_bytes: Mapped[int] = mapped_column(Integer)
    #: queued, running, done, rejected (bad rows or file: nothing imported), failed.
    status: Mapped[str] = mapped_column(String(16), default="queued")
    #: While running: reading, checking, applying.
    stage: Mapped[str | None] = mapped_column(String(16))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_applied: Mapped[int] = mapped_column(Integer, default=0)
    #: Of the rows applied, the new SKUs (the rest replaced existing ones); None before 0016.
    rows_created: Mapped[int | None] = mapped_column(Integer)
    errors_total: Mapped[int] = mapped_column(Integer, default=0)
    #: The first bad rows, as [{"row", "field", "message"}] (at most jobs.MAX_REPORTED).
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: Why the whole file was refused or the job failed, in a sentence.
    message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ImportJobFile(Base):
    """The uploaded file of a job not finished yet (deleted when it ends): what a process
    that takes over a job reads again."""

    __tablename__ = "import_job_file"
    job_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("import_job.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


# --- the dashboard ----------------------------------------------------------------------


class UserPreference(Base):
    """What one user chose for a page of the dashboard, e.g. the F10 columns and their order
    (cloud/stock/columns.py). Small JSON per (user, key); it dies with the user."""

    __tablename__ = "user_preference"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    changed_at: Mapped[datetime]


# The dashboard's home figures (cloud/orders/figures.py), read on every visit: orders shipped
# per day from the order log, and the per-stage counts with holds apart. Without them both
# read every row of the account (2.7 s with 100,000 orders: docs/benchmarks.md, Dashboard).
Index("ix_order_log_to_status_at", OrderLog.to_status, OrderLog.at)
Index("ix_order_hold_status", SalesOrder.account_id, SalesOrder.on_hold, SalesOrder.status)


# --- channels (cloud/channels, docs/channels.md) ------------------------------------------


class ChannelShop(Base):
    """A shop on a marketplace that orders are downloaded from (订单下载), with its credentials,
    its state and the lease that lets one hub process at a time run it."""

    __tablename__ = "channel_shop"
    __table_args__ = (UniqueConstraint("account_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    code: Mapped[str] = mapped_column(String(64))
    #: "taobao" (the only adapter so far).
    platform: Mapped[str] = mapped_column(String(16))
    api_url: Mapped[str] = mapped_column(String(300))
    app_key: Mapped[str] = mapped_column(String(64))
    app_secret: Mapped[str] = mapped_column(String(200))
    session_key: Mapped[str] = mapped_column(String(300))
    sign_method: Mapped[str] = mapped_column(String(16), default="hmac-sha256")
    #: "active", or "needs_reauth" (the marketplace refused the session: a person must act).
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    #: Where the first download starts when the shop has no watermark yet.
    start_from: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    #: The schedule (cloud/channels/schedule.py): a download every ``interval_s`` seconds
    #: while enabled; ``next_run_at`` is when the next one is due (null: at once).
    schedule_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    interval_s: Mapped[int] = mapped_column(Integer, default=300)
    next_run_at: Mapped[datetime | None]
    #: When the next re-scan of the last day is due (hourly while the schedule is on).
    next_rescan_at: Mapped[datetime | None]


class ChannelWatermark(Base):
    """Per (shop, stream): everything the marketplace changed up to ``watermark`` is stored.

    Written only in the transaction that stores the orders of the window it closes, and only
    forward (cloud/channels/download.py)."""

    __tablename__ = "channel_watermark"
    #: The shop's account, kept on the row so every query and check can filter by it.
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[datetime]
    updated_at: Mapped[datetime]


class ChannelOrder(Base):
    """A marketplace's order as last downloaded, one row per (shop, external id), and the
    Guanjia order it became (or why it is held)."""

    __tablename__ = "channel_order"
    __table_args__ = (
        UniqueConstraint("shop_id", "external_id"),
        # An order shipping looks up its channel order (cloud/orders/channel_outbox.py).
        Index("ix_channel_order_order", "order_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The shop's account, kept on the row so every query and check can filter by it.
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    #: The marketplace's ``modified`` of the version stored; never goes back.
    modified: Mapped[datetime]
    channel_status: Mapped[str] = mapped_column(String(40))
    trade_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    #: "waiting" (not paid), "imported", "held" (see ``hold_reason``), "closed" (never paid).
    state: Mapped[str] = mapped_column(String(16))
    hold_reason: Mapped[str | None] = mapped_column(String(300))
    order_id: Mapped[str | None] = mapped_column(ForeignKey("sales_order.id"))
    versions: Mapped[int] = mapped_column(Integer, default=1)
    #: When the version stored was asked for (before the answer): see intake.unsettled.
    read_at: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    changed_at: Mapped[datetime]


class ChannelRun(Base):
    """One download run of a shop: its window, pages, counts and errors."""

    __tablename__ = "channel_run"
    __table_args__ = (Index("ix_channel_run_shop", "shop_id", "started_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The shop's account, kept on the row so every query and check can filter by it.
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"))
    stream: Mapped[str] = mapped_column(String(32))
    #: "download" (from the watermark on), or "rescan" (the last day again; the watermark
    #: does not move).
    kind: Mapped[str] = mapped_column(String(16), default="download")
    owner: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    #: Where the watermark stood when the run ended.
    reached: Mapped[datetime | None]
    pages: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    orders_new: Mapped[int] = mapped_column(Integer, default=0)
    orders_changed: Mapped[int] = mapped_column(Integer, default=0)
    orders_held: Mapped[int] = mapped_column(Integer, default=0)
    #: "queued" (a "download now" not yet picked up), "running", "ok", "failed",
    #: "needs_reauth", "busy" (another process held the lease).
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class ChannelCourier(Base):
    """Our courier code as one shop's marketplace names it (Taobao's ``company_code``)."""

    __tablename__ = "channel_courier"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"), primary_key=True)
    carrier: Mapped[str] = mapped_column(String(64), primary_key=True)
    company_code: Mapped[str] = mapped_column(String(64))


class ChannelShipment(Base):
    """The outbox of shipment confirmations (taobao.logistics.offline.send): written in the
    transaction that ships the order, drained by the sender (cloud/channels/shipments.py)."""

    __tablename__ = "channel_shipment"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_channel_shipment_due", "state", "next_try_at"),
        Index("ix_channel_shipment_order", "order_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"))
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    #: Our courier code; mapped to the marketplace's when sent (``channel_courier``).
    carrier: Mapped[str | None] = mapped_column(String(64))
    #: "<order id>:<tracking number>": one confirmation per order and parcel number.
    idempotency_key: Mapped[str] = mapped_column(String(140))
    #: "pending", "done" (the marketplace has it), "failed" (see ``error``; a person acts).
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime]
    #: A parcel of a trade a person split (拆单发货): the ``oid``s it confirms, comma-
    #: separated, decided when first sent (cloud/channels/split_shipments.py); null: whole.
    sub_tids: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
