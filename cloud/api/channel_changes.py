"""/channels (later changes, issue 16): a shop's SKU mapping, its refunds, and the changes on
the channel that reached our orders — or wait for after-sales (docs/channels.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.deps import ChannelsRead, ChannelsWrite, SessionDep
from cloud.channels import remap, shops, views

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])

ShopCode = Annotated[str, Path(min_length=1, max_length=64)]


class SkuMapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku_code: str = Field(min_length=1, max_length=64)


class SkuMapOut(BaseModel):
    outer_sku_id: str
    sku_code: str
    #: Held trades of the shop tried again, and how many of them became orders / stay held.
    retried: int = 0
    imported: int = 0
    held: int = 0


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    refund_id: str
    external_id: str
    oid: str
    status: str
    phase: str
    refund_fee: Decimal
    modified: datetime
    changed_at: datetime


class ChangeOut(BaseModel):
    shop: str
    external_id: str
    order_no: str | None
    #: "address", "cancel", "refund", "refund_ended".
    kind: str
    #: "applied", "held", "after_sales" (shipped already: for the returns flow), "none".
    outcome: str
    detail: str
    at: datetime


@router.put("/shops/{code}/skus/{outer_sku_id}")
def map_sku(
    code: ShopCode,
    outer_sku_id: Annotated[str, Path(min_length=1, max_length=120)],
    body: SkuMapIn,
    session: SessionDep,
    who: ChannelsWrite,
) -> SkuMapOut:
    """Map the shop's ``outer_sku_id`` to our SKU; the shop's trades held for an unknown SKU
    are tried again at once (each becomes an order once)."""
    shop = shops.shop_by_code(session, who.account_id, code)
    done = remap.map_sku(session, shop, outer_sku_id, body.sku_code, who.actor, datetime.now(UTC))
    return SkuMapOut(**done.__dict__)


@router.get("/shops/{code}/skus")
def list_skus(code: ShopCode, session: SessionDep, who: ChannelsRead) -> list[SkuMapOut]:
    shop = shops.shop_by_code(session, who.account_id, code)
    return [
        SkuMapOut(outer_sku_id=r.outer_sku_id, sku_code=r.sku_code)
        for r in views.sku_maps(session, shop.id)
    ]


@router.get("/shops/{code}/refunds")
def list_refunds(
    code: ShopCode,
    session: SessionDep,
    who: ChannelsRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RefundOut]:
    shop = shops.shop_by_code(session, who.account_id, code)
    return [RefundOut.model_validate(r) for r in views.refunds(session, shop.id, limit)]


@router.get("/changes")
def list_changes(
    session: SessionDep,
    who: ChannelsRead,
    shop: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ChangeOut]:
    """Newest first; ``outcome=after_sales`` lists what shipped orders wait for (returns)."""
    rows = views.changes(session, who.account_id, shop=shop, outcome=outcome, limit=limit)
    return [
        ChangeOut(
            shop=code,
            external_id=c.external_id,
            order_no=no,
            kind=c.kind,
            outcome=c.outcome,
            detail=c.detail,
            at=c.at,
        )
        for c, code, no in rows
    ]
