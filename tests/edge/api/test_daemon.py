"""A pick node: `guanjia edge run` serves the PDA API from the daemon itself."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx

from edge.config import load_config
from edge.node import EdgeNode
from edge.pins import hash_pin
from simulators.broker import PrivateBroker
from simulators.net import free_port


def test_pick_node_serves_its_api_and_syncs(tmp_path: Path, broker: PrivateBroker) -> None:
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

    async def main() -> tuple[int, int, list[object]]:
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
            return bad.status_code, ok.status_code, waves.json()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    bad, ok, waves = asyncio.run(main())
    assert (bad, ok) == (401, 200)
    assert waves == []  # no wave released to this node yet
