"""What a proposed rule version would do to today's orders, before it is saved (issue 15,
"Rules and couriers": "what would this rule do to today's orders" dry run).

The proposed version (a :class:`RuleIn`, the body of ``PUT /api/v1/rules/{key}``) takes the
place of the rule's current version, or joins the rules when the key is new; every other
rule and every courier stays as stored. Each of today's orders (created since midnight,
China time: ``audit_rules.CHINA``) still waiting for its audit (new, saved, confirmed) — and
with ``include_audited`` those audited and not yet released — is evaluated twice by the
engine the audit uses (cloud/orders/audit_rules.py ``Engine``): once with the current rules,
once with the proposed one. Both runs are computed now, from the order as it is, so the two
columns differ only by the rule (the decisions stored at arrival saw that moment's stock).

Read-only: nothing is written. The engine writes only for a stored rule it cannot evaluate
(a task, once) and only when given ``now``; the dry run never gives it. Bounded: at most
``MAX_ORDERS`` orders, the oldest first (the ones the warehouse ships first); the answer
says how many there were and whether it stopped (OWASP API Security Top 10 2023, API4).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.models import Rule, SalesOrder, SalesOrderLine, Sku, Warehouse
from cloud.errors import N_, ConflictError
from cloud.orders.audit_rules import (
    CHINA,
    Condition,
    Engine,
    Facts,
    RuleIn,
    RuleView,
    audit_day,
    order_total,
)
from cloud.orders.core import EDITABLE
from cloud.orders.reasons import stock_reserved
from cloud.tasks import sentence

#: Orders a dry run evaluates at most (10,000 took ~2 s on the 2-core machine, docs/dashboard.md).
MAX_ORDERS: Final = 10_000
#: Rows per ``IN (...)`` query (SQLite's bound-parameter limit is 32,766; PostgreSQL's 65,535).
CHUNK: Final = 1000
#: The id of the proposed rule inside the engine: stored rules have positive ids.
PROPOSED_ID: Final = -1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the audit would decide for one order."""

    holds: tuple[str, ...]
    carrier: str | None
    carrier_source: str | None
    gifts: tuple[str, ...]

    @property
    def held(self) -> bool:
        return bool(self.holds)


@dataclass(frozen=True, slots=True)
class OrderRun:
    order_no: str
    status: str
    warehouse: str
    current: Outcome
    proposed: Outcome

    @property
    def changed(self) -> bool:
        return self.current != self.proposed


@dataclass
class DryRun:
    key: str
    #: The version the proposal would become if saved.
    version: int
    #: Today's orders that qualify; ``evaluated`` of them were (``MAX_ORDERS`` at most).
    total: int
    evaluated: int
    orders: list[OrderRun] = field(default_factory=list)
    elapsed_ms: float = 0.0

    @property
    def truncated(self) -> bool:
        return self.evaluated < self.total

    @property
    def changed(self) -> list[OrderRun]:
        return [o for o in self.orders if o.changed]

    def totals(self) -> dict[str, int]:
        c = self.changed
        return {
            "changed": len(c),
            "newly_held": sum(1 for o in c if o.proposed.held and not o.current.held),
            "no_longer_held": sum(1 for o in c if o.current.held and not o.proposed.held),
            "hold_reason_changed": sum(
                1
                for o in c
                if o.current.held and o.proposed.held and o.current.holds != o.proposed.holds
            ),
            "courier_changed": sum(1 for o in c if o.current.carrier != o.proposed.carrier),
            "gifts_changed": sum(1 for o in c if o.current.gifts != o.proposed.gifts),
        }


def _chunks(items: Sequence[T], n: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _proposed_engine(
    session: Session, account_id: int, key: str, body: RuleIn, version: int
) -> Engine:
    """The account's engine with ``body`` in place of the current version of ``key``, as
    ``version`` (the one it would become: its decisions cite ``key@version``)."""
    engine = Engine(session, account_id)
    priority = engine.priority
    engine.views = [v for v in engine.views if v.rule_key != key]
    # A broken current version is replaced too: the proposal is what would run.
    engine.broken = {i: b for i, b in engine.broken.items() if b[0].rule_key != key}
    if body.active:
        view = RuleView(PROPOSED_ID, body.kind, body.name, key, version, body.action)
        engine.conditions[PROPOSED_ID] = [Condition.model_validate(c) for c in body.conditions]
        priority[PROPOSED_ID] = (body.priority, key)
        engine.views.append(view)
        # The order the engine runs rules in: priority, then key (audit_rules.current_rules).
        engine.views.sort(key=lambda v: priority[v.id])
    return engine


def _outcome(
    engine: Engine, facts: Facts, order: Any, prices: list[tuple[str, int, int | None]]
) -> Outcome:
    v = engine.evaluate(
        facts,
        remark=order.buyer_remark,
        prices=prices,
        stock_ok=order.reserved,
        stock_why=stock_reserved() if order.reserved else sentence(N_("stock short")),
        order_no=order.order_no,
        now=None,  # never write (a task for a broken rule): see the module's docstring
    )
    return Outcome(
        holds=tuple(d.reason for d in v.held),
        carrier=v.carrier,
        carrier_source=v.carrier_source,
        gifts=tuple(f"{code} × {qty}" for code, qty, _ in v.gifts),
    )


def _in(session: Session, query: Any, column: Any, values: Iterable[Any]) -> list[Any]:
    rows: list[Any] = []
    for part in _chunks(sorted(set(values))):
        rows.extend(session.execute(query.where(column.in_(part))).all())
    return rows


def dry_run(
    session: Session,
    account_id: int,
    key: str,
    body: RuleIn,
    now: datetime,
    *,
    include_audited: bool = False,
    limit: int = MAX_ORDERS,
) -> DryRun:
    """Evaluate today's orders under the current rules and with ``body`` as rule ``key``."""
    started = time.perf_counter()
    limit = max(0, min(limit, MAX_ORDERS))
    current = session.execute(
        select(Rule.kind, Rule.version).where(
            Rule.account_id == account_id, Rule.rule_key == key, Rule.superseded_at.is_(None)
        )
    ).first()
    if current is not None and current.kind != body.kind:
        # The refusal put_rule would give on saving it (cloud/orders/audit_rules.py).
        raise ConflictError(
            N_("rule %(key)s is a %(kind)s rule; use a new key for a %(new_kind)s rule"),
            key=key,
            kind=current.kind,
            new_kind=body.kind,
        )
    statuses = (*EDITABLE, "audited") if include_audited else EDITABLE
    day_start = datetime.combine(audit_day(now), datetime.min.time(), CHINA)
    where = (
        SalesOrder.account_id == account_id,
        SalesOrder.status.in_(statuses),
        SalesOrder.created_at >= day_start,
    )
    total = session.execute(select(func.count()).select_from(SalesOrder).where(*where)).scalar_one()
    o = SalesOrder
    orders = session.execute(
        select(
            o.id,
            o.order_no,
            o.status,
            o.total_cents,
            o.recipient,
            o.channel,
            o.buyer_carrier,
            o.seller_carrier,
            o.buyer_remark,
            o.reserved,
            Warehouse.code.label("warehouse"),
        )
        .join(Warehouse, Warehouse.id == o.warehouse_id)
        .where(*where)
        .order_by(o.created_at, o.order_no)
        .limit(limit)
    ).all()
    run = DryRun(key, (current.version + 1) if current else 1, int(total), len(orders))
    lines: dict[str, list[Any]] = {}
    L = SalesOrderLine
    for ln in _in(
        session,
        select(L.order_id, L.sku_code, L.qty, L.price_cents, L.gift),
        L.order_id,
        (r.id for r in orders),
    ):
        lines.setdefault(ln.order_id, []).append(ln)
    skus = {
        s.sku_code: s
        for s in _in(
            session,
            select(Sku.sku_code, Sku.weight_g, Sku.min_price_cents).where(
                Sku.account_id == account_id
            ),
            Sku.sku_code,
            (ln.sku_code for ls in lines.values() for ln in ls),
        )
    }
    before, after = (
        Engine(session, account_id),
        _proposed_engine(session, account_id, key, body, run.version),
    )
    day = audit_day(now)
    for r in orders:
        ls = lines.get(r.id, [])
        facts = Facts(
            total=order_total(r.total_cents),
            recipient=r.recipient,
            day=day,
            weight_g=sum(
                (skus[ln.sku_code].weight_g or 0) * ln.qty for ln in ls if ln.sku_code in skus
            ),
            channel=r.channel,
            buyer_carrier=r.buyer_carrier,
            seller_carrier=r.seller_carrier,
            skus=[ln.sku_code for ln in ls],
        )
        prices = [
            (
                ln.sku_code,
                ln.price_cents,
                skus[ln.sku_code].min_price_cents if ln.sku_code in skus else None,
            )
            for ln in ls
            if not ln.gift
        ]
        run.orders.append(
            OrderRun(
                r.order_no,
                r.status,
                r.warehouse,
                _outcome(before, facts, r, prices),
                _outcome(after, facts, r, prices),
            )
        )
    run.elapsed_ms = (time.perf_counter() - started) * 1000
    return run
