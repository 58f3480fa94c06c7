"""Tables of the stock push (同步库存, cloud/channels/stock_push.py, docs/channels.md);
migration 0028_channel_stock_push.

Kept beside ``models.py`` (same ``Base``), as cloud/db/finance.py is. The rows of
``channel_stock_item`` are marked dirty by triggers on ``stock_level`` and
``purchase_order_line`` (in the migration, per dialect), so every writer of stock — the
ledger, a bulk import, a script — marks them in its own transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base


class ChannelStockPolicy(Base):
    """Whether a shop's stock is pushed, and how much of ours it is shown."""

    __tablename__ = "channel_stock_policy"
    __table_args__ = (
        CheckConstraint("share_pct BETWEEN 0 AND 100", name="ck_channel_stock_share"),
        CheckConstraint("safety_stock >= 0", name="ck_channel_stock_safety"),
        Index("ix_channel_stock_policy_account", "account_id"),
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    enabled: Mapped[bool] = mapped_column(Boolean)
    #: Units kept back from the channel (taken off our figure before the share).
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    #: The percentage of what is left the shop is shown (rounded down).
    share_pct: Mapped[int] = mapped_column(Integer, default=100)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChannelStockItem(Base):
    """One SKU of one shop: the dirty mark (the push outbox, coalesced per SKU), the
    marketplace's listing of it, what was pushed and the lease of the process pushing it."""

    __tablename__ = "channel_stock_item"
    __table_args__ = (
        UniqueConstraint("shop_id", "sku_code"),
        Index("ix_channel_stock_item_due", "dirty", "next_try_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"))
    sku_code: Mapped[str] = mapped_column(String(120))
    #: Set by the triggers (and a policy change), cleared by a push that saw the latest ``gen``.
    dirty: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Bumped by every change that marks the row: a push clears ``dirty`` only if unchanged.
    gen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: "new", "ok", "retry", "failed", "unlisted" (the shop has no listing with this code).
    state: Mapped[str] = mapped_column(String(16), default="new")
    error: Mapped[str | None] = mapped_column(String(500))
    num_iid: Mapped[str | None] = mapped_column(String(32))
    sku_id: Mapped[str | None] = mapped_column(String(32))
    #: P: what the channel's quantity would be had it sold nothing we have not downloaded
    #: (its quantity when first read plus our units downloaded then, plus every change we
    #: applied since). None until the listing was first read.
    base: Mapped[int | None] = mapped_column(BigInteger)
    #: Our figure for the shop (after safety stock and share) at the last push.
    target: Mapped[int | None] = mapped_column(BigInteger)
    #: The channel's quantity the last answer gave.
    channel_qty: Mapped[int | None] = mapped_column(BigInteger)
    #: A change sent whose answer we have not had: sent again with the same key.
    pending_delta: Mapped[int | None] = mapped_column(BigInteger)
    pending_key: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pushed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChannelShopLocation(Base):
    """Which of our warehouses a shop's location is (Shopify Admin REST "Location"; docs/
    channels.md "Several Shopify locations", migration 0054): a shop with such rows is pushed
    per location, each from its warehouse's figure; an unmapped warehouse is not pushed."""

    __tablename__ = "channel_shop_location"
    __table_args__ = (
        UniqueConstraint("shop_id", "location_id", name="uq_channel_shop_location_location"),
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("channel_shop.id"), primary_key=True)
    #: Our warehouse's code (``warehouse.code`` of the shop's account).
    warehouse: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    #: The marketplace's location id, checked against ``locations.json`` when saved.
    location_id: Mapped[str] = mapped_column(String(32))
    #: Its name on the marketplace when saved (shown on the shop's page).
    location_name: Mapped[str] = mapped_column(String(200))
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChannelStockLocation(Base):
    """One location's push state of a ``channel_stock_item`` (a shop with several locations):
    the same P, quantity and pending change as the item keeps for a one-location shop
    (cloud/channels/stock_locations.py). The item stays the dirty mark and the lease."""

    __tablename__ = "channel_stock_location"
    item_id: Mapped[int] = mapped_column(ForeignKey("channel_stock_item.id"), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    base: Mapped[int | None] = mapped_column(BigInteger)
    target: Mapped[int | None] = mapped_column(BigInteger)
    channel_qty: Mapped[int | None] = mapped_column(BigInteger)
    pending_delta: Mapped[int | None] = mapped_column(BigInteger)
    pending_key: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer, default=0)
