"""Per-user concurrency for heavy reads (issue 13, finding 6): a second export of the same
user while one runs is refused with 429 and Retry-After; another user's export goes on
until the worker's cap; a finished export gives its slot back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.api import skus
from tests.cloud.conftest import make_account


def test_export_concurrency(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    started = threading.Semaphore(0)
    real = skus.import_export.export_csv

    def slow(sessions: Any, account_id: int) -> Iterator[bytes]:
        # Blocks when the first chunk is asked for: the export is then streaming, its slot held.
        started.release()
        release.wait(10)
        yield from real(sessions, account_id)

    monkeypatch.setattr(skus.import_export, "export_csv", slow)
    other = make_account(client, "other")
    third = make_account(client, "third")
    url = "/api/v1/skus/export?format=csv"
    with ThreadPoolExecutor(2) as ex:
        first = ex.submit(client.get, url)
        assert started.acquire(timeout=10)
        again = client.get(url)
        assert again.status_code == 429, again.text
        assert int(again.headers["Retry-After"]) >= 1
        assert "at most 1 export" in again.json()["detail"]
        # Another user may export beside it (the worker's cap is 2) ...
        second = ex.submit(client.get, url, headers=other)
        assert started.acquire(timeout=10)
        # ... and a third user finds the worker's cap reached.
        full = client.get(url, headers=third)
        assert full.status_code == 429 and "busy with other exports" in full.json()["detail"]
        release.set()
        assert first.result().status_code == 200
        assert second.result().status_code == 200
    # The slots are given back.
    assert client.get(url).status_code == 200
    assert client.app.state.export_slots._all == 0  # type: ignore[attr-defined]
