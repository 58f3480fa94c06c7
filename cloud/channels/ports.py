"""The ports the channel code is written against, and the errors an adapter raises.

An adapter turns one marketplace's API into these; the download run (download.py) knows no
marketplace by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol


@dataclass(frozen=True)
class ChannelTrade:
    """One order as the marketplace has it now (or as of the replica that answered)."""

    external_id: str
    modified: datetime  # aware, UTC
    status: str
    trade_type: str
    #: Paid and waiting to be shipped: the one state in which it becomes a Guanjia order.
    paid: bool
    #: Closed (unpaid, or refunded before shipping): it will never ship.
    closed: bool
    payload: dict[str, Any]
    #: The Guanjia order's ``channel`` (cloud.orders.core.Channel) the trade becomes.
    channel: str = "taobao"


@dataclass
class Listing:
    """What a window's list gave: each order's id and ``modified`` as the list showed them
    (a search index, possibly behind), and what it cost."""

    modified: dict[str, datetime] = field(default_factory=dict)
    pages: int = 0
    calls: int = 0
    #: Orders the list gave whole (every field the intake needs), by id: read from the list
    #: instead of one call each (TOP's increment list returns the fields asked for).
    trades: dict[str, ChannelTrade] = field(default_factory=dict)
    #: How many times the window was listed again because it moved under the listing.
    relisted: int = 0


class OrderSource(Protocol):
    """Orders changed in a window of ``modified`` time, both ends included, then each read
    whole. Two steps, so the run reads only the orders it does not have yet."""

    #: The longest window one query may span (the API's limit).
    max_span: timedelta

    @property
    def calls(self) -> int:
        """API calls made so far (for the run's record)."""
        ...

    def listed(self, start: datetime, end: datetime) -> Listing: ...

    def fetch(self, external_ids: list[str]) -> list[ChannelTrade]: ...


class ChannelError(Exception):
    """A marketplace call failed; the message is a sentence for the run's record."""

    #: The marketplace's own error code, when it gave one (TOP's ``sub_code``).
    sub_code: str = ""


class AuthRejected(ChannelError):
    """The marketplace refused the shop's authorisation: retrying will not help."""


class Retryable(ChannelError):
    """Worth trying again later (call limits, the platform's own errors, a broken answer)."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        #: Seconds the marketplace asked us to wait, when it said.
        self.wait = wait


class Refused(ChannelError):
    """The marketplace refused the request itself (an ``isv.*`` error): ours to fix."""


class ShipmentConfirmer(Protocol):
    """Tells the marketplace an order has shipped (Taobao: ``taobao.logistics.offline.send``)."""

    def confirm(
        self,
        external_id: str,
        tracking_number: str,
        company_code: str,
        *,
        location: str | None = None,
        lines: dict[str, int] | None = None,
    ) -> str:
        """``lines``: the marketplace's line ids and quantities the parcel holds, when it
        holds only some of the order (one half of an order split by location: Shopify's
        fulfillment orders; cloud/channels/sold_at.py). ``"sent"``, or ``"already"`` when the marketplace had this very parcel number for
        the order already (a retry after a write that committed but whose answer was lost).
        ``location``: the marketplace's location the parcel left from (a Shopify shop with
        its warehouses mapped to locations: cloud/channels/stock_locations.py); None when the
        shop has no such mapping or the marketplace has no locations (Taobao).
        Raises :class:`Refused` when it has another number or refuses for good,
        :class:`Retryable` or :class:`AuthRejected` otherwise."""
        ...


class CreatedLister(Protocol):
    """Every order *created* in a window, as the marketplace's full list has it (Taobao:
    ``taobao.trades.sold.get``), for the daily diff of order ids (cloud/channels/diff.py)."""

    @property
    def calls(self) -> int: ...

    def created(self, start: datetime, end: datetime) -> Listing: ...


# --- refunds and pushed messages (later changes, issue 16) --------------------------------


@dataclass(frozen=True)
class ChannelRefund:
    """One refund as the marketplace lists it now (or as the replica that answered had it)."""

    refund_id: str
    external_id: str  # the trade
    line_id: str  # the trade's line (Taobao ``oid``)
    modified: datetime  # aware, UTC
    status: str
    #: "onsale" (asked before shipping) or "aftersale".
    phase: str
    fee: Decimal
    payload: dict[str, Any]


class RefundSource(Protocol):
    """Refunds changed in a window of ``modified`` time, both ends included (one call list
    gives them whole: Taobao's ``refunds.receive.get`` answers every field asked)."""

    max_span: timedelta

    @property
    def calls(self) -> int: ...

    def refunds(self, start: datetime, end: datetime) -> tuple[list[ChannelRefund], int]:
        """The window's refunds and the pages read."""
        ...


@dataclass(frozen=True)
class PushedMessage:
    """A message the marketplace pushed (Taobao TMC): only a hint of which order changed."""

    message_id: str
    topic: str
    #: The order it names, when it names one; its body is never trusted beyond that.
    external_id: str | None


class MessageSource(Protocol):
    """At-least-once messages: what ``poll`` gave comes again until ``confirm``."""

    def poll(self, limit: int) -> list[PushedMessage]: ...

    def confirm(self, message_ids: list[str]) -> None: ...


# --- e-waybills (电子面单) -------------------------------------------------------------


@dataclass(frozen=True)
class WaybillRequest:
    """One parcel's waybill to draw. ``sender`` and ``recipient`` have our recipient's keys
    (``name``, ``phone``, ``province``, ``city``, ``district``, ``address``)."""

    cp_code: str
    #: Echoed by the courier, and (with the trade orders) the key of the draw: the same
    #: request after a lost answer returns the number already drawn.
    object_id: str
    package_id: str
    trade_orders: tuple[str, ...]
    #: The platform of the trade orders (Cainiao: "TB", "OTHERS", ...).
    channel_type: str
    sender: dict[str, Any]
    recipient: dict[str, Any]
    #: (name, count) per line.
    items: tuple[tuple[str, int], ...]
    template_url: str = ""


@dataclass(frozen=True)
class DrawnWaybill:
    waybill_code: str
    #: The courier's print document as it gave it (Cainiao: cloud-print JSON).
    print_data: str
    #: What the label prints big for the courier's sorting (route code, sorting centre).
    route: str | None


class WaybillProvider(Protocol):
    """A courier's e-waybill service (Cainiao: ``cainiao.waybill.ii.get`` / ``.cancel`` /
    ``.update``)."""

    def draw(self, request: WaybillRequest) -> DrawnWaybill:
        """Raises :class:`Refused` when the courier will not give a number for this parcel,
        :class:`Retryable` or :class:`AuthRejected` otherwise."""
        ...

    def cancel(self, cp_code: str, waybill_code: str) -> None:
        """Give the number back (it was never used)."""
        ...

    def update(self, request: WaybillRequest, waybill_code: str) -> DrawnWaybill:
        """Correct a drawn number's record (recipient, items) to ``request``'s (Cainiao:
        ``cainiao.waybill.ii.update``); returns the new print data."""
        ...


@dataclass(frozen=True)
class ChannelListing:
    """Where a SKU of ours is on sale in a shop, and how many the shop has on sale now."""

    item_id: str  # Taobao: num_iid
    sku_id: str
    quantity: int


class InventorySink(Protocol):
    """The stock a shop shows (Taobao: ``taobao.skus.custom.get`` to find and read a SKU,
    ``taobao.item.quantity.update`` to change it; Shopify: ``inventory_levels/adjust.json``)."""

    #: Whether ``add`` honours its key (the same key is applied once: Tmall's
    #: ``outer_biz_key``). Without one a change whose answer was lost cannot be sent again
    #: blindly: stock_push.py then errs to the side that never oversells.
    keyed: bool

    def listing(self, sku_code: str) -> ChannelListing | None:
        """The shop's listing of our code (its 商家编码), None when it has none."""
        ...

    def add(self, listing: ChannelListing, delta: int, key: str) -> int:
        """Change the quantity by ``delta`` (incremental, atomic with buyers' purchases) under
        the idempotency key ``key``; the quantity after. Raises as the order ports do."""
        ...

    def set(self, listing: ChannelListing, quantity: int) -> int:
        """Overwrite the quantity (full). Only the ablation uses it: see stock_push.py."""
        ...
