"""/skus: the catalogue (search, put, import and export)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import IO, Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from cloud.api.deps import (
    CatalogueRead,
    CatalogueWrite,
    ExportSlots,
    ReadSessionsDep,
    SessionDep,
)
from cloud.api.responses import JsonRows
from cloud.api.schemas import ImportReport, SkuIn
from cloud.catalogue import import_export
from cloud.catalogue import skus as catalogue
from cloud.errors import InvalidError

router = APIRouter(prefix="/api/v1/skus", tags=["catalogue"])
Limit = Annotated[int, Query(ge=1, le=1000)]
MAX_IMPORT_BYTES = 20 * 1024 * 1024


@router.get("", response_model=list[SkuIn])
def get_skus(
    session: SessionDep,
    who: CatalogueRead,
    q: Annotated[
        str | None, Query(max_length=200, description="space-separated keywords, any order (F10)")
    ] = None,
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    return JsonRows(catalogue.sku_rows(session, who.account_id, q, limit, offset))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/export")
async def export(
    request: Request,
    sessions: ReadSessionsDep,
    who: CatalogueRead,
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    """The catalogue as CSV (streamed as it is read) or .xlsx (written in a worker thread by
    openpyxl's write-only mode, then streamed): never built on the event loop, never whole
    in memory as rows (issue 13, finding 6). One export per user at a time (429 beyond),
    its slot held until the last byte is sent."""
    slots: ExportSlots = request.app.state.export_slots
    slots.take(who.user_id)
    try:
        response = await _export(sessions, who.account_id, format)
    except BaseException:
        slots.give_back(who.user_id)
        raise
    response.body_iterator = _holding(response.body_iterator, lambda: slots.give_back(who.user_id))
    return response


async def _export(
    sessions: sessionmaker[Session], account_id: int, format: Literal["csv", "xlsx"]
) -> StreamingResponse:
    if format == "csv":
        # A sync iterator: Starlette runs each step in a worker thread.
        return StreamingResponse(
            import_export.export_csv(sessions, account_id),
            media_type="text/csv; charset=utf-8",
        )
    # Closed by _chunks once sent (or below on failure): it outlives this function.
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    try:
        await anyio.to_thread.run_sync(
            partial(import_export.export_xlsx, sessions, account_id, out)
        )
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return StreamingResponse(
        _chunks(out),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="skus.xlsx"'},
    )


async def _holding(body: AsyncIterable[Any], release: Callable[[], None]) -> AsyncIterator[Any]:
    """The response body, then the export's slot given back (also when the client leaves)."""
    try:
        async for chunk in body:
            yield chunk
    finally:
        release()


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    with f:
        while chunk := f.read(64 * 1024):
            yield chunk


@router.post(
    "/import",
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
async def import_skus(request: Request, session: SessionDep, who: CatalogueWrite) -> ImportReport:
    """Import a CSV (UTF-8) or .xlsx sheet: all rows or none; 422 lists every bad row.

    The body is read here, on the event loop, up to its cap; parsing and importing run in a
    worker thread, so a large or hostile file never stalls other requests (issue 13,
    finding 6: an .xlsx parsed here froze the worker for 38 s)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind == "text/csv":
        parse = import_export.parse_csv
    elif kind.endswith("spreadsheetml.sheet"):
        parse = import_export.parse_xlsx
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send text/csv or an .xlsx workbook"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:
            # RFC 9110 §15.5.14: 413 Content Too Large.
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "file larger than 20 MB")
        chunks.append(chunk)
    data = b"".join(chunks)
    del chunks
    n = await anyio.to_thread.run_sync(
        partial(_import, session, who.account_id, who.actor, parse, data)
    )
    return ImportReport(imported=n)


def _import(
    session: Session,
    account_id: int,
    actor: str,
    parse: Callable[[bytes], list[dict[str, Any]]],
    data: bytes,
) -> int:
    rows = parse(data)
    n, _ = import_export.import_rows(session, account_id, rows, actor, datetime.now(UTC))
    return n


@router.get("/{sku_code}")
def get_sku(sku_code: str, session: SessionDep, who: CatalogueRead) -> SkuIn:
    return catalogue.get_sku(session, who.account_id, sku_code)


@router.put("/{sku_code}")
def put_sku(sku_code: str, body: SkuIn, session: SessionDep, who: CatalogueWrite) -> SkuIn:
    """Create or replace a SKU with its barcodes; edges receive it through their downlink."""
    if body.sku_code != sku_code:
        # InvalidError answers the 422 shape the OpenAPI document declares (a list of errors).
        raise InvalidError("sku_code in the path and the body differ", "sku_code")
    catalogue.upsert_sku(session, body, datetime.now(UTC), who.account_id, who.actor)
    return body
