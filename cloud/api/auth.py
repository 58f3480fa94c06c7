"""/auth: the OAuth2 password flow (form login → JWT bearer token)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from cloud import auth
from cloud.api.deps import AnyUser, SessionDep, SettingsDep
from cloud.api.schemas import MeOut, TokenOut

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> TokenOut:
    """Log in. An unknown user costs the same hash as a wrong password (no user probing)."""
    user = auth.authenticate(session, form.username, form.password)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong username or password",
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
