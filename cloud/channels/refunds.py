"""The refunds stream of a shop (退款): its own watermark, the same rules as the orders stream
(download.py, docs/channels.md "The rules"): windows from the watermark less the overlap to now
less the safety lag, cut to the API's span; each slice stored in one transaction that moves the
watermark to the slice's *end*, under the shop's lease; one row per (shop, refund id), written
only when the incoming ``modified`` is not older than the stored one.

A refund stored new or in a new status reaches the Guanjia order of its trade
(changes.refund): asked before shipping → held; after shipping → recorded for after-sales.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.aftersales import channel as aftersales
from cloud.channels import changes, shops
from cloud.channels.download import DEFAULT_TUNING, LeaseLost, Tuning
from cloud.channels.intake import _storable
from cloud.channels.ports import AuthRejected, ChannelError, ChannelRefund, RefundSource
from cloud.db.channel_changes import ChannelRefund as RefundRow
from cloud.db.engine import transaction
from cloud.db.models import ChannelOrder, ChannelRun, ChannelShop, SalesOrder
from cloud.errors import DomainError

STREAM = "refunds"


@dataclass
class RefundsResult:
    run_id: int
    outcome: str
    reached: datetime | None = None
    pages: int = 0
    new: int = 0
    changed: int = 0
    error: str | None = None


def store_refunds(
    session: Session,
    shop: ChannelShop,
    refunds: list[ChannelRefund],
    now: datetime,
    *,
    guard: bool = True,
) -> tuple[int, int]:
    """Upsert the refunds; each new one, or one in a new status, reaches its order. Returns
    (new, changed)."""
    newest: dict[str, ChannelRefund] = {}
    for r in refunds:
        had = newest.get(r.refund_id)
        if had is None or not guard or r.modified >= had.modified:
            newest[r.refund_id] = r
    if not newest:
        return 0, 0
    rows = {
        row.refund_id: row
        for row in session.execute(
            select(RefundRow).where(
                RefundRow.shop_id == shop.id, RefundRow.refund_id.in_(list(newest))
            )
        ).scalars()
    }
    new = changed = 0
    moved: list[ChannelRefund] = []
    for rid, r in newest.items():
        row = rows.get(rid)
        if row is None:
            session.add(
                RefundRow(
                    account_id=shop.account_id,
                    shop_id=shop.id,
                    refund_id=rid,
                    external_id=r.external_id,
                    oid=r.line_id,
                    status=r.status,
                    phase=r.phase,
                    refund_fee=r.fee,
                    modified=r.modified,
                    payload=_storable(r.payload),
                    versions=1,
                    first_seen_at=now,
                    changed_at=now,
                )
            )
            new += 1
            moved.append(r)
            continue
        if guard and r.modified < row.modified:
            continue  # an older version than the one stored (a lagging replica): ignored
        if r.status != row.status:
            moved.append(r)
        if r.modified != row.modified or r.status != row.status:
            changed += 1
            row.versions += 1
        row.status, row.phase, row.refund_fee = r.status, r.phase, r.fee
        row.modified, row.payload, row.changed_at = r.modified, _storable(r.payload), now
    session.flush()
    if moved:
        orders = {
            ext: (o, payload)
            for ext, o, payload in session.execute(
                select(ChannelOrder.external_id, SalesOrder, ChannelOrder.payload)
                .join(SalesOrder, SalesOrder.id == ChannelOrder.order_id)
                .where(
                    ChannelOrder.shop_id == shop.id,
                    ChannelOrder.external_id.in_({r.external_id for r in moved}),
                )
            ).all()
        }
        for r in moved:
            got = orders.get(r.external_id)
            if got is None:
                continue  # not an order (yet): the trade's line carries the refund at import
            o, payload = got
            if o.status == "shipped" and r.status in changes.OPEN_REFUND:
                # Asked after shipping: an after-sales request for customer service to
                # audit (cloud/aftersales/channel.py), made once per refund.
                # A request it cannot make (its number taken by hand) leaves the refund
                # to the after-sales change recorded below, for a person.
                try:
                    with session.begin_nested():
                        aftersales.from_refund(session, _row(session, shop, r.refund_id), now)
                except DomainError:
                    pass
            changes.refund_each(
                session,
                shop,
                r.external_id,
                o,
                r.refund_id,
                r.line_id,
                r.status,
                now,
                payload=payload,
            )
    return new, changed


def _row(session: Session, shop: ChannelShop, refund_id: str) -> RefundRow:
    return session.execute(
        select(RefundRow).where(RefundRow.shop_id == shop.id, RefundRow.refund_id == refund_id)
    ).scalar_one()


def download_refunds(
    factory: sessionmaker[Session],
    shop_id: int,
    source: RefundSource,
    *,
    owner: str,
    now: Callable[[], datetime],
    tuning: Tuning = DEFAULT_TUNING,
    guard: bool = True,
) -> RefundsResult:
    """One run of the shop's refunds stream, recorded in ``channel_run`` (stream "refunds").
    ``guard=False`` is for the ablation test only (no ``modified`` guard on refunds)."""
    started = now()
    with transaction(factory) as s:
        shop = s.get(ChannelShop, shop_id)
        if shop is None:
            raise ValueError(f"no shop {shop_id}")
        run = ChannelRun(
            account_id=shop.account_id,
            shop_id=shop_id,
            stream=STREAM,
            owner=owner,
            started_at=started,
            outcome="running",
        )
        s.add(run)
        if shop.status == "needs_reauth":
            run.outcome, run.finished_at, run.error = "needs_reauth", started, shop.status_reason
        elif not shops.take_lease(s, shop_id, owner, started, tuning.lease):
            run.outcome, run.finished_at = "busy", started
            run.error = "another hub process is downloading this shop"
        s.flush()
        result = RefundsResult(run.id, run.outcome, error=run.error)
        if run.outcome != "running":
            return result
        mark = shops.watermark(s, shop_id, STREAM) or shop.start_from
        lo = (mark - tuning.overlap).replace(microsecond=0)
        hi = (started - tuning.lag).replace(microsecond=0)
        run.window_start, run.window_end = lo, hi
        s.expunge(shop)
    result.reached = mark
    try:
        while lo < hi:
            top = min(lo + source.max_span, hi)
            found, pages = source.refunds(lo, top)
            result.pages += pages
            at = now()
            with transaction(factory) as s:
                if not shops.keep_lease(s, shop_id, owner, at, tuning.lease):
                    raise LeaseLost("the lease ran out before the slice was stored; not stored")
                live = s.get(ChannelShop, shop_id)
                assert live is not None
                n, c = store_refunds(s, live, found, at, guard=guard and tuning.guard)
                result.reached = shops.advance_watermark(s, live, STREAM, top, at)
            result.new += n
            result.changed += c
            lo = top
        result.outcome = "ok"
    except AuthRejected as err:
        result.outcome, result.error = "needs_reauth", str(err)
    except ChannelError as err:
        result.outcome, result.error = "failed", str(err)
    finally:
        with transaction(factory) as s:
            done = s.get(ChannelRun, result.run_id)
            assert done is not None
            done.outcome = result.outcome if result.outcome != "running" else "failed"
            done.error = result.error if result.outcome != "running" else "crashed"
            done.finished_at, done.reached, done.pages = now(), result.reached, result.pages
            done.calls = source.calls
            done.orders_new, done.orders_changed = result.new, result.changed
            if result.outcome == "needs_reauth":
                parked = s.get(ChannelShop, shop_id)
                assert parked is not None
                parked.status, parked.status_reason = "needs_reauth", result.error
            shops.drop_lease(s, shop_id, owner)
    return result
