"""Login by PIN: good, bad, unknown operator (same work, same answer), lockout, tokens, roles."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edge.api.app import create_pick_app
from edge.api.operators import (
    Gate,
    GateSettings,
    LoginRefused,
    Operator,
    OperatorError,
    load_operators,
)
from edge.pins import hash_pin, verify_pin
from tests.edge.api.conftest import NODE, PINS, Api, make_api

LOGIN = "/api/v1/login"


def test_good_pin_gives_a_token_that_works(api: Api) -> None:
    r = api.client.post(LOGIN, json={"operator": "li.lei", "pin": PINS["li.lei"]})
    assert r.status_code == 200
    body = r.json()
    assert (
        body["operator"] == "li.lei" and body["name"] == "李雷" and body["token_type"] == "bearer"
    )
    h = {"Authorization": f"Bearer {body['token']}"}
    assert api.client.get("/api/v1/waves", headers=h).status_code == 200
    # scrypt hashes work too (the fallback when pwdlib is missing).
    assert api.client.post(LOGIN, json={"operator": "han.mei", "pin": PINS["han.mei"]}).is_success


def test_bad_pin_and_unknown_operator_get_the_same_401(api: Api) -> None:
    wrong = api.client.post(LOGIN, json={"operator": "li.lei", "pin": "000000"})
    nobody = api.client.post(LOGIN, json={"operator": "nobody", "pin": "000000"})
    assert wrong.status_code == nobody.status_code == 401
    assert (
        wrong.json()
        == nobody.json()
        == {
            "detail": "unknown operator or wrong PIN",
            "code": "bad_credentials",
        }
    )


def test_missing_wrong_or_logged_out_token_is_401(api: Api) -> None:
    r = api.client.get("/api/v1/picks/current")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert r.json()["code"] == "not_authenticated"
    r = api.client.get("/api/v1/picks/current", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"
    h = api.login()
    assert api.client.post("/api/v1/logout", headers=h).status_code == 204
    assert api.client.get("/api/v1/picks/current", headers=h).status_code == 401


def test_token_expires(api: Api) -> None:
    h = api.login()
    api.mono.now += 12 * 3600 + 1
    assert api.client.get("/api/v1/picks/current", headers=h).status_code == 401


def test_operator_without_pick_role_is_403(api: Api) -> None:
    h = api.login("viewer")
    r = api.client.get("/api/v1/picks/current", headers=h)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_malformed_login_is_422_with_the_field(api: Api) -> None:
    r = api.client.post(LOGIN, json={"operator": "li.lei", "pin": "12ab"})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "pin"]]
    r = api.client.post(LOGIN, json={"operator": "li lei\n", "pin": "1234", "x": 1})
    assert {tuple(e["loc"]) for e in r.json()["detail"]} == {("body", "operator"), ("body", "x")}


def test_lockout_after_n_wrong_pins_then_release(api: Api) -> None:
    # conftest: max_failures=3, lockout_s=60
    for _ in range(3):
        assert api.client.post(LOGIN, json={"operator": "li.lei", "pin": "9999"}).status_code == 401
    r = api.client.post(LOGIN, json={"operator": "li.lei", "pin": PINS["li.lei"]})
    assert r.status_code == 403 and r.json()["code"] == "locked"
    assert int(r.headers["Retry-After"]) == 61
    # Other operators are not affected; an unknown id locks the same way (no id oracle).
    assert api.client.post(LOGIN, json={"operator": "han.mei", "pin": PINS["han.mei"]}).is_success
    for _ in range(3):
        assert api.client.post(LOGIN, json={"operator": "ghost", "pin": "9999"}).status_code == 401
    assert api.client.post(LOGIN, json={"operator": "ghost", "pin": "9999"}).status_code == 403
    api.mono.now += 61
    assert api.client.post(LOGIN, json={"operator": "li.lei", "pin": PINS["li.lei"]}).is_success


def test_a_good_login_resets_the_failure_count(operators: list[Operator]) -> None:
    mono = [0.0]
    gate = Gate(operators, GateSettings(max_failures=2), monotonic=lambda: mono[0])
    for _ in range(3):
        with pytest.raises(LoginRefused):
            gate.login("li.lei", "0000")
        gate.login("li.lei", PINS["li.lei"])


@pytest.fixture
def counted(db: Path, operators: list[Operator]) -> Iterator[tuple[Api, list[str]]]:
    calls: list[str] = []

    def verify(pin: str, pin_hash: str) -> bool:
        calls.append(pin_hash)
        return verify_pin(pin, pin_hash)

    for api in make_api(db, operators, verify=verify):
        yield api, calls


def test_unknown_operator_runs_the_same_hash_as_a_wrong_pin(
    counted: tuple[Api, list[str]], operators: list[Operator]
) -> None:
    api, calls = counted
    api.client.post(LOGIN, json={"operator": "li.lei", "pin": "0000"})
    api.client.post(LOGIN, json={"operator": "nobody", "pin": "0000"})
    assert len(calls) == 2
    real, decoy = calls
    assert real == operators[0].pin_hash and decoy != real
    # Same scheme and cost parameters: "$argon2id$v=19$m=..,t=..,p=..$"
    assert decoy.rsplit("$", 2)[0] == real.rsplit("$", 2)[0]


def test_unknown_operator_takes_as_long_as_a_wrong_pin(api: Api) -> None:
    def timed(body: dict[str, str]) -> float:
        t = time.perf_counter()
        assert api.client.post(LOGIN, json=body).status_code == 401
        return time.perf_counter() - t

    wrong: list[float] = []
    unknown: list[float] = []
    for i in range(5):
        # Interleaved, fresh ids so no lockout; argon2 (~50 ms) dominates both.
        wrong.append(timed({"operator": "li.lei", "pin": f"{i:04d}"}))
        unknown.append(timed({"operator": f"nobody{i}", "pin": "0000"}))
        api.mono.now += 3600  # past any lockout of li.lei
    ratio = statistics.median(unknown) / statistics.median(wrong)
    # Skipping the hash would make the unknown id ~100x faster; noise stays well inside.
    assert 0.4 < ratio < 2.5, (wrong, unknown)


def test_operators_file(tmp_path: Path) -> None:
    path = tmp_path / "operators.toml"
    pin_hash = hash_pin("4321", scheme="scrypt")
    path.write_text(
        f'[[operator]]\nid = "a1"\nname = "甲"\npin_hash = "{pin_hash}"\nroles = ["pick", "lead"]\n',
        encoding="utf-8",
    )
    (op,) = load_operators(path)
    assert op.id == "a1" and op.roles == ["pick", "lead"] and verify_pin("4321", op.pin_hash)
    assert not verify_pin("4322", op.pin_hash)
    path.write_text(f'[[operator]]\nid = "a1"\npin = "1234"\npin_hash = "{pin_hash}"\n')
    with pytest.raises(OperatorError, match=r"operator\.0\.pin: unknown key"):
        load_operators(path)
    path.write_text('[[operator]]\nid = "a1"\npin_hash = "plaintext-1234"\n')
    with pytest.raises(OperatorError, match="neither argon2id nor scrypt"):
        load_operators(path)
    entry = f'[[operator]]\nid = "a1"\npin_hash = "{pin_hash}"\n'
    path.write_text(entry + entry)
    with pytest.raises(OperatorError, match="listed twice"):
        load_operators(path)
    with pytest.raises(ValueError, match="4 to 12 digits"):
        hash_pin("12")
    assert not verify_pin("1234", "scrypt$garbage")


def test_app_reads_the_operators_file(tmp_path: Path, db: Path) -> None:
    path = tmp_path / "operators.toml"
    path.write_text(f'[[operator]]\nid = "a1"\npin_hash = "{hash_pin("4321")}"\n')
    with TestClient(create_pick_app(db, NODE, path)) as client:
        r: Any = client.post(LOGIN, json={"operator": "a1", "pin": "4321"})
        assert r.status_code == 200
