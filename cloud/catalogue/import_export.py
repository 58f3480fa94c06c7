"""SKU import and export as CSV or Excel (导入 / 导出): every row checked before any is
written; a rejected file reports each bad row."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Any, Final

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from cloud.catalogue.skus import SkuIn, check_many, list_skus, upsert_many
from cloud.errors import N_, InvalidError

# --- import and export ---------------------------------------------------------------

COLUMNS = [
    "sku_code",
    "name",
    "barcodes",
    "brand",
    "model",
    "series",
    "category",
    "colour",
    "kind",
    "own_brand",
    "weight_g",
    "length_mm",
    "width_mm",
    "height_mm",
    "price_cents",
    "min_price_cents",
    "gtin",
    "serial_tracked",
    "components",
]


#: Why a whole file is refused (the import page says them again: cloud/web/pages/skus.py).
TOO_MANY_ROWS: Final = N_(
    "the file has more than %(max_rows)s rows; split it into files of at most %(max_rows)s"
)
TOO_MANY_COLUMNS: Final = N_("the file has more than %(max_columns)s columns")
NOT_UTF8: Final = N_("the file is not UTF-8 text: %(err)s")
NOT_CSV: Final = N_("not a readable CSV file: %(err)s")
NOT_XLSX: Final = N_("not a readable .xlsx workbook: %(err)s")
FILE_REFUSALS: Final = (TOO_MANY_ROWS, TOO_MANY_COLUMNS, NOT_UTF8, NOT_CSV, NOT_XLSX)


class RowError(BaseModel):
    row: int
    field: str | None
    message: str


class ImportRejected(InvalidError):
    """Some rows are bad: nothing was imported; ``errors`` says which and why.

    The 422's ``detail`` lists one entry per bad row; ``errors`` repeats them as rows."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(N_("%(count)s bad row(s); nothing imported"), count=len(errors))
        self.errors = errors

    def body(self) -> dict[str, Any]:
        rows = [e.model_dump() for e in self.errors]
        return {
            "detail": [
                {
                    "loc": ["body", f"row {e['row']}", e["field"] or ""],
                    "msg": e["message"],
                    "type": "import_row",
                }
                for e in rows
            ],
            "errors": rows,
        }


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _row_to_dict(raw: dict[str, Any]) -> dict[str, Any]:
    """Spreadsheet cells to SkuIn fields: lists are ``|``-separated, components ``CODE*qty``."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        text = _cell(value)
        if key is None or text == "":
            continue
        if key == "barcodes":
            out[key] = [b.strip() for b in text.split("|") if b.strip()]
        elif key == "components":
            comps = []
            for part in text.split("|"):
                code, _, qty = part.strip().rpartition("*")
                comps.append(
                    {"sku_code": code.strip(), "qty": qty.strip()}
                    if code
                    else {"sku_code": part.strip(), "qty": 1}
                )
            out[key] = comps
        elif key in {"own_brand", "serial_tracked"}:
            out[key] = text.lower() in {"1", "true", "yes", "y", "是"}
        else:
            out[key] = text
    return out


#: Bounds of one import (issue 13, finding 6; OWASP API Security Top 10 2023, API4
#: "Unrestricted resource consumption"): what the file really holds is read, never what it
#: claims (an .xlsx's ``<dimension ref="A1:XFD100000">`` froze the worker for 38 s), and
#: reading stops past the cap with a 422 instead of building a million rows (a 1M-row CSV
#: took 1.5 GB).
MAX_ROWS: Final = 20_000
MAX_COLUMNS: Final = 64
_BAD_TEXT: Final = re.compile("[\x00\ud800-\udfff]")


def _too_many() -> InvalidError:
    return InvalidError(
        TOO_MANY_ROWS,
        "file",
        max_rows=MAX_ROWS,
    )


#: How often a parse reports the rows read so far (an import job stores it as progress).
PROGRESS_ROWS: Final = 1000

Progress = Callable[[int], None]


def _quiet(_rows: int) -> None:
    pass


def parse_csv(data: bytes, progress: Progress = _quiet) -> list[dict[str, Any]]:
    """The rows of a UTF-8 CSV file, decoded and parsed as a stream: at most ``MAX_ROWS``.

    ``progress`` is told the rows read every ``PROGRESS_ROWS`` rows."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    rows: list[dict[str, Any]] = []
    try:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return []
        if len(header) > MAX_COLUMNS:
            raise InvalidError(
                TOO_MANY_COLUMNS,
                "file",
                max_columns=MAX_COLUMNS,
            )
        width = len(header)
        for cells in reader:
            if len(rows) >= MAX_ROWS:
                raise _too_many()
            row: dict[str | None, Any] = dict(zip(header, cells, strict=False))
            if len(cells) > width:  # DictReader's way: the extra cells under None
                row[None] = cells[width:]
            rows.append(row)  # type: ignore[arg-type]
            if len(rows) % PROGRESS_ROWS == 0:
                progress(len(rows))
    except UnicodeDecodeError as err:
        raise InvalidError(NOT_UTF8, "file", err=err) from err
    except csv.Error as err:  # e.g. a bare CR inside an unquoted field
        raise InvalidError(NOT_CSV, "file", err=err) from err
    return rows


def parse_xlsx(data: bytes, progress: Progress = _quiet) -> list[dict[str, Any]]:
    """The rows of the first sheet, in openpyxl's read-only (streaming) mode.

    The sheet's declared dimension is dropped (``reset_dimensions``): rows and cells are
    those the file holds, at most ``MAX_COLUMNS`` wide, and parsing stops past the cap.
    Blank rows are skipped but counted (reading them costs time too), up to twice the cap.
    """
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        ws = wb.worksheets[0]
        ws.reset_dimensions()
        limit = 2 * MAX_ROWS + 1
        it = ws.iter_rows(min_row=1, max_row=limit + 1, max_col=MAX_COLUMNS, values_only=True)
        header: list[str] | None = None
        rows: list[dict[str, Any]] = []
        for n, cells in enumerate(it, start=1):
            if n > limit:
                raise _too_many()
            if header is None:
                header = [_cell(h) for h in cells]
                while header and header[-1] == "":
                    header.pop()
                continue
            if not any(c is not None for c in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise _too_many()
            rows.append(dict(zip(header, cells, strict=False)))
            if len(rows) % PROGRESS_ROWS == 0:
                progress(len(rows))
    except InvalidError:
        raise
    except Exception as err:  # openpyxl raises many types for a damaged file, also lazily
        raise InvalidError(NOT_XLSX, "file", err=err) from err
    return rows


def import_rows(
    session: Session, account_id: int, rows: list[dict[str, Any]], actor: str, now: datetime
) -> tuple[int, dict[str, int]]:
    """Validate every row first; import all of them or none (errors list each bad row)."""
    items, errors = check_rows(rows)
    if errors:
        raise ImportRejected(errors)
    return apply_items(session, account_id, items, actor, now)


def check_rows(rows: list[dict[str, Any]]) -> tuple[dict[str, SkuIn], list[RowError]]:
    """The rows as SKUs by code, and what is wrong with each bad row, without the database
    (so an import job checks them before it takes a write lock)."""
    errors: list[RowError] = []
    items: dict[str, SkuIn] = {}
    owner: dict[str, str] = {}
    for n, raw in enumerate(rows, start=2):  # row 1 is the header
        unknown = set(raw) - set(COLUMNS)
        if unknown:
            errors.append(
                RowError(
                    row=n,
                    field=None,
                    message=f"unknown column(s): {', '.join(sorted(str(u) for u in unknown))}",
                )
            )
            continue
        bad = next((k for k, v in raw.items() if isinstance(v, str) and _BAD_TEXT.search(v)), None)
        if bad is not None:
            errors.append(
                RowError(
                    row=n,
                    field=str(bad),
                    message="text may not contain NUL or a lone UTF-16 surrogate",
                )
            )
            continue
        try:
            item = SkuIn.model_validate(_row_to_dict(raw))
        except ValidationError as err:
            for e in err.errors():
                field = ".".join(str(x) for x in e["loc"]) or None
                errors.append(RowError(row=n, field=field, message=e["msg"]))
            continue
        if item.sku_code in items:
            errors.append(
                RowError(
                    row=n, field="sku_code", message=f"{item.sku_code} appears twice in the file"
                )
            )
            continue
        for bc in item.barcodes:
            if bc in owner and owner[bc] != item.sku_code:
                errors.append(
                    RowError(
                        row=n,
                        field="barcodes",
                        message=f"barcode {bc} is also on {owner[bc]} in this file",
                    )
                )
            owner[bc] = item.sku_code
        items[item.sku_code] = item
    return items, sorted(errors, key=lambda e: e.row)


def apply_items(
    session: Session, account_id: int, items: dict[str, SkuIn], actor: str, now: datetime
) -> tuple[int, dict[str, int]]:
    """Check the rows of :func:`check_rows` against the catalogue and write them all, or
    raise :class:`ImportRejected` having written none. Upserts by SKU code: applying the
    same file twice leaves the catalogue as once."""
    errors: list[RowError] = []
    row_of = {code: n for n, code in enumerate(items, start=2)}
    for code, field, message in check_many(session, account_id, items):
        errors.append(RowError(row=row_of[code], field=field, message=message))
    if errors:
        raise ImportRejected(sorted(errors, key=lambda e: e.row))
    # Components first, so a bundle row may precede the rows of its parts.
    order = sorted(items.values(), key=lambda i: {"component": 0, "item": 1, "bundle": 2}[i.kind])
    return len(items), upsert_many(session, account_id, order, now, actor)


EXPORT_PAGE: Final = 500


def export_pages(sessions: Callable[[], Session], account_id: int) -> Iterator[list[list[Any]]]:
    """The account's SKUs as export rows, a page at a time, in one read transaction: an
    export is built as it is sent, never whole in memory (issue 13, finding 6)."""
    with sessions() as session, session.begin():
        offset = 0
        while True:
            items = list_skus(session, EXPORT_PAGE, offset, account_id)
            if not items:
                return
            yield [export_row(item) for item in items]
            offset += len(items)


def export_row(item: SkuIn) -> list[Any]:
    """One SKU as the export writes it (and the import reads it back): COLUMNS' cells."""
    d = item.model_dump()
    d["barcodes"] = "|".join(item.barcodes)
    d["components"] = "|".join(f"{c.sku_code}*{c.qty}" for c in item.components)
    return [("" if d[k] is None else d[k]) for k in COLUMNS]


def export_csv(sessions: Callable[[], Session], account_id: int) -> Iterator[bytes]:
    """The CSV export as a stream of chunks (UTF-8 with a BOM, as spreadsheets want)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    yield ("\ufeff" + buf.getvalue()).encode("utf-8")
    for page in export_pages(sessions, account_id):
        buf.seek(0)
        buf.truncate()
        w.writerows(page)
        yield buf.getvalue().encode("utf-8")


def export_xlsx(sessions: Callable[[], Session], account_id: int, out: IO[bytes]) -> None:
    """The .xlsx export written to ``out`` by openpyxl's write-only (streaming) mode: rows
    are written as they are read, never held as a sheet in memory."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("skus")
    ws.append(COLUMNS)
    for page in export_pages(sessions, account_id):
        for row in page:
            ws.append(row)
    wb.save(out)
