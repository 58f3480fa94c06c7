"""Seller accounts (tenants) and their users. Every change records who and when."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.auth import ROLES, Hashed, hashed, normalise_username
from cloud.db.models import Account, User
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError

#: What a username may hold (as cloud/api/schemas.py Username, after lower-casing).
_USERNAME = re.compile(r"[a-z0-9_.@\-]{2,64}")


def create_account(session: Session, name: str, now: datetime) -> Account:
    if session.execute(select(Account).where(Account.name == name)).scalar_one_or_none():
        raise ConflictError(N_("account %(name)r exists already"), name=name)
    account = Account(name=name, created_at=now)
    session.add(account)
    session.flush()
    return account


def create_user(
    session: Session,
    account_id: int,
    username: str,
    password: str | Hashed,
    role: str,
    actor: str,
    now: datetime,
) -> User:
    if role not in ROLES:
        raise InvalidError(
            N_("unknown role %(role)r; roles: %(roles)s"), "role", role=role, roles=", ".join(ROLES)
        )
    # Unique within the account only, whatever the case: "taken" says nothing of the users of
    # other sellers (issue 13, finding 3; OWASP API3:2023 excessive data exposure).
    username = normalise_username(username)
    if not _USERNAME.fullmatch(username):
        raise InvalidError(
            N_(
                "a username is 2 to 64 of the letters a-z, digits and _ . @ - (no ':', which "
                "separates account and user at login)"
            ),
            "username",
        )
    taken = select(User.id).where(User.account_id == account_id, User.username == username)
    if session.execute(taken).first():
        raise ConflictError(N_("username %(username)r is taken in this account"), username=username)
    user = User(
        account_id=account_id,
        username=username,
        password_hash=hashed(password),
        role=role,
        active=True,
        changed_by=actor,
        changed_at=now,
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as err:  # a concurrent create of the same name
        raise ConflictError(
            N_("username %(username)r is taken in this account"), username=username
        ) from err
    return user


def list_users(session: Session, account_id: int) -> list[User]:
    return list(
        session.execute(select(User).where(User.account_id == account_id).order_by(User.id))
        .scalars()
        .all()
    )


def update_user(
    session: Session,
    account_id: int,
    user_id: str,
    *,
    role: str | None,
    active: bool | None,
    password: str | Hashed | None,
    actor: str,
    now: datetime,
) -> User:
    user = session.execute(
        select(User).where(User.public_id == user_id, User.account_id == account_id)
    ).scalar_one_or_none()
    if user is None:
        raise NotFoundError(N_("no user %(user_id)s"), user_id=user_id)
    revoke = False
    if role is not None:
        if role not in ROLES:
            raise InvalidError(N_("unknown role %(role)r"), "role", role=role)
        revoke |= role != user.role
        user.role = role
    if active is not None:
        revoke |= user.active and not active
        user.active = active
    if password is not None:
        revoke = True
        user.password_hash = hashed(password)
    if revoke:
        # Every token issued before stops working (cloud/auth.py TokenVersions): a disabled
        # user, a demoted one and a stolen password's tokens (issue 13, finding 1).
        user.token_version += 1
    user.changed_by, user.changed_at = actor, now
    return user


def draw_password() -> str:
    """A first admin's password when none is given: 144 random bits, shown once."""
    return secrets.token_urlsafe(18)


def check_password(password: str) -> None:
    if len(password) < 8:
        raise InvalidError(N_("the admin's password needs at least 8 characters"), "password")


def create_seller(
    session: Session,
    name: str,
    admin: str,
    password: str | Hashed | None,
    actor: str,
    now: datetime,
) -> tuple[Account, User, str | None]:
    """A new seller account with its first admin (``guanjia cloud account create`` and the
    platform API). Without ``password`` one is drawn and returned, to be shown once; the
    API checks the length and hashes before its transaction (``check_password``)."""
    if ":" in name or not 2 <= len(name) <= 120 or not name.isprintable():
        raise InvalidError(
            N_("an account name is 2 to 120 printable characters without ':' (login names it)"),
            "name",
        )
    drawn = None
    if password is None:
        drawn = password = draw_password()
    if not isinstance(password, Hashed):
        check_password(password)
    account = create_account(session, name, now)
    user = create_user(session, account.id, admin, password, "admin", actor, now)
    return account, user, drawn
