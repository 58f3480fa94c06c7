"""Users and roles, for admins (users:admin): the account's users, a new user, a role
changed, a user disabled or given a new password — each as the API's /users does it
(cloud/accounts.py, validated by the API's UserIn / UserPatch). A change of role, a
disabling and a new password end that user's sessions and tokens (docs/dashboard.md)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from cloud import accounts
from cloud.api.deps import PublicId, SessionDep
from cloud.api.schemas import UserIn, UserPatch
from cloud.auth import ROLES
from cloud.web import refusals
from cloud.web.deps import UsersAction, UsersPage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/users")


def _valid(request: Request, model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise refusals.invalid(request, err) from err


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def user_list(request: Request, user: UsersPage, session: SessionDep) -> Response:
    users = accounts.list_users(session, user.who.account_id)
    return render(request, "users.html", {"users": users, "roles": list(ROLES)}, user=user)


@router.post("", include_in_schema=False)
async def create(request: Request, user: UsersAction, session: SessionDep) -> Response:
    form = await request.form()
    body = _valid(
        request,
        UserIn,
        {k: str(form.get(k, "")).strip() for k in ("username", "password", "role")},
    )

    def run() -> None:
        accounts.create_user(
            session,
            user.who.account_id,
            body.username,
            body.password,
            body.role,
            user.who.actor,
            datetime.now(UTC),
        )

    await asyncio.to_thread(run)
    return RedirectResponse(f"{PREFIX}/users?done=1", status_code=303)


@router.post("/{user_id}", include_in_schema=False)
async def update(
    request: Request, user_id: PublicId, user: UsersAction, session: SessionDep
) -> Response:
    form = await request.form()
    data: dict[str, Any] = {}
    if form.get("role"):
        data["role"] = str(form["role"])
    if form.get("active") in ("true", "false"):
        data["active"] = form["active"] == "true"
    if form.get("password"):
        data["password"] = str(form["password"])
    body = _valid(request, UserPatch, data)

    def run() -> None:
        accounts.update_user(
            session,
            user.who.account_id,
            user_id,
            role=body.role,
            active=body.active,
            password=body.password,
            actor=user.who.actor,
            now=datetime.now(UTC),
        )

    await asyncio.to_thread(run)
    return RedirectResponse(f"{PREFIX}/users?done=1", status_code=303)
