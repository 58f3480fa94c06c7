"""Reading a courier's bill (CSV or XLSX) into rows, or refusing it with every bad row named.

A bill is reconciled whole, so a file with a bad row is refused whole (nothing imported) and
the answer lists each bad row by its number in the file (the header is row 1), the column
and why: an amount that is not money (a float's binary tail, thousands separators, more
than two decimals, negative), a weight that is not kilograms, a date that is no date.

Columns by their header, English or Chinese as couriers' exports name them: tracking
number (运单号), date (寄件日期), destination (目的地), billed weight in kg (计费重量), fee
(运费), and optionally the parcel's length, width and height in cm (长/宽/高).

XLSX cells holding numbers arrive as binary doubles (openpyxl); such a cell is read as the
shortest decimal that round-trips (``repr``), which is what Excel shows for a typed value
(12.5 → "12.5"); a computed cell with a binary tail (12.300000000000001) is refused as
more than two decimals, not silently rounded.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from cloud.errors import N_, InvalidError
from cloud.finance.money import money

MAX_ROWS = 100_000
MAX_ERRORS = 100
_TRACKING = re.compile(r"[A-Za-z0-9-]{4,64}")
_KG = re.compile(r"\d{1,4}(\.\d{1,3})?")
_CM = re.compile(r"\d{1,4}(\.\d)?")
_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?")

COLUMNS: dict[str, tuple[str, ...]] = {
    "tracking_number": ("tracking_number", "tracking", "waybill", "运单号", "快递单号", "单号"),
    "date": ("date", "shipped_on", "日期", "寄件日期", "发货日期", "揽收日期"),
    "destination": ("destination", "province", "目的地", "目的省份", "到达省份"),
    "weight_kg": ("weight_kg", "weight", "billed_weight", "计费重量", "重量", "计费重量(kg)"),
    "fee": ("fee", "amount", "运费", "金额", "费用"),
    "length_cm": ("length_cm", "length", "长", "长(cm)"),
    "width_cm": ("width_cm", "width", "宽", "宽(cm)"),
    "height_cm": ("height_cm", "height", "高", "高(cm)"),
}
REQUIRED = ("tracking_number", "date", "destination", "weight_kg", "fee")


@dataclass(frozen=True)
class Row:
    row_no: int
    tracking_number: str
    shipped_on: date
    destination: str
    billed_g: int
    fee: Decimal
    sides_cm: tuple[Decimal, Decimal, Decimal] | None


@dataclass(frozen=True)
class RowError:
    row_no: int
    column: str
    message: str


class BillRefused(InvalidError):
    """The file has bad rows: each named (422), nothing imported."""

    def __init__(self, errors: list[RowError], total: int) -> None:
        first = errors[0]
        super().__init__(
            N_(
                "the bill has %(count)s bad rows, nothing was imported; row %(row)s, "
                "%(column)s: %(message)s"
            ),
            "file",
            count=total,
            row=first.row_no,
            column=first.column,
            message=first.message,
        )
        self.errors = errors
        self.total = total

    def body(self) -> dict[str, Any]:
        return {
            "detail": [
                {
                    "loc": ["body", "file", e.row_no, e.column],
                    "msg": e.message,
                    "type": "value_error",
                }
                for e in self.errors
            ]
        }


def read(data: bytes, fmt: Literal["csv", "xlsx"]) -> list[Row]:
    """The bill's rows, or :class:`BillRefused` naming every bad one (up to 100)."""
    table = _xlsx(data) if fmt == "xlsx" else _csv(data)
    header = next(table, None)
    if header is None:
        raise InvalidError(N_("the bill is empty"), "file")
    where = _header([_text(h).lower() for h in header])
    rows: list[Row] = []
    errors: list[RowError] = []
    total_errors = 0
    for row_no, cells in enumerate(table, start=2):
        if all(_text(c) == "" for c in cells):
            continue
        if len(rows) + total_errors >= MAX_ROWS:
            raise InvalidError(
                N_("the bill has more than %(max)s rows: split it"), "file", max=MAX_ROWS
            )
        found: list[RowError] = []
        row = _row(row_no, cells, where, found)
        if found:
            total_errors += len(found)
            errors.extend(found[: MAX_ERRORS - len(errors)])
        elif row is not None:
            rows.append(row)
    if errors:
        raise BillRefused(errors, total_errors)
    if not rows:
        raise InvalidError(N_("the bill has no rows"), "file")
    return rows


def _csv(data: bytes) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # Excel in China saves CSV as GBK (GB18030 is its superset)
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise InvalidError(
                N_("the bill is neither UTF-8 nor GBK text: save it as CSV or XLSX"), "file"
            ) from None
    return iter(csv.reader(io.StringIO(text)))


def _xlsx(data: bytes) -> Any:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError):
        raise InvalidError(N_("the file is not an XLSX workbook"), "file") from None
    return wb.worksheets[0].iter_rows(values_only=True)


def _header(names: list[str]) -> dict[str, int]:
    where: dict[str, int] = {}
    for field, aliases in COLUMNS.items():
        for i, n in enumerate(names):
            if n in aliases and field not in where:
                where[field] = i
    missing = [f for f in REQUIRED if f not in where]
    if missing:
        raise InvalidError(
            N_("the bill has no column %(columns)s (the first row names the columns)"),
            "file",
            columns=", ".join(missing),
        )
    sides = [f for f in ("length_cm", "width_cm", "height_cm") if f in where]
    if sides and len(sides) != 3:
        raise InvalidError(
            N_("give all three of length_cm, width_cm, height_cm or none of them"), "file"
        )
    return where


def _text(cell: object) -> str:
    """A cell as the text a person sees; a float cell as its shortest round-trip decimal."""
    if cell is None:
        return ""
    if isinstance(cell, float):
        return repr(cell) if math.isfinite(cell) else "nan"
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    return str(cell).strip()


def _row(row_no: int, cells: Any, where: dict[str, int], errors: list[RowError]) -> Row | None:
    def cell(field: str) -> str:
        i = where.get(field)
        return _text(cells[i]) if i is not None and i < len(cells) else ""

    def bad(column: str, message: str) -> None:
        errors.append(RowError(row_no, column, message))

    tracking = cell("tracking_number")
    if not _TRACKING.fullmatch(tracking):
        bad("tracking_number", f"{tracking!r} is not a tracking number (4-64 letters, digits, -)")
    day = _day(cell("date"))
    if day is None:
        bad("date", f"{cell('date')!r} is not a date like 2026-12-06")
    destination = cell("destination")
    if not destination or len(destination) > 120:
        bad("destination", "give the destination (province), at most 120 characters")
    weight = cell("weight_kg")
    grams = 0
    if not _KG.fullmatch(weight):
        bad("weight_kg", f"{weight!r} is not a weight in kg like 1.25 (at most 3 decimals)")
    else:
        grams = int(Decimal(weight) * 1000)
        if grams <= 0:
            bad("weight_kg", "a billed weight must be more than 0")
    fee = Decimal(0)
    try:
        fee = money(cell("fee"), "fee")
        if fee < 0:
            bad("fee", f"{fee} is negative: a fee is what the courier charges")
    except InvalidError as err:
        bad("fee", str(err).removeprefix("fee: "))
    sides: tuple[Decimal, Decimal, Decimal] | None = None
    if "length_cm" in where:
        given = [cell(f) for f in ("length_cm", "width_cm", "height_cm")]
        if any(given):
            if not all(_CM.fullmatch(g) and Decimal(g) > 0 for g in given):
                bad("length_cm", f"{'×'.join(given)} are not three sides in cm like 30.5")
            else:
                sides = (Decimal(given[0]), Decimal(given[1]), Decimal(given[2]))
    if errors or day is None:
        return None
    return Row(row_no, tracking, day, destination, grams, fee, sides)


def _day(text: str) -> date | None:
    m = _DATE.fullmatch(text)
    if m is None:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
