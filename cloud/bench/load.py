"""Open-loop HTTP load generator for ``guanjia bench cloud`` (run as its own process).

``python -m cloud.bench.load`` reads a JSON spec on stdin and prints a JSON report on stdout.
Request *i* is due at ``start + i / rate`` whatever happened to the ones before it (open
loop: a slow answer does not slow the offered load, so queueing shows in the figures instead
of hiding). Latency is measured from the time a request was due, so a generator that falls
behind counts against the server rather than vanishing (coordinated omission). Loopback
only, bounded in count and time.

The mix (``MIX``) is what the hub's users do all day: order lists and searches, order
detail, stock views, catalogue search, and audit actions (hold, re-save) that write; and,
since S33 (issue 20: "the realistic mix, now including dashboard pages"), the dashboard's
own pages a seller or lead keeps open: the audit queue, the order list with a search, the
warehouse's stock, each rendered whole (Jinja2) with the session cookie a browser sends.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit

#: (kind, weight): weights of the realistic mix, summing to 100.
MIX: Final = (
    ("orders_list", 22),
    ("orders_search", 13),
    ("order_detail", 9),
    ("stock_warehouse", 13),
    ("stock_overview", 5),
    ("skus_search", 13),
    ("audit_hold", 7),
    ("audit_save", 8),
    ("page_audit", 4),
    ("page_orders", 4),
    ("page_stock", 2),
)
#: The browser session's cookie (cloud/web/session.py ``COOKIE``: it holds the API's own
#: token); the load generator imports nothing of the hub, so the name is repeated here.
SESSION_COOKIE: Final = "guanjia_session"
STATUSES: Final = ("audited", "saved", None, None)
#: How long after the last request was due the generator waits for answers.
GRACE_S: Final = 10.0


@dataclass
class Spec:
    base_url: str
    token: str
    rate: float
    duration_s: float
    orders: list[str]
    audited: list[str]
    held: list[str]
    keywords: list[str]
    seed: int = 1
    #: "mix" (the realistic mix) or "floor": every request ``GET /api/v1/auth/me``, which
    #: checks the token and touches no database: what the server stack alone costs.
    mode: str = "mix"

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Spec:
        spec = cls(**raw)
        host = urlsplit(spec.base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the load generator only targets loopback, not {host!r}")
        if not 0 < spec.rate <= 5000 or not 0 < spec.duration_s <= 600:
            raise ValueError("rate must be in (0, 5000] and duration_s in (0, 600]")
        if spec.mode not in ("mix", "floor"):
            raise ValueError(f"mode must be mix or floor, not {spec.mode!r}")
        return spec


def plan(spec: Spec) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """Every request of the run, decided up front: (kind, method, path, json body)."""
    rnd = random.Random(spec.seed)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    audited = list(spec.audited)
    rnd.shuffle(audited)
    out: list[tuple[str, str, str, dict[str, Any] | None]] = []
    if spec.mode == "floor":
        return [("floor", "GET", "/api/v1/auth/me", None)] * int(spec.rate * spec.duration_s)
    for _ in range(int(spec.rate * spec.duration_s)):
        kind = rnd.choices(kinds, weights)[0]
        if kind == "audit_hold" and not audited:
            kind = "audit_save"  # each audited order is held once: no 409 by design
        if kind == "audit_save" and not spec.held:
            kind = "orders_list"
        if kind == "orders_list":
            status = rnd.choice(STATUSES)
            qs = f"?limit=50&offset={rnd.randrange(0, 500, 50)}"
            out.append(
                (kind, "GET", "/api/v1/orders" + qs + (f"&status={status}" if status else ""), None)
            )
        elif kind == "orders_search":
            no = rnd.choice(spec.orders)
            out.append(
                (kind, "GET", f"/api/v1/orders?q={no[: max(4, len(no) - 2)]}&limit=20", None)
            )
        elif kind == "order_detail":
            out.append((kind, "GET", f"/api/v1/orders/{rnd.choice(spec.orders)}", None))
        elif kind == "stock_warehouse":
            kw = rnd.choice(spec.keywords)
            cols = "name,on_hand,reserved,available,inbound,channel_stock,sales_7d"
            out.append(
                (kind, "GET", f"/api/v1/stock/warehouses/WH1?q={kw}&limit=50&columns={cols}", None)
            )
        elif kind == "stock_overview":
            out.append(
                (
                    kind,
                    "GET",
                    f"/api/v1/stock/overview?q={rnd.choice(spec.keywords)}&limit=50",
                    None,
                )
            )
        elif kind == "skus_search":
            out.append((kind, "GET", f"/api/v1/skus?q={rnd.choice(spec.keywords)}&limit=50", None))
        elif kind == "page_audit":
            out.append((kind, "GET", "/web/audit", None))
        elif kind == "page_orders":
            no = rnd.choice(spec.orders)
            out.append((kind, "GET", f"/web/orders?q={no[: max(4, len(no) - 2)]}", None))
        elif kind == "page_stock":
            out.append(
                (kind, "GET", f"/web/stock/warehouses/WH1?q={rnd.choice(spec.keywords)}", None)
            )
        elif kind == "audit_hold":
            no = audited.pop()
            out.append(
                (kind, "POST", f"/api/v1/orders/{no}/hold", {"reason": "bench: check address"})
            )
        else:
            out.append((kind, "POST", f"/api/v1/orders/{rnd.choice(spec.held)}/save", None))
    return out


def _pct(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return float("nan")
    # Nearest rank: the smallest value with at least p % of the sample at or below it.
    i = min(len(sorted_ms) - 1, max(0, math.ceil(p / 100 * len(sorted_ms)) - 1))
    return round(sorted_ms[i], 2)


#: Keep-alive connections the generator holds open; requests due while all are busy wait in
#: the generator's queue, and that wait counts in their latency (open loop).
CONNECTIONS: Final = 64


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """One HTTP/1.1 request on a kept-alive connection; returns the status, body drained."""
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    status = int(status_line.split()[1])
    length = 0
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


def _encode(host: str, token: str, method: str, path: str, body: Any) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    # A page is asked for as a browser asks: its session cookie, HTML accepted.
    auth = (
        f"Cookie: {SESSION_COOKIE}={token}\r\nAccept: text/html\r\n"
        if path.startswith("/web/")
        else f"Authorization: Bearer {token}\r\nAccept: application/json\r\n"
    )
    head = (
        f"{method} {quote(path, safe='/?&=,:%-_.~')} HTTP/1.1\r\nHost: {host}\r\n"
        f"{auth}"
        f"Content-Length: {len(data)}\r\n"
        + ("Content-Type: application/json\r\n" if body is not None else "")
        + "\r\n"
    )
    return head.encode() + data


async def run(spec: Spec) -> dict[str, Any]:
    """Raw HTTP/1.1 over asyncio streams: a client library's pool, at a few hundred requests
    a second with a backlog, burnt more CPU than the server it measured on the same cores."""
    requests = plan(spec)
    loop = asyncio.get_running_loop()
    url = urlsplit(spec.base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    # kind, latency ms, service ms, status, seconds into the run the request was due
    results: list[tuple[str, float, float, int, float]] = []
    queue: asyncio.Queue[tuple[str, bytes, float] | None] = asyncio.Queue()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (item := await queue.get()) is not None:
                kind, raw, due = item
                sent = loop.time()
                try:
                    status = await _exchange(reader, writer, raw)
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                    status = 0  # no (readable) answer; reconnect for the next one
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                done = loop.time()
                results.append(
                    (kind, (done - due) * 1000, (done - sent) * 1000, status, due - start)
                )
        finally:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(CONNECTIONS)]
    encoded = [
        (kind, _encode(f"{host}:{port}", spec.token, method, path, body))
        for kind, method, path, body in requests
    ]
    start = loop.time() + 0.2
    lag_max = 0.0
    for i, (kind, raw) in enumerate(encoded):
        due = start + i / spec.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lag_max = max(lag_max, -delay)
        queue.put_nowait((kind, raw, due))
    for _ in workers:
        queue.put_nowait(None)
    # Bounded in time: what has not answered GRACE_S after the last request was due is
    # cut off and counted as an error, its latency (at least) as long as it waited.
    _, pending = await asyncio.wait(workers, timeout=GRACE_S)
    cut = loop.time()
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    elapsed = loop.time() - start
    unfinished = len(requests) - len(results)
    # The queue is FIFO: the unanswered are (about) the last ones due.
    results.extend(
        ("unfinished", (cut - start - i / spec.rate) * 1000, float("nan"), -1, i / spec.rate)
        for i in range(len(requests) - unfinished, len(requests))
    )
    lat = sorted(r[1] for r in results)
    svc = sorted(r[2] for r in results if r[3] != -1)
    errors = [r for r in results if not 200 <= r[3] < 300]
    by_kind: dict[str, Any] = {}
    for kind, _ in (*MIX, ("floor", 0)):
        ks = sorted(r[1] for r in results if r[0] == kind)
        if ks:
            by_kind[kind] = {"n": len(ks), "p50_ms": _pct(ks, 50), "p99_ms": _pct(ks, 99)}
    statuses: dict[str, int] = {}
    for r in errors:
        statuses[str(r[3])] = statuses.get(str(r[3]), 0) + 1
    return {
        "requests": len(results),
        "offered_rate": spec.rate,
        "achieved_rate": round(len(results) / elapsed, 1),
        "p50_ms": _pct(lat, 50),
        "p90_ms": _pct(lat, 90),
        "p99_ms": _pct(lat, 99),
        "max_ms": round(lat[-1], 2) if lat else float("nan"),
        "service_p99_ms": _pct(svc, 99),
        "generator_lag_max_ms": round(lag_max * 1000, 2),
        "errors": len(errors),
        "unfinished": unfinished,
        "error_statuses": statuses,
        "by_kind": by_kind,
        "slow_seconds": _slow_seconds(results),
    }


def _slow_seconds(results: list[tuple[str, float, float, int, float]]) -> list[list[float]]:
    """The five seconds of the run (by when requests were due) with the slowest answers:
    [second, its p99 ms, its max ms]. A tail spread evenly over the run is queueing at
    a steady load; one gathered in a few seconds is a stall (a pause of the server, a
    background loop's burst) and its seconds say how often it comes (issue 20)."""
    per: dict[int, list[float]] = {}
    for r in results:
        per.setdefault(int(r[4]), []).append(r[1])
    rows = [[float(sec), _pct(sorted(v), 99), round(max(v), 2)] for sec, v in per.items()]
    return sorted(rows, key=lambda row: -row[1])[:5]


def main() -> None:
    spec = Spec.from_json(json.load(sys.stdin))
    t0 = time.perf_counter()
    # The generator's own pauses would count against the server: a full collection of its
    # heap (the planned requests, the results) took long enough to show in the tail. It
    # makes little cyclic garbage in a bounded run, so the collector stays off until it ends.
    gc.collect()
    gc.freeze()
    gc.disable()
    # The stdlib loop, not uvloop: uvloop's clock is libuv's, in whole milliseconds and
    # read once per loop turn, too coarse for the latencies measured here.
    report = asyncio.run(run(spec))
    report["generator_wall_s"] = round(time.perf_counter() - t0, 2)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
