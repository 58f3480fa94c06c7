"""A page's list as a CSV or XLSX file: the one export helper of the dashboard (orders,
stock F9 and F10).

What every export shares: at most one export of a user at a time (the API's
``ExportSlots``: an export is a heavy read, OWASP API Security Top 10 2023, API4), at most
:data:`EXPORT_MAX` rows, read in one read transaction in a worker thread (never on the event
loop), cells a spreadsheet would run as a formula written as text (OWASP "CSV Injection"),
UTF-8 with a BOM (Excel opens Chinese as such), XLSX by openpyxl's write-only mode.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from cloud.api.deps import ExportSlots
from cloud.orders.audit_rules import CHINA

#: Rows in one export (the list's filters narrow it).
EXPORT_MAX: Final = 100_000
#: Rows a ``pages`` function is asked for at a time.
CHUNK: Final = 1000
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Format = Literal["csv", "xlsx"]
#: Rows of the list from ``offset``, at most ``limit``, as lists of cells (header order).
Pages = Callable[[Session, int, int], Sequence[Sequence[Any]]]


def guard(value: Any) -> Any:
    """A cell as written: times as ISO text in China time with its offset (as the pages show
    them; stored UTC, naive from SQLite), and text a spreadsheet would run as a formula
    (``= + - @``, tab, CR first) prefixed with ``'`` (OWASP CSV Injection)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        value = aware.astimezone(CHINA).isoformat(timespec="seconds")
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def rows_of(session: Session, pages: Pages, limit: int = EXPORT_MAX) -> Iterator[list[Any]]:
    """Every row ``pages`` gives, a chunk at a time, guarded, at most ``limit``."""
    done = 0
    while done < limit:
        chunk = pages(session, min(CHUNK, limit - done), done)
        for row in chunk:
            yield [guard(v) for v in row]
        done += len(chunk)
        if len(chunk) < CHUNK:
            return


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode()  # BOM: Excel opens UTF-8 Chinese as such


def to_xlsx(sheet: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def send(
    request: Request,
    user_id: int,
    name: str,
    fmt: Format,
    header: Sequence[str],
    pages: Pages,
) -> Response:
    """The file ``name-<time>.<fmt>`` of the list ``pages`` reads, as an attachment."""
    slots: ExportSlots = request.app.state.export_slots
    slots.take(user_id)
    try:

        def build() -> bytes:
            with request.app.state.read_sessions() as s, s.begin():
                rows = list(rows_of(s, pages))
            return to_csv(header, rows) if fmt == "csv" else to_xlsx(name, header, rows)

        data = await asyncio.to_thread(build)
    finally:
        slots.give_back(user_id)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Response(
        data,
        media_type="text/csv; charset=utf-8" if fmt == "csv" else XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{stamp}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )
