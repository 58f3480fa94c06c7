"""``guanjia bench dashboard``: every dashboard page's HTML latency and Chromium load time
with a seller's volume seeded (issue 15: 100,000 orders, 10,000 SKUs, 3 warehouses, 50 nodes;
HTML p95 ≤ 300 ms, load event p95 ≤ 1 s, first load ≤ 200 KB gzipped).

Seeds a private database through the domain (cloud/bench/api.py ``seed_volume``: the demo
seller, whose three warehouses are WH1, BCP and DMG; SKUs with stock; orders through the
real auto-audit), enrols the nodes, starts ``python -m cloud serve`` and logs in through the
login page. HTML: each page fetched ``rounds`` times in turn, one at a time. Load event:
Chromium (Playwright, Debian's /usr/bin/chromium) opens each page ``rounds`` times and reads
the Navigation Timing ``loadEventEnd``. First load: the home page and every file it loads,
each gzip-compressed as a proxy would send it (the hub itself does not compress).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from cloud.bench.api import PASSWORD, private_database, seed_volume, serve, settle_statistics
from cloud.bench.dashboard_seed import seed_pages
from cloud.db.engine import make_engine, migrate, session_factory, transaction

LIMIT_HTML_MS = 300.0
LIMIT_LOAD_MS = 1000.0
LIMIT_FIRST_KB = 200.0


def pages(held: str, docs: dict[str, str] | None = None) -> dict[str, str]:
    """Every page measured; ``docs``: the documents seeded for the later pages
    (cloud/bench/dashboard_seed.py), without which those pages are left out."""
    first = {
        "home": "/web/",
        "audit": "/web/audit",
        "orders": "/web/orders",
        "orders_search": "/web/orders?q=buyer12",
        "orders_phone": "/web/orders?q=0001",
        "orders_filtered": "/web/orders?carrier=SF&warehouse=WH1&arrived_from=2026-01-01",
        "orders_late": "/web/orders?late=1",
        "order": f"/web/orders/{held}",
        "stock": "/web/stock",
        "stock_search": "/web/stock?q=迪沃 保护壳",
        "stock_f10": "/web/stock/warehouses/WH1",
        "skus": "/web/skus",
        "skus_search": "/web/skus?q=迪沃 保护壳",
        "sku": "/web/skus/迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金",
        "rules": "/web/rules",
        "rule": "/web/rules/hunan-sf",
        "couriers": "/web/couriers",
        "tasks": "/web/tasks",
        "fleet": "/web/fleet",
        "node": "/web/fleet/wh1-node-00",
        "pick_leases": "/web/pick-leases",
        "users": "/web/users",
        "channels": "/web/channels",
        "finance": "/web/finance",
    }
    if docs is None:
        return first
    return first | {
        "transfers": "/web/stock/transfers",
        "transfer": f"/web/stock/transfers/{docs['transfer']}",
        "suppliers": "/web/stock/suppliers",
        "purchase_orders": "/web/stock/purchase-orders",
        "purchase_order": f"/web/stock/purchase-orders/{docs['purchase_order']}",
        "serial": f"/web/stock/serials?serial={docs['serial']}",
        "aftersales": "/web/aftersales",
        "aftersales_req": f"/web/aftersales/{docs['aftersales']}",
        "tasks_weight": "/web/tasks?kind=weight",
        "channel_shop": f"/web/channels/{docs['shop']}",
        "waybills": "/web/waybills",
        "fin_statements": "/web/finance/statements",
        "fin_payments": "/web/finance/payments",
        "fin_periods": "/web/finance/periods",
        "fin_orders": "/web/finance/orders",
        "settlements": "/web/finance/settlements",
        "courier_bills": "/web/finance/courier-bills",
        "einvoices": "/web/finance/invoices",
        "wechat_jobs": "/web/finance/wechat-jobs",
        "wechat_job": f"/web/finance/wechat-jobs/{docs['wechat_job']}",
        "fundflow_bills": "/web/finance/fundflow-bills",
        "fundflow_bill": f"/web/finance/fundflow-bills/{docs['fundflow']}",
    }


def _p95(ms: list[float]) -> float:
    ordered = sorted(ms)
    return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1)


def _enrol(url: str, nodes: int) -> None:
    from cloud.nodes import ownership
    from cloud.sync import assignment

    engine = make_engine(url)
    now = datetime.now(UTC)
    with transaction(session_factory(engine)) as s:
        from sqlalchemy import select

        from cloud.db.models import Account

        account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
        for i in range(nodes):
            node = f"wh1-node-{i:02d}"
            ownership.enroll(s, node, "demo", "bench", now)
            assignment.assign_node(s, account, node, "WH1", "bench", now)
    engine.dispose()


def _login(base: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=30)
    page = c.get("/web/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = c.post(
        "/web/login",
        data={"account": "demo", "username": "admin", "password": PASSWORD, "csrf": token[1]},
    )
    if r.status_code != 303:  # to the home page when logged in
        raise RuntimeError(f"login failed: {r.status_code} {r.text[:300]}")
    return c


def _html(c: httpx.Client, paths: dict[str, str], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in paths}
    for p in paths.values():
        c.get(p).raise_for_status()  # first fetch: templates compiled, caches warm
    for _ in range(rounds):
        for k, p in paths.items():
            t0 = time.perf_counter()
            r = c.get(p)
            times[k].append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
    return {k: _p95(v) for k, v in times.items()}


def _first_load_kb(c: httpx.Client, base: str) -> float:
    html = c.get("/web/").text
    total = len(gzip.compress(html.encode()))
    for ref in re.findall(r'(?:src|href)="(/web/static/[^"]+)"', html):
        total += len(gzip.compress(c.get(urljoin(base, ref)).content))
    return round(total / 1024, 1)


def _load_events(base: str, paths: dict[str, str], rounds: int, cookies: Any) -> dict[str, Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"load_event": "playwright not installed (the dev extra): not measured"}
    chromium = os.environ.get("GUANJIA_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        return {"load_event": f"{chromium} missing: not measured"}
    args = ["--disable-gpu", "--no-first-run", "--disable-background-networking"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    out: dict[str, Any] = {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=args, headless=True)
        ctx = b.new_context(viewport={"width": 1366, "height": 768})
        host = base.split("//")[1].split(":")[0]
        ctx.add_cookies(
            [{"name": k, "value": v, "domain": host, "path": "/web"} for k, v in cookies.items()]
        )
        page = ctx.new_page()
        for k, path in paths.items():
            ms = []
            for _ in range(rounds):
                page.goto(base + path, wait_until="load")
                ms.append(
                    float(
                        page.evaluate(
                            "() => performance.getEntriesByType('navigation')[0].loadEventEnd"
                        )
                    )
                )
            out[k] = _p95(ms)
        b.close()
    return out


def bench_dashboard(
    database_url: str | None,
    *,
    skus: int,
    orders: int,
    nodes: int,
    rounds: int,
    workers: int,
    keep: Path | None = None,
) -> dict[str, Any]:
    """``keep``: a directory where the seeded database (SQLite) or the name of its schema
    (PostgreSQL) and the seed's ids are kept; a later run with the same directory and volume
    migrates that database to the current schema and measures it without seeding again."""
    with tempfile.TemporaryDirectory(prefix="guanjia-bench-web-") as tmp:
        workdir = keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        tag = f"web_{orders}_{skus}_{nodes}"
        stamp = (
            workdir
            / f"{tag}-{'pg' if database_url and database_url.startswith('postgresql') else 'sqlite'}.json"
        )
        with private_database(database_url, workdir, keep=tag if keep else None) as url:
            seed_s = nodes_s = 0.0
            if keep and stamp.exists():
                data = json.loads(stamp.read_text())
                migrate(make_engine(url))  # pages added since the seed may need new tables
            else:
                t0 = time.perf_counter()
                data = seed_volume(url, skus=skus, orders=orders)
                seed_s = round(time.perf_counter() - t0, 1)
            if "docs" not in data:  # a new seed, or one kept from before the later pages
                t0 = time.perf_counter()
                data["docs"] = seed_pages(url)
                seed_s += round(time.perf_counter() - t0, 1)
            if not (keep and stamp.exists()):
                t0 = time.perf_counter()
                _enrol(url, nodes)  # each node is sent the whole catalogue (its downlink)
                nodes_s = round(time.perf_counter() - t0, 1)
            if keep:
                kept = {k: data[k][:1] for k in ("held", "orders")}
                stamp.write_text(json.dumps(kept | {"docs": data["docs"]}))
            # The pages' documents (books, bills, transfers) were seeded after seed_volume's
            # statistics; a kept database may have changed since: measured as in service.
            settle_statistics(make_engine(url))
            held = data["held"][0] if data["held"] else data["orders"][0]
            paths = pages(held, data["docs"])
            with serve(url, workdir, workers) as base:
                c = _login(base)
                html = _html(c, paths, rounds)
                first_kb = _first_load_kb(c, base)
                load = _load_events(base, paths, max(5, rounds // 2), dict(c.cookies))
    return {
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "orders": orders,
        "skus": skus,
        "nodes": nodes,
        "workers": workers,
        "seed_s": seed_s,
        "nodes_s": nodes_s,
        "html_p95_ms": html,
        "load_event_p95_ms": load,
        "first_load_kb_gzip": first_kb,
    }
