"""The browser session: a cookie holding the API's own access token, checked as the API checks it.

The login page calls the API's login (cloud/api/auth.py ``token``: the same account/user
lookup, rate limits and password pool) and keeps the JWT it returns in an HttpOnly,
SameSite=Lax cookie (Secure when served over https). Every request decodes it and asks
cloud/auth.py ``TokenVersions`` whether it is still current: a disabled user, a changed
role and a changed password end the browser session on the next request, exactly as they
end API tokens (docs/security.md). Nothing is kept in server memory per session.

CSRF (OWASP CSRF Prevention Cheat Sheet, "signed double-submit" / synchroniser token): every
form and htmx POST carries a token that is an HMAC of the session cookie under the hub's
secret, so it is tied to this session and worthless for another; a POST without it, or with
another, is refused with 403 before anything runs. The login form, before there is a
session, uses a random cookie doubled in the form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import anyio.to_thread
from fastapi import Request, Response

from cloud.auth import InvalidToken, Principal, TokenVersions, decode_token
from cloud.errors import N_, translate

COOKIE: Final = "guanjia_session"
LOGIN_CSRF_COOKIE: Final = "guanjia_login_csrf"
CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
PREFIX: Final = "/web"
#: A POST whose CSRF token is missing or another session's (here and on the login form).
CSRF_REFUSED: Final = N_(
    "This form's security token is missing or belongs to another session (CSRF). "
    "Nothing was changed: reload the page and try again."
)


class NeedLogin(Exception):
    """No session, or one that has ended: the browser is sent to the login page."""

    def __init__(self, why: str = "") -> None:
        super().__init__(why)
        self.why = why


class PageError(Exception):
    """An answer that is a page saying why (403, 404, 409, 422, 429): ``status`` and text.

    ``message`` is a sentence marked with ``N_`` and ``params`` what goes into it, as for a
    domain error (cloud/errors.py): the error page shows it in the page's language
    (cloud/web/mount.py); a sentence already in the reader's language passes unchanged."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        /,
        **params: Any,
    ) -> None:
        super().__init__(message % params if params else message)
        self.status = status
        self.msgid = message
        self.params = params
        self.message = str(self)
        self.headers = headers or {}

    def translated(self, gettext: Callable[[str], str]) -> str:
        return translate(self.msgid, self.params, self.message, gettext)


@dataclass(frozen=True)
class WebUser:
    """Who is looking: the API's principal and the CSRF token of this session."""

    who: Principal
    csrf: str

    def can(self, scope: str) -> bool:
        return scope in self.who.scopes


def csrf_for(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), b"csrf|" + token.encode(), hashlib.sha256).hexdigest()


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PREFIX)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


async def current(request: Request) -> WebUser:
    """The session's user, checked now (signature, expiry, revocation), or :class:`NeedLogin`."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise NeedLogin()
    secret: str = request.app.state.jwt_secret
    try:
        who = decode_token(token, secret)
    except InvalidToken as err:
        raise NeedLogin(N_("session expired: log in again")) from err
    versions: TokenVersions = request.app.state.token_versions
    ok = versions.cached(who)
    if ok is None:
        ok = await anyio.to_thread.run_sync(versions.read, who)
    if not ok:
        raise NeedLogin(
            N_("session ended (user disabled, or role or password changed): log in again")
        )
    return WebUser(who, csrf_for(secret, token))


async def check_csrf(request: Request, user: WebUser) -> None:
    """Refuse a POST whose CSRF token is missing or not this session's (403)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), user.csrf.encode()):
        raise PageError(403, CSRF_REFUSED)


def require(user: WebUser, scope: str) -> None:
    """The API's scope rule: a role without ``scope`` gets a 403 page naming it."""
    if scope not in user.who.scopes:
        raise PageError(
            403, N_("role %(role)s lacks scope: %(scope)s"), None, role=user.who.role, scope=scope
        )
