"""Split and merge (拆单 / 并单) of orders still before audit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.models import (
    OrderDecision,
    OrderLog,
    SalesOrder,
    SalesOrderLine,
)
from cloud.errors import N_, ConflictError, InvalidError
from cloud.orders.core import (
    EDITABLE,
    get,
    lines_of,
    log,
    note,
    phone_columns,
    release_reservation,
    try_reserve,
)
from cloud.orders.reasons import LIST, Said, remark_hold, written
from cloud.tasks import say, sentence

# --- split and merge (拆单 / 并单) ------------------------------------------------------


def _lines_total(lines: Iterable[tuple[int, int]]) -> int:
    """An order's total from its lines as arrival computes it: price × qty over every line.

    Gift lines count like any other (arrival's rule-added gifts are priced 0).
    """
    return sum(price * qty for price, qty in lines)


#: What a split's new order takes from its parent. Everything else starts afresh: no
#: waybill (releases.allocate keeps numbers unique per account), no weight, no release
#: version, its own total. A list, not a copy of every column, so a column added later is
#: not inherited by accident.
_SPLIT_INHERITS: Final = (
    "account_id",
    "channel",
    # A held order's halves stay held: the hold stops the goods, wherever the lines went.
    "on_hold",
    "hold_reason",
    "warehouse_id",
    "carrier",
    "carrier_source",
    "buyer_nick",
    "buyer_remark",
    "seller_note",
    "buyer_carrier",
    "seller_carrier",
)


def split(
    session: Session,
    account_id: int,
    order_no: str,
    take: dict[str, int],
    actor: str,
    now: datetime,
) -> SalesOrder:
    """Move some line quantities into a new order ``{order_no}-S{n}`` (shipped separately).

    Both orders get their totals again from their own lines (the arrival rule), so the
    rules audit each on what it holds; the parent keeps its waybill, the child has none.
    """
    o = get(session, account_id, order_no)
    if o.status not in EDITABLE:
        raise ConflictError(
            N_("order %(order)s is %(status)s; split it before the audit completes"),
            order=order_no,
            status=o.status,
        )
    lines = {ln.line_id: ln for ln in lines_of(session, [o.id])[o.id]}
    for lid, q in take.items():
        if lid not in lines:
            raise InvalidError(
                N_("order %(order)s has no line %(lid)r"), "lines", order=order_no, lid=lid
            )
        if not 1 <= q <= lines[lid].qty:
            raise InvalidError(
                N_("line %(lid)s has %(has)s; cannot take %(q)s"),
                "lines",
                lid=lid,
                has=lines[lid].qty,
                q=q,
            )
    if all(take.get(lid, 0) == ln.qty for lid, ln in lines.items()):
        raise InvalidError(N_("a split must leave something in the original order"), "lines")
    n = (
        session.execute(
            select(func.count())
            .select_from(SalesOrder)
            .where(SalesOrder.account_id == account_id, SalesOrder.split_from == order_no)
        ).scalar_one()
        + 1
    )
    release_reservation(
        session, o, sentence(N_("split into %(order)s"), order=f"{order_no}-S{n}"), actor, now
    )
    child = SalesOrder(
        **{k: getattr(o, k) for k in _SPLIT_INHERITS},
        id=str(uuid.uuid4()),
        order_no=f"{order_no}-S{n}",
        status="new",
        recipient=dict(o.recipient),
        **phone_columns(o.recipient),
        shipped_at=None,
        total_cents=_lines_total((lines[lid].price_cents, q) for lid, q in take.items()),
        reserved=False,
        version=0,
        tracking_number=None,
        weighed_g=None,
        merged_into=None,
        split_from=order_no,
        created_at=now,
        changed_at=now,
        changed_by=actor,
    )
    o.total_cents = _lines_total(
        (ln.price_cents, ln.qty - take.get(lid, 0)) for lid, ln in lines.items()
    )
    # The weight was of the parcel before the split; the parent is weighed again when packed.
    o.weighed_g = None
    session.add(child)
    session.flush()
    for lid, q in take.items():
        ln = lines[lid]
        session.add(
            SalesOrderLine(
                order_id=child.id,
                line_id=lid,
                sku_code=ln.sku_code,
                qty=q,
                price_cents=ln.price_cents,
                gift=ln.gift,
            )
        )
        if q == ln.qty:
            session.delete(ln)
        else:
            ln.qty -= q
    session.flush()
    session.add(
        OrderLog(
            order_id=child.id,
            action="split",
            from_status=None,
            to_status="new",
            actor=actor,
            at=now,
            **written(sentence(N_("split from %(order)s"), order=order_no)),
        )
    )
    moved = sentence(N_("lines moved to %(order)s"), order=child.order_no)
    log(session, o, "split", "new", actor, now, moved)
    try_reserve(session, o, actor, now)
    try_reserve(session, child, actor, now)
    return child


def _carry(head: SalesOrder, away: Sequence[SalesOrder], field: str) -> list[str]:
    """Join the merged-away orders' ``field`` (buyer_remark, seller_note) into the head's.

    Each text is prefixed by its order number, the head's own included once there is more
    than one, one per line: nothing a buyer or seller wrote disappears with its order.
    Returns the carried texts the head did not hold already ("M-2: …"), for the remark check.
    """
    carried = [(o.order_no, t.strip()) for o in away if (t := getattr(o, field)) and t.strip()]
    if not carried:
        return []
    own = (getattr(head, field) or "").strip()
    parts = [f"{head.order_no}: {own}"] if own else []
    parts.extend(f"{no}: {t}" for no, t in carried)
    setattr(head, field, "\n".join(parts))
    known, new = {own}, []
    for no, t in carried:
        if t not in known:
            known.add(t)
            new.append(f"{no}: {t}")
    return new


def merge(
    session: Session, account_id: int, order_nos: list[str], actor: str, now: datetime
) -> SalesOrder:
    """Several orders of one buyer to one address ship as the first one (并单).

    The head takes the others' lines, totals, holds, buyer remarks and seller notes. A buyer
    remark it did not have is held for a person, as at arrival (the ``remark`` check): a
    manual save does not hold for remarks, so without this a merged-in remark would ship
    unread.
    """
    if len(set(order_nos)) < 2:
        raise InvalidError(N_("merge needs at least two different orders"), "order_nos")
    twice = sorted({n for n in order_nos if order_nos.count(n) > 1})
    if twice:
        raise InvalidError(
            N_("order %(orders)s is named more than once; name each order once"),
            "order_nos",
            orders=", ".join(twice),
        )
    orders = [get(session, account_id, n) for n in order_nos]
    head, away = orders[0], orders[1:]
    for o in orders:
        if o.status not in EDITABLE:
            raise ConflictError(
                N_("order %(order)s is %(status)s; merge before the audit completes"),
                order=o.order_no,
                status=o.status,
            )
        if (o.buyer_nick, o.recipient) != (head.buyer_nick, head.recipient):
            raise ConflictError(
                N_("order %(order)s has another buyer or address than %(head)s"),
                order=o.order_no,
                head=head.order_no,
            )
        if o.warehouse_id != head.warehouse_id:
            raise ConflictError(
                N_("order %(order)s ships from another warehouse than %(head)s"),
                order=o.order_no,
                head=head.order_no,
            )
    for o in orders:
        release_reservation(
            session, o, sentence(N_("merged into %(order)s"), order=head.order_no), actor, now
        )
    # A hold on a merged-away order stops its goods, which now ship with the head.
    holds: list[Said] = [
        sentence(
            N_("%(order)s: %(reason)s"),
            order=o.order_no,
            reason=o.hold_reason or sentence(N_("on hold")),
        )
        for o in away
        if o.on_hold
    ]
    new_remarks = _carry(head, away, "buyer_remark")
    _carry(head, away, "seller_note")
    if new_remarks:
        said = remark_hold("; ".join(new_remarks))
        why = say(said["msgid"], said["params"])
        session.add(
            OrderDecision(
                order_id=head.id,
                check="remark",
                outcome="hold",
                rule_key=None,
                rule_version=None,
                reason=why,
                message=said["msgid"],
                params=said["params"],
                actor=actor,
                created_at=now,
            )
        )
        holds.append(said)
    for o in away:
        for ln in lines_of(session, [o.id])[o.id]:
            session.add(
                SalesOrderLine(
                    order_id=head.id,
                    line_id=f"{o.order_no}:{ln.line_id}"[:64],
                    sku_code=ln.sku_code,
                    qty=ln.qty,
                    price_cents=ln.price_cents,
                    gift=ln.gift,
                )
            )
        head.total_cents += o.total_cents
        o.merged_into = head.order_no
        into = sentence(N_("merged into %(order)s"), order=head.order_no)
        log(session, o, "merge", "cancelled", actor, now, into)
    session.flush()
    merged = sentence(N_("merged %(orders)s"), orders=", ".join(order_nos[1:]))
    log(session, head, "merge", "new", actor, now, merged)
    if holds:
        said_holds = sentence(LIST, items=holds)
        held = say(said_holds["msgid"], said_holds["params"])
        note(session, head, "hold", actor, now, said_holds)
        own = [head.hold_reason or "on hold"] if head.on_hold else []
        head.on_hold, head.hold_reason = True, "; ".join([*own, held])[:300]
    try_reserve(session, head, actor, now)
    return head
