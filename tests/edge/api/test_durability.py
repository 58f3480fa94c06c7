"""Retried POSTs commit once (Idempotency-Key); a restarted API resumes the wave where it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.api.operators import Operator
from edge.runtimes.pick import PickService
from edge.store.store import Store
from tests.edge.api.conftest import NODE, SKUS, STATION, Api, make_api
from tests.edge.api.test_pick_flow import ROUTE, start


def counts(api: Api) -> tuple[int, int, int]:
    c = api.store.conn
    return (
        c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0],
        c.execute("SELECT COUNT(*) FROM journal").fetchone()[0],
        c.execute("SELECT COUNT(*) FROM stock_movement").fetchone()[0],
    )


def test_a_retried_post_commits_nothing_twice(api: Api) -> None:
    h = api.login()
    first = api.post("/waves/W1/start", h, key="start-1")
    again = api.post("/waves/W1/start", h, key="start-1")
    assert first.json() == {**again.json(), "replayed": False}
    assert (
        again.headers["Idempotent-Replayed"] == "true"
        and "Idempotent-Replayed" not in first.headers
    )
    api.scan(h, "BIN-P4", key="k1")
    one = api.scan(h, SKUS["C"], key="k2")
    before = counts(api)
    retry = api.scan(h, SKUS["C"], key="k2")  # the answer was lost on the Wi-Fi: resend
    assert retry == {**one, "replayed": True} and retry["next"]["picked"] == 1
    assert counts(api) == before
    # The stop-completing scan: movements once; then the wave, facts once.
    done_stop = api.scan(h, SKUS["C"], key="k3")
    assert api.scan(h, SKUS["C"], key="k3") == {**done_stop, "replayed": True}
    assert len(api.movements()) == 1
    for i, (b, sku, qty) in enumerate(ROUTE[1:]):
        api.scan(h, f"BIN-{b}", key=f"b{i}")
        for n in range(qty):
            last = api.scan(h, SKUS[sku], key=f"i{i}-{n}")
    assert last["kind"] == "wave.done"
    before = counts(api)
    assert api.scan(h, SKUS["A"], key=f"i1-{ROUTE[2][2] - 1}")["facts"] == last["facts"]
    assert counts(api) == before and len(api.outbox("order.picked")) == 2
    # A key belongs to one request: reusing it for another is a conflict, not a replay.
    r = api.post("/scan", h, {"barcode": "BIN-P1"}, key="k1")
    assert r.status_code == 409 and r.json()["code"] == "idempotency_key_reused"


def test_keys_are_per_operator(two_ops: tuple[Api, dict[str, str], dict[str, str]]) -> None:
    api, li, han = two_ops
    assert api.post("/waves/W1/start", li, key="same").json()["wave"] == "W1"
    assert api.post("/waves/W2/start", han, key="same").json()["wave"] == "W2"


@pytest.fixture
def two_ops(db: Path, operators: list[Operator]):  # type: ignore[no-untyped-def]
    for api in make_api(db, operators):
        yield api, api.login("li.lei"), api.login("han.mei")


def test_restart_mid_wave_resumes_and_commits_once(db: Path, operators: list[Operator]) -> None:
    for api in make_api(db, operators):
        h = api.login()
        start(api, h)
        api.scan(h, "BIN-P4")
        api.scan(h, SKUS["C"])
        api.scan(h, SKUS["C"])  # stop 1 done: its movement is on disk
        api.scan(h, "BIN-P3")
        api.post("/substitute", h)
        before = api.client.get("/api/v1/picks/W1", headers=h).json()
    # A new process over the same database (power cut, upgrade): tokens are gone, the wave is not.
    for api in make_api(db, operators):
        h = api.login()
        cur = api.client.get("/api/v1/picks/current", headers=h).json()
        assert (cur["wave"], cur["state"], cur["expect"]) == ("W1", "substitute", "substitute")
        assert cur["stop"]["bin"] == "P3" and cur["progress"]["stops_done"] == 1
        assert api.client.get("/api/v1/picks/W1", headers=h).json() == before
        api.scan(h, SKUS["S"])
        api.scan(h, "BIN-P2")
        for _ in range(3):
            last = api.scan(h, SKUS["A"])
        assert last["kind"] == "wave.done"
        assert [k for k, *_ in api.movements()] == [
            f"{STATION}:W1:0:C",
            f"{STATION}:W1:1:S",
            f"{STATION}:W1:2:A",
        ]
        assert len(api.outbox("order.picked")) == 2


def test_a_failed_commit_leaves_memory_as_the_database(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = api.login()
    start(api, h)
    api.scan(h, "BIN-P4")
    service: PickService = api.client.app.state.pick_service  # type: ignore[attr-defined]

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("edge.store.journal.add_verdict", broken)
    with pytest.raises(OSError, match="disk full"):
        service.scan("li.lei", SKUS["C"])
    monkeypatch.undo()
    # The rolled-back scan is not counted in memory either.
    assert service.current("li.lei").stop.picked == 0  # type: ignore[union-attr]
    assert api.scan(h, SKUS["C"])["next"]["picked"] == 1


def test_tables_are_created_idempotently(db: Path) -> None:
    store = Store(db, NODE)
    store.start_epoch("test", "pick")
    PickService(store, station=STATION)
    PickService(store, station=STATION)  # a second start finds them and carries on
    names = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"pick_session", "pick_input", "pick_blob", "pick_request"} <= names
    store.close()
