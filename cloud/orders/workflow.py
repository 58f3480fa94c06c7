"""The manual steps of the audit workflow (保存 → 人工确认 → 审核完成), holds, edits, and
the ends of an order: shipped (the outbound posts) or cancelled."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Final

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import Executable

from cloud.db.bulk import insert_rows
from cloud.db.engine import Statements
from cloud.db.models import (
    OrderDecision,
    OrderLog,
    SalesOrder,
    SalesOrderLine,
    Sku,
    StockMovement,
    Warehouse,
)
from cloud.errors import N_, ConflictError, InvalidError
from cloud.orders import rule_cache
from cloud.orders.audit_rules import Facts, audit_day, order_total
from cloud.orders.core import (
    AT_EDGE,
    EDITABLE,
    RANK,
    OrderPatch,
    decision_row,
    doc,
    get,
    log,
    note,
    phone_columns,
    release_reservation,
    reserved_by,
    send_release,
    try_reserve,
)
from cloud.orders.reasons import LIST, Decision, Said, commas, english, written
from cloud.stock.ledger import Move, post, reverse_movement
from cloud.tasks import sentence

#: A ship's movements and a cancelled order's (cloud/stock/ledger.py ``Move.reason``).
SHIPPED: Final = sentence(N_("shipped"))
CANCELLED: Final = N_("cancelled: %(reason)s")
#: An order held without a reason given: the hub's words, which the pages translate (a
#: person's typed reason is shown as typed; the catalogue knows only this one).
HELD_BY_HAND: Final = N_("held by hand")

# --- the manual steps: save → confirm → audit complete ---------------------------------


def _build_lines(_dialect: str, _variant: Hashable) -> Executable:
    """An order's (``order``) lines with what the checks read of each line's SKU, in one
    statement built once (the lines and SKUs as ORM objects were two loads of objects
    nothing changes; issue 20, S35). ``known`` is None for a SKU the account lacks."""
    ln = SalesOrderLine.__table__.c
    sk = Sku.__table__.c
    return (
        select(
            ln.sku_code,
            ln.qty,
            ln.price_cents,
            ln.gift,
            sk.weight_g,
            sk.min_price_cents,
            sk.sku_code.label("known"),
        )
        .select_from(
            SalesOrderLine.__table__.outerjoin(
                Sku.__table__,
                and_(sk.account_id == bindparam("account"), sk.sku_code == ln.sku_code),
            )
        )
        .where(ln.order_id == bindparam("order"))
        .order_by(ln.line_id)
    )


_LINES = Statements(_build_lines)


def _engine_decisions(session: Session, o: SalesOrder, actor: str, now: datetime) -> list[Decision]:
    """Run the checks and rules on one order again (manual save); return the holds."""
    ok, why = try_reserve(session, o, actor, now)
    lines = session.execute(_LINES.get(session), {"account": o.account_id, "order": o.id}).all()
    for line in lines:
        if line.known is None:
            raise KeyError(line.sku_code)  # as the dict of the account's SKUs said before
    facts = Facts(
        total=order_total(o.total_cents),
        recipient=o.recipient,
        day=audit_day(now),
        weight_g=sum((ln.weight_g or 0) * ln.qty for ln in lines),
        channel=o.channel,
        buyer_carrier=o.buyer_carrier,
        seller_carrier=o.seller_carrier,
        skus=[ln.sku_code for ln in lines],
    )
    v = rule_cache.engine(session, o.account_id).evaluate(
        facts,
        remark=o.buyer_remark,
        prices=[(ln.sku_code, ln.price_cents, ln.min_price_cents) for ln in lines if not ln.gift],
        stock_ok=ok,
        stock_why=why,
        order_no=o.order_no,
        now=now,
    )
    # Gift rules already applied at arrival are not re-applied by hand; they are reported.
    v.decisions.extend(d for _, _, d in v.gifts)
    o.carrier, o.carrier_source = v.carrier or o.carrier, v.carrier_source or o.carrier_source
    # Rows by Core, as arrival writes them: nothing reads them back as objects, and the ORM's
    # flush of half a dozen new objects cost more than the rules that made them.
    insert_rows(
        session,
        OrderDecision,
        [decision_row(o.id, d, actor, now) for d in v.decisions],
    )
    return v.held


def save(session: Session, account_id: int, order_no: str, actor: str, now: datetime) -> SalesOrder:
    """保存: run the checks again after a person's edits; holds come back with reasons.

    A buyer remark stays flagged until the auditor confirms it: they read it and then confirm,
    so the remark check of a manual save does not hold by itself.
    """
    o = get(session, account_id, order_no)
    if o.status not in ("new", "saved"):
        raise ConflictError(
            N_(
                "order %(order)s is %(status)s; only new or saved orders are saved (reject it first to re-audit)"
            ),
            order=order_no,
            status=o.status,
        )
    # The remark check's hold is left out: the auditor is reading the remark.
    held = [d for d in _engine_decisions(session, o, actor, now) if d.check != "remark"]
    reasons = [d.reason for d in held]
    said = [sentence(d.message, **d.params) for d in held]
    log(session, o, "save", "saved", actor, now, sentence(LIST, items=said) if said else None)
    if reasons:
        o.on_hold, o.hold_reason = True, "; ".join(reasons)[:300]
    return o


def confirm(
    session: Session,
    account_id: int,
    order_no: str,
    actor: str,
    now: datetime,
    note: str | None = None,
) -> SalesOrder:
    """人工确认: a person has read the remark and checked the order."""
    o = get(session, account_id, order_no)
    if o.status != "saved":
        raise ConflictError(
            N_("order %(order)s is %(status)s; confirm needs a saved order"),
            order=order_no,
            status=o.status,
        )
    if o.on_hold:
        raise ConflictError(
            N_("order %(order)s is on hold (%(hold_reason)s); lift the hold first"),
            order=order_no,
            hold_reason=o.hold_reason,
        )
    log(session, o, "confirm", "confirmed", actor, now, note)
    return o


def complete_audit(
    session: Session, account_id: int, order_no: str, actor: str, now: datetime
) -> SalesOrder:
    """审核完成."""
    o = get(session, account_id, order_no)
    if RANK.get(o.status, 0) >= RANK["audited"] and o.status != "cancelled":
        raise ConflictError(
            N_("order %(order)s is already audited (%(status)s)"), order=order_no, status=o.status
        )
    if o.status != "confirmed":
        raise ConflictError(
            N_("order %(order)s is %(status)s; audit completes a confirmed order"),
            order=order_no,
            status=o.status,
        )
    if not o.reserved:
        raise ConflictError(
            N_("order %(order)s has no stock reserved; save it again when stock is in"),
            order=order_no,
        )
    if not o.carrier:
        raise ConflictError(
            N_("order %(order)s has no carrier; set seller_carrier or add a courier rule"),
            order=order_no,
        )
    log(session, o, "audit", "audited", actor, now)
    return o


def set_hold(
    session: Session,
    account_id: int,
    order_no: str,
    on: bool,
    reason: str | Said | None,
    actor: str,
    now: datetime,
) -> tuple[SalesOrder, dict[str, int]]:
    o = get(session, account_id, order_no)
    if o.status in ("shipped", "cancelled"):
        raise ConflictError(
            N_("order %(order)s is %(status)s; nothing to hold"), order=order_no, status=o.status
        )
    if o.on_hold == on:
        if on:
            raise ConflictError(N_("order %(order)s is already on hold"), order=order_no)
        raise ConflictError(N_("order %(order)s is not on hold"), order=order_no)
    # ``reason``: a person's words, or a sentence the hub says (a channel's hold: cloud/
    # channels/changes.py); the order keeps its English, the history line both.
    said = english(reason)
    o.on_hold, o.hold_reason = on, (said or HELD_BY_HAND)[:300] if on else None
    session.add(
        OrderLog(
            order_id=o.id,
            action="hold" if on else "unhold",
            from_status=o.status,
            to_status=o.status,
            actor=actor,
            at=now,
            **written(reason),
        )
    )
    o.changed_at, o.changed_by = now, actor
    pushes = send_release(session, o, now) if o.status in AT_EDGE else {}
    return o, pushes


def patch(
    session: Session, account_id: int, order_no: str, body: OrderPatch, actor: str, now: datetime
) -> SalesOrder:
    """Change warehouse, courier, note or address before the audit completes."""
    o = get(session, account_id, order_no)
    if o.status not in EDITABLE:
        raise ConflictError(
            N_("order %(order)s is %(status)s; reject it (驳回) before changing it"),
            order=order_no,
            status=o.status,
        )
    changes: list[Said] = []
    if body.warehouse is not None:
        wh = session.execute(
            select(Warehouse).where(
                Warehouse.account_id == account_id, Warehouse.code == body.warehouse
            )
        ).scalar_one_or_none()
        if wh is None:
            raise InvalidError(
                N_("no warehouse %(warehouse)r"), "warehouse", warehouse=body.warehouse
            )
        if wh.id != o.warehouse_id:
            release_reservation(
                session,
                o,
                sentence(N_("warehouse changed to %(warehouse)s"), warehouse=wh.code),
                actor,
                now,
            )
            o.warehouse_id = wh.id
            try_reserve(session, o, actor, now)
            changes.append(sentence(N_("warehouse → %(warehouse)s"), warehouse=wh.code))
    if body.seller_carrier is not None:
        o.seller_carrier = body.seller_carrier
        changes.append(sentence(N_("seller_carrier → %(carrier)s"), carrier=body.seller_carrier))
    if body.seller_note is not None:
        o.seller_note = body.seller_note
        changes.append(sentence(N_("seller_note")))
    if body.recipient is not None:
        o.recipient = body.recipient.model_dump()
        cols = phone_columns(o.recipient)
        o.phone, o.phone_tail = cols["phone"], cols["phone_tail"]
        changes.append(sentence(N_("recipient")))
    note(session, o, "edit", actor, now, commas(changes) if changes else sentence(N_("no change")))
    o.changed_at, o.changed_by = now, actor
    return o


#: Statuses whose warehouse may move with the reservation: not yet released to a node, so
#: nothing is picked and no pick list or waybill names the warehouse yet.
MOVABLE: Final = (*EDITABLE, "audited")


def move_warehouse(
    session: Session, o: SalesOrder, warehouse: Warehouse, reason: Said, actor: str, now: datetime
) -> Said | None:
    """Move a not yet released order (``o``, locked) to ``warehouse`` with its reservation,
    all or nothing: None when it moved (or was there already); the stock check's reason when
    the new warehouse cannot reserve what the order holds reserved now, with nothing changed
    (it stays reserved where it was). An order not reserved anywhere moves and is reserved
    at the new warehouse if it can be (else it waits for stock there, as after ``patch``).

    For the channels (a Shopify fulfillment order moved to another location:
    cloud/channels/changes.py): unlike ``patch`` it moves an audited order too, because the
    audit's rules choose couriers, not warehouses (docs/channels.md "Where Shopify sold
    it"), and an audited order keeps its reservation by the all-or-nothing rule."""
    if o.status not in MOVABLE:
        raise ConflictError(
            N_("order %(order)s is %(status)s; cancel the outbound (撤销出库) before moving it"),
            order=o.order_no,
            status=o.status,
        )
    if warehouse.id == o.warehouse_id:
        return None
    was_reserved = o.reserved
    point = session.begin_nested()
    release_reservation(session, o, reason, actor, now)
    o.warehouse_id = warehouse.id
    ok, why = try_reserve(session, o, actor, now)
    if was_reserved and not ok:
        point.rollback()  # the release and the warehouse undone: reserved where it was
        return why
    point.commit()
    moved = sentence(
        N_("warehouse → %(warehouse)s with its reservation: %(why)s"),
        warehouse=warehouse.code,
        why=reason,
    )
    note(session, o, "edit", actor, now, moved)
    o.changed_at, o.changed_by = now, actor
    return None


# --- shipped or cancelled ---------------------------------------------------------------


def ship(session: Session, account_id: int, order_no: str, actor: str, now: datetime) -> SalesOrder:
    """The courier collected the parcel: the outbound posts (stock leaves the book)."""
    o = get(session, account_id, order_no)
    if o.status == "shipped":
        raise ConflictError(N_("order %(order)s is already shipped"), order=order_no)
    if o.status not in AT_EDGE:
        raise ConflictError(
            N_("order %(order)s is %(status)s; only a released order ships"),
            order=order_no,
            status=o.status,
        )
    if o.on_hold:
        raise ConflictError(
            N_("order %(order)s is on hold (%(hold_reason)s)"),
            order=order_no,
            hold_reason=o.hold_reason,
        )
    held = reserved_by(session, order_no, account_id)
    moves = [
        Move(w, s, "ship", SHIPPED, doc(order_no), actor, qty_delta=-q, reserved_delta=-q)
        for (w, s), q in sorted(held.items())
    ]
    post(session, account_id, moves, now)
    log(session, o, "ship", "shipped", actor, now)
    return o


def reverse_picks(session: Session, o: SalesOrder, reason: Said, actor: str, now: datetime) -> None:
    """Goods picked for an order that will not ship go back to their bins on the book."""
    undone = aliased(StockMovement)
    picks = (
        session.execute(
            select(StockMovement.id)
            .where(
                StockMovement.account_id == o.account_id,
                StockMovement.document == doc(o.order_no),
                StockMovement.kind == "pick",
                # A pick not reversed yet: looked up by the reversal's unique ``reverses_id``
                # (NOT IN listed every reversal of every seller first; migration 0060).
                ~select(undone.id).where(undone.reverses_id == StockMovement.id).exists(),
            )
            .order_by(StockMovement.created_at, StockMovement.id)
        )
        .scalars()
        .all()
    )
    for mid in picks:
        reverse_movement(
            session,
            o.account_id,
            mid,
            reason,
            actor,
            now,
            allow_kinds=frozenset({"pick"}),
            override=True,
        )


def cancel(
    session: Session,
    account_id: int,
    order_no: str,
    reason: str | Said,
    actor: str,
    now: datetime,
) -> tuple[SalesOrder, dict[str, int]]:
    """Cancel the order: ``reason`` a person's words, or a sentence (the channel closed it)."""
    o = get(session, account_id, order_no)
    if o.status == "cancelled":
        raise ConflictError(N_("order %(order)s is already cancelled"), order=order_no)
    if o.status == "shipped":
        raise ConflictError(
            N_("order %(order)s is shipped; reverse the outbound (冲销出库) or open a return"),
            order=order_no,
        )
    at_edge = o.status in AT_EDGE
    if at_edge:
        reverse_picks(session, o, sentence(CANCELLED, reason=reason), actor, now)
    release_reservation(session, o, sentence(CANCELLED, reason=reason), actor, now)
    log(session, o, "cancel", "cancelled", actor, now, reason)
    return o, send_release(session, o, now) if at_edge else {}
