"""Regressions for the bugs schemathesis found (tests/cloud/api/test_schemathesis.py), one each."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

SKU = {"sku_code": "GIFT 贴膜", "name": "赠品贴膜", "barcodes": ["6901234567922"]}


def _is_rfc3339(value: str) -> bool:
    """OpenAPI ``date-time`` is RFC 3339: the offset (Z or ±hh:mm) is not optional."""
    return datetime.fromisoformat(value).tzinfo is not None


def test_timestamps_carry_their_offset(client: TestClient) -> None:
    # Bug: SQLite dropped the zone, so answers said "2026-11-26T18:59:02" (not a date-time).
    r = client.post("/api/v1/warehouses", json={"code": "WH1", "name": "主仓库"})
    assert r.status_code == 201, r.text
    assert _is_rfc3339(r.json()["changed_at"])
    listed = client.get("/api/v1/warehouses").json()
    assert listed and all(_is_rfc3339(w["changed_at"]) for w in listed)
    users = client.get("/api/v1/users").json()
    assert users and all(_is_rfc3339(u["changed_at"]) for u in users)


def test_timestamps_read_back_aware_and_in_utc(engine: Engine) -> None:
    from cloud import accounts
    from cloud.db.engine import session_factory, transaction
    from cloud.db.models import Account

    beijing = timezone(timedelta(hours=8))
    at = datetime(2026, 11, 11, 8, 0, tzinfo=beijing)
    with transaction(session_factory(engine)) as s:
        accounts.create_account(s, "tz", at)
    with session_factory(engine)() as s:
        got = s.execute(select(Account.created_at).where(Account.name == "tz")).scalar_one()
    assert got.tzinfo is not None
    assert got == at  # the same instant ...
    assert got.utcoffset() == timedelta(0)  # ... in UTC on both databases


def test_sku_put_with_other_code_in_body_is_a_validation_list(client: TestClient) -> None:
    # Bug: the 422 carried a bare string while the OpenAPI document declares a list of errors.
    r = client.put("/api/v1/skus/OTHER", json=SKU)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert isinstance(detail, list)
    assert detail[0]["loc"] == ["body", "sku_code"]
    assert "differ" in detail[0]["msg"]


def test_huge_ids_in_paths_are_422_not_500(client: TestClient) -> None:
    # Bug: 2**31 reached PostgreSQL's 32-bit integer column (a 500) or overflowed SQLite's.
    # Ids in paths are public ids now (text, cloud/api/deps.py PublicId): a number is a 422.
    for big in (1, 2**31, 2**62, 2**63):
        r = client.patch(f"/api/v1/users/{big}", json={"active": True})
        assert r.status_code == 422, r.text
        r = client.post(f"/api/v1/tasks/{big}/resolve", json={"resolution": "done"})
        assert r.status_code == 422, r.text
    # A well-formed id of no user still answers as a missing row.
    unknown = "00000000-0000-4000-8000-000000000000"
    assert client.patch(f"/api/v1/users/{unknown}", json={"active": True}).status_code == 404


def test_csv_import_with_bare_cr_line_ends_reads_them_as_rows(client: TestClient) -> None:
    # Bug: csv.Error ("new-line character seen in unquoted field") escaped as a 500. Old Mac
    # spreadsheets end rows with a bare CR: they are row breaks now, each row validated.
    body = b"sku_code,name,barcodes\rGIFT 1,x,6901234567922\rGIFT 2,y,6901234567939\r"
    r = client.post("/api/v1/skus/import", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json() == {"imported": 2}
    # A CR that splits a row leaves short rows: a 422 naming them, not a 500.
    body = b"sku_code,name,barcodes\nGIFT\r3,z,6901234567946\n"
    r = client.post("/api/v1/skus/import", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"]


def test_unreadable_csv_is_a_422(client: TestClient) -> None:
    # The csv module's own limit (a field over 128 KiB) is a bad file, not a server error.
    body = b"sku_code,name,barcodes\nA," + b"x" * 200_000 + b",6901234567922\n"
    r = client.post("/api/v1/skus/import", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["loc"] == ["body", "file"]
    assert "not a readable CSV file" in detail[0]["msg"]


def test_sqlite_reads_do_not_queue_behind_a_writer(client: TestClient, db_url: str) -> None:
    # Bug (found by the API bench): every GET began with BEGIN IMMEDIATE, so on SQLite a read
    # waited for the write lock, behind every writer and every other reader.
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL readers never took a lock here")
    import time

    from sqlalchemy import text

    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as writer:
        writer.execute(text("SELECT 1"))  # the engine's BEGIN IMMEDIATE: the write lock held
        assert writer.in_transaction()
        t0 = time.monotonic()
        r = client.get("/api/v1/skus")
        waited = time.monotonic() - t0
        writer.rollback()
    assert r.status_code == 200, r.text
    assert waited < 5  # not the 30 s busy timeout
