"""Where damaged returns go (售后坏品仓): per receiving warehouse, else per account, else
the damaged bucket of the warehouse they arrive at (docs/inbound.md "Returns and
exchanges").

The source sends returned goods "back to sellable or to the damaged warehouse" (GLOSSARY
售后坏品仓: a warehouse of kind ``damaged``). A seller with several warehouses keeps one
damaged-goods warehouse near each (or one for all): ``aftersales_damaged_route`` names it
per receiving warehouse, and the account's after-sales setting
(``AftersalesSetting.damaged_warehouse_id``, cloud/aftersales/requests.py ``configure``)
is the fallback for a warehouse without one. The receipt books the damaged units there as
a ``return`` movement of that warehouse's damaged bucket (cloud/aftersales/workflow.py).

A route must name another warehouse of the same account, of kind ``damaged``: a code the
account does not have (another seller's warehouse is one) is a 422, as are the warehouse
itself and a warehouse that is not a damaged-goods one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from cloud.aftersales.requests import setting
from cloud.db.aftersales import AftersalesDamagedRoute
from cloud.db.models import StockMovement, Warehouse
from cloud.errors import N_, InvalidError
from cloud.stock.warehouses import get_warehouse

#: How a warehouse's damaged returns were routed: its own route, the account's setting, or
#: none (its own damaged bucket).
Via = Literal["warehouse", "account", "bucket"]


@dataclass(frozen=True)
class Destination:
    warehouse_id: int
    code: str
    via: Via


def _damaged_warehouse(session: Session, account_id: int, code: str, of: Warehouse) -> Warehouse:
    wh = session.execute(
        select(Warehouse).where(Warehouse.account_id == account_id, Warehouse.code == code)
    ).scalar_one_or_none()
    if wh is None:
        raise InvalidError(
            N_("no warehouse %(code)r in this account to send damaged returns to"),
            "damaged_warehouse",
            code=code,
        )
    if wh.id == of.id:
        raise InvalidError(
            N_(
                "warehouse %(code)s cannot be its own damaged-goods warehouse: without a "
                "route its damaged returns stay in its damaged bucket"
            ),
            "damaged_warehouse",
            code=code,
        )
    if wh.kind != "damaged":
        raise InvalidError(
            N_(
                "warehouse %(code)s is a %(kind)s warehouse, not a damaged-goods warehouse "
                "(售后坏品仓, kind damaged)"
            ),
            "damaged_warehouse",
            code=code,
            kind=wh.kind,
        )
    return wh


def set_route(
    session: Session,
    account_id: int,
    warehouse: str,
    damaged_warehouse: str | None,
    actor: str,
    now: datetime,
) -> Destination:
    """Route the damaged returns received at ``warehouse`` to ``damaged_warehouse``; None
    takes the route away. Answers where they go now."""
    wh = get_warehouse(session, account_id, warehouse)
    row = session.get(AftersalesDamagedRoute, wh.id)
    if damaged_warehouse is None:
        if row is not None:
            session.delete(row)
            session.flush()
        return destination(session, account_id, wh.id)
    target = _damaged_warehouse(session, account_id, damaged_warehouse, wh)
    if row is None:
        row = AftersalesDamagedRoute(
            warehouse_id=wh.id, account_id=account_id, changed_by=actor, changed_at=now
        )
        session.add(row)
    row.damaged_warehouse_id = target.id
    row.changed_by, row.changed_at = actor, now
    session.flush()
    return Destination(target.id, target.code, "warehouse")


def destination(session: Session, account_id: int, warehouse_id: int) -> Destination:
    """Where the damaged returns received at ``warehouse_id`` are booked."""
    row = session.get(AftersalesDamagedRoute, warehouse_id)
    if row is not None and row.account_id == account_id:
        to = session.get_one(Warehouse, row.damaged_warehouse_id)
        return Destination(to.id, to.code, "warehouse")
    conf = setting(session, account_id)
    if conf is not None and conf.damaged_warehouse_id and conf.damaged_warehouse_id != warehouse_id:
        to = session.get_one(Warehouse, conf.damaged_warehouse_id)
        return Destination(to.id, to.code, "account")
    here = session.get_one(Warehouse, warehouse_id)
    return Destination(here.id, here.code, "bucket")


def routes(session: Session, account_id: int) -> list[tuple[str, str]]:
    """(receiving warehouse, damaged-goods warehouse) of every route of the account."""
    to = aliased(Warehouse)
    rows = session.execute(
        select(Warehouse.code, to.code)
        .join(AftersalesDamagedRoute, AftersalesDamagedRoute.warehouse_id == Warehouse.id)
        .join(to, to.id == AftersalesDamagedRoute.damaged_warehouse_id)
        .where(AftersalesDamagedRoute.account_id == account_id)
        .order_by(Warehouse.code)
    ).all()
    return [(a, b) for a, b in rows]


def booked_into(session: Session, account_id: int, movement_ids: list[str] | None) -> list[str]:
    """The warehouses a received request's damaged units were booked into (its movements)."""
    if not movement_ids:
        return []
    rows = session.execute(
        select(Warehouse.code)
        .join(StockMovement, StockMovement.warehouse_id == Warehouse.id)
        .where(
            StockMovement.account_id == account_id,
            StockMovement.id.in_(movement_ids),
            StockMovement.bucket == "damaged",
        )
        .distinct()
        .order_by(Warehouse.code)
    ).scalars()
    return list(rows)
