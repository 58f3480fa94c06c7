"""Rules: the audit rules as data (cloud/orders/audit_rules.py) — the current version of each,
every version kept with what changed between them, and a new version from the rule as JSON,
validated as the API's PUT /rules/{key} validates it (rules:write). The dry run on today's
orders is not built yet (docs/dashboard.md)."""

from __future__ import annotations

import asyncio
import difflib
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from cloud.api.deps import SessionDep
from cloud.db.models import Rule
from cloud.orders import audit_rules
from cloud.web.deps import OrdersPage, RulesAction
from cloud.web.render import render
from cloud.web.session import PREFIX, PageError

router = APIRouter(prefix=PREFIX + "/rules")
Key = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]


def as_json(r: Rule) -> str:
    """The rule as the API's RuleIn takes it (what the edit box holds)."""
    body = {
        "kind": r.kind,
        "name": r.name,
        "priority": r.priority,
        "conditions": r.conditions,
        "action": r.action,
        "active": r.active,
    }
    return json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True)


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def rule_list(request: Request, user: OrdersPage, session: SessionDep) -> Response:
    rules = audit_rules.current_rules(session, user.who.account_id, active_only=False)
    carriers = audit_rules.list_carriers(session, user.who.account_id)
    return render(request, "rules.html", {"rules": rules, "carriers": carriers}, user=user)


@router.get("/{key}", response_class=HTMLResponse, include_in_schema=False)
def versions(request: Request, key: Key, user: OrdersPage, session: SessionDep) -> Response:
    history = audit_rules.rule_history(session, user.who.account_id, key)
    shown: list[dict[str, Any]] = []
    before: list[str] = []
    for r in history:
        now = as_json(r).splitlines()
        diff = list(
            difflib.unified_diff(
                before, now, f"v{r.version - 1}", f"v{r.version}", lineterm="", n=1
            )
        )
        shown.append({"rule": r, "json": "\n".join(now), "diff": "\n".join(diff[2:])})
        before = now
    return render(
        request,
        "rule.html",
        {"key": key, "versions": list(reversed(shown)), "current": as_json(history[-1])},
        user=user,
    )


@router.post("/{key}", include_in_schema=False)
async def put(request: Request, key: Key, user: RulesAction, session: SessionDep) -> Response:
    form = await request.form()
    try:
        body = audit_rules.RuleIn.model_validate_json(str(form.get("rule", "")))
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(x) for x in e["loc"]) or "rule"
        raise PageError(422, f"{where}: {e['msg']}") from err

    def run() -> None:
        audit_rules.put_rule(
            session, user.who.account_id, key, body, user.who.actor, datetime.now(UTC)
        )

    await asyncio.to_thread(run)
    return RedirectResponse(f"{PREFIX}/rules/{key}?done=1", status_code=303)
