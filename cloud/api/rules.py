"""/rules and /carriers: the audit rules (versioned data) and the couriers they pick from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path

from cloud.api.deps import OrdersRead, RulesWrite, SessionDep
from cloud.api.schemas import CarrierIn, CarrierOut, RuleIn, RuleOut
from cloud.orders import audit_rules

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
