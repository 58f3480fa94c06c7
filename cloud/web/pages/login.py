"""Log in and out, and the language switch.

The login calls the API's own login handler (cloud/api/auth.py ``token``), so the browser
gets the same account/user lookup, the same rate limits and lockouts (cloud/login.py) and
the same bounded password pool as an API client; its token becomes the session cookie.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import OAuth2PasswordRequestForm

from cloud.api import auth as api_auth
from cloud.api.deps import Units
from cloud.errors import N_, DomainError
from cloud.web import i18n
from cloud.web.deps import AnyAction
from cloud.web.render import locale_of, render
from cloud.web.session import (
    CSRF_REFUSED,
    LOGIN_CSRF_COOKIE,
    PREFIX,
    PageError,
    clear_session,
    new_login_csrf,
    secure,
    set_session,
)

router = APIRouter(prefix=PREFIX)
Field = Annotated[str, Form(max_length=200)]


def _safe_next(target: str | None) -> str:
    """Only a path of this dashboard (no open redirect to another site)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return PREFIX + "/"


def _why(request: Request) -> str:
    """Why the session ended (cloud/web/session.py, marked N_) in the page's language;
    translated here, as text: through the template's _() it would become markup, and it
    comes from the address bar. Nothing for no reason (gettext("") is the catalogue's
    header)."""
    why = request.query_params.get("why", "")[:200].strip()
    return i18n.translations(locale_of(request)).gettext(why) if why else ""


def _login_page(
    request: Request, *, error: str = "", status: int = 200, account: str = "", username: str = ""
) -> HTMLResponse:
    token = new_login_csrf()
    resp = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "error": error,
            "why": _why(request),
            "next": _safe_next(request.query_params.get("next")),
            "account": account,
            "username": username,
        },
        status=status,
    )
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=secure(request),
        max_age=3600,
    )
    return resp


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    account: Field,
    username: Field,
    password: Field,
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf.encode()):
        raise PageError(403, CSRF_REFUSED)
    form = OAuth2PasswordRequestForm(username=username, password=password, scope="")
    try:
        out = await api_auth.token(
            form, Units(request), request.app.state.settings, request, account=account
        )
    except HTTPException as err:  # 401 wrong account, username or password; 400
        gettext = i18n.translations(locale_of(request)).gettext
        return _login_page(
            request,
            error=gettext(str(err.detail)),
            status=err.status_code,
            account=account,
            username=username,
        )
    except DomainError as err:  # 429 locked, 503 pool full, 422 no account
        said = err.translated(i18n.translations(locale_of(request)).gettext)
        page = _login_page(
            request, error=said, status=err.status, account=account, username=username
        )
        page.headers.update(err.headers())
        return page
    resp = RedirectResponse(_safe_next(next), status_code=303)
    set_session(request, resp, out.access_token, out.expires_in)
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    return resp


@router.post("/logout", include_in_schema=False)
async def logout(_user: AnyAction) -> Response:
    resp = RedirectResponse(PREFIX + "/login", status_code=303)
    clear_session(resp)
    return resp


@router.get("/lang/{locale}", include_in_schema=False)
async def language(locale: str, request: Request) -> Response:
    """Choose the pages' language (a preference cookie only; changes no data)."""
    if locale not in i18n.LOCALES:
        raise PageError(404, N_("no language %(locale)r"), None, locale=locale)
    resp = RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    resp.set_cookie(
        i18n.COOKIE,
        locale,
        path=PREFIX,
        max_age=365 * 86400,
        samesite="lax",
        secure=secure(request),
    )
    return resp
