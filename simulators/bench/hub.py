"""The hub as the sync benches run it: its database (a SQLite file, or a private schema on
PostgreSQL), its process (``python -m cloud serve``), and what it stored in the end.

A bench reads the hub's figures through the hub's own CLI, not its tables: the table
schema is the hub's to change (``python -m cloud event-stats``).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson

from protocol import topics


def new_database(kind: str, workdir: Path, pg_url: str) -> tuple[str, str | None]:
    """A fresh database URL for the hub, and the PostgreSQL schema made for it (or None)."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'cloud.db'}", None
    import psycopg  # only for --database postgresql (the cloud extra)

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(pg_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as c:
        c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def hub_command(port: int, database_url: str, mqtt_port: int) -> list[str]:
    """The hub as it runs in production: its own process (``python -m cloud serve``)."""
    return [
        sys.executable,
        "-m",
        "cloud",
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--mqtt-port",
        str(mqtt_port),
    ]


def wait_hub(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).json()
            if health.get("mqtt") == "connected":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


def wait_partitions(ports: list[int], timeout: float = 30.0) -> None:
    """Until the hubs' ingest workers hold every partition of the events between them, and
    each holds some (docs/sync.md, "Partitions"); raises if they do not settle in time."""
    deadline = time.monotonic() + timeout
    held: list[int] = []
    while time.monotonic() < deadline:
        try:
            held = [
                int(
                    httpx.get(f"http://127.0.0.1:{p}/api/v1/health", timeout=1).json()["partitions"]
                )
                for p in ports
            ]
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            held = []
        if held and sum(held) == topics.PARTITIONS and all(held):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the hubs' partitions did not settle in {timeout:g} s: {held}")


def stored(url: str) -> tuple[list[float], dict[str, float]]:
    """Per scan: its ``received_at`` (when the hub took up its group; the commit follows
    within the group's apply) minus the event's creation (its HLC wall part); and
    what the hub holds: every event, distinct (node, seq), nodes whose seqs are not 1..n."""
    return stored_via_cli(url)


def stored_via_cli(database_url: str) -> tuple[list[float], dict[str, float]]:
    """``stored`` through the hub's CLI: ``python -m cloud event-stats`` (one JSON object)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloud",
            "event-stats",
            "--database-url",
            database_url,
            "--lag-type",
            "scan.recorded",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cloud event-stats failed: {out.stderr[-2000:]}")
    return parse_event_stats(out.stdout)


def parse_event_stats(stdout: str) -> tuple[list[float], dict[str, float]]:
    """The answer of ``cloud event-stats``: ``{"total", "distinct", "nodes_with_gaps",
    "lag_ms": [...]}`` on its last line."""
    stats = orjson.loads(stdout.strip().splitlines()[-1])
    return [float(x) for x in stats["lag_ms"]], {
        "stored_total": float(stats["total"]),
        "stored_distinct": float(stats["distinct"]),
        "nodes_with_gaps": float(stats["nodes_with_gaps"]),
    }
