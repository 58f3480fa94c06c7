"""Orders and the audit workflow (审单).

States (docs/cloud.md "Orders"): ``new`` → ``saved`` (保存) → ``confirmed`` (人工确认) →
``audited`` (审核完成) → ``released`` (sent to the warehouse's edge nodes) → ``picked`` →
``packed`` → ``weighed`` → ``labelled`` → ``shipped``; ``cancelled`` from anywhere before
shipping. A hold (``on_hold``) stops an order where it is until a person lifts it.

An order reserves its stock the moment it arrives (订单下载: "stock is reserved at once");
a bundle reserves each component. Auto-audit runs the checks and rules of
cloud/audit_rules.py; a clean order goes straight through save → confirm → audit complete,
an order with any hold stops at ``saved`` with the reasons. Every decision is stored
(``order_decision``), every state change logged (``order_log``) with who and when.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud import downlink, waybills
from cloud.audit_rules import Decision, Engine, Facts, audit_day
from cloud.bulk import insert_rows
from cloud.catalogue import components_of
from cloud.errors import ConflictError, InvalidError, NotFoundError
from cloud.models import (
    OrderDecision,
    OrderLog,
    PickLease,
    SalesOrder,
    SalesOrderLine,
    Sku,
    StockMovement,
    Warehouse,
)
from cloud.stock import Ledger, Move, post, reverse_movement
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


class OrderIn(BaseModel):
    """An order by API: manual, offline bank transfer (线下汇款), or from a channel."""

    model_config = ConfigDict(extra="forbid")
    order_no: OrderId
    channel: Literal["manual", "bank_transfer", "taobao", "jd", "pdd", "shop"] = "manual"
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


def _decision_row(order_id: str, d: Decision, actor: str, now: datetime) -> dict[str, object]:
    """An audit decision as an ``order_decision`` row (written in bulk, not as objects)."""
    return {
        "order_id": order_id,
        "check": d.check,
        "outcome": d.outcome,
        "rule_key": d.rule_key,
        "rule_version": d.rule_version,
        "reason": d.reason[:2000],
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
        raise NotFoundError(f"no order {order_no!r}")
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
    reason: str | None = None,
) -> None:
    note(session, o, action, actor, now, reason, to=to)
    o.status, o.changed_at, o.changed_by = to, now, actor


def note(
    session: Session,
    o: SalesOrder,
    action: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
    *,
    to: str | None = None,
) -> None:
    """A line in the order's history; without ``to`` it records what changed nothing."""
    session.add(
        OrderLog(
            order_id=o.id,
            action=action,
            from_status=o.status,
            to_status=to or o.status,
            reason=reason,
            actor=actor,
            at=now,
        )
    )


def _needs(
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
    rows = session.execute(
        select(
            StockMovement.warehouse_id,
            StockMovement.sku_code,
            func.sum(StockMovement.reserved_delta),
        )
        .where(StockMovement.account_id == account_id, StockMovement.document == doc(order_no))
        .group_by(StockMovement.warehouse_id, StockMovement.sku_code)
    )
    return {(w, s): int(q) for w, s, q in rows if int(q) != 0}


def release_reservation(
    session: Session, o: SalesOrder, reason: str, actor: str, now: datetime
) -> None:
    held = reserved_by(session, o.order_no, o.account_id)
    moves = [
        Move(w, s, "release", reason, doc(o.order_no), actor, reserved_delta=-q)
        for (w, s), q in sorted(held.items())
    ]
    post(session, o.account_id, moves, now)
    o.reserved = False


def try_reserve(session: Session, o: SalesOrder, actor: str, now: datetime) -> tuple[bool, str]:
    """Reserve every line at the order's warehouse, all or nothing."""
    if o.reserved:
        return True, "stock reserved"
    lines = lines_of(session, [o.id])[o.id]
    kinds = dict(
        session.execute(
            select(Sku.sku_code, Sku.kind).where(
                Sku.account_id == o.account_id, Sku.sku_code.in_([ln.sku_code for ln in lines])
            )
        ).all()
    )
    comps = components_of(session, o.account_id, kinds)
    need = _needs(((ln.sku_code, ln.qty) for ln in lines), comps, kinds)
    moves = [
        Move(
            o.warehouse_id,
            s,
            "reservation",
            "order reserves stock",
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
        return False, f"stock short: {why}"
    ledger.stage(moves)
    ledger.flush()
    o.reserved = True
    return True, "stock reserved"


# --- arrival and auto-audit ---------------------------------------------------------


def create_orders(
    session: Session,
    account_id: int,
    bodies: list[OrderIn],
    actor: str,
    now: datetime,
    *,
    auto_audit: bool = True,
) -> list[SalesOrder]:
    """Orders arrive: stored, stock reserved at once, then audited by the rules (in bulk)."""
    nos = [b.order_no for b in bodies]
    if len(set(nos)) != len(nos):
        raise InvalidError("an order_no appears twice in the request", "order_no")
    dup = session.execute(
        select(SalesOrder.order_no).where(
            SalesOrder.account_id == account_id, SalesOrder.order_no.in_(nos)
        )
    ).first()
    if dup:
        raise ConflictError(f"order {dup[0]} exists already")
    codes = {ln.sku_code for b in bodies for ln in b.lines}
    skus = {
        s.sku_code: s
        for s in session.execute(
            select(Sku).where(Sku.account_id == account_id, Sku.sku_code.in_(codes))
        ).scalars()
    }
    missing = sorted(codes - set(skus))
    if missing:
        raise InvalidError(f"unknown SKU(s): {', '.join(missing)}", "lines")
    whs = {
        w.code: w
        for w in session.execute(
            select(Warehouse).where(Warehouse.account_id == account_id)
        ).scalars()
    }
    main = next((w for w in sorted(whs.values(), key=lambda w: w.id) if w.kind == "main"), None)
    kinds = {c: s.kind for c, s in skus.items()}
    comps = components_of(session, account_id, [c for c, k in kinds.items() if k == "bundle"])
    engine = Engine(session, account_id) if auto_audit else None
    gift_codes = (
        {g.action["gift_sku"] for g in engine.rules if g.kind == "gift"} if engine else set()
    )
    gift_skus = (
        {
            s.sku_code: s
            for s in session.execute(
                select(Sku).where(Sku.account_id == account_id, Sku.sku_code.in_(gift_codes))
            ).scalars()
        }
        if gift_codes
        else {}
    )
    comps.update(
        components_of(session, account_id, [c for c, s in gift_skus.items() if s.kind == "bundle"])
    )
    kinds.update({c: s.kind for c, s in gift_skus.items()})

    orders: list[SalesOrder] = []
    line_rows: list[dict[str, Any]] = []
    wanted: list[tuple[SalesOrder, list[Move]]] = []
    for b in bodies:
        if b.warehouse is not None:
            wh = whs.get(b.warehouse)
            if wh is None:
                raise InvalidError(f"no warehouse {b.warehouse!r}", "warehouse")
        elif main is None:
            raise ConflictError("the account has no main warehouse yet; create one first")
        else:
            wh = main
        o = _transient(
            SalesOrder,
            id=str(uuid.uuid4()),
            account_id=account_id,
            order_no=b.order_no,
            channel=b.channel,
            status="new",
            on_hold=False,
            hold_reason=None,
            warehouse_id=wh.id,
            carrier=None,
            carrier_source=None,
            buyer_nick=b.buyer_nick,
            recipient=b.recipient.model_dump(),
            buyer_remark=b.buyer_remark,
            seller_note=b.seller_note,
            buyer_carrier=b.buyer_carrier,
            seller_carrier=b.seller_carrier,
            total_cents=b.total_cents
            if b.total_cents is not None
            else sum(ln.price_cents * ln.qty for ln in b.lines),
            reserved=False,
            version=0,
            tracking_number=None,
            weighed_g=None,
            merged_into=None,
            split_from=None,
            created_at=now,
            changed_at=now,
            changed_by=actor,
        )
        orders.append(o)
        line_rows.extend({"order_id": o.id, **ln.model_dump()} for ln in b.lines)
        need = _needs(((ln.sku_code, ln.qty) for ln in b.lines), comps, kinds)
        wanted.append(
            (
                o,
                [
                    Move(
                        wh.id,
                        s,
                        "reservation",
                        "order reserves stock",
                        doc(o.order_no),
                        actor,
                        reserved_delta=q,
                    )
                    for s, q in sorted(need.items())
                ],
            )
        )

    ledger = Ledger(session, account_id, now)
    ledger.lock(m for _, ms in wanted for m in ms)
    short: dict[str, str] = {}
    for o, ms in wanted:
        why = ledger.check(ms)
        if why is None:
            ledger.stage(ms)
            o.reserved = True
        else:
            short[o.id] = why
    logs = [
        {
            "order_id": o.id,
            "action": "create",
            "from_status": None,
            "to_status": "new",
            "reason": f"{o.channel} order",
            "actor": actor,
            "at": now,
        }
        for o in orders
    ]
    decisions: list[dict[str, Any]] = []
    gift_lines: list[dict[str, Any]] = []
    if engine is not None:
        by_order: dict[str, list[dict[str, Any]]] = {}
        for r in line_rows:
            by_order.setdefault(r["order_id"], []).append(r)
        day = audit_day(now)
        for o, _ in wanted:
            lines = by_order[o.id]
            facts = Facts(
                total=o.total_cents / 100,
                recipient=o.recipient,
                day=day,
                weight_g=sum((skus[r["sku_code"]].weight_g or 0) * r["qty"] for r in lines),
                channel=o.channel,
                buyer_carrier=o.buyer_carrier,
                seller_carrier=o.seller_carrier,
                skus=[r["sku_code"] for r in lines],
            )
            verdict = engine.evaluate(
                facts,
                remark=o.buyer_remark,
                prices=[
                    (r["sku_code"], r["price_cents"], skus[r["sku_code"]].min_price_cents)
                    for r in lines
                    if not r["gift"]
                ],
                stock_ok=o.reserved,
                stock_why="stock reserved" if o.reserved else f"stock short: {short.get(o.id)}",
            )
            for code, qty, d in verdict.gifts:
                if code not in gift_skus:
                    d.outcome, d.reason = (
                        "skip",
                        d.reason + f" (gift SKU {code} is not in the catalogue)",
                    )
                elif o.reserved:
                    need = _needs([(code, qty)], comps, kinds)
                    gm = [
                        Move(
                            o.warehouse_id,
                            s,
                            "reservation",
                            "gift reserves stock",
                            doc(o.order_no),
                            actor,
                            reserved_delta=q,
                        )
                        for s, q in sorted(need.items())
                    ]
                    ledger.lock(gm)
                    if ledger.check(gm) is None:
                        ledger.stage(gm)
                        gift_lines.extend(
                            [
                                {
                                    "order_id": o.id,
                                    "line_id": f"gift-{d.rule_key}",
                                    "sku_code": code,
                                    "qty": qty,
                                    "price_cents": 0,
                                    "gift": True,
                                }
                            ],
                        )
                    else:
                        d.outcome, d.reason = "skip", d.reason + " (gift out of stock)"
                verdict.decisions.append(d)
            o.carrier, o.carrier_source = verdict.carrier, verdict.carrier_source
            decisions.extend(_decision_row(o.id, d, "auto-audit", now) for d in verdict.decisions)
            held = verdict.held
            logs.append(
                {
                    "order_id": o.id,
                    "action": "save",
                    "from_status": "new",
                    "to_status": "saved",
                    "reason": None,
                    "actor": "auto-audit",
                    "at": now,
                }
            )
            if held:
                o.status, o.on_hold = "saved", True
                o.hold_reason = "; ".join(d.reason for d in held)[:300]
            else:
                logs.append(
                    {
                        "order_id": o.id,
                        "action": "confirm",
                        "from_status": "saved",
                        "to_status": "confirmed",
                        "reason": "all checks passed",
                        "actor": "auto-audit",
                        "at": now,
                    }
                )
                logs.append(
                    {
                        "order_id": o.id,
                        "action": "audit",
                        "from_status": "confirmed",
                        "to_status": "audited",
                        "reason": None,
                        "actor": "auto-audit",
                        "at": now,
                    }
                )
                o.status = "audited"
    insert_rows(session, SalesOrder, [_row(o, fresh=True) for o in orders])
    insert_rows(session, SalesOrderLine, line_rows + gift_lines)
    ledger.flush()
    insert_rows(session, OrderLog, logs)
    insert_rows(session, OrderDecision, decisions)
    return orders


_ORDER_COLUMNS: Final = tuple(c.key for c in SalesOrder.__table__.columns)


def _row(o: SalesOrder, *, fresh: bool = False) -> dict[str, Any]:
    """The order's column values; ``fresh``: an object of :func:`_transient` (all set)."""
    if fresh:
        d = o.__dict__
        return {k: d[k] for k in _ORDER_COLUMNS}
    return {k: getattr(o, k) for k in _ORDER_COLUMNS}


def _transient(cls: type[SalesOrder], **values: Any) -> SalesOrder:
    """A transient ORM object with its attributes set directly, without one event per column.

    Arrival builds thousands of orders that are written by Core (cloud.bulk), never through
    the session; the instrumented constructor costs more than the insert. The object is
    the same transient object the constructor makes (readable, never added to a session).
    """
    obj: SalesOrder = cls.__mapper__.class_manager.new_instance()
    obj.__dict__.update(values)
    return obj


# --- the manual steps: save → confirm → audit complete ---------------------------------


def _engine_decisions(session: Session, o: SalesOrder, actor: str, now: datetime) -> list[str]:
    """Run the checks and rules on one order again (manual save); return hold reasons."""
    ok, why = try_reserve(session, o, actor, now)
    lines = lines_of(session, [o.id])[o.id]
    skus = {
        s.sku_code: s
        for s in session.execute(
            select(Sku).where(
                Sku.account_id == o.account_id, Sku.sku_code.in_([ln.sku_code for ln in lines])
            )
        ).scalars()
    }
    facts = Facts(
        total=o.total_cents / 100,
        recipient=o.recipient,
        day=audit_day(now),
        weight_g=sum((skus[ln.sku_code].weight_g or 0) * ln.qty for ln in lines),
        channel=o.channel,
        buyer_carrier=o.buyer_carrier,
        seller_carrier=o.seller_carrier,
        skus=[ln.sku_code for ln in lines],
    )
    v = Engine(session, o.account_id).evaluate(
        facts,
        remark=o.buyer_remark,
        prices=[
            (ln.sku_code, ln.price_cents, skus[ln.sku_code].min_price_cents)
            for ln in lines
            if not ln.gift
        ],
        stock_ok=ok,
        stock_why=why,
    )
    # Gift rules already applied at arrival are not re-applied by hand; they are reported.
    v.decisions.extend(d for _, _, d in v.gifts)
    o.carrier, o.carrier_source = v.carrier or o.carrier, v.carrier_source or o.carrier_source
    # Rows by Core, as arrival writes them: nothing reads them back as objects, and the ORM's
    # flush of half a dozen new objects cost more than the rules that made them.
    insert_rows(
        session,
        OrderDecision,
        [_decision_row(o.id, d, actor, now) for d in v.decisions],
    )
    return [d.reason for d in v.held]


def save(session: Session, account_id: int, order_no: str, actor: str, now: datetime) -> SalesOrder:
    """保存: run the checks again after a person's edits; holds come back with reasons.

    A buyer remark stays flagged until the auditor confirms it: they read it and then confirm,
    so the remark check of a manual save does not hold by itself.
    """
    o = get(session, account_id, order_no)
    if o.status not in ("new", "saved"):
        raise ConflictError(
            f"order {order_no} is {o.status}; only new or saved orders are saved (reject it first to re-audit)"
        )
    reasons = [
        r for r in _engine_decisions(session, o, actor, now) if not r.startswith("buyer remark")
    ]
    log(session, o, "save", "saved", actor, now, "; ".join(reasons) or None)
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
        raise ConflictError(f"order {order_no} is {o.status}; confirm needs a saved order")
    if o.on_hold:
        raise ConflictError(f"order {order_no} is on hold ({o.hold_reason}); lift the hold first")
    log(session, o, "confirm", "confirmed", actor, now, note)
    return o


def complete_audit(
    session: Session, account_id: int, order_no: str, actor: str, now: datetime
) -> SalesOrder:
    """审核完成."""
    o = get(session, account_id, order_no)
    if RANK.get(o.status, 0) >= RANK["audited"] and o.status != "cancelled":
        raise ConflictError(f"order {order_no} is already audited ({o.status})")
    if o.status != "confirmed":
        raise ConflictError(f"order {order_no} is {o.status}; audit completes a confirmed order")
    if not o.reserved:
        raise ConflictError(
            f"order {order_no} has no stock reserved; save it again when stock is in"
        )
    if not o.carrier:
        raise ConflictError(
            f"order {order_no} has no carrier; set seller_carrier or add a courier rule"
        )
    log(session, o, "audit", "audited", actor, now)
    return o


def set_hold(
    session: Session,
    account_id: int,
    order_no: str,
    on: bool,
    reason: str | None,
    actor: str,
    now: datetime,
) -> tuple[SalesOrder, dict[str, int]]:
    o = get(session, account_id, order_no)
    if o.status in ("shipped", "cancelled"):
        raise ConflictError(f"order {order_no} is {o.status}; nothing to hold")
    if o.on_hold == on:
        raise ConflictError(f"order {order_no} is {'already' if on else 'not'} on hold")
    o.on_hold, o.hold_reason = on, (reason or "held by hand") if on else None
    session.add(
        OrderLog(
            order_id=o.id,
            action="hold" if on else "unhold",
            from_status=o.status,
            to_status=o.status,
            reason=reason,
            actor=actor,
            at=now,
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
        raise ConflictError(f"order {order_no} is {o.status}; reject it (驳回) before changing it")
    changes = []
    if body.warehouse is not None:
        wh = session.execute(
            select(Warehouse).where(
                Warehouse.account_id == account_id, Warehouse.code == body.warehouse
            )
        ).scalar_one_or_none()
        if wh is None:
            raise InvalidError(f"no warehouse {body.warehouse!r}", "warehouse")
        if wh.id != o.warehouse_id:
            release_reservation(session, o, f"warehouse changed to {wh.code}", actor, now)
            o.warehouse_id = wh.id
            try_reserve(session, o, actor, now)
            changes.append(f"warehouse → {wh.code}")
    if body.seller_carrier is not None:
        o.seller_carrier = body.seller_carrier
        changes.append(f"seller_carrier → {body.seller_carrier}")
    if body.seller_note is not None:
        o.seller_note = body.seller_note
        changes.append("seller_note")
    if body.recipient is not None:
        o.recipient = body.recipient.model_dump()
        changes.append("recipient")
    session.add(
        OrderLog(
            order_id=o.id,
            action="edit",
            from_status=o.status,
            to_status=o.status,
            reason=", ".join(changes) or "no change",
            actor=actor,
            at=now,
        )
    )
    o.changed_at, o.changed_by = now, actor
    return o


# --- release to the warehouse (edge) ---------------------------------------------------


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


def release(
    session: Session,
    account_id: int,
    order_no: str,
    actor: str,
    now: datetime,
    *,
    wave: str | None = None,
    pick_node: str | None = None,
) -> tuple[SalesOrder, dict[str, int]]:
    """Release an audited order to its warehouse's node(s), in pick wave ``wave`` if given.

    An order without a waybill number gets one here (the 电子面单 step): the pack station
    prints it on the courier label, so a released order always has one. Its pick is leased
    to ``pick_node``, or to the pick node the hub chooses (cloud/pick_lease.py).
    """
    from cloud import pick_lease  # pick_lease builds on this module

    o = get(session, account_id, order_no)
    if o.status != "audited":
        raise ConflictError(f"order {order_no} is {o.status}; only an audited order is released")
    if o.on_hold:
        raise ConflictError(f"order {order_no} is on hold ({o.hold_reason})")
    node = pick_lease.choose(session, o, wave, pick_node)
    pick_lease.lease(session, o, wave, node, actor, now)
    if not o.tracking_number:
        o.tracking_number = waybills.allocate(session, account_id, o.carrier or "NONE")
    why = [f"wave {wave}"] if wave else []
    why.append(f"pick node {node}" if node else "no pick node known")
    log(session, o, "release", "released", actor, now, reason=", ".join(why))
    return o, send_release(session, o, now, wave=wave)


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


def ship(session: Session, account_id: int, order_no: str, actor: str, now: datetime) -> SalesOrder:
    """The courier collected the parcel: the outbound posts (stock leaves the book)."""
    o = get(session, account_id, order_no)
    if o.status == "shipped":
        raise ConflictError(f"order {order_no} is already shipped")
    if o.status not in AT_EDGE:
        raise ConflictError(f"order {order_no} is {o.status}; only a released order ships")
    if o.on_hold:
        raise ConflictError(f"order {order_no} is on hold ({o.hold_reason})")
    held = reserved_by(session, order_no, account_id)
    moves = [
        Move(w, s, "ship", "shipped", doc(order_no), actor, qty_delta=-q, reserved_delta=-q)
        for (w, s), q in sorted(held.items())
    ]
    post(session, account_id, moves, now)
    log(session, o, "ship", "shipped", actor, now)
    return o


def reverse_picks(session: Session, o: SalesOrder, reason: str, actor: str, now: datetime) -> None:
    """Goods picked for an order that will not ship go back to their bins on the book."""
    picks = (
        session.execute(
            select(StockMovement.id)
            .where(
                StockMovement.account_id == o.account_id,
                StockMovement.document == doc(o.order_no),
                StockMovement.kind == "pick",
                StockMovement.id.not_in(
                    select(StockMovement.reverses_id).where(StockMovement.reverses_id.is_not(None))
                ),
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
    session: Session, account_id: int, order_no: str, reason: str, actor: str, now: datetime
) -> tuple[SalesOrder, dict[str, int]]:
    o = get(session, account_id, order_no)
    if o.status == "cancelled":
        raise ConflictError(f"order {order_no} is already cancelled")
    if o.status == "shipped":
        raise ConflictError(
            f"order {order_no} is shipped; reverse the outbound (冲销出库) or open a return"
        )
    at_edge = o.status in AT_EDGE
    if at_edge:
        reverse_picks(session, o, f"cancelled: {reason}", actor, now)
    release_reservation(session, o, f"cancelled: {reason}", actor, now)
    log(session, o, "cancel", "cancelled", actor, now, reason)
    return o, send_release(session, o, now) if at_edge else {}


# --- split and merge (拆单 / 并单) ------------------------------------------------------


def _lines_total(lines: Iterable[tuple[int, int]]) -> int:
    """An order's total from its lines as arrival computes it: price × qty over every line.

    Gift lines count like any other (arrival's rule-added gifts are priced 0).
    """
    return sum(price * qty for price, qty in lines)


#: What a split's new order takes from its parent. Everything else starts afresh: no
#: waybill (waybills.allocate keeps numbers unique per account), no weight, no release
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
        raise ConflictError(f"order {order_no} is {o.status}; split it before the audit completes")
    lines = {ln.line_id: ln for ln in lines_of(session, [o.id])[o.id]}
    for lid, q in take.items():
        if lid not in lines:
            raise InvalidError(f"order {order_no} has no line {lid!r}", "lines")
        if not 1 <= q <= lines[lid].qty:
            raise InvalidError(f"line {lid} has {lines[lid].qty}; cannot take {q}", "lines")
    if all(take.get(lid, 0) == ln.qty for lid, ln in lines.items()):
        raise InvalidError("a split must leave something in the original order", "lines")
    n = (
        session.execute(
            select(func.count())
            .select_from(SalesOrder)
            .where(SalesOrder.account_id == account_id, SalesOrder.split_from == order_no)
        ).scalar_one()
        + 1
    )
    release_reservation(session, o, f"split into {order_no}-S{n}", actor, now)
    child = SalesOrder(
        **{k: getattr(o, k) for k in _SPLIT_INHERITS},
        id=str(uuid.uuid4()),
        order_no=f"{order_no}-S{n}",
        status="new",
        recipient=dict(o.recipient),
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
            reason=f"split from {order_no}",
            actor=actor,
            at=now,
        )
    )
    log(session, o, "split", "new", actor, now, f"lines moved to {child.order_no}")
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
        raise InvalidError("merge needs at least two different orders", "order_nos")
    twice = sorted({n for n in order_nos if order_nos.count(n) > 1})
    if twice:
        raise InvalidError(
            f"order {', '.join(twice)} is named more than once; name each order once",
            "order_nos",
        )
    orders = [get(session, account_id, n) for n in order_nos]
    head, away = orders[0], orders[1:]
    for o in orders:
        if o.status not in EDITABLE:
            raise ConflictError(
                f"order {o.order_no} is {o.status}; merge before the audit completes"
            )
        if (o.buyer_nick, o.recipient) != (head.buyer_nick, head.recipient):
            raise ConflictError(
                f"order {o.order_no} has another buyer or address than {head.order_no}"
            )
        if o.warehouse_id != head.warehouse_id:
            raise ConflictError(
                f"order {o.order_no} ships from another warehouse than {head.order_no}"
            )
    for o in orders:
        release_reservation(session, o, f"merged into {head.order_no}", actor, now)
    # A hold on a merged-away order stops its goods, which now ship with the head.
    holds = [f"{o.order_no}: {o.hold_reason or 'on hold'}" for o in away if o.on_hold]
    new_remarks = _carry(head, away, "buyer_remark")
    _carry(head, away, "seller_note")
    if new_remarks:
        why = f"buyer remark needs a human: {'; '.join(new_remarks)[:200]}"
        session.add(
            OrderDecision(
                order_id=head.id,
                check="remark",
                outcome="hold",
                rule_key=None,
                rule_version=None,
                reason=why,
                actor=actor,
                created_at=now,
            )
        )
        holds.append(why)
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
        log(session, o, "merge", "cancelled", actor, now, f"merged into {head.order_no}")
    session.flush()
    log(session, head, "merge", "new", actor, now, "merged " + ", ".join(order_nos[1:]))
    if holds:
        held = "; ".join(holds)
        session.add(
            OrderLog(
                order_id=head.id,
                action="hold",
                from_status=head.status,
                to_status=head.status,
                reason=held[:2000],
                actor=actor,
                at=now,
            )
        )
        own = [head.hold_reason or "on hold"] if head.on_hold else []
        head.on_hold, head.hold_reason = True, "; ".join([*own, held])[:300]
    try_reserve(session, head, actor, now)
    return head
