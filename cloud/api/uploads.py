"""A bill file sent as a request's body (or a form's file part) and imported in one
transaction off the event loop: the settlement bills' and the fund-flow bills' routes and
pages (cloud/api/settlements.py, cloud/api/fundflow.py, cloud/web/pages/settlements.py,
cloud/web/pages/fundflow.py) — one reader and one importer for all of them.

The body is read as it streams and refused with 413 once it passes 20 MB (RFC 9110
§15.5.14, Content Too Large) before more of it is held; the middleware's limit for these
paths (cloud/app.py ``BodyLimit``) refuses a larger ``Content-Length`` before this runs.
The import runs in a worker thread (it parses and writes: seconds for a large bill) in a
transaction of its own, so a refusal stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

import anyio.to_thread
from fastapi import HTTPException, Request, status
from sqlalchemy.orm import Session, sessionmaker

from cloud.auth import Principal
from cloud.db.engine import transaction
from cloud.finance.bill_checks import MAX_BYTES

R = TypeVar("R")
#: A domain importer: (session, seller, file bytes, file name, actor, now) -> what it made.
Importer = Callable[[Session, int, bytes, str, str, datetime], R]


async def body_of(request: Request, limit: int = MAX_BYTES) -> bytes:
    """The request's body, refused with 413 as soon as it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "bill larger than 20 MB")
        chunks.append(chunk)
    return b"".join(chunks)


def imported(
    factory: sessionmaker[Session],
    importer: Importer[R],
    account_id: int,
    data: bytes,
    name: str,
    actor: str,
) -> R:
    """``importer`` run in a transaction of its own (committed, or rolled back by its
    refusal)."""
    with transaction(factory) as s:
        return importer(s, account_id, data, name, actor, datetime.now(UTC))


async def import_file(
    request: Request, who: Principal, importer: Importer[R], data: bytes, name: str
) -> R:
    """:func:`imported` in a worker thread."""
    work = partial(
        imported, request.app.state.sessions, importer, who.account_id, data, name, who.actor
    )
    return await anyio.to_thread.run_sync(work)


async def import_body(request: Request, who: Principal, importer: Importer[R], name: str) -> R:
    """The body read (:func:`body_of`) and imported (:func:`import_file`)."""
    return await import_file(request, who, importer, await body_of(request), name)
