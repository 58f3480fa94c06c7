"""/rules and /carriers: the audit rules (versioned data) and the couriers they pick from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from cloud.api.deps import OrdersRead, RulesWrite, SessionDep
from cloud.api.schemas import CarrierIn, CarrierOut, RuleIn, RuleOut
from cloud.orders import audit_rules, rule_dry_run

router = APIRouter(prefix="/api/v1", tags=["rules"])
Key = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]


@router.get("/rules")
def list_rules(session: SessionDep, who: OrdersRead) -> list[RuleOut]:
    """Current version of every rule, in evaluation order (priority, key)."""
    rows = audit_rules.current_rules(session, who.account_id, active_only=False)
    return [RuleOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/rules/{key}/versions")
def rule_versions(key: Key, session: SessionDep, who: OrdersRead) -> list[RuleOut]:
    return [
        RuleOut.model_validate(r, from_attributes=True)
        for r in audit_rules.rule_history(session, who.account_id, key)
    ]


@router.put("/rules/{key}")
def put_rule(key: Key, body: RuleIn, session: SessionDep, who: RulesWrite) -> RuleOut:
    """Create the rule or add its next version (older versions stay for the decisions that cite them)."""
    r = audit_rules.put_rule(session, who.account_id, key, body, who.actor, datetime.now(UTC))
    return RuleOut.model_validate(r, from_attributes=True)


class OutcomeOut(BaseModel):
    held: bool
    holds: list[str]
    carrier: str | None
    carrier_source: str | None
    gifts: list[str]


class DryRunOrder(BaseModel):
    order_no: str
    status: str
    warehouse: str
    changed: bool
    current: OutcomeOut
    proposed: OutcomeOut


class DryRunOut(BaseModel):
    key: str
    version: int
    total: int
    evaluated: int
    truncated: bool
    totals: dict[str, int]
    elapsed_ms: float
    orders: list[DryRunOrder]


def _outcome(o: rule_dry_run.Outcome) -> OutcomeOut:
    return OutcomeOut(
        held=o.held,
        holds=list(o.holds),
        carrier=o.carrier,
        carrier_source=o.carrier_source,
        gifts=list(o.gifts),
    )


def dry_run_out(run: rule_dry_run.DryRun, *, changed_only: bool) -> DryRunOut:
    return DryRunOut(
        key=run.key,
        version=run.version,
        total=run.total,
        evaluated=run.evaluated,
        truncated=run.truncated,
        totals=run.totals(),
        elapsed_ms=round(run.elapsed_ms, 1),
        orders=[
            DryRunOrder(
                order_no=o.order_no,
                status=o.status,
                warehouse=o.warehouse,
                changed=o.changed,
                current=_outcome(o.current),
                proposed=_outcome(o.proposed),
            )
            for o in run.orders
            if o.changed or not changed_only
        ],
    )


@router.post("/rules/{key}/dry-run")
def dry_run(
    key: Key,
    body: RuleIn,
    session: SessionDep,
    who: OrdersRead,
    include_audited: Annotated[bool, Query()] = False,
    changed_only: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=rule_dry_run.MAX_ORDERS)] = rule_dry_run.MAX_ORDERS,
) -> DryRunOut:
    """What this body, saved as rule ``key``, would decide for today's orders not yet
    audited (and with ``include_audited`` those audited, not yet released), beside what the
    current rules decide. Saves nothing (cloud/orders/rule_dry_run.py); ``orders:read``, as
    reading the orders it shows."""
    run = rule_dry_run.dry_run(
        session,
        who.account_id,
        key,
        body,
        datetime.now(UTC),
        include_audited=include_audited,
        limit=limit,
    )
    return dry_run_out(run, changed_only=changed_only)


@router.get("/carriers")
def list_carriers(session: SessionDep, who: OrdersRead) -> list[CarrierOut]:
    return [
        CarrierOut.model_validate(c, from_attributes=True)
        for c in audit_rules.list_carriers(session, who.account_id)
    ]


@router.put("/carriers/{code}")
def put_carrier(code: Key, body: CarrierIn, session: SessionDep, who: RulesWrite) -> CarrierOut:
    c = audit_rules.put_carrier(session, who.account_id, code, body, who.actor, datetime.now(UTC))
    return CarrierOut.model_validate(c, from_attributes=True)
