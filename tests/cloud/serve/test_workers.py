"""``serve --workers N``'s supervisor (cloud/serve/workers.py): a port it cannot have is a clear
error at once, not workers restarting for ever."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.net import free_port


def test_a_port_held_by_another_program_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as other:  # bound and listening without SO_REUSEPORT
        other.bind(("127.0.0.1", port))
        other.listen()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUANJIA_")}
        env["GUANJIA_MQTT_HOST"] = ""
        run = subprocess.run(
            [
                *(sys.executable, "-m", "cloud", "serve", "--workers", "2"),
                *("--port", str(port), "--database-url", f"sqlite:///{tmp_path / 'hub.db'}"),
            ],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert run.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr.decode()


def test_only_the_first_worker_runs_the_stock_push_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20: the loop looks four times a second; one process of the hub is enough."""
    from cloud.serve.workers import worker_environment
    from cloud.settings import Settings

    def loop_on(index: int) -> bool:
        with monkeypatch.context() as m:
            for k, v in worker_environment(index).items():
                m.setenv(k, v)
            return Settings().stock_push_loop

    monkeypatch.delenv("GUANJIA_STOCK_PUSH_LOOP", raising=False)
    assert [loop_on(i) for i in range(3)] == [True, False, False]
    # Switched off for the whole hub, it stays off in the first worker too.
    monkeypatch.setenv("GUANJIA_STOCK_PUSH_LOOP", "false")
    assert [loop_on(i) for i in range(3)] == [False, False, False]


def test_a_hub_process_without_the_loop_starts_no_push_thread(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from cloud.app import create_app
    from cloud.settings import Settings

    def pusher(loop: bool) -> object:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / f'hub-{loop}.db'}",
            mqtt_host="",
            jwt_secret="test-secret-of-at-least-32-bytes-long",
            finance_poster=False,
            warm_on_start=False,
            stock_push_loop=loop,
        )
        with TestClient(create_app(settings, ingest=False)) as client:
            return client.app.state.channels._pusher  # type: ignore[attr-defined]

    assert pusher(True) is not None
    assert pusher(False) is None
