"""Each pack node's offline e-waybill pool (电子面单 numbers drawn ahead; docs/channels.md
"The offline pool"): drawn from the courier's source while online and sent to the node, so
its pack station still prints labels with the uplink down.

Cainiao's ``cainiao.waybill.ii.get`` has no pre-allocation of number ranges: every number is
drawn for a parcel with its trade orders, package id and recipient
(shared/research/channels.md). So a pool number is drawn like any other, against a
placeholder parcel of the pool: the trade order and package id are the pool row's key
(``pool:<account>:<node>:<carrier>:<n>``, the same on every try, so a lost answer gives the
same number back) and the recipient is the sender's own address. The courier's print data
and route code of such a draw are of that placeholder, so the node's label prints the real
recipient from the order and no route code. Correcting the courier's record afterwards
(Cainiao has ``cainiao.waybill.ii.update``) is not done.

- ``set_target``: how many numbers a node keeps of a courier (0 stops topping up).
- ``plan``: for each pool below half its target, rows ``pending`` up to the target (the level
  is what the node holds as the hub knows it: sent and not reported used, plus those on the
  way).
- ``drain``: draws the due rows (leased, as the order draws are: cloud/channels/waybills.py),
  then sends each node its new numbers in one ``waybill.pool`` change.
- A use reported by the node is bound in cloud/orders/waybill_pool.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels.ports import (
    AuthRejected,
    ChannelError,
    DrawnWaybill,
    Retryable,
    WaybillProvider,
    WaybillRequest,
)
from cloud.channels.waybills import LEASE, MAX_ATTEMPTS, backoff
from cloud.db.engine import transaction
from cloud.db.models import ChannelShop, Node
from cloud.db.waybills import PoolWaybill, WaybillPool, WaybillSource
from cloud.errors import N_, InvalidError, NotFoundError
from cloud.nodes import downlink
from cloud.nodes.ownership import owned_by
from cloud.orders.waybill_outbox import package_id
from protocol.messages import WaybillPoolTopUp

#: The node holds these (sent, not reported used) or they are on the way to it.
HELD = ("pending", "ready", "sent")
MAX_TARGET = 500


class PoolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Numbers the node keeps of this courier; 0 stops topping up (what it holds stays).
    target: Annotated[int, Field(strict=True, ge=0, le=MAX_TARGET)]


@dataclass
class Topped:
    asked: int = 0
    drawn: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0


def set_target(
    session: Session, account_id: int, node_id: str, carrier: str, body: PoolIn, now: datetime
) -> WaybillPool:
    """404 for a node that is not the seller's; 422 for a courier without an e-waybill source
    (its numbers could be drawn from nowhere)."""
    node = session.execute(
        select(Node.node_id).where(Node.node_id == node_id, owned_by(account_id))
    ).scalar_one_or_none()
    if node is None:
        raise NotFoundError(N_("no node %(node)s"), node=node_id)
    if session.get(WaybillSource, (account_id, carrier)) is None:
        raise InvalidError(
            N_("courier %(carrier)s has no e-waybill source: set one before its pool"),
            "carrier",
            carrier=carrier,
        )
    row = session.get(WaybillPool, (account_id, node_id, carrier), with_for_update=True)
    if row is None:
        row = WaybillPool(account_id=account_id, node_id=node_id, carrier=carrier, asked=0)
        session.add(row)
    row.target, row.changed_at = body.target, now
    return row


def held(session: Session, pool: WaybillPool) -> int:
    return int(
        session.execute(
            select(func.count()).where(
                PoolWaybill.account_id == pool.account_id,
                PoolWaybill.node_id == pool.node_id,
                PoolWaybill.carrier == pool.carrier,
                PoolWaybill.state.in_(HELD),
            )
        ).scalar_one()
    )


def plan(session: Session, now: datetime) -> int:
    """Rows to draw for every pool below half its target; returns how many."""
    asked = 0
    pools = session.execute(
        select(WaybillPool).where(WaybillPool.target > 0).with_for_update()
    ).scalars()
    for pool in list(pools):
        level = held(session, pool)
        if level * 2 > pool.target:  # more than half left: no top-up yet
            continue
        source = session.get(WaybillSource, (pool.account_id, pool.carrier))
        if source is None:
            continue
        for _ in range(pool.target - level):
            pool.asked += 1
            session.add(
                PoolWaybill(
                    account_id=pool.account_id,
                    node_id=pool.node_id,
                    carrier=pool.carrier,
                    shop_id=source.shop_id,
                    cp_code=source.cp_code,
                    idempotency_key=(
                        f"pool:{pool.account_id}:{pool.node_id}:{pool.carrier}:{pool.asked}"
                    ),
                    state="pending",
                    attempts=0,
                    next_try_at=now,
                    created_at=now,
                )
            )
            asked += 1
    return asked


def _claim(session: Session, owner: str, now: datetime, lease: timedelta) -> list[int]:
    free = or_(PoolWaybill.lease_owner.is_(None), PoolWaybill.lease_until < now)
    due = (PoolWaybill.state == "pending", PoolWaybill.next_try_at <= now)
    ids = list(
        session.execute(
            select(PoolWaybill.id)
            .where(*due, free)
            .order_by(PoolWaybill.next_try_at, PoolWaybill.id)
            .limit(100)
        ).scalars()
    )
    out = []
    for row_id in ids:
        done = session.execute(
            update(PoolWaybill)
            .where(PoolWaybill.id == row_id, *due, free)
            .values(lease_owner=owner, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            out.append(row_id)
    return out


def _request(row: PoolWaybill, source: WaybillSource | None) -> WaybillRequest:
    key = package_id(row.idempotency_key)
    sender = dict(source.sender) if source else {}
    return WaybillRequest(
        cp_code=row.cp_code,
        object_id=key,
        package_id=key,
        trade_orders=(key,),
        channel_type="OTHERS",
        sender=sender,
        # No buyer yet: the placeholder parcel goes to the sender (see the module's note).
        recipient=sender,
        items=(("pool", 1),),
        template_url=source.template_url if source else "",
    )


def drain(
    factory: sessionmaker[Session],
    provider_for: Callable[[ChannelShop], WaybillProvider],
    *,
    owner: str,
    now: Callable[[], datetime],
    lease: timedelta = LEASE,
) -> Topped:
    """Plan top-ups, draw what is due, send the nodes what was drawn."""
    out = Topped()
    with transaction(factory) as s:
        out.asked = plan(s, now())
        ids = _claim(s, owner, now(), lease)
    for row_id in ids:
        _draw_one(factory, provider_for, row_id, owner, now, out)
    with transaction(factory) as s:
        out.sent = send(s, now())
    return out


def _draw_one(
    factory: sessionmaker[Session],
    provider_for: Callable[[ChannelShop], WaybillProvider],
    row_id: int,
    owner: str,
    now: Callable[[], datetime],
    out: Topped,
) -> None:
    with factory() as s:
        row = s.get(PoolWaybill, row_id)
        assert row is not None
        shop = s.get(ChannelShop, row.shop_id)
        assert shop is not None
        req = _request(row, s.get(WaybillSource, (row.account_id, row.carrier)))
        attempts = row.attempts
        s.expunge(shop)
    drawn: DrawnWaybill | None = None
    error: str | None = None
    final = False
    if shop.status == "needs_reauth":
        error = f"the shop needs re-authorisation: {shop.status_reason}"
    else:
        try:
            drawn = provider_for(shop).draw(req)
        except (Retryable, AuthRejected) as err:
            error = str(err)
        except ChannelError as err:
            error, final = str(err), True
    at = now()
    values: dict[str, Any] = {"attempts": attempts + 1, "lease_owner": None, "lease_until": None}
    if drawn is not None:
        values.update(state="ready", waybill_code=drawn.waybill_code, error=None)
        out.drawn += 1
    else:
        assert error is not None
        tries = attempts + 1
        if not final and tries >= MAX_ATTEMPTS:
            error, final = f"gave up after {tries} attempts: {error}", True
        values["error"] = error[:2000]
        if final:
            values["state"] = "failed"
            out.failed += 1
        else:
            values["next_try_at"] = at + backoff(tries)
            out.retry += 1
    with transaction(factory) as s:
        # Only while the row is still ours (a lease run out: another process has it now).
        s.execute(
            update(PoolWaybill)
            .where(PoolWaybill.id == row_id, PoolWaybill.lease_owner == owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def send(session: Session, now: datetime) -> int:
    """Every drawn number not yet sent goes to its node, one change per pool."""
    ready = list(
        session.execute(
            select(PoolWaybill)
            .where(PoolWaybill.state == "ready")
            .order_by(PoolWaybill.node_id, PoolWaybill.carrier, PoolWaybill.id)
            .with_for_update()
        ).scalars()
    )
    by_pool: dict[tuple[str, str], list[PoolWaybill]] = {}
    for row in ready:
        by_pool.setdefault((row.node_id, row.carrier), []).append(row)
    sent = 0
    for (node_id, carrier), rows in by_pool.items():
        node = session.execute(
            select(Node).where(Node.node_id == node_id).with_for_update()
        ).scalar_one_or_none()
        if node is None:
            continue
        for i in range(0, len(rows), 500):
            part = rows[i : i + 500]
            codes = [r.waybill_code for r in part if r.waybill_code]
            batch = f"{carrier}:{part[0].id}-{part[-1].id}"[:64]
            item = WaybillPoolTopUp(carrier=carrier, batch=batch, waybills=codes)
            downlink.append(session, node, "waybill.pool", item, now)
            for r in part:
                r.state, r.batch = "sent", batch
            sent += len(part)
    return sent


def levels(session: Session, account_id: int) -> list[dict[str, Any]]:
    """Per node and courier: the target, and how many numbers are on the node, on the way
    (being drawn or to send), used offline, and refused by the courier."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for pool in session.execute(
        select(WaybillPool).where(WaybillPool.account_id == account_id)
    ).scalars():
        out[(pool.node_id, pool.carrier)] = {
            "node": pool.node_id,
            "carrier": pool.carrier,
            "target": pool.target,
        }
    counts = session.execute(
        select(PoolWaybill.node_id, PoolWaybill.carrier, PoolWaybill.state, func.count())
        .where(PoolWaybill.account_id == account_id)
        .group_by(PoolWaybill.node_id, PoolWaybill.carrier, PoolWaybill.state)
    ).all()
    for node_id, carrier, state, n in counts:
        row = out.setdefault((node_id, carrier), {"node": node_id, "carrier": carrier, "target": 0})
        row[state] = row.get(state, 0) + n
    for row in out.values():
        for state in ("pending", "ready", "sent", "used", "failed"):
            row.setdefault(state, 0)
        row["on_node"] = row["sent"]
        row["on_the_way"] = row["pending"] + row["ready"]
        row["low"] = row["target"] > 0 and row["sent"] * 2 <= row["target"]
    return [out[k] for k in sorted(out)]
