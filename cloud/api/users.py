"""/users: the account's users and their roles.

A new password is hashed on the hub's bounded pool (cloud/auth.py ``HashPool``) before
the write that stores it, so argon2 never runs while the write lock is held (issue 13,
finding 4); the write is one short transaction of its own (``Units``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from cloud import accounts
from cloud.api.deps import HashPoolDep, PublicId, SessionDep, UnitsDep, UsersAdmin
from cloud.api.schemas import UserIn, UserOut, UserPatch

router = APIRouter(prefix="/api/v1/users", tags=["users"])


def _out(u: object) -> UserOut:
    return UserOut.model_validate(u, from_attributes=True)


@router.get("")
def list_users(session: SessionDep, who: UsersAdmin) -> list[UserOut]:
    return [_out(u) for u in accounts.list_users(session, who.account_id)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserIn, units: UnitsDep, pool: HashPoolDep, who: UsersAdmin) -> UserOut:
    hashed = await pool.hash(body.password)

    def write(s: Session) -> UserOut:
        user = accounts.create_user(
            s, who.account_id, body.username, hashed, body.role, who.actor, datetime.now(UTC)
        )
        return _out(user)

    return await units.write(write)


@router.patch("/{user_id}")
async def update_user(
    user_id: PublicId, body: UserPatch, units: UnitsDep, pool: HashPoolDep, who: UsersAdmin
) -> UserOut:
    hashed = await pool.hash(body.password) if body.password is not None else None

    def write(s: Session) -> UserOut:
        user = accounts.update_user(
            s,
            who.account_id,
            user_id,
            role=body.role,
            active=body.active,
            password=hashed,
            actor=who.actor,
            now=datetime.now(UTC),
        )
        return _out(user)

    return await units.write(write)
