"""/skus: the catalogue (search, put, import and export)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from cloud.api.deps import CatalogueExportSlot, CatalogueRead, CatalogueWrite, SessionDep
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


@router.get("/export")
def export(
    _slot: CatalogueExportSlot,
    session: SessionDep,
    who: CatalogueRead,
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    """The whole catalogue as CSV or .xlsx; one export per user at a time (429 beyond)."""
    if format == "csv":
        return Response(
            import_export.export_csv(session, who.account_id), media_type="text/csv; charset=utf-8"
        )
    return Response(
        import_export.export_xlsx(session, who.account_id),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@router.post(
    "/import",
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            }
        }
    },
)
async def import_skus(request: Request, session: SessionDep, who: CatalogueWrite) -> ImportReport:
    """Import a CSV (UTF-8) or .xlsx sheet: all rows or none; 422 lists every bad row."""
    data = await request.body()
    if len(data) > MAX_IMPORT_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "file larger than 20 MB")
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind == "text/csv":
        rows = import_export.parse_csv(data)
    elif kind.endswith("spreadsheetml.sheet"):
        rows = import_export.parse_xlsx(data)
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send text/csv or an .xlsx workbook"
        )
    n, _ = import_export.import_rows(session, who.account_id, rows, who.actor, datetime.now(UTC))
    return ImportReport(imported=n)


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
