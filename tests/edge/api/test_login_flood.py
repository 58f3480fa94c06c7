"""A login flood against a real pick node (`guanjia edge run` in its own process).

Before: 40 clients sending logins ran 40 argon2id hashes at once (19 MiB each) in
FastAPI's thread pool: a picker's scan went from 5 ms to 921 ms and the node from 95 MB
to 1.1 GB, which it kept; a 300 MB body to /login was read whole. Now hashes run in a
pool of 2 with a queue of 8 (429 beyond), one address gets 10 attempts a minute, and
bodies over 64 KiB are refused unread (edge/api/limits.py, docs/pick-api.md "Limits").
The node's RSS is read from /proc before and after; a picker scans throughout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge.pins import hash_pin
from edge.store.store import Store
from simulators.broker import PrivateBroker
from simulators.net import free_port, wait_for_port
from tests.edge.api.conftest import NODE, PINS, fill

pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc"),
    # A latency bound under a flood: measured in make test's one-process pass, where no
    # other test competes for the two cores (it failed at 508 ms beside the parallel pass).
    pytest.mark.serial,
]

CLIENTS = 40
FLOOD_S = 6.0
OVERSIZE_BYTES = 100 * 1024 * 1024  # declared; the old node read such bodies whole
#: Growth of the node's RSS over the flood. Before the fix: ~+700 MB (40 × 19 MiB argon2
#: buffers, kept by the allocator). Measured after: a few MB.
MAX_RSS_GROWTH_MB = 60
#: A picker's scan during the flood (p99). Before: ~0.9 s on a desktop. After: tens of ms
#: on 2 busy cores; the bound leaves room for a loaded CI machine.
MAX_SCAN_P99_S = 0.35


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def node(tmp_path: Path, broker: PrivateBroker) -> Iterator[tuple[int, int]]:
    data = tmp_path / "data"
    data.mkdir()
    store = Store(data / "edge.db", NODE)
    fill(store)
    store.close()
    (tmp_path / "operators.toml").write_text(
        f'[[operator]]\nid = "li.lei"\npin_hash = "{hash_pin(PINS["li.lei"])}"\n',
        encoding="utf-8",
    )
    port = free_port()
    (tmp_path / "edge.toml").write_text(
        f'[node]\nid = "{NODE}"\ndata_dir = "data"\n[mqtt]\nport = {broker.port}\n'
        f'[station]\nkind = "pick"\nname = "pick-1"\n'
        f'[pick]\noperators = "operators.toml"\nhost = "127.0.0.1"\nport = {port}\n',
        encoding="utf-8",
    )
    log = (tmp_path / "node.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from edge.cli import app; app()", "run", "--config", "edge.toml"],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port("127.0.0.1", port, 30)
        yield proc.pid, port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


FLOOD = textwrap.dedent(
    """
    import asyncio, random, sys, time
    import httpx

    port, clients, seconds, oversize = (int(sys.argv[1]), int(sys.argv[2]),
                                        float(sys.argv[3]), int(sys.argv[4]))
    url = f"http://127.0.0.1:{port}/api/v1/login"
    counts = {}

    async def one(http):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            body = {"operator": f"x{random.randrange(10**9)}", "pin": "0000"}
            try:
                r = await http.post(url, json=body)
                counts[r.status_code] = counts.get(r.status_code, 0) + 1
            except httpx.HTTPError:
                counts["error"] = counts.get("error", 0) + 1

    async def big(http):
        async def chunks():
            block = b" " * (1 << 20)
            for _ in range(oversize >> 20):
                yield block
        try:
            r = await http.post(url, content=chunks(), headers={
                "content-type": "application/json", "content-length": str(oversize)})
            counts[f"big {r.status_code}"] = counts.get(f"big {r.status_code}", 0) + 1
        except httpx.HTTPError:
            counts["big refused"] = counts.get("big refused", 0) + 1

    async def main():
        limits = httpx.Limits(max_connections=clients + 4)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            await asyncio.gather(*[one(http) for _ in range(clients)],
                                 *[big(http) for _ in range(3)])
        print(counts)

    asyncio.run(main())
    """
)


def test_a_login_flood_keeps_memory_and_scans_bounded(node: tuple[int, int]) -> None:
    pid, port = node
    base = f"http://127.0.0.1:{port}/api/v1"
    with httpx.Client(base_url=base, timeout=30) as http:
        token = http.post("/login", json={"operator": "li.lei", "pin": PINS["li.lei"]})
        assert token.status_code == 200, token.text
        auth = {"Authorization": f"Bearer {token.json()['token']}"}
        assert http.post("/waves/W1/start", headers=auth).status_code == 200

        def scan() -> float:
            t = time.perf_counter()
            # A wrong bin: a verdict journalled and committed, as a real mis-scan is.
            r = http.post("/scan", headers=auth, json={"barcode": "BIN-P3"})
            assert r.status_code == 200, r.text
            return time.perf_counter() - t

        for _ in range(20):
            scan()
        quiet = sorted(scan() for _ in range(50))
        before = rss_mb(pid)

        flood = subprocess.Popen(
            [sys.executable, "-c", FLOOD, *map(str, (port, CLIENTS, FLOOD_S, OVERSIZE_BYTES))],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        time.sleep(0.5)  # let the flood build up
        during: list[float] = []
        peak = before
        while flood.poll() is None:
            during.append(scan())
            peak = max(peak, rss_mb(pid))
            time.sleep(0.02)
        out, _ = flood.communicate()
        after = rss_mb(pid)

    during.sort()
    p50 = during[len(during) // 2]
    p99 = during[min(len(during) - 1, int(len(during) * 0.99))]
    report = (
        f"flood {out.strip()}; RSS {before:.0f} -> peak {peak:.0f} -> {after:.0f} MB; "
        f"scan p50 quiet {quiet[25] * 1000:.1f} ms, during {p50 * 1000:.1f} ms, "
        f"p99 during {p99 * 1000:.1f} ms over {len(during)} scans"
    )
    print(report)
    assert len(during) >= 20, report
    assert after - before < MAX_RSS_GROWTH_MB, report
    assert peak - before < MAX_RSS_GROWTH_MB, report
    assert p99 < MAX_SCAN_P99_S, report
