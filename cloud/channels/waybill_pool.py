"""Each pack node's offline e-waybill pool (电子面单 numbers drawn ahead; docs/channels.md
"The offline pool"): drawn from the courier's source while online and sent to the node, so
its pack station still prints labels with the uplink down.

Cainiao's ``cainiao.waybill.ii.get`` has no pre-allocation of number ranges: every number is
drawn for a parcel with its trade orders, package id and recipient
(shared/research/channels.md). So a pool number is drawn like any other, against a
placeholder parcel of the pool: the trade order and package id are the pool row's key
(``pool:<account>:<node>:<carrier>:<n>``, the same on every try, so a lost answer gives the
same number back) and the recipient is the sender's own address. Once a node prints the
number on an order, the courier's record is corrected to the order's recipient with
``cainiao.waybill.ii.update`` (``recipient_state``, retried until done).

- ``set_target``: how many numbers a node keeps of a courier (0: none, everything given back).
- ``plan``: for each pool at half its target or below, rows ``pending`` up to the target (the
  level is what the node holds as the hub knows it: sent and not reported used, plus those on
  the way); for each pool above its target, the surplus given back (``give_back``).
- ``drain``: draws, cancels and corrects what is due (leased; the calls are those of the order
  draws: cloud/channels/courier_calls.py), then sends each node its new numbers in one
  ``waybill.pool`` change, and has the changes pushed to the nodes at once (``publish``).
- A use reported by the node is bound, and a release it confirmed is cancelled, in
  cloud/orders/waybill_pool.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels import courier_calls as calls
from cloud.channels import pool_force
from cloud.channels.courier_calls import LEASE
from cloud.channels.pool_force import DEFAULT_WAIT
from cloud.channels.ports import DrawnWaybill, WaybillProvider, WaybillRequest
from cloud.db.engine import transaction
from cloud.db.models import ChannelShop, Node, SalesOrder, SalesOrderLine
from cloud.db.waybills import PoolWaybill, WaybillPool, WaybillSource
from cloud.errors import N_, ConflictError, InvalidError
from cloud.nodes import downlink
from cloud.nodes.ownership import owned_by
from cloud.orders.waybill_outbox import package_id
from cloud.orders.waybill_pool import resend_left
from protocol.messages import WaybillPoolRelease, WaybillPoolTopUp

#: The node holds these (sent, not reported used) or they are on the way to it.
HELD = ("pending", "ready", "sent")
MAX_TARGET = 500
#: Pushes a drain queued for the nodes, handed over after its commits (the hub's MQTT client:
#: cloud/sync/worker.py ``push_downlink``). A missed push is pulled at the node's next hello.
Publish = Callable[[dict[str, int]], None]


class PoolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Numbers the node keeps of this courier; 0 keeps none (what it holds is given back).
    target: Annotated[int, Field(strict=True, ge=0, le=MAX_TARGET)]


@dataclass
class Topped:
    asked: int = 0
    drawn: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    #: Asked back from nodes (``waybill.pool_release``), and cancelled at the courier.
    released: int = 0
    cancelled: int = 0
    #: Used numbers whose courier record now names the order's recipient.
    corrected: int = 0
    #: Tasks opened for nodes that have not answered a give-back within the wait.
    overdue: int = 0


def set_target(
    session: Session, account_id: int, node_id: str, carrier: str, body: PoolIn, now: datetime
) -> WaybillPool:
    """422, nothing changed, for a node that is not the seller's (or none at all) and for a
    courier without an e-waybill source (its numbers could be drawn from nowhere). A lower
    target gives the surplus back on the scheduler's next drain (``give_back``)."""
    node = session.execute(
        select(Node.node_id).where(Node.node_id == node_id, owned_by(account_id))
    ).scalar_one_or_none()
    if node is None:
        raise InvalidError(N_("no node %(node)s"), "node", node=node_id)
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


def retire(session: Session, account_id: int, node_id: str, now: datetime) -> list[WaybillPool]:
    """A node leaving service: every pool of it to 0, so all its unused numbers are given back
    (the API, the CLI and the e-waybills page call this). 404 for a node that is not the
    seller's; 409 for a node that keeps no pool or whose pools are at 0 already (nothing
    changed either way)."""
    pool_force.own_node(session, account_id, node_id)
    pools = list(
        session.execute(
            select(WaybillPool)
            .where(WaybillPool.account_id == account_id, WaybillPool.node_id == node_id)
            .with_for_update()
        ).scalars()
    )
    if not pools:
        raise ConflictError(
            N_("node %(node)s keeps no offline pool: nothing to retire"), node=node_id
        )
    if all(pool.target == 0 for pool in pools):
        raise ConflictError(
            N_("node %(node)s is retired already: its pools' targets are 0"), node=node_id
        )
    for pool in pools:
        pool.target, pool.changed_at = 0, now
    return pools


def _of_pool(pool: WaybillPool) -> tuple[Any, ...]:
    return (
        PoolWaybill.account_id == pool.account_id,
        PoolWaybill.node_id == pool.node_id,
        PoolWaybill.carrier == pool.carrier,
    )


def held(session: Session, pool: WaybillPool) -> int:
    return int(
        session.execute(
            select(func.count()).where(*_of_pool(pool), PoolWaybill.state.in_(HELD))
        ).scalar_one()
    )


def plan(
    session: Session, now: datetime, out: Topped | None = None, wait: timedelta = DEFAULT_WAIT
) -> int:
    """Rows to draw for every pool at half its target or below (returns how many), and the
    surplus of every pool above its target given back (counted in ``out.released``); numbers
    asked back more than ``wait`` ago and still unanswered open a task
    (cloud/channels/pool_force.py, counted in ``out.overdue``)."""
    overdue = pool_force.overdue(session, now, wait)
    if out is not None:
        out.overdue += overdue
    asked = 0
    pools = session.execute(select(WaybillPool).with_for_update()).scalars()
    for pool in list(pools):
        level = held(session, pool)
        if level > pool.target:
            given = give_back(session, pool, level - pool.target, now)
            if out is not None:
                out.released += given
            continue
        if pool.target == 0 or level * 2 > pool.target:  # more than half left: no top-up yet
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


def give_back(session: Session, pool: WaybillPool, surplus: int, now: datetime) -> int:
    """Give back ``surplus`` numbers the pool holds (docs/channels.md "Giving numbers back"),
    cheapest first: rows never drawn are void, drawn ones not yet sent are cancelled at the
    courier, and numbers on the node are asked back (``releasing``, one
    ``waybill.pool_release`` change). Those are cancelled only once the node confirms it
    removed them from its pool (``waybill.pool_released``: cloud/orders/waybill_pool.py), so
    the node never prints a number the courier has taken back. A row being drawn (called at
    least once: its number may exist) is left to be drawn and given back on a later drain.
    Returns how many rows were given back or asked back."""
    rows = list(
        session.execute(
            select(PoolWaybill)
            .where(*_of_pool(pool), PoolWaybill.state.in_(HELD))
            .order_by(PoolWaybill.id.desc())
            .with_for_update()
        ).scalars()
    )
    rank = {"pending": 0, "ready": 1, "sent": 2}
    rows.sort(key=lambda r: rank[r.state])  # stable: newest first within a state
    asked_back: list[PoolWaybill] = []
    done = 0
    for row in rows:
        if done >= surplus:
            break
        if row.state == "pending":
            if row.attempts > 0 or row.lease_owner is not None:
                continue
            row.state = "void"
        elif row.state == "ready":
            row.state, row.attempts, row.next_try_at, row.error = "cancel", 0, now, None
        else:
            row.state, row.asked_at = "releasing", now
            asked_back.append(row)
        done += 1
    if asked_back:
        node = session.execute(
            select(Node).where(Node.node_id == pool.node_id).with_for_update()
        ).scalar_one_or_none()
        if node is not None:
            asked_back.sort(key=lambda r: r.id)
            for i in range(0, len(asked_back), 500):
                part = asked_back[i : i + 500]
                release = f"{pool.carrier}:r{part[0].id}-{part[-1].id}"[:64]
                codes = [r.waybill_code for r in part if r.waybill_code]
                item = WaybillPoolRelease(carrier=pool.carrier, release=release, waybills=codes)
                downlink.append(session, node, "waybill.pool_release", item, now)
            # Their top-ups sent again without them: a node resyncing from the compacted
            # downlink never gets them back as free.
            for row in {r.batch: r for r in asked_back if r.batch}.values():
                resend_left(session, row, now)
    return done


#: Rows with a courier call due: a draw, a give-back, a used number's recipient to correct.
DUE = (
    or_(
        PoolWaybill.state.in_(("pending", "cancel")),
        and_(PoolWaybill.state == "used", PoolWaybill.recipient_state == "pending"),
    ),
)


def drain(
    factory: sessionmaker[Session],
    provider_for: Callable[[ChannelShop], WaybillProvider],
    *,
    owner: str,
    now: Callable[[], datetime],
    lease: timedelta = LEASE,
    publish: Publish | None = None,
    wait: timedelta = DEFAULT_WAIT,
) -> Topped:
    """Plan top-ups and give-backs, make the due courier calls, send the nodes what was
    drawn; then hand the nodes' new downlink changes to ``publish`` (after the commits).
    ``wait``: how long a node may take to answer a give-back before a task is opened."""
    out = Topped()
    pushes: dict[str, int] = {}
    with transaction(factory) as s:
        out.asked = plan(s, now(), out, wait)
        ids = calls.claim(s, PoolWaybill, DUE, owner, now(), lease, 100)
    _merge(pushes, downlink.pushes_of(s))
    for row_id in ids:
        _call_one(factory, provider_for, row_id, owner, now, out)
    with transaction(factory) as s:
        out.sent = send(s, now())
    _merge(pushes, downlink.pushes_of(s))
    if publish is not None and pushes:
        publish(pushes)
    return out


def _merge(into: dict[str, int], pushes: dict[str, int]) -> None:
    for node, seq in pushes.items():
        into[node] = min(seq, into.get(node, seq))


def _request(session: Session, row: PoolWaybill, source: WaybillSource | None) -> WaybillRequest:
    """The placeholder parcel of a draw; for a used number (its recipient to correct), the
    order's recipient and lines under the same package id."""
    key = package_id(row.idempotency_key)
    sender = dict(source.sender) if source else {}
    # No buyer yet: the placeholder parcel goes to the sender (the module's note).
    recipient: dict[str, Any] = sender
    items: tuple[tuple[str, int], ...] = (("pool", 1),)
    if row.state == "used" and row.order_id is not None:
        o = session.get(SalesOrder, row.order_id)
        if o is not None:
            recipient = dict(o.recipient)
            items = (
                tuple(
                    (sku[:60], int(qty))
                    for sku, qty in session.execute(
                        select(SalesOrderLine.sku_code, SalesOrderLine.qty)
                        .where(SalesOrderLine.order_id == o.id)
                        .order_by(SalesOrderLine.line_id)
                    ).all()
                )
                or items
            )
    return WaybillRequest(
        cp_code=row.cp_code,
        object_id=key,
        package_id=key,
        trade_orders=(key,),
        channel_type="OTHERS",
        sender=sender,
        recipient=recipient,
        items=items,
        template_url=source.template_url if source else "",
    )


def _call_one(
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
        req = _request(s, row, s.get(WaybillSource, (row.account_id, row.carrier)))
        state, attempts, cp_code, code = row.state, row.attempts, row.cp_code, row.waybill_code
        s.expunge(shop)

    def call() -> DrawnWaybill | None:
        provider = provider_for(shop)
        if state == "pending":
            return provider.draw(req)
        assert code is not None
        if state == "cancel":
            provider.cancel(cp_code, code)
            return None
        return provider.update(req, code)  # a used number: its recipient corrected

    got = calls.attempt(shop, call)
    at = now()
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
    if got.error is None:
        values.update(attempts=attempts + 1, error=None)
        if state == "pending":
            assert got.result is not None
            values.update(state="ready", waybill_code=got.result.waybill_code)
            out.drawn += 1
        elif state == "cancel":
            values["state"] = "cancelled"
            out.cancelled += 1
        else:
            values["recipient_state"] = "done"
            out.corrected += 1
    else:
        more, final = calls.after_error(attempts, got.error, got.final, at)
        values.update(more)
        if final:
            out.failed += 1
            if state == "used":
                values["recipient_state"] = "failed"
            else:
                # A refused draw is ``failed``; a refused give-back too (the courier keeps
                # the number; ``error`` says why, shown with the pool).
                values["state"] = "failed"
        else:
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
    (being drawn or to send), used offline, being given back (asked back from the node or to
    cancel at the courier), given back, and refused by the courier; and the used numbers
    whose courier record is still to correct (``fixing``) or could not be (``fix_failed``);
    since when the node owes an answer to a give-back (``asked_since``, None: it owes none)
    and how many numbers were given back without its word (``forced``)."""
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
    fixes = session.execute(
        select(PoolWaybill.node_id, PoolWaybill.carrier, PoolWaybill.recipient_state, func.count())
        .where(
            PoolWaybill.account_id == account_id,
            PoolWaybill.recipient_state.in_(("pending", "failed")),
        )
        .group_by(PoolWaybill.node_id, PoolWaybill.carrier, PoolWaybill.recipient_state)
    ).all()
    for node_id, carrier, fix, n in fixes:
        row = out.setdefault((node_id, carrier), {"node": node_id, "carrier": carrier, "target": 0})
        row["fixing" if fix == "pending" else "fix_failed"] = n
    # Since when the node owes an answer (the oldest number asked back), and how many were
    # given back without its word (cloud/channels/pool_force.py).
    for node_id, carrier, since, forced in session.execute(
        select(
            PoolWaybill.node_id,
            PoolWaybill.carrier,
            func.min(PoolWaybill.asked_at).filter(PoolWaybill.state == "releasing"),
            func.count(PoolWaybill.forced_at),
        )
        .where(
            PoolWaybill.account_id == account_id,
            or_(PoolWaybill.state == "releasing", PoolWaybill.forced_at.is_not(None)),
        )
        .group_by(PoolWaybill.node_id, PoolWaybill.carrier)
    ).all():
        row = out.setdefault((node_id, carrier), {"node": node_id, "carrier": carrier, "target": 0})
        row["asked_since"], row["forced"] = since, forced
    states = ("pending", "ready", "sent", "used", "failed", "releasing", "cancel", "cancelled")
    for row in out.values():
        for state in (*states, "fixing", "fix_failed", "forced"):
            row.setdefault(state, 0)
        row.setdefault("asked_since", None)
        row["on_node"] = row["sent"]
        row["on_the_way"] = row["pending"] + row["ready"]
        row["giving_back"] = row["releasing"] + row["cancel"]
        row["given_back"] = row["cancelled"]
        row["low"] = row["target"] > 0 and row["sent"] * 2 <= row["target"]
    return [out[k] for k in sorted(out)]
