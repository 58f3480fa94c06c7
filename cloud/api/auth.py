"""/auth: the OAuth2 password flow (form login → JWT bearer token).

Login names the seller account, as the sub-account logins of Chinese e-commerce back
offices do (旺店通, 聚水潭: 卖家账号 + 用户名 + 密码; Taobao: 主账号:子账号): the form field
``account``, or, for clients that send only the OAuth2 fields (the /docs login form), the
username written ``account:user``. Usernames hold no ``:`` (cloud/api/schemas.py UserIn),
so the last ``:`` splits. A username is unique within its account only (issue 13, finding 3).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from cloud import auth, login
from cloud.api.deps import AnyUser, SessionDep, SettingsDep, Units, UnitsDep
from cloud.api.schemas import MeOut, TokenOut
from cloud.db.models import Account
from cloud.errors import N_, InvalidError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cloud.db.models import User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token")
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    units: UnitsDep,
    settings: SettingsDep,
    request: Request,
    account: Annotated[str | None, Form(min_length=1, max_length=120)] = None,
) -> TokenOut:
    """Log in to a seller account (``account``, or the username as ``account:user``).

    An unknown account or user costs the same hash as a wrong password (no user probing).
    Ten failures of one account's username (a hundred from one client) lock it with 429
    and ``Retry-After``, the right password included (cloud/login.py). The password is
    checked on a bounded pool of its own (503 when full), outside any transaction: the
    attempt is counted in one short write before, and given back in one after a success.
    A refusal is answered after ``login_refusal_delay_s`` (pam_faildelay's idea): a flood's
    connections then wait instead of costing the workers CPU for the other users.
    """
    try:
        user = await _check(form, units, request, account)
    except (login.TooManyAttempts, auth.HashPoolBusy, HTTPException) as refused:
        if getattr(refused, "status_code", 0) != 400:  # a malformed form is answered at once
            await asyncio.sleep(settings.login_refusal_delay_s)
        raise
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


async def _check(
    form: OAuth2PasswordRequestForm, units: Units, request: Request, account: str | None
) -> User:
    """The user the form logs in, or the refusal (401, 429, 503) as an exception."""
    username = form.username
    if account is None:
        account, colon, username = form.username.rpartition(":")
        if not colon or not account:
            raise InvalidError(
                N_(
                    "login names the seller account: send the form field account, "
                    "or the username as account:user"
                ),
                "account",
            )
    state = request.app.state
    policy: login.LoginPolicy = state.login_policy
    pool: auth.HashPool = state.hash_pool
    known: login.KnownLocks = state.known_locks
    # The lock is per login name as the account knows it: "acme:Boss" and "acme:boss" are one.
    keys = login.keys(
        f"{account}:{auth.normalise_username(username)}",
        request.client.host if request.client else "",
    )
    now = time.time()
    seller = account

    def look(s: Session) -> tuple[float, User | None]:
        return login.locked_for(s, keys, now, known), auth.find_login(s, seller, username)

    # A locked key is refused from what this process knows, else by a read: a flood
    # against a locked name or client writes nothing.
    wait = known.wait(keys, now)
    if wait:
        raise login.TooManyAttempts(wait)
    # A full pool refuses before any query (503): a flood costs the others as little as can be.
    async with pool.slot():
        wait, found = await units.read(look)
        if wait:
            raise login.TooManyAttempts(wait)
        wait = await units.write(lambda s: login.reserve(s, keys, now, policy, known))
        if wait:
            raise login.TooManyAttempts(wait)
        user = await pool.verify(found, form.password)
    if user is not None:
        await units.write(lambda s: login.succeeded(s, keys))
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            N_("wrong account, username or password"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


@router.get("/me")
def me(who: AnyUser, session: SessionDep) -> MeOut:
    account = session.get_one(Account, who.account_id)
    return MeOut(
        username=who.username, account=account.name, role=who.role, scopes=sorted(who.scopes)
    )
