"""The shipment confirmation sender: drains the outbox (``channel_shipment``, written when an
order ships: cloud/orders/channel_outbox.py) to the marketplace.

- Each row is leased (``lease_owner``, ``lease_until``, one conditional UPDATE, as the shops'
  leases) before it is sent, so two hub processes never send the same row at once; a process
  that died leaves its rows to others once the lease runs out.
- A row is sent again until the marketplace has it: a failed call backs off (doubling from
  30 s to an hour), and after ``MAX_ATTEMPTS`` it is marked failed with the last error.
- "Already shipped with the same parcel number" is done: that is our own write whose answer
  was lost (research notes, shared/research/channels.md: "already shipped same tracking =
  success"). Another number, or a refusal the marketplace means, is failed with the reason,
  shown per order (``GET /api/v1/channels/orders/{order_no}/shipments``).
- The courier code is mapped per shop (``channel_courier``); without a mapping our code is sent
  as it is (Taobao's codes are the couriers' usual abbreviations: SF, ZTO, YTO, STO, YUNDA).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels import shops, split_shipments, stock_locations
from cloud.channels.ports import AuthRejected, ChannelError, Retryable, ShipmentConfirmer
from cloud.channels.shops import shop_by_code
from cloud.db.engine import transaction
from cloud.db.models import (
    ChannelCourier,
    ChannelOrder,
    ChannelShipment,
    ChannelShop,
    SalesOrder,
    SalesOrderLine,
)
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError
from cloud.orders import core as orders
from cloud.orders.channel_outbox import split_by_location

MAX_ATTEMPTS = 20
LEASE = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


@dataclass
class Sent:
    done: int = 0
    retry: int = 0
    failed: int = 0


def claim(
    session: Session, owner: str, now: datetime, lease: timedelta = LEASE, limit: int = 50
) -> list[int]:
    free = or_(
        ChannelShipment.lease_owner.is_(None),
        ChannelShipment.lease_until.is_(None),
        ChannelShipment.lease_until < now,
    )
    due = (
        ChannelShipment.state == "pending",
        ChannelShipment.next_try_at <= now,
        # A shop waiting for re-authorisation is not called and its rows' attempts are not
        # used up (shops.park); shops.reauthorise makes them due again.
        ChannelShipment.shop_id.not_in(shops.parked_shops()),
    )
    ids = session.execute(
        select(ChannelShipment.id)
        .where(*due, free)
        .order_by(ChannelShipment.next_try_at, ChannelShipment.id)
        .limit(limit)
    ).scalars()
    out = []
    for row_id in list(ids):
        done = session.execute(
            update(ChannelShipment)
            .where(ChannelShipment.id == row_id, *due, free)
            .values(lease_owner=owner, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            out.append(row_id)
    return out


def drain(
    factory: sessionmaker[Session],
    confirmer_for: Callable[[ChannelShop], ShipmentConfirmer],
    *,
    owner: str,
    now: Callable[[], datetime],
    lease: timedelta = LEASE,
    same_tracking_is_done: bool = True,
) -> Sent:
    """Send what is due. ``same_tracking_is_done`` exists for the ablation test only."""
    with transaction(factory) as s:
        ids = claim(s, owner, now(), lease)
    sent = Sent()
    for row_id in ids:
        with factory() as s:
            row = s.get(ChannelShipment, row_id)
            assert row is not None
            shop = s.get(ChannelShop, row.shop_id)
            assert shop is not None
            s.expunge(shop)
            code = s.execute(
                select(ChannelCourier.company_code).where(
                    ChannelCourier.shop_id == row.shop_id, ChannelCourier.carrier == row.carrier
                )
            ).scalar_one_or_none() or (row.carrier or "")
            ext, tracking, attempts = row.external_id, row.tracking_number or "", row.attempts
            # The location the parcel left from, where the shop's warehouses are mapped to
            # its locations (a Shopify shop: cloud/channels/stock_locations.py).
            location = stock_locations.location_of_order(s, row.shop_id, row.order_id)
            # The parcel's lines, when it is one of the orders of a trade Shopify split
            # between locations (it fulfils only its own fulfillment order) or a person split.
            lines = None
            if shop.platform == "taobao":
                # A parcel of a trade a person split: the sub-orders it confirms.
                lines = split_shipments.part_of(s, row.shop_id, ext, row.order_id, row_id)
            elif _split_by_location(s, row.shop_id, ext) or split_shipments.is_split(
                s, row.shop_id, ext
            ):
                # A half of a trade Shopify split between locations, or a part of one a
                # person split: its own units (shopify/shipments.py).
                lines = {
                    str(lid): int(q)
                    for lid, q in s.execute(
                        select(SalesOrderLine.line_id, SalesOrderLine.qty).where(
                            SalesOrderLine.order_id == row.order_id, SalesOrderLine.gift.is_(False)
                        )
                    ).all()
                }
        state, error, parked = "done", None, False
        if lines == {} and shop.platform == "taobao":
            # Every sub-order this parcel carries is confirmed by a later one of the trade's
            # parcels (split_shipments.py): nothing to send for it.
            error = "nothing to confirm on its own: its sub-orders go with a later parcel"
        elif shop.status == "needs_reauth":
            state, error = "pending", f"the shop needs re-authorisation: {shop.status_reason}"
            parked = True
        else:
            try:
                confirmer = confirmer_for(shop)
                kw: dict[str, Any] = {}
                if location is not None:
                    kw["location"] = location
                if lines is not None:
                    kw["lines"] = lines
                answer = confirmer.confirm(ext, tracking, code, **kw)
                if answer == "already" and not same_tracking_is_done:
                    state, error = "failed", "the marketplace says the order is shipped already"
            except AuthRejected as err:
                state, error, parked = "pending", str(err), True
                with transaction(factory) as s:
                    shops.park(s, shop.id, str(err))
            except Retryable as err:
                state, error = "pending", str(err)
            except ChannelError as err:
                state, error = "failed", str(err)
        at = now()
        with transaction(factory) as s:
            values: dict[str, object] = {
                # Waiting for a new key is not a try: it would use the row's tries up.
                "attempts": attempts if parked else attempts + 1,
                "error": error,
                "lease_owner": None,
                "lease_until": None,
            }
            if state == "pending" and not parked and attempts + 1 >= MAX_ATTEMPTS:
                state, error = "failed", f"gave up after {attempts + 1} attempts: {error}"
                values["error"] = error
            values["state"] = state
            if lines is not None and shop.platform == "taobao":
                # Kept from the first try on: a retry sends the same part, and the trade's
                # later parcels leave it out (split_shipments.py).
                values["sub_tids"] = split_shipments.joined(lines)
            if state == "pending":
                values["next_try_at"] = at + backoff(attempts + 1)
            else:
                values["done_at"] = at
            # Only while the row is still ours: a process that stalled past its lease does
            # not overwrite what the row's new holder wrote.
            s.execute(
                update(ChannelShipment)
                .where(ChannelShipment.id == row_id, ChannelShipment.lease_owner == owner)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        if state == "done":
            sent.done += 1
        elif state == "failed":
            sent.failed += 1
        else:
            sent.retry += 1
    return sent


def _split_by_location(session: Session, shop_id: int, ext: str) -> bool:
    payload = session.execute(
        select(ChannelOrder.payload).where(
            ChannelOrder.shop_id == shop_id, ChannelOrder.external_id == ext
        )
    ).scalar_one_or_none()
    return split_by_location(payload)


def map_courier(
    session: Session, account_id: int, code: str, carrier: str, company_code: str
) -> ChannelCourier:
    """Our courier ``carrier`` is ``company_code`` on the shop's marketplace."""
    shop = shop_by_code(session, account_id, code)
    carrier, company_code = carrier.strip(), company_code.strip()
    if not carrier or not company_code:
        raise InvalidError(N_("the courier and the marketplace's code are both needed"), "carrier")
    row = session.get(ChannelCourier, (shop.id, carrier))
    if row is None:
        row = ChannelCourier(
            account_id=account_id, shop_id=shop.id, carrier=carrier, company_code=company_code
        )
        session.add(row)
    else:
        row.company_code = company_code
    return row


def couriers_of(session: Session, account_id: int, code: str) -> list[ChannelCourier]:
    """The shop's courier codes, by our courier's code (404 for another seller's shop)."""
    shop = shop_by_code(session, account_id, code)
    return list(
        session.execute(
            select(ChannelCourier)
            .where(ChannelCourier.shop_id == shop.id)
            .order_by(ChannelCourier.carrier)
        ).scalars()
    )


def of_order(session: Session, account_id: int, order_no: str) -> list[ChannelShipment]:
    """An order's confirmations to its marketplace, oldest first."""
    order_id = orders.get(session, account_id, order_no, lock=False).id
    return list(
        session.execute(
            select(ChannelShipment)
            .where(ChannelShipment.account_id == account_id, ChannelShipment.order_id == order_id)
            .order_by(ChannelShipment.id)
        ).scalars()
    )


def retry(session: Session, account_id: int, shipment_id: int, now: datetime) -> ChannelShipment:
    """A person fixed the cause (a courier mapping, a re-authorisation): send a failed row again."""
    row = session.get(ChannelShipment, shipment_id)
    if row is None or row.account_id != account_id:
        raise NotFoundError(N_("no shipment confirmation %(shipment_id)s"), shipment_id=shipment_id)
    if row.state != "failed":
        raise ConflictError(
            N_("confirmation %(shipment_id)s is %(state)s; only a failed one is sent again"),
            shipment_id=shipment_id,
            state=row.state,
        )
    row.state, row.attempts, row.next_try_at, row.done_at = "pending", 0, now, None
    return row


def failed_of_shop(
    session: Session, account_id: int, code: str, limit: int = 100
) -> list[tuple[str, ChannelShipment]]:
    """A shop's failed confirmations with their order numbers, newest first: what a person
    must fix (courier mapping, re-authorisation) and then send again with ``retry``."""
    shop = shop_by_code(session, account_id, code)
    rows = session.execute(
        select(SalesOrder.order_no, ChannelShipment)
        .join(SalesOrder, SalesOrder.id == ChannelShipment.order_id)
        .where(
            ChannelShipment.account_id == account_id,
            ChannelShipment.shop_id == shop.id,
            ChannelShipment.state == "failed",
        )
        .order_by(ChannelShipment.id.desc())
        .limit(limit)
    ).all()
    return [(no, r) for no, r in rows]
