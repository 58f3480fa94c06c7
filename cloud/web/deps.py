"""What a page or an action needs, as Annotated dependencies (as cloud/api/deps.py does for the API).

A page (GET) needs a live session and the scope the API's matching route needs; an action
(POST) needs both and this session's CSRF token, checked before anything else runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from cloud.web.session import WebUser, check_csrf, current, require


def page(scope: str | None) -> Callable[[Request], Awaitable[WebUser]]:
    async def dep(request: Request) -> WebUser:
        user = await current(request)
        if scope is not None:
            require(user, scope)
        return user

    return dep


def action(scope: str | None) -> Callable[[Request], Awaitable[WebUser]]:
    async def dep(request: Request) -> WebUser:
        user = await current(request)
        await check_csrf(request, user)
        if scope is not None:
            require(user, scope)
        return user

    return dep


AnyPage = Annotated[WebUser, Depends(page(None))]
AnyAction = Annotated[WebUser, Depends(action(None))]
OrdersPage = Annotated[WebUser, Depends(page("orders:read"))]
TasksPage = Annotated[WebUser, Depends(page("tasks:read"))]
TasksAction = Annotated[WebUser, Depends(action("tasks:write"))]
NodesPage = Annotated[WebUser, Depends(page("nodes:read"))]
NodesAction = Annotated[WebUser, Depends(action("nodes:write"))]
#: An order action: its own scope is checked per action (cloud/web/pages/orders.py ACTIONS).
OrdersAction = Annotated[WebUser, Depends(action("orders:read"))]
StockPage = Annotated[WebUser, Depends(page("stock:read"))]
#: Saving one's own F10 columns changes no stock: reading it is the scope it needs.
StockAction = Annotated[WebUser, Depends(action("stock:read"))]
#: A serial's conflict resolved (cloud/inbound/serial_conflicts.py): the API's route needs
#: stock:write.
StockWriteAction = Annotated[WebUser, Depends(action("stock:write"))]
UsersPage = Annotated[WebUser, Depends(page("users:admin"))]
UsersAction = Annotated[WebUser, Depends(action("users:admin"))]
RulesAction = Annotated[WebUser, Depends(action("rules:write"))]
CataloguePage = Annotated[WebUser, Depends(page("catalogue:read"))]
#: The import page and its jobs: the API's ``/skus/imports`` routes need catalogue:write.
CatalogueWritePage = Annotated[WebUser, Depends(page("catalogue:write"))]
CatalogueAction = Annotated[WebUser, Depends(action("catalogue:write"))]
ChannelsPage = Annotated[WebUser, Depends(page("channels:read"))]
#: "Download now" and a confirmation's retry: the API's routes need channels:write.
ChannelsAction = Annotated[WebUser, Depends(action("channels:write"))]
FinancePage = Annotated[WebUser, Depends(page("finance:read"))]
FinanceAction = Annotated[WebUser, Depends(action("finance:write"))]
