"""E-waybills (电子面单) at release: the orders layer's side of cloud/channels/waybills.py.

Release writes a ``waybill`` row (``pending``) in its own transaction when the order's courier
draws its waybills from a provider (``waybill_source``), instead of the hub's stand-in number.
The drawer draws it outside any order transaction (a courier's API is not called while an
order row is locked) and then puts the number on the order and sends the release again: the
pack station holds the parcel aside until then ("no printable waybill number yet").

Here, not in cloud.channels, because every way an order leaves the warehouse unshipped
(cancel, 撤销出库) goes through ``core.log`` and the orders layer sits below the channels layer
(pyproject.toml, cloud-layers). This writes rows of the database layer and nothing else.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cloud.db.models import SalesOrder
from cloud.db.waybills import Waybill, WaybillSource

_NOT_PACKAGE_ID = re.compile(r"[^A-Za-z0-9_]")


def package_id(key: str) -> str:
    """The package id Cainiao takes ("只能传入数字、字母和下划线"): the key, other characters as ``_``."""
    return _NOT_PACKAGE_ID.sub("_", key)


def request(session: Session, o: SalesOrder, now: datetime, parcel: int = 1) -> bool:
    """A waybill to draw for the order's parcel, if its courier has a source; False if not
    (the caller then gives the stand-in number). The order's row is locked by the caller."""
    source = session.get(WaybillSource, (o.account_id, o.carrier or ""))
    if source is None:
        return False
    draws = session.execute(
        select(func.count()).where(Waybill.order_id == o.id, Waybill.parcel == parcel)
    ).scalar_one()
    session.add(
        Waybill(
            account_id=o.account_id,
            order_id=o.id,
            shop_id=source.shop_id,
            carrier=source.carrier,
            cp_code=source.cp_code,
            # One row per draw of a parcel: a retried release finds the order released and
            # writes nothing; a withdrawn and re-released order draws once more.
            idempotency_key=f"{o.id}:{parcel}:{int(draws) + 1}",
            parcel=parcel,
            state="pending",
            attempts=0,
            next_try_at=now,
            created_at=now,
        )
    )
    return True


def on_withdrawn(session: Session, o: SalesOrder, now: datetime) -> None:
    """The order leaves the warehouse unshipped (cancelled, or its outbound cancelled): its
    drawn waybill goes back to the courier and off the order (a new release draws anew, so a
    changed address is printed right). A draw never made is void; one that may have reached
    the courier is left to the drawer, which draws it (the same number) and gives it back."""
    drawn = list(
        session.execute(
            select(Waybill).where(Waybill.order_id == o.id, Waybill.state == "drawn")
        ).scalars()
    )
    for row in drawn:
        row.state, row.next_try_at, row.attempts = "cancel", now, 0
        if o.tracking_number == row.waybill_code:
            o.tracking_number = None
    session.execute(
        update(Waybill)
        .where(Waybill.order_id == o.id, Waybill.state == "pending", Waybill.attempts == 0)
        .values(state="void", done_at=now)
        .execution_options(synchronize_session=False)
    )


def route_of(session: Session, o: SalesOrder) -> str | None:
    """The route the label prints for the order's waybill, when a courier gave one."""
    if not o.tracking_number:
        return None
    return session.execute(
        select(Waybill.route).where(
            Waybill.order_id == o.id,
            Waybill.waybill_code == o.tracking_number,
            Waybill.state == "drawn",
        )
    ).scalar_one_or_none()


def route_of_order(session: Session, account_id: int, order_no: str) -> str | None:
    """The route of the order's current waybill (for the label the order page draws)."""
    return session.execute(
        select(Waybill.route)
        .join(SalesOrder, SalesOrder.id == Waybill.order_id)
        .where(
            SalesOrder.account_id == account_id,
            SalesOrder.order_no == order_no,
            Waybill.waybill_code == SalesOrder.tracking_number,
            Waybill.state == "drawn",
        )
    ).scalar_one_or_none()
