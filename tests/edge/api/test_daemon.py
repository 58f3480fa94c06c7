"""A pick node: `guanjia edge run` serves the PDA API from the daemon itself."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.config import load_config
from edge.node import EdgeNode
from edge.pins import hash_pin
from edge.store.store import Store
from simulators.broker import PrivateBroker
from simulators.net import free_port


def test_pick_node_serves_its_api_and_syncs(
    tmp_path: Path, broker: PrivateBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One Store, one SQLite connection, one writing thread (the daemon's loop): the API
    # writes through the daemon's store instead of opening the file a second time.
    stores: list[Store] = []
    connections: list[object] = []
    writers: set[int] = set()
    real_init, real_atomic, real_connect = Store.__init__, Store.atomic, sqlite3.connect

    def counting_init(self: Store, *args: Any, **kw: Any) -> None:
        stores.append(self)
        real_init(self, *args, **kw)

    def counting_connect(*args: Any, **kw: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kw)
        connections.append(args[0])
        return conn

    def watched_atomic(self: Store) -> Any:
        writers.add(threading.get_ident())
        return real_atomic(self)

    monkeypatch.setattr(Store, "__init__", counting_init)
    monkeypatch.setattr(Store, "atomic", watched_atomic)
    monkeypatch.setattr(sqlite3, "connect", counting_connect)

    port = free_port()
    (tmp_path / "operators.toml").write_text(
        f'[[operator]]\nid = "li.lei"\npin_hash = "{hash_pin("2468")}"\n', encoding="utf-8"
    )
    cfg_path = tmp_path / "edge.toml"
    cfg_path.write_text(
        f'[node]\nid = "wh1-pick-1"\ndata_dir = "data"\n[mqtt]\nport = {broker.port}\n'
        f'[station]\nkind = "pick"\nname = "pick-1"\n'
        f'[pick]\noperators = "operators.toml"\nhost = "127.0.0.1"\nport = {port}\n',
        encoding="utf-8",
    )
    cfg = load_config(cfg_path)
    assert cfg.pick is not None
    assert cfg.pick.operators == (tmp_path / "operators.toml").resolve()

    loop_thread = 0

    async def main() -> tuple[int, int, list[object]]:
        nonlocal loop_thread
        loop_thread = threading.get_ident()
        node = EdgeNode(cfg)
        task = asyncio.create_task(node.run())
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                for _ in range(100):
                    with contextlib.suppress(httpx.TransportError):
                        bad = await http.post(
                            "/api/v1/login", json={"operator": "li.lei", "pin": "0000"}
                        )
                        break
                    await asyncio.sleep(0.05)
                ok = await http.post("/api/v1/login", json={"operator": "li.lei", "pin": "2468"})
                waves = await http.get(
                    "/api/v1/waves", headers={"Authorization": f"Bearer {ok.json()['token']}"}
                )
                # A write through the API: an item scan with no wave started is refused
                # (409) and journalled as a verdict, in the daemon's store.
                scanned = await http.post(
                    "/api/v1/scan",
                    json={"barcode": "6901234567892"},
                    headers={"Authorization": f"Bearer {ok.json()['token']}"},
                )
            assert node.pick_app is not None
            assert node.pick_app.state.store is node.store
            assert scanned.status_code == 409, scanned.text
            assert scanned.json()["code"] and set(scanned.json()) == {"detail", "code"}
            return bad.status_code, ok.status_code, waves.json()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    bad, ok, waves = asyncio.run(main())
    assert (bad, ok) == (401, 200)
    assert waves == []  # no wave released to this node yet
    assert len(stores) == 1, stores
    assert [c for c in connections if str(c).endswith("edge.db")] == [stores[0].path]
    assert writers == {loop_thread}, "only the daemon's loop thread writes"
