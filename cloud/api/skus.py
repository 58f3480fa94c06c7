"""/skus: the catalogue (search, put, import and export)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import IO, Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from cloud.api.deps import (
    CatalogueRead,
    CatalogueWrite,
    ExportSlots,
    ReadSessionsDep,
    SessionDep,
    Units,
    UnitsDep,
)
from cloud.api.responses import JsonRows
from cloud.api.schemas import ImportReport, SkuIn
from cloud.auth import Principal
from cloud.catalogue import import_export, jobs, removal
from cloud.catalogue import skus as catalogue
from cloud.errors import N_, InvalidError

router = APIRouter(prefix="/api/v1/skus", tags=["catalogue"])
Limit = Annotated[int, Query(ge=1, le=1000)]
#: A job's public id is a UUID (cloud/db/models.py new_public_id): anything longer is not one.
JobId = Annotated[str, Path(max_length=36)]
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
    its slot held until the last byte is sent.

    Why .xlsx goes through a spooled temporary file (8 MB in memory, then on disk) instead
    of being streamed as it is made: openpyxl's write-only mode writes each sheet's XML to
    a temporary file of its own and zips the workbook only in ``save()``, so no byte of it
    exists before the last row is written. Memory stays bounded either way."""
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


_FILE_BODY = {
    "requestBody": {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        }
    }
}


def import_kind(media_type: str, filename: str = "") -> Literal["csv", "xlsx"]:
    """The kind of an uploaded file by its media type (or, from a browser's form, which
    may say ``application/vnd.ms-excel`` for a CSV, by its name's extension): 415 else."""
    kind = media_type.split(";")[0].strip().lower()
    name = filename.lower()
    if kind == "text/csv" or (not kind.endswith("spreadsheetml.sheet") and name.endswith(".csv")):
        return "csv"
    if kind.endswith("spreadsheetml.sheet") or name.endswith(".xlsx"):
        return "xlsx"
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send text/csv or an .xlsx workbook"
    )


def too_large() -> HTTPException:
    # RFC 9110 §15.5.14: 413 Content Too Large.
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"file larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB",
    )


async def _read_file(request: Request) -> tuple[Literal["csv", "xlsx"], bytes]:
    """The uploaded file and its kind, read up to its cap (the body limit middleware has
    refused a larger ``Content-Length`` already; this bounds a chunked body too)."""
    fmt = import_kind(request.headers.get("content-type", ""))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:
            raise too_large()
        chunks.append(chunk)
    return fmt, b"".join(chunks)


async def submit_import(
    request: Request, units: Units, who: Principal, fmt: Literal["csv", "xlsx"], data: bytes
) -> jobs.ImportJobOut:
    """Queue ``data`` as an import job of the caller's account and wake this process's
    runner (the API's routes and the dashboard's import page both submit through here)."""
    per_account: int = request.app.state.settings.import_jobs_per_account
    job = await units.write(
        lambda s: jobs.view(
            jobs.submit(s, who.account_id, who.actor, fmt, data, datetime.now(UTC), per_account)
        )
    )
    # Committed: this process's runner looks now (another process may take it first).
    request.app.state.import_jobs.wake()
    return job


async def _submit(request: Request, units: Units, who: Principal) -> jobs.ImportJobOut:
    fmt, data = await _read_file(request)
    return await submit_import(request, units, who, fmt, data)


def _location(job: jobs.ImportJobOut) -> str:
    return f"{router.prefix}/imports/{job.id}"


@router.post(
    "/imports",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=_FILE_BODY,
    responses={429: {"description": "the account's imports queued or running are at the cap"}},
)
async def start_import(
    request: Request, response: Response, units: UnitsDep, who: CatalogueWrite
) -> jobs.ImportJobOut:
    """Start importing a CSV (UTF-8) or .xlsx sheet as a background job: 202 at once, with
    the job in the body and its address in ``Location`` (RFC 9110 §15.3.3). Poll
    ``GET /skus/imports/{id}`` for its progress and its report of bad rows.

    The job runs in whichever hub process is free (cloud/catalogue/jobs.py); all rows or
    none, as ``POST /skus/import``. At most ``import_jobs_per_account`` (2) of an account
    queued or running at once: 429 with ``Retry-After`` beyond."""
    job = await _submit(request, units, who)
    response.headers["Location"] = _location(job)
    return job


@router.get("/imports/{job_id}")
def get_import(job_id: JobId, session: SessionDep, who: CatalogueWrite) -> jobs.ImportJobOut:
    """An import job of the caller's account: status, stage, rows read and applied, and the
    bad rows by row number (404 for an unknown id or another account's)."""
    return jobs.get_job(session, who.account_id, job_id)


@router.post(
    "/import",
    openapi_extra=_FILE_BODY,
    responses={
        202: {"description": "not finished within the wait: the job, and its Location"},
        429: {"description": "the account's imports queued or running are at the cap"},
    },
)
async def import_skus(request: Request, units: UnitsDep, who: CatalogueWrite) -> Response:
    """Import a CSV (UTF-8) or .xlsx sheet and answer when done: all rows or none; 422 lists
    every bad row (the first 1000).

    For scripts and the CLI: the same job as ``POST /skus/imports``, waited for here up to
    ``import_wait_s`` (120 s); a job still running then is answered 202 with its
    ``Location``, as ``POST /skus/imports`` does. The file is never parsed on the event
    loop (issue 13, finding 6: an .xlsx parsed there froze the worker for 38 s)."""
    job = await _submit(request, units, who)
    wait_s: float = request.app.state.settings.import_wait_s
    deadline = time.monotonic() + wait_s
    delay = 0.02
    while job.status in jobs.ACTIVE and time.monotonic() < deadline:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
        job = await units.read(partial(jobs.get_job, account_id=who.account_id, public_id=job.id))
    if job.status == "done":
        return JSONResponse(ImportReport(imported=job.rows_applied).model_dump())
    if job.status == "rejected":
        if job.errors_total:
            raise import_export.ImportRejected(job.errors)
        raise InvalidError(job.message or N_("the file was refused"), "file")
    if job.status == "failed":
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            job.message or "the import failed; send the file again",
            headers={"Retry-After": "5"},
        )
    return JSONResponse(
        job.model_dump(mode="json"),
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": _location(job)},
    )


@router.get("/{sku_code}")
def get_sku(sku_code: str, session: SessionDep, who: CatalogueRead) -> SkuIn:
    return catalogue.get_sku(session, who.account_id, sku_code)


@router.delete(
    "/{sku_code}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        404: {"description": "no SKU of that code in the account"},
        409: {"description": "something refers to the SKU (named); nothing was deleted"},
    },
)
def delete_sku(
    sku_code: Annotated[str, Path(min_length=1, max_length=120)],
    session: SessionDep,
    who: CatalogueWrite,
) -> Response:
    """Delete a SKU nothing refers to yet, with its barcodes and components, as the
    catalogue page does (cloud/catalogue/removal.py: a SKU with history stays, and the 409
    says what holds it)."""
    removal.delete_sku(session, who.account_id, sku_code, datetime.now(UTC))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{sku_code}")
def put_sku(sku_code: str, body: SkuIn, session: SessionDep, who: CatalogueWrite) -> SkuIn:
    """Create or replace a SKU with its barcodes; edges receive it through their downlink."""
    if body.sku_code != sku_code:
        # InvalidError answers the 422 shape the OpenAPI document declares (a list of errors).
        raise InvalidError(N_("sku_code in the path and the body differ"), "sku_code")
    catalogue.upsert_sku(session, body, datetime.now(UTC), who.account_id, who.actor)
    return body
