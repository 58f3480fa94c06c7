"""The PDA pages (docs/pda.md): app shells, the fragments htmx loads into them, and the
barcode table the pick page judges scans with.

Pages are shells with no operator data in them: they can be cached (a service worker may
keep them, docs/pda.md "Offline"), and the operator's data comes in fragments and JSON
fetched with the bearer token the page holds (the pick API's tokens, docs/pick-api.md).
Scans never go through here or through htmx: the pick page queues them and sends them to
``POST /api/v1/scan`` itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from edge.pda import i18n, lookups, shell
from edge.pda.commands import COMMANDS, svg
from edge.pda.render import page_context, render
from edge.pda.sessions import SignedIn, signed_in

router = APIRouter(prefix="/pda", include_in_schema=False)

SignedInDep = Annotated[SignedIn, Depends(signed_in)]


def _page(request: Request, template: str, page: str, **extra: Any) -> HTMLResponse:
    ctx = page_context(request, page)
    response = HTMLResponse(render(ctx["locale"], template, {**ctx, **extra}))
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, ctx["locale"], max_age=365 * 86400, samesite="lax")
    return response


@router.get("")
@router.get("/")
async def home(request: Request) -> HTMLResponse:
    return _page(request, "home.html", "home")


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    return _page(request, "login.html", "login")


@router.get("/waves")
async def waves_page(request: Request) -> HTMLResponse:
    return _page(request, "waves.html", "waves")


@router.get("/pick")
async def pick_page(request: Request) -> HTMLResponse:
    return _page(request, "pick.html", "pick")


@router.get("/lookup")
async def lookup_page(request: Request) -> HTMLResponse:
    return _page(request, "lookup.html", "lookup")


@router.get("/count")
async def count_page(request: Request) -> HTMLResponse:
    return _page(request, "count.html", "count")


@router.get("/inbound")
async def inbound_page(request: Request) -> HTMLResponse:
    return _page(request, "inbound.html", "inbound")


@router.get("/receive")
async def receive_page(request: Request) -> HTMLResponse:
    """Receiving, QC and putaway: the receiving station on the handheld (edge/api/desks.py)."""
    return _page(request, "desk.html", "receive", desk="inbound")


@router.get("/returns")
async def returns_page(request: Request) -> HTMLResponse:
    """The returns table on the handheld (edge/api/desks.py)."""
    return _page(request, "desk.html", "returns", desk="returns")


@router.get("/commands")
async def commands_page(request: Request) -> HTMLResponse:
    codes = [(c, svg(c.code)) for c in COMMANDS]
    return _page(request, "commands.html", "commands", codes=codes)


@router.get("/sw.js")
async def service_worker(request: Request) -> Response:
    """The app shell's service worker (docs/pda.md "Offline on the LAN"), when the node's
    ``pda_service_worker`` setting is on."""
    state = request.app.state
    if not getattr(state, "pda_service_worker", False):
        return JSONResponse(
            {
                "detail": "the PDA service worker is off on this node "
                "(setting pda_service_worker in the [pick] section)",
                "code": "service_worker_off",
            },
            status_code=404,
        )
    return Response(
        shell.worker_script(state.pda_shell_version),
        media_type="text/javascript",
        headers={
            # Its scope is /pda (the pages /pda and /pda/...), above its own folder.
            "Service-Worker-Allowed": "/pda",
            # The browser checks for a new worker on each navigation; never a stale one.
            "Cache-Control": "no-cache",
        },
    )


# --- fragments and data (bearer token) ---------------------------------------------------


@router.get("/frag/waves")
async def waves_fragment(request: Request, who: SignedInDep) -> HTMLResponse:
    ctx = page_context(request, "waves")
    waves = who.service.waves()
    return HTMLResponse(render(ctx["locale"], "_waves.html", {**ctx, "waves": waves, "who": who}))


@router.get("/frag/lookup")
async def lookup_fragment(
    request: Request,
    who: SignedInDep,
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    ctx = page_context(request, "lookup")
    found = lookups.lookup(who.service, q.strip())
    return HTMLResponse(render(ctx["locale"], "_lookup.html", {**ctx, "q": q, "found": found}))


@router.get("/api/codes")
async def codes(
    who: SignedInDep,
    wave: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")],
) -> Response:
    """The bin and item barcodes the pick page needs to judge the wave's scans itself:
    every bin of the table (a wrong bin is told from an unknown code) and the barcodes of
    the wave's SKUs."""
    return JSONResponse(lookups.wave_codes(who.service, wave))


@router.get("/api/count-codes")
async def count_codes(who: SignedInDep) -> Response:
    """The bin codes and barcodes of the node, for the count page's own judgement."""
    return JSONResponse(lookups.count_codes(who.service))
