"""Dependencies shared by the routers (``Annotated`` aliases)."""

from __future__ import annotations

import asyncio
import functools
import hmac
import math
import threading
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Header, HTTPException, Path, Request, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.orm import Session, sessionmaker

from cloud.auth import SCOPES, HashPool, InvalidToken, Principal, TokenVersions, decode_token
from cloud.nodes import downlink
from cloud.settings import Settings
from cloud.sync.worker import IngestWorker

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", scopes=SCOPES)


async def _session(request: Request) -> Session:
    """One transaction per request, the API's one write path: committed when the handler
    returns, rolled back on error. Handlers never commit.

    Function-scoped: its end is pushed on FastAPI's function-scoped exit stack
    (``fastapi_function_astack``, the one a ``Depends(..., scope="function")`` generator's
    exit runs on), which unwinds once the handler has returned and its answer is
    serialised, *before* the answer is sent, so a commit that fails (a lost race, a dropped
    connection) answers as an error, never as a 200 for a write that did not happen. (A
    request-scoped dependency ends after the response is sent.) A plain coroutine and an
    exit callback, not a generator dependency: FastAPI wraps a generator in two async
    context managers and an anyio cancel scope per request, about 5 % of a worker's CPU
    under ``guanjia bench cloud``'s mix (issue 20, docs/benchmarks.md); the ending shields
    itself (``_end_write``).

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
    stack = request.scope.get("fastapi_function_astack")
    if not isinstance(stack, AsyncExitStack):
        # Only FastAPI's request handler runs dependencies with this stack in the scope; a
        # FastAPI that renamed it must not leave transactions open.
        raise RuntimeError("SessionDep needs FastAPI's function-scoped exit stack")
    state = request.app.state
    if request.method in ("GET", "HEAD"):
        # A read holds no locks and has nothing to make durable: it ends on the event loop,
        # without the hop to the commit pool and back (``_reading`` says why that is safe).
        session = _reading(state)
        stack.push(functools.partial(_end_read_on_exit, session))
        return session
    lock: asyncio.Lock | None = state.writer_lock
    if lock is not None:
        await lock.acquire()
    try:
        writing: Session = state.sessions()
        writing.begin()
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    stack.push_async_exit(functools.partial(_end_write, state, writing, lock))
    return writing


def _end_read_on_exit(
    session: Session,
    exc_type: type[BaseException] | None,
    _exc: BaseException | None,
    _tb: TracebackType | None,
) -> bool:
    if exc_type is not None:
        _rollback_and_close(session)
    else:
        _end_read(session)
    return False  # the handler's error, if any, goes on to the exception handlers


async def _end_write(
    state: Any,
    session: Session,
    lock: asyncio.Lock | None,
    exc_type: type[BaseException] | None,
    _exc: BaseException | None,
    _tb: TracebackType | None,
) -> bool:
    """Commit (or roll back, if the handler failed) on the commit pool, then let the next
    writer of this process in. Shielded as one task: a request cancelled meanwhile (client
    gone, shutdown) still ends its transaction, gives the connection back and, only once the
    commit is over, the write lock. Unshielded, cancelling a job the busy pool had not
    started dropped it: the transaction stayed open for good, holding its locks and a pooled
    connection."""
    job = _commit_and_close if exc_type is None else _rollback_and_close

    async def end() -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(state.commit_pool, job, session)
        finally:
            if lock is not None:
                lock.release()

    await asyncio.shield(end())
    if exc_type is None:
        push(state.ingest, downlink.pushes_of(session))
    return False


def _reading(state: Any) -> Session:
    """A GET's session (``_session``), in a transaction ended on the event loop.

    On PostgreSQL it runs in autocommit (``api_read_sessions``, cloud/app.py): each statement
    has its own snapshot, as in the READ COMMITTED transaction it replaces, without the BEGIN
    and COMMIT round trips; giving the connection back then costs no round trip either. On
    SQLite the read transaction (deferred, WAL) ends with a ROLLBACK (``_end_read``) that waits
    for no lock and writes nothing. Either is microseconds on the event loop, against a hop to a thread and
    back. SQLite's read engine refuses writes (``PRAGMA query_only``, cloud/db/engine.py), so
    a GET that wrote would fail in the tests instead of losing atomicity on PostgreSQL.
    """
    session: Session = state.api_read_sessions()
    session.begin()
    return session


def _end_read(session: Session) -> None:
    """End a GET's session: closed, not committed, when it changed nothing.

    A read's transaction has nothing to commit: on PostgreSQL it runs in autocommit, and on
    SQLite ending a deferred read transaction by ROLLBACK or COMMIT is the same to SQLite (it
    releases the read snapshot; nothing was written). ``Session.commit`` first walks the
    session's transaction machinery and flush check, then closes: about 20 µs of CPU per GET
    (issue 20, measured on both databases) for nothing. A session holding ORM changes (a GET
    that changed an object it loaded) still takes the commit path, so such a GET behaves as
    before: it fails on SQLite's read-only engine and in the tests instead of being dropped
    silently.
    """
    if session.new or session.deleted or session.dirty:
        _commit_and_close(session)
    else:
        session.close()


T = TypeVar("T")


class Units:
    """Short transactions of their own, for a route that must not hold one across slow work.

    The login (cloud/api/auth.py) checks a password (~100 ms of argon2) between a read and a
    write; inside ``SessionDep``'s one transaction it held SQLite's write lock all the while
    (each login ~100 ms, so 64 flooding clients stalled every writer for seconds). Here a
    write takes the lock only for its own few statements. Commits as ``_session`` does:
    writers of this process queue on the event loop, the work is shielded from cancellation.
    """

    def __init__(self, request: Request) -> None:
        self._state = request.app.state

    async def read(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with self._state.read_sessions() as session, session.begin():
                return work(session)

        return await anyio.to_thread.run_sync(run)

    async def write(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with self._state.sessions() as session, session.begin():
                return work(session)

        lock: asyncio.Lock | None = self._state.writer_lock
        loop = asyncio.get_running_loop()
        if lock is None:
            return await asyncio.shield(loop.run_in_executor(self._state.commit_pool, run))
        async with lock:
            return await asyncio.shield(loop.run_in_executor(self._state.commit_pool, run))


async def _units(request: Request) -> Units:
    return Units(request)


async def _hash_pool(request: Request) -> HashPool:
    pool: HashPool = request.app.state.hash_pool
    return pool


class TooBusy(HTTPException):
    """Too many heavy reads at once (429 with Retry-After, RFC 6585 §4, RFC 9110 §10.2.3)."""

    def __init__(self, detail: str, retry_after_s: float = 5.0) -> None:
        super().__init__(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail,
            headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))},
        )


class ExportSlots:
    """At most ``per_user`` exports of one user and ``total`` in all at once, per worker.

    An export reads and encodes a whole catalogue on a handler thread (OWASP API4:2023):
    four parallel exports by one picker held every handler thread of a worker and pushed
    health checks to 19 s. Counted on the event loop (one thread): no lock. Per worker, not
    in the database: what a running export holds is this process's threads and memory, and
    a slot must be given back even when the process dies (a row would outlive it).
    """

    def __init__(self, per_user: int, total: int) -> None:
        self.per_user, self.total = per_user, total
        self._by_user: dict[int, int] = {}
        self._all = 0
        self._lock = threading.Lock()

    def take(self, user_id: int) -> None:
        with self._lock:
            self._take(user_id)

    def _take(self, user_id: int) -> None:
        if self._all >= self.total:
            raise TooBusy("the server is busy with other exports; try again shortly")
        if self._by_user.get(user_id, 0) >= self.per_user:
            raise TooBusy(
                f"at most {self.per_user} export(s) of one user at a time;"
                " wait for the one running to finish"
            )
        self._all += 1
        self._by_user[user_id] = self._by_user.get(user_id, 0) + 1

    def give_back(self, user_id: int) -> None:
        with self._lock:
            self._give_back(user_id)

    def _give_back(self, user_id: int) -> None:
        self._all -= 1
        left = self._by_user[user_id] - 1
        if left:
            self._by_user[user_id] = left
        else:
            del self._by_user[user_id]


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
UnitsDep = Annotated[Units, Depends(_units)]
#: Where a new password is hashed, before the write that stores it (cloud/auth.py ``Hashed``).
HashPoolDep = Annotated[HashPool, Depends(_hash_pool)]
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
ChannelsRead = Annotated[Principal, Security(_principal, scopes=["channels:read"])]
ChannelsWrite = Annotated[Principal, Security(_principal, scopes=["channels:write"])]
FinanceRead = Annotated[Principal, Security(_principal, scopes=["finance:read"])]
FinanceWrite = Annotated[Principal, Security(_principal, scopes=["finance:write"])]
AnyUser = Annotated[Principal, Security(_principal, scopes=[])]


def push(ingest: IngestWorker | None, pushes: dict[str, int]) -> None:
    """Tell nodes about new downlink changes (after the commit; a missed push is pulled later)."""
    if ingest is not None and pushes:
        ingest.push_downlink(pushes)
