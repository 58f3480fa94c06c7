"""Warehouses, zones and bins; which edge node serves which warehouse.

Zones are the source's (GLOSSARY "拣货区 / 备货区 / …"): pick, reserve, shipping, QC,
fast-mover, small-item, hold, and damaged (售后坏品, after-sales). Bins have floor
coordinates and a walk order for pick paths. A warehouse's bins travel to its nodes as
``bins.upsert``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from cloud.db.engine import Statements
from cloud.db.models import Bin, Warehouse
from cloud.errors import N_, ConflictError, NotFoundError
from cloud.nodes import downlink
from protocol.messages import BinInfo, BinsUpsert, Code, Name

WarehouseKind = Literal["main", "damaged", "component"]
#: Stock received into a bin of these zones is not sellable (it lands in that bucket).
ZONE_BUCKET = {"qc": "qc", "hold": "hold", "damaged": "damaged"}


class WarehouseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code
    name: Name
    kind: WarehouseKind = "main"


def create_warehouse(
    session: Session, account_id: int, body: WarehouseIn, actor: str, now: datetime
) -> Warehouse:
    exists = session.execute(
        select(Warehouse.id).where(Warehouse.account_id == account_id, Warehouse.code == body.code)
    ).first()
    if exists:
        raise ConflictError(N_("warehouse %(code)s exists already"), code=body.code)
    wh = Warehouse(account_id=account_id, **body.model_dump(), changed_by=actor, changed_at=now)
    session.add(wh)
    session.flush()
    return wh


def list_warehouses(session: Session, account_id: int) -> list[Warehouse]:
    return list(
        session.execute(
            select(Warehouse).where(Warehouse.account_id == account_id).order_by(Warehouse.code)
        )
        .scalars()
        .all()
    )


#: The account's (``account``) warehouse codes, in code order.
_CODES = Statements(
    lambda _d, _v: (
        select(Warehouse.__table__.c.code)
        .where(Warehouse.__table__.c.account_id == bindparam("account"))
        .order_by(Warehouse.__table__.c.code)
    )
)


def warehouse_codes(session: Session, account_id: int) -> list[str]:
    """:func:`list_warehouses`' codes alone, for the pages' filters and links: one column by
    a statement built once, not the ORM objects (loaded for every page of orders, the audit
    queue and the stock views; issue 20, S35)."""
    return list(session.execute(_CODES.get(session), {"account": account_id}).scalars())


def get_warehouse(session: Session, account_id: int, code: str) -> Warehouse:
    wh = session.execute(
        select(Warehouse).where(Warehouse.account_id == account_id, Warehouse.code == code)
    ).scalar_one_or_none()
    if wh is None:
        raise NotFoundError(N_("no warehouse %(code)r"), code=code)
    return wh


def default_warehouse(session: Session, account_id: int) -> Warehouse:
    wh = session.execute(
        select(Warehouse)
        .where(Warehouse.account_id == account_id, Warehouse.kind == "main")
        .order_by(Warehouse.id)
        .limit(1)
    ).scalar_one_or_none()
    if wh is None:
        raise ConflictError(N_("the account has no main warehouse yet; create one first"))
    return wh


def upsert_bins(
    session: Session, account_id: int, code: str, bins: list[BinInfo], actor: str, now: datetime
) -> dict[str, int]:
    wh = get_warehouse(session, account_id, code)
    for b in bins:
        row = session.get(Bin, (wh.id, b.code))
        values = b.model_dump()
        if row is None:
            session.add(Bin(warehouse_id=wh.id, **values, changed_by=actor, changed_at=now))
        else:
            for k, v in values.items():
                setattr(row, k, v)
            row.changed_by, row.changed_at = actor, now
    session.flush()
    msg = BinsUpsert(warehouse=wh.code, bins=bins)
    return downlink.push(
        session, downlink.nodes_of_warehouse(session, wh.id), "bins.upsert", [msg], now
    )


def list_bins(session: Session, warehouse_id: int) -> list[Bin]:
    return list(
        session.execute(
            select(Bin).where(Bin.warehouse_id == warehouse_id).order_by(Bin.walk_order, Bin.code)
        )
        .scalars()
        .all()
    )


def bin_infos(session: Session, warehouse_id: int) -> list[BinInfo]:
    return [
        BinInfo(code=b.code, zone=b.zone, x=b.x, y=b.y, walk_order=b.walk_order, barcode=b.barcode)
        for b in list_bins(session, warehouse_id)
    ]
