"""``guanjia bench login-flood``: an ordinary user's reads while 64 connections flood the login.

Issue 13 finding 4: each login held SQLite's write lock for its ~100 ms password check, so 64
flooding clients took a write from 3 ms to 6.7 s (PostgreSQL reads went to 1.3 s). Now the
check runs on a bounded pool outside any transaction and failures lock a name or client
(cloud/login.py). Measured here against a real server (``python -m cloud serve``, as
``guanjia bench cloud`` starts it): one logged-in user's reads at a steady rate, p50/p99,

- alone (the floor, in the same run),
- while 64 connections send wrong passwords for one username (locked after 10: refused by a read),
- while 64 connections send wrong passwords for ever new usernames, with the per-client limit
  raised as if the flood came from many addresses: every attempt reaches argon2, so this is
  the hash pool's bound at work.

The flood runs in a process of its own (``python -m cloud.bench.login_flood``).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from cloud.bench.api import PASSWORD, private_database, seed_volume, serve

TOKEN = "/api/v1/auth/token"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _reads(
    base: str, token: str, duration_s: float, rate: float, keywords: list[str]
) -> dict[str, Any]:
    """One user's ordinary reads at ``rate``/s on one keep-alive connection; latencies in ms."""
    paths = [
        "/api/v1/orders?limit=20",
        "/api/v1/stock/overview?limit=20",
        *(f"/api/v1/skus?q={k}&limit=20" for k in keywords[:4]),
        "/api/v1/auth/me",
    ]
    lat: list[float] = []
    errors = 0
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < duration_s:
            due = start + i / rate
            if (pause := due - time.monotonic()) > 0:
                time.sleep(pause)
            t = time.perf_counter()
            try:
                ok = c.get(paths[i % len(paths)]).status_code == 200
            except httpx.HTTPError:
                ok = False
            lat.append((time.perf_counter() - t) * 1000)
            errors += not ok
            i += 1
    return {
        "p50_ms": _pct(lat, 0.50),
        "p99_ms": _pct(lat, 0.99),
        "max_ms": round(max(lat), 1),
        "mean_ms": round(statistics.fmean(lat), 1),
        "n": len(lat),
        "errors": errors,
    }


async def _flood(base: str, connections: int, duration_s: float, mode: str) -> dict[str, Any]:
    codes: Counter[int] = Counter()
    deadline = time.monotonic() + duration_s

    async def one(n: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            i = 0
            while time.monotonic() < deadline:
                name = "victim" if mode == "one-name" else f"ghost-{n}-{i}-{uuid.uuid4().hex[:6]}"
                try:
                    r = await c.post(
                        TOKEN, data={"account": "demo", "username": name, "password": "wrong guess"}
                    )
                    codes[r.status_code] += 1
                except httpx.HTTPError:
                    codes[0] += 1
                i += 1

    await asyncio.gather(*(one(n) for n in range(connections)))
    total = sum(codes.values())
    return {
        "logins_per_s": round(total / duration_s),
        "answers": {str(k): v for k, v in sorted(codes.items())},
    }


def _flood_process(base: str, connections: int, duration_s: float, mode: str) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloud.bench.login_flood",
            base,
            str(connections),
            str(duration_s),
            mode,
        ],
        capture_output=True,
        timeout=duration_s + 120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError("flood failed: " + out.stderr.decode(errors="replace")[-2000:])
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def _flood_into(box: dict[str, Any], *args: Any) -> None:
    box.update(_flood_process(*args))


def bench_login_flood(
    database_url: str | None = None,
    *,
    connections: int = 64,
    duration_s: float = 15.0,
    rate: float = 20.0,
    workers: int | None = None,
) -> dict[str, Any]:
    workers = workers or (os.cpu_count() or 1) + 1
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="guanjia-bench-flood-") as tmp:
        workdir = Path(tmp)
        with private_database(database_url, workdir) as url:
            data = seed_volume(url, skus=1000, orders=2000)
            # As if the flood came from many addresses: the per-client limit out of reach,
            # so the per-name lock and the hash pool are what hold.
            os.environ["GUANJIA_LOGIN_CLIENT_FAILURES"] = "100000000"
            try:
                with serve(url, workdir, workers) as base:
                    r = httpx.post(
                        base + TOKEN,
                        data={"account": "demo", "username": "admin", "password": PASSWORD},
                        timeout=30,
                    )
                    r.raise_for_status()
                    token = r.json()["access_token"]
                    kw = data["keywords"]
                    results["database"] = "postgresql" if url.startswith("postgresql") else "sqlite"
                    results["workers"] = workers
                    results["alone"] = _reads(base, token, duration_s, rate, kw)
                    for mode in ("one-name", "new-names"):
                        box: dict[str, Any] = {}
                        flood = threading.Thread(
                            target=_flood_into,
                            args=(box, base, connections, duration_s + 2, mode),
                        )
                        flood.start()
                        time.sleep(2)  # the flood under way
                        reads = _reads(base, token, duration_s, rate, kw)
                        flood.join()
                        results[f"flood_{mode}"] = {**reads, "flood": box}
            finally:
                del os.environ["GUANJIA_LOGIN_CLIENT_FAILURES"]
    return results


def main() -> None:
    base, connections, duration, mode = sys.argv[1:5]
    print(json.dumps(asyncio.run(_flood(base, int(connections), float(duration), mode))))


if __name__ == "__main__":
    main()
