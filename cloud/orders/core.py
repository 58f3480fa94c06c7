"""Orders and the audit workflow (审单).

States (docs/cloud.md "Orders"): ``new`` → ``saved`` (保存) → ``confirmed`` (人工确认) →
``audited`` (审核完成) → ``released`` (sent to the warehouse's edge nodes) → ``picked`` →
``packed`` → ``weighed`` → ``labelled`` → ``shipped``; ``cancelled`` from anywhere before
shipping. A hold (``on_hold``) stops an order where it is until a person lifts it.

An order reserves its stock the moment it arrives (订单下载: "stock is reserved at once");
a bundle reserves each component. Auto-audit runs the checks and rules of
cloud/orders/audit_rules.py; a clean order goes straight through save → confirm → audit complete,
an order with any hold stops at ``saved`` with the reasons. Every decision is stored
(``order_decision``), every state change logged (``order_log``) with who and when.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.catalogue.skus import components_of
from cloud.db.models import (
    OrderLog,
    PickLease,
    SalesOrder,
    SalesOrderLine,
    Sku,
    StockMovement,
)
from cloud.errors import N_, ConflictError, NotFoundError, sentence
from cloud.nodes import downlink
from cloud.orders import channel_outbox, waybill_outbox
from cloud.orders.reasons import Decision, Said, stock_reserved, stock_short, written
from cloud.stock.ledger import Ledger, Move, post
from protocol.messages import Code, OrderId, OrderLine, OrderRelease, Recipient, SkuCode

STATUSES: Final = (
    "new",
    "saved",
    "confirmed",
    "audited",
    "released",
    "picked",
    "packed",
    "weighed",
    "labelled",
    "shipped",
    "cancelled",
)
RANK: Final = {s: i for i, s in enumerate(STATUSES)}
#: Released to a warehouse and not yet shipped: the edge has it.
AT_EDGE: Final = ("released", "picked", "packed", "weighed", "labelled")
#: Before audit completes: the order may still be edited, split or merged.
EDITABLE: Final = ("new", "saved", "confirmed")
Cents = Annotated[int, Field(ge=0, le=10**12)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Status = Literal[
    "new",
    "saved",
    "confirmed",
    "audited",
    "released",
    "picked",
    "packed",
    "weighed",
    "labelled",
    "shipped",
    "cancelled",
]


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_id: Code
    sku_code: SkuCode
    qty: Annotated[int, Field(ge=1, le=100_000)]
    price_cents: Cents = 0
    gift: bool = False


#: Where an order came from (the list filters by it: cloud/orders/views.py).
Channel = Literal["manual", "bank_transfer", "taobao", "jd", "pdd", "shop", "shopify"]
CHANNELS: Final = get_args(Channel)


class OrderIn(BaseModel):
    """An order by API: manual, offline bank transfer (线下汇款), or from a channel."""

    model_config = ConfigDict(extra="forbid")
    order_no: OrderId
    channel: Channel = "manual"
    buyer_nick: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    recipient: Recipient
    lines: list[LineIn] = Field(min_length=1, max_length=500)
    buyer_remark: Text | None = None
    seller_note: Text | None = None
    buyer_carrier: Code | None = None
    seller_carrier: Code | None = None
    warehouse: Code | None = None
    #: Paid total; defaults to the sum of the lines.
    total_cents: Cents | None = None

    @model_validator(mode="after")
    def _unique_lines(self) -> OrderIn:
        ids = [ln.line_id for ln in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError("line_id values must be unique within the order")
        return self


class OrderPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse: Code | None = None
    seller_carrier: Code | None = None
    seller_note: Text | None = None
    recipient: Recipient | None = None


def decision_row(order_id: str, d: Decision, actor: str, now: datetime) -> dict[str, object]:
    """An audit decision as an ``order_decision`` row (written in bulk, not as objects)."""
    return {
        "order_id": order_id,
        "check": d.check,
        "outcome": d.outcome,
        "rule_key": d.rule_key,
        "rule_version": d.rule_version,
        "reason": d.reason[:2000],
        "message": d.message,
        "params": d.params or None,
        "actor": actor,
        "created_at": now,
    }


def doc(order_no: str) -> str:
    return f"order:{order_no}"


def get(session: Session, account_id: int, order_no: str, *, lock: bool = True) -> SalesOrder:
    q = select(SalesOrder).where(
        SalesOrder.account_id == account_id, SalesOrder.order_no == order_no
    )
    if lock:
        q = q.with_for_update()
    o = session.execute(q).scalar_one_or_none()
    if o is None:
        raise NotFoundError(N_("no order %(order)r"), order=order_no)
    return o


def lines_of(session: Session, order_ids: Sequence[str]) -> dict[str, list[SalesOrderLine]]:
    out: dict[str, list[SalesOrderLine]] = {i: [] for i in order_ids}
    for ln in session.execute(
        select(SalesOrderLine)
        .where(SalesOrderLine.order_id.in_(order_ids))
        .order_by(SalesOrderLine.line_id)
    ).scalars():
        out[ln.order_id].append(ln)
    return out


def log(
    session: Session,
    o: SalesOrder,
    action: str,
    to: str,
    actor: str,
    now: datetime,
    reason: str | Said | None = None,
) -> None:
    note(session, o, action, actor, now, reason, to=to)
    if o.status in AT_EDGE and to not in AT_EDGE and to != "shipped":
        waybill_outbox.on_withdrawn(session, o, now)
    if to == "shipped":
        o.shipped_at = now
    elif o.status == "shipped":
        o.shipped_at = None  # reversed (冲销出库): no longer shipped on that day
    o.status, o.changed_at, o.changed_by = to, now, actor
    if to == "shipped":
        channel_outbox.on_shipped(session, o, now)
    elif to == "cancelled":
        channel_outbox.on_cancelled(session, o, now)


def phone_columns(recipient: dict[str, Any]) -> dict[str, str | None]:
    """``phone`` and ``phone_tail`` of an order from its recipient: digits only, a mainland
    mobile's country code (+86) dropped, so "+86 138-0000-0001" is found as 13800000001."""
    digits = "".join(ch for ch in str(recipient.get("phone") or "") if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not digits:
        return {"phone": None, "phone_tail": None}
    return {"phone": digits[:32], "phone_tail": digits[-4:]}


def note(
    session: Session,
    o: SalesOrder,
    action: str,
    actor: str,
    now: datetime,
    reason: str | Said | None = None,
    *,
    to: str | None = None,
) -> None:
    """A line in the order's history; without ``to`` it records what changed nothing.
    ``reason``: a sentence the hub says (cloud/tasks.py ``sentence``: the pages translate
    it) or a person's words as typed (cloud/orders/reasons.py ``written``)."""
    session.add(
        OrderLog(
            order_id=o.id,
            action=action,
            from_status=o.status,
            to_status=to or o.status,
            actor=actor,
            at=now,
            **written(reason),
        )
    )


def needs(
    lines: Iterable[tuple[str, int]], comps: dict[str, list[tuple[str, int]]], kinds: dict[str, str]
) -> dict[str, int]:
    """Units to reserve per SKU: a bundle's line becomes its components (捆绑商品)."""
    need: dict[str, int] = {}
    for sku, qty in lines:
        if kinds.get(sku) == "bundle":
            for part, per in comps.get(sku, []):
                need[part] = need.get(part, 0) + per * qty
        else:
            need[sku] = need.get(sku, 0) + qty
    return need


def reserved_by(session: Session, order_no: str, account_id: int) -> dict[tuple[int, str], int]:
    """What the ledger says this order holds reserved, per (warehouse, SKU)."""
    # Summed here, not by a GROUP BY: SQLite's planner without statistics took the grouping's
    # order from ix_movement_stock and read the account's whole ledger (migration 0060).
    held: dict[tuple[int, str], int] = {}
    for w, sku, q in session.execute(
        select(
            StockMovement.warehouse_id, StockMovement.sku_code, StockMovement.reserved_delta
        ).where(StockMovement.account_id == account_id, StockMovement.document == doc(order_no))
    ):
        held[(w, sku)] = held.get((w, sku), 0) + int(q)
    return {k: q for k, q in held.items() if q != 0}


def release_reservation(
    session: Session, o: SalesOrder, reason: Said, actor: str, now: datetime
) -> None:
    held = reserved_by(session, o.order_no, o.account_id)
    moves = [
        Move(w, s, "release", reason, doc(o.order_no), actor, reserved_delta=-q)
        for (w, s), q in sorted(held.items())
    ]
    post(session, o.account_id, moves, now)
    o.reserved = False


def try_reserve(session: Session, o: SalesOrder, actor: str, now: datetime) -> tuple[bool, Said]:
    """Reserve every line at the order's warehouse, all or nothing; the stock check's reason."""
    if o.reserved:
        return True, stock_reserved()
    lines = lines_of(session, [o.id])[o.id]
    kinds = dict(
        session.execute(
            select(Sku.sku_code, Sku.kind).where(
                Sku.account_id == o.account_id, Sku.sku_code.in_([ln.sku_code for ln in lines])
            )
        ).all()
    )
    comps = components_of(session, o.account_id, kinds)
    need = needs(((ln.sku_code, ln.qty) for ln in lines), comps, kinds)
    moves = [
        Move(
            o.warehouse_id,
            s,
            "reservation",
            sentence(N_("order reserves stock")),
            doc(o.order_no),
            actor,
            reserved_delta=q,
        )
        for s, q in sorted(need.items())
    ]
    ledger = Ledger(session, o.account_id, now)
    ledger.lock(moves)
    why = ledger.check(moves)
    if why is not None:
        return False, stock_short(why)
    ledger.stage(moves)
    ledger.flush()
    o.reserved = True
    return True, stock_reserved()


_ORDER_COLUMNS: Final = tuple(c.key for c in SalesOrder.__table__.columns)


def order_row(o: SalesOrder, *, fresh: bool = False) -> dict[str, Any]:
    """The order's column values; ``fresh``: an object of :func:`transient` (all set)."""
    if fresh:
        d = o.__dict__
        return {k: d[k] for k in _ORDER_COLUMNS}
    return {k: getattr(o, k) for k in _ORDER_COLUMNS}


def transient(cls: type[SalesOrder], **values: Any) -> SalesOrder:
    """A transient ORM object with its attributes set directly, without one event per column.

    Arrival builds thousands of orders that are written by Core (cloud.db.bulk), never through
    the session; the instrumented constructor costs more than the insert. The object is
    the same transient object the constructor makes (readable, never added to a session).
    """
    obj: SalesOrder = cls.__mapper__.class_manager.new_instance()
    obj.__dict__.update(values)
    return obj


# --- what the edge is told of an order ------------------------------------------------


def release_message(
    session: Session, o: SalesOrder, lines: list[SalesOrderLine] | None = None
) -> OrderRelease:
    lines = lines if lines is not None else lines_of(session, [o.id])[o.id]
    lease = session.get(PickLease, o.id)  # every version carries the wave and the pick lease
    status: Literal["released", "on_hold", "cancelled"] = "released"
    reason = None
    if o.status == "cancelled" or o.status in ("audited", "confirmed", "saved", "new"):
        status, reason = "cancelled", "withdrawn by the hub"
    elif o.on_hold:
        status, reason = "on_hold", (o.hold_reason or "on hold")[:200]
    return OrderRelease(
        order_id=o.order_no,
        version=max(o.version, 1),
        status=status,
        status_reason=reason,
        carrier=o.carrier or "NONE",
        waybill=o.tracking_number,
        waybill_route=waybill_outbox.route_of(session, o),
        recipient=Recipient.model_validate(o.recipient),
        lines=[
            OrderLine(line_id=ln.line_id, sku_code=ln.sku_code, qty=ln.qty, gift=ln.gift)
            for ln in lines
        ],
        wave=lease.wave if lease else None,
        pick_node=lease.node_id if lease else None,
    )


def send_release(
    session: Session, o: SalesOrder, now: datetime, *, wave: str | None = None
) -> dict[str, int]:
    """Queue a new version of the order for the nodes of its warehouse."""
    o.version += 1
    msg = release_message(session, o)
    if wave is not None:
        msg = msg.model_copy(update={"wave": wave})
    return downlink.push(
        session, downlink.nodes_of_warehouse(session, o.warehouse_id), "order.release", [msg], now
    )


def open_releases(session: Session, warehouse_id: int) -> list[OrderRelease]:
    """What a newly assigned node of the warehouse must know: orders at the edge now."""
    orders = list(
        session.execute(
            select(SalesOrder)
            .where(SalesOrder.warehouse_id == warehouse_id, SalesOrder.status.in_(AT_EDGE))
            .order_by(SalesOrder.created_at, SalesOrder.order_no)
        ).scalars()
    )
    lines = lines_of(session, [o.id for o in orders])
    return [release_message(session, o, lines[o.id]) for o in orders]


def unchanged_since(session: Session, account_id: int, order_no: str, seen: str) -> None:
    """Refuse an action decided on an old view of the order (two people on one order).

    ``seen`` is the order's ``changed_at`` as the person's page showed it (the dashboard
    sends it with every action, as an HTTP If-Match would): if someone changed the order
    since, the action is refused with who, when and what it is now, and nothing changes."""
    o = get(session, account_id, order_no)
    if o.changed_at.isoformat() != seen:
        params = {
            "order": order_no,
            "by": o.changed_by,
            "at": f"{o.changed_at:%Y-%m-%d %H:%M:%S}",
            "status": o.status,
        }
        if o.on_hold:
            raise ConflictError(
                N_(
                    "order %(order)s was changed by %(by)s at %(at)s UTC after you opened it "
                    "(now %(status)s, held: %(hold_reason)s); reload it and decide again"
                ),
                **params,
                hold_reason=o.hold_reason,
            )
        raise ConflictError(
            N_(
                "order %(order)s was changed by %(by)s at %(at)s UTC after you opened it "
                "(now %(status)s); reload it and decide again"
            ),
            **params,
        )
