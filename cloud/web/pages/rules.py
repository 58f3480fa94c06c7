"""Rules: the audit rules as data (cloud/orders/audit_rules.py) — the current version of each,
every version kept with what changed between them, and an editor: a form per rule kind
generated from the API's request models (cloud/web/rule_form.py), the rule as JSON kept as
"advanced", both validated as ``PUT /api/v1/rules/{key}`` validates them (rules:write).

"Dry run" shows what the edited rule would decide for today's orders beside what the current
rules decide (cloud/orders/rule_dry_run.py, as ``POST /api/v1/rules/{key}/dry-run``; orders:read),
saving nothing: a table swapped in by htmx, or the whole page without script.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cloud.api.deps import SessionDep
from cloud.db.models import Rule
from cloud.errors import N_, NotFoundError
from cloud.orders import audit_rules, rule_dry_run
from cloud.web import refusals, rule_form
from cloud.web.deps import OrdersAction, OrdersPage, RulesAction
from cloud.web.render import render
from cloud.web.session import PREFIX, PageError, WebUser

router = APIRouter(prefix=PREFIX + "/rules")
KEY: Final = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
Key = Annotated[str, Path(pattern=KEY.pattern)]
#: Changed orders the dry-run table lists (the totals count them all).
SHOWN: Final = 200


def as_body(r: Rule) -> dict[str, Any]:
    """The rule as the API's RuleIn takes it."""
    return {
        "kind": r.kind,
        "name": r.name,
        "priority": r.priority,
        "conditions": r.conditions,
        "action": r.action,
        "active": r.active,
    }


def as_json(r: Rule | dict[str, Any]) -> str:
    """The rule as the advanced editor's box holds it."""
    body = as_body(r) if isinstance(r, Rule) else r
    return json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True)


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def rule_list(
    request: Request,
    user: OrdersPage,
    session: SessionDep,
    new_key: Annotated[str, Query(max_length=200)] = "",
    new_kind: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The rules; the "new rule" form (a key and a kind) sends the browser to the key's
    editor, empty (a plain GET form: no script to put the key in the path)."""
    if new_key or new_kind:
        key = new_key.strip()
        if not KEY.fullmatch(key):
            raise PageError(422, N_("A rule's key is 1 to 64 letters, digits, '_', '.' or '-'."))
        if new_kind not in rule_form.ACTIONS:
            raise PageError(422, N_("Choose the kind of the new rule."))
        target = f"{PREFIX}/rules/{quote(key)}?{urlencode({'kind': new_kind})}"
        return RedirectResponse(target, status_code=303)
    rules = audit_rules.current_rules(session, user.who.account_id, active_only=False)
    carriers = audit_rules.list_carriers(session, user.who.account_id)
    ctx = {"rules": rules, "carriers": carriers, "kinds": list(rule_form.ACTIONS)}
    return render(request, "rules.html", ctx, user=user)


def _history(session: Session, user: WebUser, key: str) -> list[Rule]:
    """The rule's versions; none for a key this account has not used yet."""
    try:
        return audit_rules.rule_history(session, user.who.account_id, key)
    except NotFoundError:
        return []


def _kind(history: list[Rule], key: str, asked: object) -> str:
    """A rule keeps its kind (the API refuses a change); a new key takes the kind asked for
    (the new-rule form's, kept in the editor as a hidden field); else the key is unknown."""
    if history:
        return history[-1].kind
    if isinstance(asked, str) and asked in rule_form.ACTIONS:
        return asked
    raise NotFoundError(N_("no rule %(key)r"), key=key)


def _blank(kind: str) -> dict[str, Any]:
    """A new rule's editor before anything is typed: RuleIn's defaults."""
    return {"kind": kind, "name": "", "priority": 100, "conditions": [], "action": {}}


def _page(
    request: Request,
    session: Session,
    user: WebUser,
    key: str,
    *,
    form: rule_form.RuleForm | None = None,
    json_text: str | None = None,
    json_error: str | None = None,
    run: rule_dry_run.DryRun | None = None,
    include_audited: bool = False,
    status: int = 200,
    asked: object = None,
) -> Response:
    history = _history(session, user, key)
    kind = _kind(history, key, asked)
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
    body = as_body(history[-1]) if history else _blank(kind)
    ctx = {
        "key": key,
        "kind": kind,
        "new": not history,
        "versions": list(reversed(shown)),
        "current": json_text if json_text is not None else as_json(body),
        "json_error": json_error,
        "form": form or rule_form.build(kind, body),
        "run": run,
        "include_audited": include_audited,
        "shown": SHOWN,
    }
    if request.headers.get("HX-Request"):
        # htmx swaps the editor (form, errors, dry-run table) in place. It swaps only 2xx
        # answers by default (htmx 2 ``responseHandling``), so a refused form answers 200
        # to htmx and 422 without script.
        return render(request, "_rule_editor.html", ctx, user=user)
    return render(request, "rule.html", ctx, user=user, status=status)


@router.get("/{key}", response_class=HTMLResponse, include_in_schema=False)
def versions(
    request: Request,
    key: Key,
    user: OrdersPage,
    session: SessionDep,
    kind: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """A rule's versions and its editor; with ``kind``, an empty editor for a key not used yet."""
    return _page(request, session, user, key, asked=kind)


def _proposal(
    session: Session, user: WebUser, key: str, form: Any, gettext: refusals.Gettext
) -> tuple[audit_rules.RuleIn | None, dict[str, Any]]:
    """The posted rule (form fields, or ``rule`` as JSON from the advanced editor) validated
    by the API's model; else what to draw again with the refusals beside their fields."""
    if "rule" in form:
        text = str(form.get("rule", ""))
        try:
            return audit_rules.RuleIn.model_validate_json(text), {"json_text": text}
        except ValidationError as err:
            why = refusals.located(gettext, err.errors()[:1])
            return None, {"json_text": text, "json_error": why}
    kind = _kind(_history(session, user, key), key, form.get("kind"))
    body = rule_form.read(kind, form)
    rule, errors, general = rule_form.validate(body, gettext)
    if rule is None:
        return None, {"form": rule_form.build(kind, body, errors, general)}
    return rule, {"form": rule_form.build(kind, body)}


@router.post("/{key}/dry-run", include_in_schema=False)
async def dry_run(request: Request, key: Key, user: OrdersAction, session: SessionDep) -> Response:
    form = await request.form()
    audited = form.get("include_audited") is not None

    def run() -> Response:
        rule, shown = _proposal(session, user, key, form, refusals.gettext_of(request))
        asked = form.get("kind")
        if rule is None:
            return _page(
                request,
                session,
                user,
                key,
                include_audited=audited,
                status=422,
                asked=asked,
                **shown,
            )
        result = rule_dry_run.dry_run(
            session, user.who.account_id, key, rule, datetime.now(UTC), include_audited=audited
        )
        return _page(
            request, session, user, key, run=result, include_audited=audited, asked=asked, **shown
        )

    return await asyncio.to_thread(run)


@router.post("/{key}", include_in_schema=False)
async def put(request: Request, key: Key, user: RulesAction, session: SessionDep) -> Response:
    form = await request.form()

    def run() -> Response:
        if "rule" in form:
            try:
                rule = audit_rules.RuleIn.model_validate_json(str(form.get("rule", "")))
            except ValidationError:
                rule = None
            # A new key is created from JSON (the form edits a rule that exists).
            if rule is not None:
                audit_rules.put_rule(
                    session, user.who.account_id, key, rule, user.who.actor, datetime.now(UTC)
                )
                return RedirectResponse(f"{PREFIX}/rules/{key}?done=1", status_code=303)
        rule, shown = _proposal(session, user, key, form, refusals.gettext_of(request))
        if rule is None:
            return _page(request, session, user, key, status=422, asked=form.get("kind"), **shown)
        audit_rules.put_rule(
            session, user.who.account_id, key, rule, user.who.actor, datetime.now(UTC)
        )
        return RedirectResponse(f"{PREFIX}/rules/{key}?done=1", status_code=303)

    return await asyncio.to_thread(run)
