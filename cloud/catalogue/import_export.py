"""SKU import and export as CSV or Excel (导入 / 导出): every row checked before any is
written; a rejected file reports each bad row."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from cloud.catalogue.skus import SkuIn, list_skus, upsert_sku
from cloud.errors import ConflictError, InvalidError

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


class RowError(BaseModel):
    row: int
    field: str | None
    message: str


class ImportRejected(InvalidError):
    """Some rows are bad: nothing was imported; ``errors`` says which and why.

    The 422's ``detail`` lists one entry per bad row; ``errors`` repeats them as rows."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} bad row(s); nothing imported")
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


def parse_csv(data: bytes) -> list[dict[str, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidError(f"the file is not UTF-8 text: {err}", "file") from err
    try:
        return [dict(r) for r in csv.DictReader(io.StringIO(text, newline=""))]
    except csv.Error as err:  # e.g. a bare CR inside an unquoted field
        raise InvalidError(f"not a readable CSV file: {err}", "file") from err


def parse_xlsx(data: bytes) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for a damaged file
        raise InvalidError(f"not a readable .xlsx workbook: {err}", "file") from err
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    if not rows:
        return []
    header = [_cell(h) for h in rows[0]]
    return [dict(zip(header, r, strict=False)) for r in rows[1:] if any(c is not None for c in r)]


def import_rows(
    session: Session, account_id: int, rows: list[dict[str, Any]], actor: str, now: datetime
) -> tuple[int, dict[str, int]]:
    """Validate every row first; import all of them or none (errors list each bad row)."""
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
    if not errors:
        # Components first, so a bundle row may precede the rows of its parts.
        order = sorted(
            items.values(), key=lambda i: {"component": 0, "item": 1, "bundle": 2}[i.kind]
        )
        pushes: dict[str, int] = {}
        row_of = {code: n for n, code in enumerate(items, start=2)}
        for item in order:
            try:
                with session.begin_nested():
                    for node, seq in upsert_sku(
                        session, item, now, account_id, actor, _batch=items
                    ).items():
                        pushes.setdefault(node, seq)
            except (ConflictError, InvalidError) as err:
                field = err.field if isinstance(err, InvalidError) else "barcodes"
                errors.append(RowError(row=row_of[item.sku_code], field=field, message=str(err)))
        if not errors:
            return len(items), pushes
    raise ImportRejected(sorted(errors, key=lambda e: e.row))


def export_rows(session: Session, account_id: int) -> list[dict[str, Any]]:
    out = []
    for item in list_skus(session, 10**9, 0, account_id):
        d = item.model_dump()
        d["barcodes"] = "|".join(item.barcodes)
        d["components"] = "|".join(f"{c.sku_code}*{c.qty}" for c in item.components)
        out.append({k: ("" if d[k] is None else d[k]) for k in COLUMNS})
    return out


def export_csv(session: Session, account_id: int) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(export_rows(session, account_id))
    return buf.getvalue().encode("utf-8-sig")


def export_xlsx(session: Session, account_id: int) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "skus"
    ws.append(COLUMNS)
    for r in export_rows(session, account_id):
        ws.append([r[c] for c in COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
