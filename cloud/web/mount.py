"""Mount the dashboard on the hub: its pages, its static files, and its error pages.

Errors raised under ``/web`` become pages (the message a person reads, the same sentence the
API sends in JSON); everywhere else the API's handlers answer as before. A domain error
propagates out of the handler, so the request's transaction is rolled back (cloud/api/deps.py
``_session``): a refused action changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from cloud.errors import N_, DomainError
from cloud.web import i18n, refusals
from cloud.web.pages import (
    aftersales,
    audit,
    channels,
    courier_bills,
    couriers,
    documents,
    einvoices,
    finance,
    fleet,
    fundflow,
    home,
    labels,
    leases,
    login,
    orders,
    payables,
    purchases,
    rules,
    serials,
    settlements,
    skus,
    stock,
    tasks,
    transfers,
    users,
    waybills,
    wechat_jobs,
)
from cloud.web.render import locale_of, render
from cloud.web.session import PREFIX, NeedLogin, PageError

#: The catalogue's upload form (cloud/web/pages/skus.py), with its body limit in app.py.
IMPORT_PATH = skus.IMPORT_PATH
#: What a multipart form adds to the file: boundaries, part headers, the CSRF field.
FORM_SLACK = 64 * 1024

STATIC = Path(__file__).with_name("static")
#: Two writes of the same row at once: the database refused the second (a unique key).
CONCURRENT = N_("conflicts with a concurrent change; reload and retry")
Handler = Callable[[Request, Any], Awaitable[Response] | Response]


def _page_error(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    return render(
        request,
        "error.html",
        {"status": status, "message": message},
        status=status,
        headers=headers,
    )


def too_large(scope: Scope, limit: int) -> tuple[str, bytes] | None:
    """A body refused by the body limit (cloud/api/limits.py) under ``/web``: a page in the
    reader's language saying that nothing was imported, instead of the API's JSON."""
    if not str(scope.get("path", "")).startswith(PREFIX):
        return None
    request = Request(scope)
    gettext = i18n.translations(locale_of(request)).gettext
    if scope.get("path") == IMPORT_PATH:
        text = gettext(
            "The file is larger than %(mb)s MB: nothing was imported. Split it into smaller files."
        ) % {"mb": (limit - FORM_SLACK) // (1024 * 1024)}
    else:
        text = gettext("The form sent more than %(kb)s KB: nothing was changed.") % {
            "kb": limit // 1024
        }
    page = _page_error(request, 413, text, {})
    return "text/html; charset=utf-8", bytes(page.body)


def _message(request: Request, exc: Exception) -> tuple[int, str, dict[str, str]]:
    # Every sentence in the page's language; the API's answers stay English.
    gettext = i18n.translations(locale_of(request)).gettext
    if isinstance(exc, PageError):
        return exc.status, exc.translated(gettext), exc.headers
    if isinstance(exc, DomainError):
        return exc.status, exc.translated(gettext), exc.headers()
    if isinstance(exc, RequestValidationError):
        # loc[0] is where FastAPI found it ("query", "body", "path"): not for the reader.
        return 422, refusals.located(gettext, exc.errors(), skip=1), {}
    if isinstance(exc, IntegrityError):
        return 409, gettext(CONCURRENT), {}
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, str(exc.detail), dict(exc.headers or {})
    return 500, "error", {}


def _for_pages(previous: Handler | None) -> Handler:
    async def handler(request: Request, exc: Any) -> Response:
        if request.url.path.startswith(PREFIX):
            status, message, headers = _message(request, exc)
            return _page_error(request, status, message, headers)
        if previous is None:  # Starlette's default for HTTPException
            from fastapi.exception_handlers import http_exception_handler

            return await http_exception_handler(request, exc)
        result = previous(request, exc)
        return await result if isinstance(result, Awaitable) else result

    return handler


async def _need_login(request: Request, exc: NeedLogin) -> Response:
    """To the login page, back here after it (a GET), saying why the session ended."""
    target = request.url.path if request.method == "GET" else PREFIX + "/"
    url = f"{PREFIX}/login?next={quote(target)}"
    if exc.why:
        url += f"&why={quote(exc.why)}"
    if request.headers.get("HX-Request"):
        return Response(status_code=401, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def mount(app: FastAPI) -> None:
    """Add the dashboard to ``app`` (after its own exception handlers are registered)."""
    modules = (
        login,
        home,
        audit,
        labels,
        orders,
        rules,
        couriers,
        documents,
        transfers,
        purchases,
        serials,
        stock,
        skus,
        tasks,
        channels,
        waybills,
        fleet,
        leases,
        users,
        finance,
        einvoices,
        courier_bills,
        payables,
        settlements,
        fundflow,
        wechat_jobs,
        aftersales,
    )
    for module in modules:
        app.include_router(module.router)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="web-static")
    for kind in (DomainError, RequestValidationError, IntegrityError, StarletteHTTPException):
        app.add_exception_handler(kind, _for_pages(app.exception_handlers.get(kind)))
    app.add_exception_handler(PageError, _for_pages(None))
    app.add_exception_handler(NeedLogin, _need_login)  # type: ignore[arg-type]

    @app.get("/", include_in_schema=False)
    async def _root() -> Response:
        return RedirectResponse(PREFIX + "/", status_code=307)
