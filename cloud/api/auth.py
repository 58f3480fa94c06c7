"""/auth: the OAuth2 password flow (form login → JWT bearer token).

Login names the seller account, as the sub-account logins of Chinese e-commerce back
offices do (旺店通, 聚水潭: 卖家账号 + 用户名 + 密码; Taobao: 主账号:子账号): the form field
``account``, or, for clients that send only the OAuth2 fields (the /docs login form), the
username written ``account:user``. Usernames hold no ``:`` (cloud/api/schemas.py UserIn),
so the last ``:`` splits. A username is unique within its account only (issue 13, finding 3).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from cloud import auth
from cloud.api.deps import AnyUser, SessionDep, SettingsDep
from cloud.api.schemas import MeOut, TokenOut
from cloud.errors import InvalidError

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    account: Annotated[str | None, Form(min_length=1, max_length=120)] = None,
) -> TokenOut:
    """Log in to a seller account (``account``, or the username as ``account:user``).

    An unknown account or user costs the same hash as a wrong password (no user probing).
    """
    username = form.username
    if account is None:
        account, colon, username = form.username.rpartition(":")
        if not colon or not account:
            raise InvalidError(
                "login names the seller account: send the form field account, "
                "or the username as account:user",
                "account",
            )
    user = auth.authenticate(session, account, username, form.password)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong account, username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    bad = [s for s in form.scopes if s not in auth.SCOPES]
    if bad:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown scope(s): {', '.join(bad)}")
    ttl = timedelta(seconds=settings.token_ttl_s)
    jwt_, granted = auth.issue_token(
        user, form.scopes, request.app.state.jwt_secret, datetime.now(UTC), ttl
    )
    return TokenOut(
        access_token=jwt_, scope=" ".join(sorted(granted)), expires_in=settings.token_ttl_s
    )


@router.get("/me")
def me(who: AnyUser) -> MeOut:
    return MeOut(
        username=who.username, account_id=who.account_id, role=who.role, scopes=sorted(who.scopes)
    )
