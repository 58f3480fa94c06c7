"""Dependencies shared by the routers (``Annotated`` aliases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.orm import Session

from cloud import downlink
from cloud.auth import SCOPES, InvalidToken, Principal, decode_token
from cloud.ingest_worker import IngestWorker
from cloud.settings import Settings

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", scopes=SCOPES)


def _session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error.

    A GET reads only: on SQLite its transaction begins deferred so readers do not queue for
    the write lock (cloud/db.py make_engine). Downlink changes the request queued are pushed
    to their nodes after the commit (a node that misses the push pulls them at its next hello).
    """
    factory = (
        request.app.state.read_sessions
        if request.method in ("GET", "HEAD")
        else request.app.state.sessions
    )
    with factory() as session:
        with session.begin():
            yield session
        push(request.app.state.ingest, downlink.pushes_of(session))


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _ingest(request: Request) -> IngestWorker | None:
    worker: IngestWorker | None = request.app.state.ingest
    return worker


def _principal(
    security: SecurityScopes, request: Request, token: Annotated[str, Depends(oauth2)]
) -> Principal:
    challenge = f'Bearer scope="{security.scope_str}"' if security.scopes else "Bearer"
    try:
        who = decode_token(token, request.app.state.jwt_secret)
    except InvalidToken as err:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or expired token",
            headers={"WWW-Authenticate": challenge},
        ) from err
    missing = [s for s in security.scopes if s not in who.scopes]
    if missing:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role {who.role} lacks scope(s): {', '.join(missing)}",
            headers={"WWW-Authenticate": challenge},
        )
    return who


SessionDep = Annotated[Session, Depends(_session)]
#: A serial primary key in a path: ``Integer`` columns are 32-bit on PostgreSQL, so a larger
#: number is refused as a 422 here instead of failing in the driver as a 500.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SettingsDep = Annotated[Settings, Depends(_settings)]
IngestDep = Annotated[IngestWorker | None, Depends(_ingest)]

# One alias per scope a route declares (FastAPI reads the scopes into the OpenAPI spec).
CatalogueRead = Annotated[Principal, Security(_principal, scopes=["catalogue:read"])]
CatalogueWrite = Annotated[Principal, Security(_principal, scopes=["catalogue:write"])]
StockRead = Annotated[Principal, Security(_principal, scopes=["stock:read"])]
StockWrite = Annotated[Principal, Security(_principal, scopes=["stock:write"])]
WarehousesWrite = Annotated[Principal, Security(_principal, scopes=["warehouses:write"])]
OrdersRead = Annotated[Principal, Security(_principal, scopes=["orders:read"])]
OrdersWrite = Annotated[Principal, Security(_principal, scopes=["orders:write"])]
OrdersAudit = Annotated[Principal, Security(_principal, scopes=["orders:audit"])]
OrdersShip = Annotated[Principal, Security(_principal, scopes=["orders:ship"])]
RulesWrite = Annotated[Principal, Security(_principal, scopes=["rules:write"])]
TasksRead = Annotated[Principal, Security(_principal, scopes=["tasks:read"])]
TasksWrite = Annotated[Principal, Security(_principal, scopes=["tasks:write"])]
UsersAdmin = Annotated[Principal, Security(_principal, scopes=["users:admin"])]
NodesRead = Annotated[Principal, Security(_principal, scopes=["nodes:read"])]
NodesWrite = Annotated[Principal, Security(_principal, scopes=["nodes:write"])]
AnyUser = Annotated[Principal, Security(_principal, scopes=[])]


def push(ingest: IngestWorker | None, pushes: dict[str, int]) -> None:
    """Tell nodes about new downlink changes (after the commit; a missed push is pulled later)."""
    if ingest is not None and pushes:
        ingest.push_downlink(pushes)
