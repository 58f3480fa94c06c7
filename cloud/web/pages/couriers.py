"""Couriers (快递): the account's carriers the courier rules choose from — name, cost and
where each does not deliver — listed with the current rules that name each, and edited as
``PUT /api/v1/carriers/{code}`` edits them (rules:write), validated by the API's
``CarrierIn``; a refusal is shown beside its field and changes nothing."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cloud.api.deps import SessionDep
from cloud.errors import N_
from cloud.orders import audit_rules
from cloud.web import refusals
from cloud.web.deps import OrdersPage, RulesAction
from cloud.web.render import render
from cloud.web.session import PREFIX, WebUser

router = APIRouter(prefix=PREFIX + "/couriers")
#: A carrier's code, as the API's path takes it (cloud/api/rules.py ``Key``).
CODE: Final = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_SPLIT: Final = re.compile(r"[\s,，、]+")
#: The form's fields by the API's: cost is typed in yuan, stored in cents.
FIELDS: Final = {"name": "name", "cost_cents": "cost", "unreachable": "unreachable"}


def _page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    editing: str | None = None,
    posted: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    account = user.who.account_id
    carriers = audit_rules.list_carriers(session, account)
    used: dict[str, list[str]] = {}
    for r in audit_rules.current_rules(session, account, active_only=False):
        if r.kind == "courier" and r.action.get("carrier"):
            used.setdefault(str(r.action["carrier"]), []).append(r.rule_key)
    ctx = {
        "carriers": carriers,
        "used": used,
        "editing": editing,
        "posted": posted or {},
        "errors": errors or {},
    }
    return render(request, "couriers.html", ctx, user=user, status=status)


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def courier_list(request: Request, user: OrdersPage, session: SessionDep) -> Response:
    return _page(request, session, user)


def _cents(text: str) -> int | str:
    """Yuan as typed (``12.5``) to cents, exactly (money is Decimal, never float); else why not."""
    try:
        yuan = Decimal(text.strip() or "0")
    except InvalidOperation:
        return N_("a cost in yuan, e.g. 8 or 12.50")
    if not yuan.is_finite() or yuan != yuan.quantize(Decimal("0.01")):
        return N_("a cost in yuan with at most two decimals")
    return int(yuan * 100)


async def _save(request: Request, user: WebUser, session: Session, code: str) -> Response:
    form = await request.form()
    posted = {k: str(form.get(k, "")) for k in ("code", "name", "cost", "unreachable")}
    posted["code"] = code
    errors: dict[str, str] = {}
    gettext = refusals.gettext_of(request)
    if not CODE.match(code):
        errors["code"] = gettext(N_("1 to 64 letters, digits, '_', '.' or '-'"))
    cents = _cents(posted["cost"])
    if isinstance(cents, str):
        errors["cost"] = gettext(cents)
    data: dict[str, Any] = {
        "name": posted["name"].strip(),
        "cost_cents": cents if isinstance(cents, int) else 0,
        "unreachable": [u for u in _SPLIT.split(posted["unreachable"]) if u],
    }
    body = None
    try:
        body = audit_rules.CarrierIn.model_validate(data)
    except ValidationError as err:
        for e in err.errors():
            where = FIELDS.get(str(e["loc"][0]), "name") if e["loc"] else "name"
            errors.setdefault(where, refusals.sentence(gettext, e))

    def run() -> Response:
        if errors or body is None:
            editing = code if form.get("edit") else None
            return _page(
                request, session, user, editing=editing, posted=posted, errors=errors, status=422
            )
        audit_rules.put_carrier(
            session, user.who.account_id, code, body, user.who.actor, datetime.now(UTC)
        )
        return RedirectResponse(f"{PREFIX}/couriers?done={code}", status_code=303)

    return await asyncio.to_thread(run)


@router.post("", include_in_schema=False)
async def create(request: Request, user: RulesAction, session: SessionDep) -> Response:
    """A new courier: its code from the form (the page has no path for it yet)."""
    code = str((await request.form()).get("code", "")).strip()
    return await _save(request, user, session, code)


@router.post("/{code}", include_in_schema=False)
async def edit(request: Request, code: str, user: RulesAction, session: SessionDep) -> Response:
    return await _save(request, user, session, code)
