"""E-waybills (电子面单): per courier, its source and how many draws are in each state
(waiting, on an order, to give back, given back, never drawn, refused), and the refused draws
with their reasons, and each pack node's offline pool per courier: its target and how many
numbers are on the node, on the way, used offline and being given back (docs/channels.md,
"E-waybills", "The offline pool"). Read with channels:read, from the same rows the drawer
writes (cloud/channels/waybills.py); a pool's target is set here with channels:write, as
``PUT /api/v1/channels/waybill-pools/{node}/{carrier}`` does."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cloud.api.deps import SessionDep
from cloud.channels import views, waybill_pool
from cloud.errors import N_, DomainError, InvalidError
from cloud.web import i18n
from cloud.web.deps import ChannelsAction, ChannelsPage
from cloud.web.render import locale_of, render
from cloud.web.session import PREFIX, WebUser, require

router = APIRouter(prefix=PREFIX + "/waybills")

#: How many refused draws the page lists (the API lists each order's draws).
SHOWN = 50


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def waybill_page(request: Request, user: ChannelsPage, session: SessionDep) -> Response:
    return _page(request, user, session)


def _page(
    request: Request,
    user: WebUser,
    session: Session,
    *,
    pool_errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    code: int = 200,
) -> Response:
    account_id = user.who.account_id
    return render(
        request,
        "waybills.html",
        {
            "couriers": views.waybill_summary(session, account_id),
            "failed": views.waybill_failures(session, account_id, SHOWN),
            "shown": SHOWN,
            "pools": waybill_pool.levels(session, account_id),
            "max_target": waybill_pool.MAX_TARGET,
            "pool_errors": pool_errors or [],
            "form": form or {},
        },
        user=user,
        status=code,
    )


@router.post("/pools", include_in_schema=False)
async def set_pool(request: Request, user: ChannelsAction, session: SessionDep) -> Response:
    """A node's pool target for a courier; a refusal (not a whole number from 0 to 500, a node
    that is not the seller's, a courier without a source) shows the page again with the
    reason, nothing changed."""
    require(user, "channels:write")
    form = await request.form()
    node = str(form.get("node", "")).strip()[:64]
    carrier = str(form.get("carrier", "")).strip()[:64]
    raw = str(form.get("target", "")).strip()[:12]
    shown = {"node": node, "carrier": carrier, "target": raw}

    def run() -> None:
        try:
            body = waybill_pool.PoolIn(target=int(raw))
        except (ValueError, ValidationError):
            raise InvalidError(
                N_("the target is a whole number from 0 to %(max)s"),
                "target",
                max=waybill_pool.MAX_TARGET,
            ) from None
        if not carrier:
            raise InvalidError(N_("the courier's code is needed"), "carrier")
        now = datetime.now(UTC)
        waybill_pool.set_target(session, user.who.account_id, node, carrier, body, now)

    try:
        await asyncio.to_thread(run)
    except DomainError as err:
        session.rollback()  # the pools stay as they were
        gettext = i18n.translations(locale_of(request)).gettext
        errors = [err.translated(gettext)]
        return _page(request, user, session, pool_errors=errors, form=shown, code=err.status)
    return RedirectResponse(f"{PREFIX}/waybills?done=pool#pools-title", status_code=303)
