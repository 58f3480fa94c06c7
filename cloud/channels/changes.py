"""Later changes on the channel reach the Guanjia order (issue 16): a cancel, a refund asked
before shipping, an address edit — through the order domain's own functions (the ones behind
``POST /orders/{no}/cancel``, ``/hold`` and ``PATCH /orders/{no}``), so an order released to a
warehouse gets the new ``order.release`` version (cancelled / on hold) the edge already obeys.

Rules, and why:
- **Each change once.** Every change is written to ``channel_change`` under a key unique per
  shop (``cancel:<tid>``, ``refund:<refund_id>:<status>``, ``address:<tid>:<modified>:<hash>``)
  with INSERT … ON CONFLICT DO NOTHING; only the writer whose row went in acts. A version read
  twice, or a refund seen both on the trade's line and in the refunds stream, acts once.
- **Only what changed.** The intake hands the version stored before; an address or a line's
  ``refund_status`` that is the same as before is no change (a person's own edit in Guanjia is
  not overwritten by re-reading the channel).
- **Shipped orders are not cancelled.** A cancel or refund after shipping is recorded with
  outcome ``after_sales`` (listed per shop in the API) for the returns flow (issue 17).
- **Refund before shipping holds**, with the reason; the seller decides (agree on the channel,
  then the trade closes and the order is cancelled, or ship). A refund withdrawn (``CLOSED``)
  lifts our hold when no other refund of the trade is open, and only our hold.
- **Address after the audit holds.** Before the audit completes the new address is written
  (``workflow.patch``); after it, the order is held ("reject it and edit", a person checks the
  courier and the label); an address a courier cannot read holds too.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.channels import intake, sold_at
from cloud.channels.ports import ChannelTrade
from cloud.db.channel_changes import ChannelChange, ChannelRefund
from cloud.db.engine import dialect_of
from cloud.db.models import ChannelOrder, ChannelShop, SalesOrder, SalesOrderLine, Warehouse
from cloud.errors import N_
from cloud.orders import workflow
from cloud.orders.core import EDITABLE, OrderPatch
from cloud.orders.reasons import LIST, Said, english, written
from cloud.tasks import sentence

ACTOR = "channel"
#: Refund states in which the buyer waits for the seller (TOP Refund.status).
OPEN_REFUND = frozenset(
    {
        "WAIT_SELLER_AGREE",
        "WAIT_BUYER_RETURN_GOODS",
        "WAIT_SELLER_CONFIRM_GOODS",
        "SELLER_REFUSE_BUYER",
    }
)
#: How our refund holds begin (a refund withdrawn lifts only these).
REFUND_HOLD = "refund on the channel"
#: How our holds for a moved fulfillment order begin (a later move followed lifts these).
MOVED_HOLD = "Shopify moved fulfillment order"
#: The hold of a fulfillment order moved to a location mapped to no warehouse (follow.py
#: finds these when the location is mapped).
UNMAPPED_MOVE = N_(
    "Shopify moved fulfillment order %(fo)s from location %(old)s to %(new)s, "
    "which is not mapped to a warehouse"
)
ADDRESS = (
    "receiver_name",
    "receiver_state",
    "receiver_city",
    "receiver_district",
    "receiver_town",
    "receiver_address",
    "receiver_mobile",
)


def store(
    session: Session,
    shop: ChannelShop,
    trades: list[ChannelTrade],
    now: datetime,
    read_at: datetime,
    *,
    guard: bool = True,
) -> intake.Stored:
    """The intake (intake.store), then the changes of the trades that are orders."""
    stored = intake.store(session, shop, trades, now, read_at, guard=guard)
    for row, before, t in stored.ordered:
        on_trade(session, shop, row, before, t, now)
    return stored


def _once(
    session: Session,
    shop: ChannelShop,
    ext: str,
    o: SalesOrder | None,
    kind: str,
    key: str,
    outcome: str,
    detail: str | Said,
    now: datetime,
) -> bool:
    """Record the change; False when it was recorded already (and so acted on already).
    ``detail``: our sentence (said in the shop page's language, migration 0051) or words as
    the marketplace or the trade's data gave them (kept as they are)."""
    said = written(detail, 300)
    stmt = (
        postgresql.insert(ChannelChange)
        if dialect_of(session) == "postgresql"
        else sqlite.insert(ChannelChange)
    )
    done = session.execute(
        stmt.values(
            account_id=shop.account_id,
            shop_id=shop.id,
            external_id=ext,
            order_id=o.id if o is not None else None,
            kind=kind,
            change_key=key[:200],
            outcome=outcome,
            detail=said["reason"],
            message=said["message"],
            params=said["params"],
            at=now,
        )
        .on_conflict_do_nothing(index_elements=["shop_id", "change_key"])
        # RETURNING, not rowcount: an ORM-enabled INSERT does not report psycopg's rowcount.
        .returning(ChannelChange.id)
    )
    return done.scalar_one_or_none() is not None


def _lines(payload: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    raw = (payload or {}).get("orders") or {}
    lines = raw.get("order", []) if isinstance(raw, dict) else []
    return {intake.clean(ln.get("oid"), 64): ln for ln in lines if isinstance(ln, dict)}


def _order(session: Session, row: ChannelOrder) -> SalesOrder | None:
    if row.order_id is None:
        return None
    return session.execute(
        select(SalesOrder).where(SalesOrder.id == row.order_id).with_for_update()
    ).scalar_one_or_none()


def _halves(session: Session, o: SalesOrder) -> list[SalesOrder]:
    """The order's split halves (a trade Shopify split by location: sold_at.py, or a
    person's split), locked: a change of the trade reaches each of them."""
    return list(
        session.execute(
            select(SalesOrder)
            .where(SalesOrder.account_id == o.account_id, SalesOrder.split_from == o.order_no)
            .order_by(SalesOrder.order_no)
            .with_for_update()
        ).scalars()
    )


def _holds_line(session: Session, o: SalesOrder, oid: str) -> bool:
    return (
        session.execute(
            select(SalesOrderLine.line_id).where(
                SalesOrderLine.order_id == o.id, SalesOrderLine.line_id == oid
            )
        ).first()
        is not None
    )


def on_trade(
    session: Session,
    shop: ChannelShop,
    row: ChannelOrder,
    before: dict[str, Any] | None,
    t: ChannelTrade,
    now: datetime,
) -> None:
    """A newer version of an imported trade was stored; ``before``: the version stored before
    it (None: just imported)."""
    if row.order_id is None or (before is not None and before == row.payload):
        return  # the same version read again: nothing changed (and no order row locked)
    ext = row.external_id
    old = _lines(before)
    refunds = []
    for oid, ln in _lines(t.payload).items():
        status = intake.clean(ln.get("refund_status"), 40) or "NO_REFUND"
        was = intake.clean(old.get(oid, {}).get("refund_status"), 40) or "NO_REFUND"
        if status != was and status != "NO_REFUND":
            refunds.append((intake.clean(ln.get("refund_id"), 64) or f"{ext}-{oid}", oid, status))
    moved = (
        before is not None
        and not t.closed
        and [intake.clean(t.payload.get(k)) for k in ADDRESS]
        != [intake.clean(before.get(k)) for k in ADDRESS]
    )
    relocated = sold_at.moved(before, t.payload) if before is not None and not t.closed else []
    if not (t.closed or refunds or moved or relocated):
        # Nothing to act on (every trade just imported as it was paid, the Double-11 bulk):
        # the order row is not read or locked, one round trip per order saved.
        return
    first = _order(session, row)
    if first is None:
        return
    # The first order keeps the change keys it always had; a half's carry its number.
    each = [(first, "")] + [(h, f":{h.order_no}") for h in _halves(session, first)]
    for o, half in each:
        if t.closed:
            closed = sentence(N_("closed on the channel (%(status)s)"), status=t.status)
            cancel(session, shop, ext, o, closed, now, half=half)
        if moved:
            address(session, shop, row, o, t, now, half=half)
    for rid, oid, status in refunds:
        refund_each(session, shop, ext, first, rid, oid, status, now, payload=t.payload)
    if relocated:
        located = intake.located_of(session, shop)
        for fo_id, old_at, new_at, lines in relocated:
            relocate(
                session,
                shop,
                ext,
                each,
                fo_id,
                old_at,
                new_at,
                located.get(new_at),
                lines,
                now,
                single=len(sold_at.fulfillment_orders(t.payload)) == 1,
            )


def _lines_of(session: Session, o: SalesOrder) -> dict[str, int]:
    return {
        str(lid): int(q)
        for lid, q in session.execute(
            select(SalesOrderLine.line_id, SalesOrderLine.qty).where(
                SalesOrderLine.order_id == o.id, SalesOrderLine.gift.is_(False)
            )
        ).all()
    }


def relocate(
    session: Session,
    shop: ChannelShop,
    ext: str,
    each: list[tuple[SalesOrder, str]],
    fo_id: str,
    old_at: str,
    new_at: str,
    warehouse: str | None,
    lines: dict[str, int],
    now: datetime,
    *,
    single: bool = False,
    key: str | None = None,
) -> None:
    """Shopify moved fulfillment order ``fo_id`` from ``old_at`` to ``new_at`` (mapped to our
    ``warehouse``, or to none). Its Guanjia order (the one whose lines are the fulfillment
    order's; every order of the trade when it has that one fulfillment order only —
    ``single`` — a person's split halves included) follows it while nothing is picked: it
    moves to ``warehouse`` with its reservation (workflow.move_warehouse), so the stock it
    holds is where Shopify took the units from and the push per location stays right
    (sold_at.py). It is held, with the reason, when it cannot follow: the location maps to no
    warehouse of ours, the warehouse cannot reserve it (it stays reserved where it was), or
    it is released to a node already (its units may be picked: a person decides); such a
    hold takes the place of one for an earlier move (where the fulfillment order was is
    no longer the question). ``key``: the change's key when it is not a move seen on the
    trade (follow.py: the location mapped since)."""
    mine = [(o, half) for o, half in each if _lines_of(session, o) == lines]
    follow = True
    if not mine and (single or len(each) == 1):
        mine = each
    if not mine:
        # Which of a person's split halves of a trade Shopify split by location hold this
        # fulfillment order is not clear: each is held for a person to decide.
        mine, follow = each, False
    moved = {"fo": fo_id, "old": old_at, "new": new_at}
    wh = (
        session.execute(
            select(Warehouse).where(
                Warehouse.account_id == shop.account_id, Warehouse.code == warehouse
            )
        ).scalar_one_or_none()
        if warehouse is not None
        else None
    )
    if wh is None:
        said = sentence(UNMAPPED_MOVE, **moved)
    else:
        said = sentence(
            N_(
                "Shopify moved fulfillment order %(fo)s from location %(old)s to %(new)s "
                "(warehouse %(warehouse)s): reject the order and change its warehouse, or "
                "ship it from here"
            ),
            warehouse=wh.code,
            **moved,
        )
    for o, half in mine:
        k = key + half if key is not None else _move_key(session, shop, o, fo_id, new_at, half)
        if o.status in ("shipped", "cancelled"):
            _once(session, shop, ext, o, "location", k, "none", said, now)
        elif wh is None or not follow:
            if _once(session, shop, ext, o, "location", k, "held", said, now):
                _hold_moved(session, o, said, now)
        elif o.status not in workflow.MOVABLE:
            at_edge = sentence(
                N_(
                    "Shopify moved fulfillment order %(fo)s from location %(old)s to %(new)s "
                    "(warehouse %(warehouse)s), but the order is at its warehouse already "
                    "(%(status)s): cancel the outbound (撤销出库) and change its warehouse, or "
                    "ship it from here"
                ),
                warehouse=wh.code,
                status=o.status,
                **moved,
            )
            if _once(session, shop, ext, o, "location", k, "held", at_edge, now):
                _hold_moved(session, o, at_edge, now)
        else:
            followed = sentence(
                N_(
                    "Shopify moved fulfillment order %(fo)s from location %(old)s to %(new)s: "
                    "the order and its reservation moved to warehouse %(warehouse)s"
                ),
                warehouse=wh.code,
                **moved,
            )
            if not _once(session, shop, ext, o, "location", k, "applied", followed, now):
                continue
            short = workflow.move_warehouse(session, o, wh, followed, ACTOR, now)
            if short is None and o.on_hold and (o.hold_reason or "").startswith(MOVED_HOLD):
                # Held for an earlier move it could not follow (a location mapped to no
                # warehouse, a warehouse short): this one it followed, so that hold is over.
                unhold_ours(
                    session, o, now, sentence(N_("the order followed its fulfillment order"))
                )
            if short is not None:
                stays = sentence(
                    N_(
                        "Shopify moved fulfillment order %(fo)s from location %(old)s to "
                        "%(new)s, but warehouse %(warehouse)s cannot reserve the order "
                        "(%(why)s): it stays reserved where it was; bring the stock in there "
                        "and change its warehouse, or ship it from here"
                    ),
                    warehouse=wh.code,
                    why=short,
                    **moved,
                )
                _outcome(session, shop, k, "held", stays)
                _hold_moved(session, o, stays, now)


def _hold_moved(session: Session, o: SalesOrder, why: Said, now: datetime) -> None:
    """Hold ``o`` for a move of its fulfillment order; a hold of ours for an earlier move
    (another reason joined to it stays) gives way to this one."""
    if o.on_hold and (o.hold_reason or "").startswith(MOVED_HOLD):
        if (o.hold_reason or "").startswith(english(why) or "-"):
            return  # held for this very move already
        unhold_ours(session, o, now, sentence(N_("a newer hold for its fulfillment order")))
    hold(session, o, why, now)


def _move_key(
    session: Session, shop: ChannelShop, o: SalesOrder, fo_id: str, new_at: str, half: str
) -> str:
    """The change key of this move of fulfillment order ``fo_id`` to ``new_at`` for order
    ``o``: ``location:<fo>:<new location>`` the first time the fulfillment order comes to
    that location, ``…#<n>`` the n-th time. With the location alone, a fulfillment order
    moved A → B → A → B found the first move's key at the second move to B and nothing was
    done. The same move read again (a webhook's hint and a poll at once, each with the
    version before it: the second waits on the order's lock, then sees the first's row)
    comes *to* the location the last recorded move of it came to, which a real move never
    does (it moves from where it is): that one gets the last key again, so it acts once."""
    prefix = f"location:{fo_id}:"
    seen = [
        k
        for k in session.execute(
            select(ChannelChange.change_key)
            .where(
                ChannelChange.shop_id == shop.id,
                ChannelChange.kind == "location",
                ChannelChange.order_id == o.id,
            )
            .order_by(ChannelChange.id)
        ).scalars()
        if k.startswith(prefix)
    ]

    def to(key: str) -> str:
        rest = key[len(prefix) :]
        return rest[: len(rest) - len(rest.lstrip("0123456789"))]

    if seen and to(seen[-1]) == new_at:
        return seen[-1]
    n = sum(1 for k in seen if to(k) == new_at)
    return f"{prefix}{new_at}#{n + 1}{half}" if n else f"{prefix}{new_at}{half}"


def _outcome(session: Session, shop: ChannelShop, key: str, outcome: str, detail: Said) -> None:
    """A change recorded a moment ago (``_once``) ended otherwise than it was written."""
    said = written(detail, 300)
    session.execute(
        update(ChannelChange)
        .where(ChannelChange.shop_id == shop.id, ChannelChange.change_key == key[:200])
        .values(
            outcome=outcome,
            detail=said["reason"],
            message=said["message"],
            params=said["params"],
        )
        .execution_options(synchronize_session=False)
    )


def refund_each(
    session: Session,
    shop: ChannelShop,
    ext: str,
    first: SalesOrder,
    refund_id: str,
    oid: str,
    status: str,
    now: datetime,
    *,
    payload: dict[str, Any],
) -> None:
    """A refund of line ``oid`` reaches the orders that hold the line: the trade's order, or
    its split halves (a line split between two locations is in both); the order itself
    when none holds it."""
    halves = _halves(session, first)
    if not halves:
        refund(session, shop, ext, first, refund_id, oid, status, now, payload=payload)
        return
    each = [(first, "")] + [(h, f":{h.order_no}") for h in halves]
    holders = [(o, half) for o, half in each if _holds_line(session, o, oid)] or each[:1]
    for o, half in holders:
        refund(session, shop, ext, o, refund_id, oid, status, now, payload=payload, half=half)


def open_refunds(
    session: Session, shop_id: int, ext: str, payload: dict[str, Any], but: str
) -> int:
    """The trade's refunds other than ``but`` (a refund id) open or paid, as the trade's stored
    version says (each line's ``refund_id``) or the refunds stream: either may be ahead of the
    other, and one line may have had a refund withdrawn and another asked."""
    held = OPEN_REFUND | {"SUCCESS"}
    found = {
        intake.clean(ln.get("refund_id"), 64) or f"{ext}-{oid}"
        for oid, ln in _lines(payload).items()
        if intake.clean(ln.get("refund_status"), 40) in held
    }
    found |= set(
        session.execute(
            select(ChannelRefund.refund_id).where(
                ChannelRefund.shop_id == shop_id,
                ChannelRefund.external_id == ext,
                ChannelRefund.status.in_(held),
            )
        ).scalars()
    )
    return len(found - {but})


def cancel(
    session: Session,
    shop: ChannelShop,
    ext: str,
    o: SalesOrder,
    why: Said,
    now: datetime,
    *,
    half: str = "",
) -> None:
    """``why``: a sentence (the order's history says it in the page's language); ``half``:
    the key's suffix for a split half of the trade's order ("" for the order itself)."""
    key = f"cancel:{ext}{half}"
    if o.status == "shipped":
        _once(session, shop, ext, o, "cancel", key, "after_sales", why, now)
    elif o.status == "cancelled":
        _once(session, shop, ext, o, "cancel", key, "none", why, now)
    elif _once(session, shop, ext, o, "cancel", key, "applied", why, now):
        workflow.cancel(session, o.account_id, o.order_no, why, ACTOR, now)


def refund(
    session: Session,
    shop: ChannelShop,
    ext: str,
    o: SalesOrder,
    refund_id: str,
    oid: str,
    status: str,
    now: datetime,
    *,
    payload: dict[str, Any],
    half: str = "",
) -> None:
    """A refund of line ``oid`` reached ``status``; ``payload``: the trade as last stored (a
    withdrawn refund lifts our hold only if no other line has one open or paid)."""
    key = f"refund:{refund_id}:{status}{half}"
    said = sentence(N_("refund on the channel: line %(line)s %(status)s"), line=oid, status=status)
    kind = "refund" if status in OPEN_REFUND | {"SUCCESS"} else "refund_ended"
    if o.status == "shipped":
        outcome = "after_sales" if kind == "refund" else "none"
        _once(session, shop, ext, o, kind, key, outcome, said, now)
    elif o.status == "cancelled":
        _once(session, shop, ext, o, kind, key, "none", said, now)
    elif kind == "refund":
        if _once(session, shop, ext, o, kind, key, "held", said, now):
            hold(session, o, said, now)
    else:
        # Withdrawn (CLOSED): lift our own hold once no line of the trade has a refund open.
        lift = (
            o.on_hold
            and (o.hold_reason or "").startswith(REFUND_HOLD)
            and open_refunds(session, shop.id, ext, payload, refund_id) == 0
        )
        outcome = "applied" if lift else "none"
        if _once(session, shop, ext, o, kind, key, outcome, said, now) and lift:
            unhold_ours(session, o, now)


def address(
    session: Session,
    shop: ChannelShop,
    row: ChannelOrder,
    o: SalesOrder,
    t: ChannelTrade,
    now: datetime,
    *,
    half: str = "",
) -> None:
    ext = row.external_id
    text = "|".join(intake.clean(t.payload.get(k)) for k in ADDRESS)
    key = f"address:{ext}:{int(t.modified.timestamp())}:{hashlib.sha256(text.encode()).hexdigest()[:16]}{half}"
    if o.status in ("shipped", "cancelled"):
        _once(
            session,
            shop,
            ext,
            o,
            "address",
            key,
            "none",
            sentence(N_("address changed; order %(status)s"), status=o.status),
            now,
        )
        return
    try:
        recipient = intake.recipient_of(t.payload)
    except intake.Unusable as bad:
        if _once(session, shop, ext, o, "address", key, "held", str(bad), now):
            changed = sentence(
                N_("the buyer changed the address on the channel: %(why)s"), why=str(bad)
            )
            hold(session, o, changed, now)
        return
    if o.status in EDITABLE:
        if _once(
            session, shop, ext, o, "address", key, "applied", sentence(N_("address changed")), now
        ):
            workflow.patch(
                session, o.account_id, o.order_no, OrderPatch(recipient=recipient), ACTOR, now
            )
        return
    late = sentence(
        N_(
            "the buyer changed the address on the channel after the audit: reject it (驳回) and edit"
        )
    )
    if _once(session, shop, ext, o, "address", key, "held", late, now):
        hold(session, o, late, now)


def hold(session: Session, o: SalesOrder, why: Said, now: datetime) -> None:
    """Hold the order (the edge gets the held version if it has the order); an order on hold
    already for another reason keeps it too: the reasons are joined, ours first. ``why``: a
    sentence (the order's history and "held" line say it in the page's language)."""
    if o.on_hold:
        if (o.hold_reason or "").startswith((english(why) or "").partition(":")[0]):
            return  # held for this kind of change already (another line's refund)
        why = sentence(LIST, items=[why, o.hold_reason])
        workflow.set_hold(session, o.account_id, o.order_no, False, None, ACTOR, now)
    workflow.set_hold(session, o.account_id, o.order_no, True, why, ACTOR, now)


def unhold_ours(session: Session, o: SalesOrder, now: datetime, why: Said | None = None) -> None:
    """Lift our hold (a refund's, by default; ``why`` says why it is over); another reason
    joined to it stays."""
    rest = (o.hold_reason or "").partition("; ")[2]
    withdrawn = why or sentence(N_("refund withdrawn"))
    workflow.set_hold(session, o.account_id, o.order_no, False, withdrawn, ACTOR, now)
    if rest:
        workflow.set_hold(session, o.account_id, o.order_no, True, rest, ACTOR, now)
