"""Seller accounts (tenants) and their users. Every change records who and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.auth import ROLES, hash_password
from cloud.db.models import Account, User
from cloud.errors import ConflictError, InvalidError, NotFoundError


def create_account(session: Session, name: str, now: datetime) -> Account:
    if session.execute(select(Account).where(Account.name == name)).scalar_one_or_none():
        raise ConflictError(f"account {name!r} exists already")
    account = Account(name=name, created_at=now)
    session.add(account)
    session.flush()
    return account


def create_user(
    session: Session,
    account_id: int,
    username: str,
    password: str,
    role: str,
    actor: str,
    now: datetime,
) -> User:
    if role not in ROLES:
        raise InvalidError(f"unknown role {role!r}; roles: {', '.join(ROLES)}", "role")
    if session.execute(select(User.id).where(User.username == username)).first():
        raise ConflictError(f"username {username!r} is taken")
    user = User(
        account_id=account_id,
        username=username,
        password_hash=hash_password(password),
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
        raise ConflictError(f"username {username!r} is taken") from err
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
    password: str | None,
    actor: str,
    now: datetime,
) -> User:
    user = session.execute(
        select(User).where(User.public_id == user_id, User.account_id == account_id)
    ).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    if role is not None:
        if role not in ROLES:
            raise InvalidError(f"unknown role {role!r}", "role")
        user.role = role
    if active is not None:
        user.active = active
    if password is not None:
        user.password_hash = hash_password(password)
    user.changed_by, user.changed_at = actor, now
    return user
