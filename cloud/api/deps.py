"""Dependencies shared by the routers (``Annotated`` aliases)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.orm import Session, sessionmaker

from cloud.auth import SCOPES, InvalidToken, Principal, decode_token
from cloud.nodes import downlink
from cloud.settings import Settings
from cloud.sync.worker import IngestWorker

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", scopes=SCOPES)


async def _session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request, the API's one write path: committed when the handler
    returns, rolled back on error. Handlers never commit.

    Function-scoped (``SessionDep``): FastAPI ends it once the handler has returned and its
    answer is serialised, *before* the answer is sent, so a commit that fails (a lost race,
    a dropped connection) answers as an error, never as a 200 for a write that did not
    happen. (A request-scoped dependency ends after the response is sent.)

    A GET reads only: on SQLite its transaction begins deferred so readers do not queue for
    the write lock (cloud/db/engine.py make_engine). Downlink changes the request queued are pushed
    to their nodes after the commit (a node that misses the push pulls them at its next hello).

    Why async: a sync dependency costs a hop to the thread pool and back on entry and on exit,
    and under load those hops queue for the GIL behind the handlers. Opening the session does
    no I/O (the connection is taken at the first statement, in the handler's thread).

    The commit runs on a small pool of its own, never on the handlers' pool: a transaction
    that holds locks (SQLite's write lock, PostgreSQL's row locks) must be able to finish
    while every handler thread waits for those locks, or they all wait until they time out
    (under load on SQLite the server answered almost nothing). On SQLite, writers of this
    process also queue here, on the event loop, for the one write lock, instead of each
    holding a handler thread while SQLite's busy handler sleeps.
    """
    state = request.app.state
    reading = request.method in ("GET", "HEAD")
    factory = state.read_sessions if reading else state.sessions
    lock: asyncio.Lock | None = None if reading else state.writer_lock
    loop = asyncio.get_running_loop()
    if lock is not None:
        await lock.acquire()
    try:
        session = factory()
        # Shielded: a request cancelled meanwhile (client gone, shutdown) still ends its
        # transaction and gives the connection back. Unshielded, cancelling a job the busy
        # pool had not started dropped it: the transaction stayed open for good, holding
        # its locks and a pooled connection.
        try:
            session.begin()
            yield session
        except BaseException:
            await asyncio.shield(
                loop.run_in_executor(state.commit_pool, _rollback_and_close, session)
            )
            raise
        await asyncio.shield(loop.run_in_executor(state.commit_pool, _commit_and_close, session))
    finally:
        if lock is not None:
            lock.release()
    push(state.ingest, downlink.pushes_of(session))


def _commit_and_close(session: Session) -> None:
    try:
        if session.in_transaction():
            session.commit()
    finally:
        session.close()


def _rollback_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


async def _read_sessions(request: Request) -> sessionmaker[Session]:
    """The read-only session factory, for a response streamed after the handler returns
    (an export): it opens its own transaction, since ``SessionDep``'s ends with the handler."""
    factory: sessionmaker[Session] = request.app.state.read_sessions
    return factory


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _ingest(request: Request) -> IngestWorker | None:
    worker: IngestWorker | None = request.app.state.ingest
    return worker


async def _principal(
    security: SecurityScopes, request: Request, token: Annotated[str, Depends(oauth2)]
) -> Principal:
    # Async on purpose: verifying an HS256 token is microseconds of CPU, less than a hop to
    # the thread pool and back.
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


SessionDep = Annotated[Session, Depends(_session, scope="function")]
#: A serial primary key in a path: ``Integer`` columns are 32-bit on PostgreSQL, so a larger
#: number is refused as a 422 here instead of failing in the driver as a 500.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ReadSessionsDep = Annotated[sessionmaker[Session], Depends(_read_sessions)]
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
