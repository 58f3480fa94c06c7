"""/channels/shops/{code}/stock: the stock push of a shop (同步库存, docs/channels.md) — what
was last pushed per SKU, and the shop's policy (on/off, safety stock, share)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import anyio
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.deps import ChannelsRead, ChannelsWrite, SessionDep, UnitsDep
from cloud.channels import runner, stock_locations, stock_policy

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])

ShopCode = Annotated[str, Path(min_length=1, max_length=64)]


class StockPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    #: Units kept back from the shop.
    safety_stock: int = Field(default=0, ge=0, le=1_000_000)
    #: The percentage of the rest the shop is shown (rounded down).
    share_pct: int = Field(default=100, ge=0, le=100)


class StockPolicyOut(BaseModel):
    enabled: bool
    safety_stock: int
    share_pct: int


class StockAtLocationOut(BaseModel):
    location_id: str
    location_name: str
    #: Our warehouse mapped to the location.
    warehouse: str
    #: What the location was last shown of that warehouse's figure.
    pushed: int | None
    #: The location's quantity in Shopify's last answer.
    channel_quantity: int | None


class StockItemOut(BaseModel):
    sku_code: str
    #: "new", "ok", "retry" (see error; tried again), "failed", "unlisted".
    state: str
    #: A change not yet pushed.
    dirty: bool
    #: What the shop was last shown of our figure (after safety stock and share).
    pushed: int | None
    #: The marketplace's quantity in its last answer (lower by what sold since).
    channel_quantity: int | None
    pushed_at: datetime | None
    error: str | None
    listing: dict[str, str | None] | None
    #: A Shopify shop with mapped locations: the same per location (else empty).
    locations: list[StockAtLocationOut] = []


@router.get("/shops/{code}/stock")
def shop_stock(
    code: ShopCode,
    session: SessionDep,
    who: ChannelsRead,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[StockItemOut]:
    rows = stock_policy.items(session, who.account_id, code, limit=limit, offset=offset)
    return [StockItemOut(**r) for r in rows]


@router.get("/shops/{code}/stock-policy")
def get_stock_policy(code: ShopCode, session: SessionDep, who: ChannelsRead) -> StockPolicyOut:
    return StockPolicyOut(**stock_policy.policy_of(session, who.account_id, code))


@router.put("/shops/{code}/stock-policy")
def put_stock_policy(
    code: ShopCode, body: StockPolicyIn, session: SessionDep, who: ChannelsWrite
) -> StockPolicyOut:
    """Every SKU then owes the shop a push (the hub's channels scheduler sends it)."""
    stock_policy.set_policy(
        session,
        who.account_id,
        code,
        enabled=body.enabled,
        safety_stock=body.safety_stock,
        share_pct=body.share_pct,
        now=datetime.now(UTC),
    )
    return StockPolicyOut(**stock_policy.policy_of(session, who.account_id, code))


class LocationOut(BaseModel):
    warehouse: str
    location_id: str
    location_name: str
    changed_by: str
    changed_at: datetime


Warehouse = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/shops/{code}/locations")
def get_locations(code: ShopCode, session: SessionDep, who: ChannelsRead) -> list[LocationOut]:
    """Which of our warehouses each of the shop's Shopify locations is."""
    return [LocationOut(**r) for r in stock_locations.listed(session, who.account_id, code)]


@router.put("/shops/{code}/locations/{warehouse}")
async def put_location(
    code: ShopCode,
    warehouse: Warehouse,
    body: stock_locations.LocationIn,
    units: UnitsDep,
    who: ChannelsWrite,
) -> LocationOut:
    """Map our warehouse to a location the shop has (read from Shopify now, with no
    transaction open; an id it does not list is a 422). The shop is then pushed per
    location; every SKU owes it a push."""
    account_id, actor = who.account_id, who.actor
    shop = await units.read(lambda s: stock_locations.shop_to_read(s, account_id, code, warehouse))
    seen = await anyio.to_thread.run_sync(stock_locations.read, shop, runner.locations_of)
    row = await units.write(
        lambda s: stock_locations.as_dict(
            stock_locations.set_location(
                s, account_id, code, warehouse, body, seen, actor, datetime.now(UTC)
            )
        )
    )
    return LocationOut(**row)


@router.delete("/shops/{code}/locations/{warehouse}", status_code=204)
def delete_location(
    code: ShopCode, warehouse: Warehouse, session: SessionDep, who: ChannelsWrite
) -> None:
    """The warehouse is no longer pushed to the shop."""
    stock_locations.remove_location(session, who.account_id, code, warehouse)
