"""Dependencies shared by the routers (``Annotated`` aliases)."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Header, HTTPException, Path, Request, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.orm import Session

from cloud.auth import SCOPES, InvalidToken, Principal, TokenVersions, decode_token
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
    # Revoked? (disabled, role or password changed since it was issued). From the worker's
    # cache while fresh (cloud/auth.py TokenVersions: at most its ttl_s, 2 s, of grace);
    # else one indexed read, in a thread (it is a database round trip).
    versions: TokenVersions = request.app.state.token_versions
    current = versions.cached(who)
    if current is None:
        current = await anyio.to_thread.run_sync(versions.read, who)
    if not current:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "token revoked (user disabled, or role or password changed): log in again",
            headers={"WWW-Authenticate": challenge},
        )
    missing = [s for s in security.scopes if s not in who.scopes]
    if missing:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role {who.role} lacks scope(s): {', '.join(missing)}",
            headers={"WWW-Authenticate": challenge},
        )
    return who


async def _operator(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The platform operator (who creates seller accounts), by ``GUANJIA_OPERATOR_TOKEN``.

    Not a role of a seller account: no seller's user, admin included, holds it, so no
    seller can make accounts (OWASP API5:2023 broken function level authorization). Unset,
    the operator routes answer 404, as ``/metrics`` does (cloud/api/metrics.py).
    """
    token: str | None = request.app.state.settings.operator_token
    if token is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    sent = (authorization or "").removeprefix("Bearer ").encode()
    if not hmac.compare_digest(sent, token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "platform routes need the operator token (GUANJIA_OPERATOR_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return "platform-operator"


SessionDep = Annotated[Session, Depends(_session, scope="function")]
Operator = Annotated[str, Depends(_operator)]
#: A user's or a task's id in a path: its random public id (cloud/db/models.py
#: ``new_public_id``), never the serial key, which would tell how many the hub made.
PublicId = Annotated[
    str,
    Path(
        min_length=36,
        max_length=36,
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    ),
]
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
