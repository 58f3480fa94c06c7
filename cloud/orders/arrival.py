"""Order arrival (订单下载) and auto-audit: reserve at once, run the checks and rules,
write the rows in bulk."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.catalogue.skus import components_of
from cloud.db import ids
from cloud.db.bulk import insert_rows
from cloud.db.engine import one_of
from cloud.db.models import (
    OrderDecision,
    OrderLog,
    SalesOrder,
    SalesOrderLine,
    Sku,
    Warehouse,
)
from cloud.errors import N_, ConflictError, InvalidError, Sentence
from cloud.orders.audit_rules import Engine, Facts, audit_day, order_total
from cloud.orders.core import (
    OrderIn,
    decision_row,
    doc,
    needs,
    order_row,
    phone_columns,
    transient,
)
from cloud.orders.reasons import created, stock_reserved, stock_short, written
from cloud.stock.ledger import Ledger, Move
from cloud.tasks import sentence

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
        raise InvalidError(N_("an order_no appears twice in the request"), "order_no")
    dup = session.execute(
        select(SalesOrder.order_no).where(
            SalesOrder.account_id == account_id, one_of(session, SalesOrder.order_no, nos)
        )
    ).first()
    if dup:
        raise ConflictError(N_("order %(order)s exists already"), order=dup[0])
    codes = {ln.sku_code for b in bodies for ln in b.lines}
    skus = {
        s.sku_code: s
        for s in session.execute(
            select(Sku).where(Sku.account_id == account_id, Sku.sku_code.in_(codes))
        ).scalars()
    }
    missing = sorted(codes - set(skus))
    if missing:
        raise InvalidError(N_("unknown SKU(s): %(skus)s"), "lines", skus=", ".join(missing))
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
        {g.action["gift_sku"] for g in engine.views if g.kind == "gift"} if engine else set()
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
    # One sentence object for every reservation: the ledger puts it into words once.
    reserves = sentence(N_("order reserves stock"))
    for b in bodies:
        if b.warehouse is not None:
            wh = whs.get(b.warehouse)
            if wh is None:
                raise InvalidError(
                    N_("no warehouse %(warehouse)r"), "warehouse", warehouse=b.warehouse
                )
        elif main is None:
            raise ConflictError(N_("the account has no main warehouse yet; create one first"))
        else:
            wh = main
        o = transient(
            SalesOrder,
            id=ids.uuid4(),
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
            **phone_columns(b.recipient.model_dump()),
            shipped_at=None,
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
        need = needs(((ln.sku_code, ln.qty) for ln in b.lines), comps, kinds)
        wanted.append(
            (
                o,
                [
                    Move(
                        wh.id,
                        s,
                        "reservation",
                        reserves,
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
    short: dict[str, Sentence] = {}
    for o, ms in wanted:
        why = ledger.check(ms)
        if why is None:
            ledger.stage(ms)
            o.reserved = True
        else:
            short[o.id] = why
    # The history's sentences are the same for every order of a channel: put into words once.
    first_line = {c: written(created(c)) for c in {o.channel for o in orders}}
    plain, passed = written(None), written(sentence(N_("all checks passed")))
    logs = [
        {
            "order_id": o.id,
            "action": "create",
            "from_status": None,
            "to_status": "new",
            "actor": actor,
            "at": now,
            **first_line[o.channel],
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
                total=order_total(o.total_cents),
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
                stock_why=stock_reserved() if o.reserved else stock_short(short.get(o.id)),
                order_no=o.order_no,
                now=now,
            )
            for code, qty, d in verdict.gifts:
                if code not in gift_skus:
                    d.amend(
                        "skip",
                        N_("%(reason)s (gift SKU %(sku)s is not in the catalogue)"),
                        sku=code,
                    )
                elif o.reserved:
                    need = needs([(code, qty)], comps, kinds)
                    gm = [
                        Move(
                            o.warehouse_id,
                            s,
                            "reservation",
                            sentence(N_("gift reserves stock")),
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
                        d.amend("skip", N_("%(reason)s (gift out of stock)"))
                verdict.decisions.append(d)
            o.carrier, o.carrier_source = verdict.carrier, verdict.carrier_source
            decisions.extend(decision_row(o.id, d, "auto-audit", now) for d in verdict.decisions)
            held = verdict.held
            logs.append(
                {
                    "order_id": o.id,
                    "action": "save",
                    "from_status": "new",
                    "to_status": "saved",
                    "actor": "auto-audit",
                    "at": now,
                    **plain,
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
                        "actor": "auto-audit",
                        "at": now,
                        **passed,
                    }
                )
                logs.append(
                    {
                        "order_id": o.id,
                        "action": "audit",
                        "from_status": "confirmed",
                        "to_status": "audited",
                        "actor": "auto-audit",
                        "at": now,
                        **plain,
                    }
                )
                o.status = "audited"
    insert_rows(session, SalesOrder, [order_row(o, fresh=True) for o in orders])
    insert_rows(session, SalesOrderLine, line_rows + gift_lines)
    ledger.flush()
    insert_rows(session, OrderLog, logs)
    insert_rows(session, OrderDecision, decisions)
    return orders
