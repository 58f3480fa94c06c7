"""The e-waybill drawer (电子面单): draws the waybills release asked for and gives back those of
orders that left the warehouse unshipped (the ``waybill`` rows: cloud/orders/waybill_outbox.py).

- Each row is leased (one conditional UPDATE, as the shipment outbox) before a call, so two
  hub processes never call for one row at once; a dead process's rows go to others when the
  lease runs out.
- A draw is keyed: the row's idempotency key is the package id and the object id sent, and
  the courier returns the number it already gave for the same trade orders and package id
  (cainiao.waybill.ii.get, ``package_info.id``). So a lost answer, a retried call or a row
  taken over from a dead process gets the same number, never a second one.
- The number is written only while the row is still ours, with the order's row locked first
  (the order's transactions lock the order, then its waybill rows: same order, no deadlock),
  and only if the order still wants it: still at the warehouse, without a number, and this is
  its newest draw. Otherwise the number goes back (``cancel``).
- A draw the courier refuses (an ``isv.*`` error: an address it cannot serve, no subscription)
  or that failed ``MAX_ATTEMPTS`` times holds the order with the reason: visible per order,
  and the pack station shows it held. A person fixes the cause, cancels the outbound (撤销出库)
  and releases again, which draws anew.
- Calls back off, doubling from 30 s to an hour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels import courier_calls as calls
from cloud.channels.courier_calls import LEASE as LEASE
from cloud.channels.courier_calls import MAX_ATTEMPTS as MAX_ATTEMPTS
from cloud.channels.courier_calls import backoff as backoff
from cloud.channels.ports import DrawnWaybill, WaybillProvider, WaybillRequest
from cloud.channels.shops import shop_by_code
from cloud.db.engine import transaction
from cloud.db.models import ChannelOrder, ChannelShop, SalesOrder, SalesOrderLine
from cloud.db.waybills import Waybill, WaybillSource
from cloud.errors import N_, InvalidError
from cloud.nodes import downlink
from cloud.orders import core as orders
from cloud.orders.waybill_outbox import package_id
from cloud.tasks import sentence

#: Cainiao's ``order_channels_type`` of our channels; other orders are "OTHERS".
CHANNEL_TYPES = {"taobao": "TB", "jd": "JD", "pdd": "PDD"}
ACTOR = "waybills"


@dataclass
class Drawn:
    drawn: int = 0
    cancelled: int = 0
    retry: int = 0
    failed: int = 0
    void: int = 0


def claim(
    session: Session, owner: str, now: datetime, lease: timedelta = LEASE, limit: int = 50
) -> list[int]:
    due = (Waybill.state.in_(("pending", "cancel")),)
    return calls.claim(session, Waybill, due, owner, now, lease, limit)


def _wants(session: Session, row: Waybill, o: SalesOrder) -> bool:
    """The order still waits for this draw's number."""
    newest = session.execute(
        select(func.max(Waybill.id)).where(
            Waybill.order_id == row.order_id, Waybill.parcel == row.parcel
        )
    ).scalar_one()
    return o.status in orders.AT_EDGE and not o.tracking_number and newest == row.id


def _request(session: Session, row: Waybill, o: SalesOrder, keyed: bool) -> WaybillRequest:
    source = session.get(WaybillSource, (row.account_id, row.carrier))
    external = session.execute(
        select(ChannelOrder.external_id).where(ChannelOrder.order_id == o.id)
    ).scalar_one_or_none()
    lines = session.execute(
        select(SalesOrderLine.sku_code, SalesOrderLine.qty)
        .where(SalesOrderLine.order_id == o.id)
        .order_by(SalesOrderLine.line_id)
    ).all()
    key = package_id(row.idempotency_key)
    if not keyed:  # the ablation: a new package id per call
        key = f"{key}_{row.attempts}"
    return WaybillRequest(
        cp_code=row.cp_code,
        object_id=key,
        package_id=key,
        trade_orders=(external or o.order_no,),
        channel_type=CHANNEL_TYPES.get(o.channel, "OTHERS"),
        sender=dict(source.sender) if source else {},
        recipient=dict(o.recipient),
        items=tuple((sku[:60], int(qty)) for sku, qty in lines),
        template_url=source.template_url if source else "",
    )


def drain(
    factory: sessionmaker[Session],
    provider_for: Callable[[ChannelShop], WaybillProvider],
    *,
    owner: str,
    now: Callable[[], datetime],
    lease: timedelta = LEASE,
    keyed: bool = True,
    publish: Callable[[dict[str, int]], None] | None = None,
) -> Drawn:
    """Draw and give back what is due, one call per row. ``keyed`` (the same package id on
    every call for a row) is switched off by the ablation test only. The releases sent with
    the numbers are handed to ``publish`` after their commits (to reach the nodes at once)."""
    with transaction(factory) as s:
        ids = claim(s, owner, now(), lease)
    out = Drawn()
    pushes: dict[str, int] = {}
    for row_id in ids:
        for node, seq in _one(factory, provider_for, row_id, owner, now, out, keyed).items():
            pushes[node] = min(seq, pushes.get(node, seq))
    if publish is not None and pushes:
        publish(pushes)
    return out


def _one(
    factory: sessionmaker[Session],
    provider_for: Callable[[ChannelShop], WaybillProvider],
    row_id: int,
    owner: str,
    now: Callable[[], datetime],
    out: Drawn,
    keyed: bool,
) -> dict[str, int]:
    """One row's call; returns the downlink pushes its commit queued."""
    with factory() as s:
        row = s.get(Waybill, row_id)
        o = s.get(SalesOrder, row.order_id) if row is not None else None
        shop = s.get(ChannelShop, row.shop_id) if row is not None else None
        assert row is not None
        assert o is not None
        assert shop is not None
        state, attempts, cp_code, code = row.state, row.attempts, row.cp_code, row.waybill_code
        wants = _wants(s, row, o)
        req = _request(s, row, o, keyed) if state == "pending" else None
        s.expunge(shop)
    if state == "pending" and not wants and attempts == 0:
        # Never called for: nothing to draw or give back.
        _finish(factory, row_id, owner, now(), {"state": "void", "done_at": now()})
        out.void += 1
        return {}

    def call() -> DrawnWaybill | None:
        provider = provider_for(shop)
        if req is not None:
            return provider.draw(req)
        assert code is not None
        provider.cancel(cp_code, code)
        return None

    got = calls.attempt(shop, call)
    drawn = got.result
    at = now()
    if got.error is not None:
        values, final = calls.after_error(attempts, got.error, got.final, at)
        if final:
            values.update(state="failed", done_at=at)
        hold = final and state == "pending"
        pushes: dict[str, int] = {}
        _finish(
            factory, row_id, owner, at, values, hold=values["error"] if hold else None, out=pushes
        )
        if final:
            out.failed += 1
        else:
            out.retry += 1
        return pushes
    if drawn is None:  # a cancel went through
        _finish(factory, row_id, owner, at, {"state": "cancelled", "done_at": at, "error": None})
        out.cancelled += 1
        return {}
    values = {
        "attempts": attempts + 1,
        "waybill_code": drawn.waybill_code,
        "print_data": drawn.print_data,
        "route": drawn.route,
        "error": None,
    }
    pushes = {}
    if _finish(factory, row_id, owner, at, values, number=drawn, out=pushes):
        out.drawn += 1
    else:
        out.retry += 1  # the number goes back on the next drain (state ``cancel``)
    return pushes


def _finish(
    factory: sessionmaker[Session],
    row_id: int,
    owner: str,
    at: datetime,
    values: dict[str, Any],
    *,
    number: DrawnWaybill | None = None,
    hold: str | None = None,
    out: dict[str, int] | None = None,
) -> bool:
    """Write the outcome while the row is still ours; with a number, put it on the order if
    the order still wants it (True), else mark it to give back. Returns whether the order
    got the number."""
    with transaction(factory) as s:
        row = s.get(Waybill, row_id)
        assert row is not None
        # The order first, then the row: the order's own transactions lock in that order.
        o = s.execute(
            select(SalesOrder).where(SalesOrder.id == row.order_id).with_for_update()
        ).scalar_one()
        mine = s.execute(
            select(Waybill.id)
            .where(Waybill.id == row_id, Waybill.lease_owner == owner)
            .with_for_update()
        ).first()
        if mine is None:
            return False  # our lease ran out and another process holds the row now
        s.refresh(row)
        given = False
        if number is not None:
            if _wants(s, row, o):
                values["state"], values["done_at"] = "drawn", at
                o.tracking_number = number.waybill_code
                drawn = sentence(N_("waybill %(waybill)s drawn"), waybill=number.waybill_code)
                orders.note(s, o, "waybill", ACTOR, at, drawn)
                given = True
            else:
                values["state"], values["next_try_at"] = "cancel", at
        for k, v in {**values, "lease_owner": None, "lease_until": None}.items():
            setattr(row, k, v)
        held = hold is not None and not o.on_hold and _wants(s, row, o)
        if held:
            # ``hold``: the courier service's own words (its error), kept as it said them.
            not_drawn = sentence(N_("e-waybill not drawn: %(why)s"), why=hold)
            o.on_hold, o.hold_reason = True, f"e-waybill not drawn: {hold}"[:300]
            orders.note(s, o, "hold", ACTOR, at, not_drawn)
            o.changed_at, o.changed_by = at, ACTOR
        if given or held:
            s.flush()
            orders.send_release(s, o, at)
    if out is not None:
        out.update(downlink.pushes_of(s))
    return given


# --- setting a courier up, and what an order drew ------------------------------------------


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\- ]{3,32}$")]
    province: Text
    city: Text
    district: Text | None = None
    address: Text


class WaybillSourceIn(BaseModel):
    """Our courier ``carrier`` draws its waybills from ``cp_code`` on the shop's Cainiao account."""

    model_config = ConfigDict(extra="forbid")
    shop: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    cp_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,32}$")]
    sender: SenderIn
    template_url: Annotated[str, Field(max_length=300)] = ""


def put_source(
    session: Session, account_id: int, carrier: str, body: WaybillSourceIn, now: datetime
) -> WaybillSource:
    carrier = carrier.strip()
    if not carrier or len(carrier) > 64:
        raise InvalidError(N_("the courier's code is needed"), "carrier")
    shop = shop_by_code(session, account_id, body.shop)
    row = session.get(WaybillSource, (account_id, carrier))
    if row is None:
        row = WaybillSource(account_id=account_id, carrier=carrier)
        session.add(row)
    row.shop_id, row.cp_code = shop.id, body.cp_code
    row.sender = body.sender.model_dump()
    row.template_url, row.changed_at = body.template_url, now
    return row


def of_order(session: Session, account_id: int, order_no: str) -> list[Waybill]:
    """An order's draws, oldest first: number, state, error."""
    order_id = orders.get(session, account_id, order_no, lock=False).id
    return list(
        session.execute(
            select(Waybill)
            .where(Waybill.account_id == account_id, Waybill.order_id == order_id)
            .order_by(Waybill.id)
        ).scalars()
    )
