"""/users: the account's users and their roles."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status

from cloud import accounts
from cloud.api.deps import PublicId, SessionDep, UsersAdmin
from cloud.api.schemas import UserIn, UserOut, UserPatch

router = APIRouter(prefix="/api/v1/users", tags=["users"])


def _out(u: object) -> UserOut:
    return UserOut.model_validate(u, from_attributes=True)


@router.get("")
def list_users(session: SessionDep, who: UsersAdmin) -> list[UserOut]:
    return [_out(u) for u in accounts.list_users(session, who.account_id)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(body: UserIn, session: SessionDep, who: UsersAdmin) -> UserOut:
    return _out(
        accounts.create_user(
            session,
            who.account_id,
            body.username,
            body.password,
            body.role,
            who.actor,
            datetime.now(UTC),
        )
    )


@router.patch("/{user_id}")
def update_user(
    user_id: PublicId, body: UserPatch, session: SessionDep, who: UsersAdmin
) -> UserOut:
    u = accounts.update_user(
        session,
        who.account_id,
        user_id,
        role=body.role,
        active=body.active,
        password=body.password,
        actor=who.actor,
        now=datetime.now(UTC),
    )
    return _out(u)
