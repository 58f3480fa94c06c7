"""/channels e-waybills (电子面单): which courier draws its waybills from where, and what an
order drew (docs/channels.md "E-waybills")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from cloud.api.deps import ChannelsRead, ChannelsWrite, SessionDep, SettingsDep
from cloud.channels import pool_force, waybill_pool, waybills
from cloud.db.models import ChannelShop
from cloud.db.waybills import Waybill, WaybillSource

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])

Carrier = Annotated[str, Path(min_length=1, max_length=64)]


class SourceOut(BaseModel):
    carrier: str
    shop: str
    cp_code: str
    sender: dict[str, Any]
    template_url: str
    changed_at: datetime


class WaybillOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    parcel: int
    carrier: str
    cp_code: str
    waybill_code: str | None
    route: str | None
    #: "pending", "drawn", "cancel", "cancelled", "void", "failed" (``error`` says why).
    state: str
    attempts: int
    next_try_at: datetime
    error: str | None
    created_at: datetime
    done_at: datetime | None


def _source(row: WaybillSource, shop: str) -> SourceOut:
    return SourceOut(
        carrier=row.carrier,
        shop=shop,
        cp_code=row.cp_code,
        sender=row.sender,
        template_url=row.template_url,
        changed_at=row.changed_at,
    )


@router.get("/waybill-sources")
def list_sources(session: SessionDep, who: ChannelsRead) -> list[SourceOut]:
    rows = session.execute(
        select(WaybillSource, ChannelShop.code)
        .join(ChannelShop, ChannelShop.id == WaybillSource.shop_id)
        .where(WaybillSource.account_id == who.account_id)
        .order_by(WaybillSource.carrier)
    ).all()
    return [_source(r, code) for r, code in rows]


@router.put("/waybill-sources/{carrier}")
def put_source(
    carrier: Carrier, body: waybills.WaybillSourceIn, session: SessionDep, who: ChannelsWrite
) -> SourceOut:
    """Orders of our courier ``carrier`` are released with a waybill drawn from ``cp_code`` on
    the shop's Cainiao account (404 for a shop that is not the seller's)."""
    row = waybills.put_source(session, who.account_id, carrier, body, datetime.now(UTC))
    return _source(row, body.shop)


@router.get("/orders/{order_no}/waybills")
def order_waybills(
    order_no: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    who: ChannelsRead,
) -> list[WaybillOut]:
    """The order's waybill draws: the number, and why a draw failed (the order is held)."""
    rows: list[Waybill] = waybills.of_order(session, who.account_id, order_no)
    return [WaybillOut.model_validate(r) for r in rows]


class PoolOut(BaseModel):
    node: str
    carrier: str
    #: Numbers the node keeps; topped up when it holds half or less.
    target: int
    #: Sent to the node and not reported used.
    on_node: int
    #: Being drawn or drawn and not yet sent.
    on_the_way: int
    #: Printed by the node (offline) and bound to an order.
    used: int
    #: Draws the courier refused (``failed``).
    failed: int
    #: Asked back from the node (target lowered, node retired) or to cancel at the courier.
    giving_back: int
    #: Cancelled at the courier.
    given_back: int
    #: Used numbers whose courier record is still to name the order's recipient, and those
    #: the courier would not correct (``cainiao.waybill.ii.update``).
    fixing: int
    fix_failed: int
    low: bool
    #: Since when the node owes an answer to a give-back (None: it owes none); after the
    #: wait a task is opened and a lead may give the numbers back by force.
    asked_since: datetime | None
    #: Given back without the node's word (``force-give-back``).
    forced: int


NodeIdPath = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/waybill-pools")
def list_pools(session: SessionDep, who: ChannelsRead) -> list[PoolOut]:
    """Each pack node's offline pool of pre-drawn numbers per courier, and its level."""
    return [PoolOut.model_validate(r) for r in waybill_pool.levels(session, who.account_id)]


@router.put("/waybill-pools/{node}/{carrier}")
def put_pool(
    node: NodeIdPath,
    carrier: Carrier,
    body: waybill_pool.PoolIn,
    session: SessionDep,
    who: ChannelsWrite,
) -> PoolOut:
    """The node keeps ``target`` numbers of the courier for printing with the uplink down
    (422, nothing changed, for a node that is not the seller's and for a courier without a
    source). A lower target gives the surplus back (docs/channels.md "Giving numbers back")."""
    waybill_pool.set_target(session, who.account_id, node, carrier, body, datetime.now(UTC))
    session.flush()
    rows = waybill_pool.levels(session, who.account_id)
    return PoolOut.model_validate(
        next(r for r in rows if (r["node"], r["carrier"]) == (node, carrier))
    )


def _node_pools(session: SessionDep, account_id: int, node: str) -> list[PoolOut]:
    rows = waybill_pool.levels(session, account_id)
    return [PoolOut.model_validate(r) for r in rows if r["node"] == node]


@router.post("/waybill-pools/{node}/retire")
def retire_node(node: NodeIdPath, session: SessionDep, who: ChannelsWrite) -> list[PoolOut]:
    """The node leaves service: every pool of it to 0, its unused numbers given back once it
    confirms (404 for a node that is not the seller's; 409, nothing changed, for a node with
    no pool or retired already)."""
    waybill_pool.retire(session, who.account_id, node, datetime.now(UTC))
    session.flush()
    return _node_pools(session, who.account_id, node)


class ForcedOut(BaseModel):
    node: str
    #: Numbers given back without the node's word, per courier (cancelled at the courier by
    #: the next drain; a late print of one of them from the node becomes a task).
    forced: dict[str, int]
    pools: list[PoolOut]


@router.post("/waybill-pools/{node}/force-give-back")
def force_give_back(
    node: NodeIdPath, session: SessionDep, who: ChannelsWrite, settings: SettingsDep
) -> ForcedOut:
    """Numbers asked back from a node that has not answered for the configured wait
    (``GUANJIA_WAYBILL_POOL_FORCE_AFTER_H``) are given back without its word
    (docs/channels.md "A node that never answers"). 404 for a node that is not the seller's;
    409, nothing changed, when it owes nothing or was asked too recently."""
    wait = timedelta(hours=settings.waybill_pool_force_after_h)
    done = pool_force.force(session, who.account_id, node, datetime.now(UTC), wait)
    session.flush()
    return ForcedOut(
        node=node, forced=done.carriers, pools=_node_pools(session, who.account_id, node)
    )
