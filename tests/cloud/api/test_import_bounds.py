"""Imports and exports never block the server and are bounded by what the file holds
(issue 13, finding 6)."""

from __future__ import annotations

import csv
import io
import re
import statistics
import threading
import time
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from cloud.catalogue import import_export
from cloud.catalogue.import_export import MAX_ROWS
from cloud.errors import InvalidError
from tests.cloud.conftest import account_id_of

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_BODY = {"content-type": XLSX}
CSV = {"content-type": "text/csv"}


def _csv(rows: int, *, bad_last: bool = False, start: int = 0) -> bytes:
    lines = ["sku_code,name,barcodes,weight_g"]
    for i in range(start, start + rows):
        lines.append(f"IMP-{i:07d},商品 {i},69{i:011d},{100 + i % 50}")
    if bad_last:
        lines[-1] = lines[-1].rsplit(",", 1)[0] + ",not-a-number"
    return ("\n".join(lines) + "\n").encode()


def _count(client: TestClient) -> int:
    n, offset = 0, 0
    while page := client.get("/api/v1/skus", params={"limit": 1000, "offset": offset}).json():
        n += len(page)
        offset += len(page)
    return n


def _hostile_xlsx(claim: str = "A1:XFD100000") -> bytes:
    """A real two-row workbook whose sheet claims ``claim`` as its dimension."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["sku_code", "name", "barcodes"])
    ws.append(["XL-1", "表格一", "6900000000017"])
    ws.append(["XL-2", "表格二", "6900000000024"])
    raw = io.BytesIO()
    wb.save(raw)
    src = zipfile.ZipFile(io.BytesIO(raw.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(
                    rb'<dimension ref="[^"]*"', f'<dimension ref="{claim}"'.encode(), data
                )
                assert n == 1
            dst.writestr(item, data)
    return out.getvalue()


def test_xlsx_claiming_a_huge_range_is_read_by_what_it_holds(client: TestClient) -> None:
    data = _hostile_xlsx()
    assert len(data) < 10_000  # a few KB, as the finding's 4.7 KB file
    # The first import of a hub process waits for its worker process to start (a fork
    # server that loads the import code: cloud/catalogue/job_runner.py); not timed here.
    assert client.post("/api/v1/skus/import", content=_csv(1), headers=CSV).status_code == 200
    t = time.perf_counter()
    r = client.post("/api/v1/skus/import", content=data, headers={"content-type": XLSX})
    elapsed = time.perf_counter() - t
    assert r.status_code == 200, r.text
    assert r.json() == {"imported": 2}
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert client.get("/api/v1/skus/XL-2").json()["barcodes"] == ["6900000000024"]


def test_csv_over_the_row_cap_is_422_and_imports_nothing(client: TestClient) -> None:
    before = _count(client)
    t = time.perf_counter()
    r = client.post(
        "/api/v1/skus/import", content=_csv(MAX_ROWS + 1), headers={"content-type": "text/csv"}
    )
    elapsed = time.perf_counter() - t
    assert r.status_code == 422, r.text[:300]
    assert f"more than {MAX_ROWS} rows" in r.json()["detail"][0]["msg"]
    assert r.json()["detail"][0]["loc"] == ["body", "file"]
    assert _count(client) == before
    # A million rows (about 40 MB as sent here, below the cap when short): refused without
    # building them all.
    rows = b"sku_code,name\n" + b"".join(b"M%07d,n\n" % i for i in range(1_000_000))
    assert len(rows) < 20 * 1024 * 1024
    r = client.post("/api/v1/skus/import", content=rows, headers={"content-type": "text/csv"})
    assert r.status_code == 422 and f"more than {MAX_ROWS} rows" in r.text
    assert _count(client) == before
    assert elapsed < 10


def _workbook(rows: int) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(["sku_code", "name", "barcodes"])
    for i in range(rows):
        ws.append([f"X-{i}", "n", f"69000000{i:05d}"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_over_the_row_cap_is_422(monkeypatch: pytest.MonkeyPatch, client: TestClient) -> None:
    # The parser, at a cap of 5 (the cap is read where the job runs: a worker process).
    monkeypatch.setattr(import_export, "MAX_ROWS", 5)
    with pytest.raises(InvalidError, match="more than 5 rows"):
        import_export.parse_xlsx(_workbook(6))
    monkeypatch.undo()
    # Over the API, at the real cap.
    r = client.post("/api/v1/skus/import", content=_workbook(MAX_ROWS + 1), headers=XLSX_BODY)
    assert r.status_code == 422 and f"more than {MAX_ROWS} rows" in r.text
    assert client.get("/api/v1/skus/X-0").status_code == 404


def test_import_cells_with_nul_are_refused_by_row(client: TestClient) -> None:
    data = b"sku_code,name,barcodes\nNUL-1,a\x00b,6900000000017\n"
    r = client.post("/api/v1/skus/import", content=data, headers={"content-type": "text/csv"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["row"] == 2 and r.json()["errors"][0]["field"] == "name"
    assert client.get("/api/v1/skus/NUL-1").status_code == 404


def _p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10)[8]


def test_health_answers_fast_during_a_big_import(client: TestClient) -> None:
    """A file of MAX_ROWS valid rows, sent to the waiting import, is parsed, checked and
    written by a job in a worker process (cloud/catalogue/job_runner.py): the event loop
    keeps answering as it did before the import (bounds against a baseline of this run;
    tests/cloud/api/test_import_jobs.py measures the same for POST /skus/imports)."""
    data = _csv(MAX_ROWS)
    result: dict[str, Any] = {}

    def health() -> float:
        t = time.perf_counter()
        assert client.get("/api/v1/health").status_code == 200
        return time.perf_counter() - t

    before = []
    for _ in range(40):
        before.append(health())
        time.sleep(0.02)

    def run() -> None:
        t = time.perf_counter()
        result["r"] = client.post(
            "/api/v1/skus/import", content=data, headers={"content-type": "text/csv"}
        )
        result["s"] = time.perf_counter() - t

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.02)
    latencies = []
    while worker.is_alive():
        x = health()
        if worker.is_alive():
            latencies.append(x)
        time.sleep(0.02)
    worker.join()
    assert result["r"].status_code == 200, result["r"].text[:200]
    assert result["r"].json() == {"imported": MAX_ROWS}
    assert len(latencies) >= 10, (result["s"], latencies)
    report = (
        f"import {result['s']:.1f} s; health median {statistics.median(before) * 1000:.0f} ->"
        f" {statistics.median(latencies) * 1000:.0f} ms, p90 {_p90(before) * 1000:.0f} ->"
        f" {_p90(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    # A margin over the baseline, not a multiple: on a loaded 2-core machine the worker
    # process and the hub share the cores (no longer the GIL).
    assert statistics.median(latencies) < statistics.median(before) + 0.05, report
    assert _p90(latencies) < _p90(before) + 0.2, report


def test_export_streams_page_by_page(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 3 * import_export.EXPORT_PAGE + 7
    r = client.post(
        "/api/v1/skus/import", content=_csv(n, start=500), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 200, r.text[:300]
    total = _count(client)
    # The first bytes go out before the rest is read: one page read per chunk sent.
    reads = []
    real = import_export.list_skus

    def counting(*args: Any, **kwargs: Any) -> Any:
        reads.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(import_export, "list_skus", counting)
    sessions = client.app.state.read_sessions  # type: ignore[attr-defined]
    account = account_id_of(client)
    stream = import_export.export_csv(sessions, account)
    head = next(stream)
    assert head.startswith("\ufeffsku_code,".encode()) and reads == []
    next(stream)
    assert reads == [0]
    rest = b"".join(stream)
    assert len(reads) == 5 and rest
    monkeypatch.setattr(import_export, "list_skus", real)
    # Over the API, the whole of it, in order, as CSV and as .xlsx.
    r = client.get("/api/v1/skus/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == total
    assert [x["sku_code"] for x in rows] == sorted(x["sku_code"] for x in rows)
    r = client.get("/api/v1/skus/export", params={"format": "xlsx"})
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
    assert sum(1 for _ in sheet.iter_rows(values_only=True)) == total + 1
    # And an export imports back unchanged.
    r = client.post("/api/v1/skus/import", content=r.content, headers={"content-type": XLSX})
    assert r.status_code == 200 and r.json()["imported"] == total
