"""E-waybills (电子面单): per courier, its source and how many draws are in each state
(waiting, on an order, to give back, given back, never drawn, refused), and the refused draws
with their reasons, and each pack node's offline pool per courier: its target and how many
numbers are on the node, on the way, used offline and being given back (docs/channels.md,
"E-waybills", "The offline pool"). Read with channels:read, from the same rows the drawer
writes (cloud/channels/waybills.py); a pool's target is set here with channels:write, as
``PUT /api/v1/channels/waybill-pools/{node}/{carrier}`` does, and a node is retired (every
pool to 0) or, when it has not answered a give-back for the wait, its numbers given back by
force (docs/channels.md "A node that never answers")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cloud.api.deps import SessionDep
from cloud.channels import pool_force, views, waybill_pool
from cloud.errors import N_, InvalidError
from cloud.web.deps import ChannelsAction, ChannelsPage
from cloud.web.pages.forms import acted
from cloud.web.render import render
from cloud.web.session import PREFIX, WebUser, require

router = APIRouter(prefix=PREFIX + "/waybills")

#: How many refused draws the page lists (the API lists each order's draws).
SHOWN = 50
NodePath = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def waybill_page(request: Request, user: ChannelsPage, session: SessionDep) -> Response:
    return _page(request, user, session)


def _page(
    request: Request,
    user: WebUser,
    session: Session,
    *,
    pool_errors: list[str] | None = None,
    node_errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    code: int = 200,
) -> Response:
    account_id = user.who.account_id
    pools = waybill_pool.levels(session, account_id)
    return render(
        request,
        "waybills.html",
        {
            "couriers": views.waybill_summary(session, account_id),
            "failed": views.waybill_failures(session, account_id, SHOWN),
            "shown": SHOWN,
            "pools": pools,
            "nodes": _nodes(pools),
            "force_after_h": f"{request.app.state.settings.waybill_pool_force_after_h:g}",
            "max_target": waybill_pool.MAX_TARGET,
            "pool_errors": pool_errors or [],
            "node_errors": node_errors or [],
            "form": form or {},
        },
        user=user,
        status=code,
    )


def _nodes(pools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per node with a pool: whether it still keeps numbers (a target above 0: it may be
    retired) and since when it owes an answer to a give-back (it may be forced after the
    wait)."""
    out: dict[str, dict[str, Any]] = {}
    for p in pools:
        n = out.setdefault(p["node"], {"node": p["node"], "keeps": False, "asked_since": None})
        n["keeps"] = n["keeps"] or p["target"] > 0
        since = p["asked_since"]
        if since is not None and (n["asked_since"] is None or since < n["asked_since"]):
            n["asked_since"] = since
    return [out[k] for k in sorted(out)]


@router.post("/nodes/{node}/retire", include_in_schema=False)
async def retire_node(
    request: Request, node: NodePath, user: ChannelsAction, session: SessionDep
) -> Response:
    """Every pool of the node to 0 (``waybill_pool.retire``, as the CLI and the API): its
    unused numbers are given back once it confirms. A refusal (another seller's node: 404;
    no pool, retired already: 409) shows the page again with the sentence, nothing changed."""
    require(user, "channels:write")
    now = datetime.now(UTC)
    return await _node_action(
        request,
        user,
        session,
        lambda: waybill_pool.retire(session, user.who.account_id, node, now),
        "retired",
    )


@router.post("/nodes/{node}/force", include_in_schema=False)
async def force_node(
    request: Request, node: NodePath, user: ChannelsAction, session: SessionDep
) -> Response:
    """The numbers the node was asked back and has not answered for the wait are given back
    without its word (``pool_force.force``, as the CLI and the API); refused (404, 409) with
    the sentence, nothing changed."""
    require(user, "channels:write")
    wait = timedelta(hours=request.app.state.settings.waybill_pool_force_after_h)
    now = datetime.now(UTC)
    return await _node_action(
        request,
        user,
        session,
        lambda: pool_force.force(session, user.who.account_id, node, now, wait),
        "forced",
    )


async def _node_action(
    request: Request, user: WebUser, session: Session, run: Callable[[], object], done: str
) -> Response:
    return await acted(
        request,
        session,
        run,
        f"{PREFIX}/waybills?done={done}#nodes-title",
        lambda errors, code: _page(request, user, session, node_errors=errors, code=code),
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

    return await acted(
        request,
        session,
        run,
        f"{PREFIX}/waybills?done=pool#pools-title",
        lambda errors, code: _page(
            request, user, session, pool_errors=errors, form=shown, code=code
        ),
    )
