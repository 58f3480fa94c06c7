"""``guanjia bench cloud``: auto-audit throughput beside a raw insert of the same rows."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import insert

from cloud.db.engine import make_engine, migrate, session_factory, transaction


def bench_auto_audit(database_url: str, orders: int = 5000, batch: int = 500) -> dict[str, Any]:
    """Orders through reservation + the audit rules, and a raw insert of the same rows."""
    from cloud.db.models import SalesOrder, SalesOrderLine
    from cloud.orders.arrival import create_orders
    from cloud.orders.core import OrderIn
    from cloud.seed import seed_demo

    engine = make_engine(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    with transaction(sessions) as s:
        from sqlalchemy import select

        from cloud.db.models import Account

        if s.execute(select(Account).where(Account.name == "demo")).scalar_one_or_none() is None:
            seed_demo(s, now, password="bench-password", node_ids=[])
        account = s.execute(select(Account.id).where(Account.name == "demo")).scalar_one()
    from cloud.stock.ledger import receive

    with transaction(sessions) as s:
        receive(
            s,
            account,
            "WH1",
            "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金",
            orders * 3,
            "bench",
            now,
        )
        receive(s, account, "WH1", "GIFT 贴膜", orders * 2, "bench", now)
    provinces = [
        ("湖南省", "长沙市", "岳麓区"),
        ("北京市", "北京市", "海淀区"),
        ("广东省", "深圳市", "南山区"),
        ("浙江省", "杭州市", "西湖区"),
    ]
    bodies = [
        OrderIn.model_validate(
            {
                "order_no": f"B{tag}-{i}",
                "buyer_nick": f"nick{i}",
                "recipient": {
                    "name": "收件人",
                    "phone": "13800000000",
                    "province": provinces[i % 4][0],
                    "city": provinces[i % 4][1],
                    "district": provinces[i % 4][2],
                    "address": f"某路{i}号",
                },
                "lines": [
                    {
                        "line_id": "1",
                        "sku_code": "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金",
                        "qty": 1 + i % 2,
                        "price_cents": 5900,
                    }
                ],
                "buyer_remark": "请尽快" if i % 50 == 0 else None,
            }
        )
        for i in range(orders)
    ]
    # A running hub has loaded the address data (cpca, pandas) before its first order; the
    # figure is the steady rate, so load it here, with an address none of the orders uses.
    from cloud.orders.audit_rules import parse_region

    parse_region("上海市上海市浦东新区")
    t0 = time.perf_counter()
    for i in range(0, orders, batch):
        with transaction(sessions) as s:
            create_orders(s, account, bodies[i : i + batch], "bench", datetime.now(UTC))
    audit_s = time.perf_counter() - t0
    # The same rows, inserted raw: no reservation, no rules, no decisions.
    t0 = time.perf_counter()
    for i in range(0, orders, batch):
        with transaction(sessions) as s:
            rows: list[dict[str, Any]] = []
            lines: list[dict[str, Any]] = []
            for b in bodies[i : i + batch]:
                oid = str(uuid.uuid4())
                rows.append(
                    {
                        "id": oid,
                        "account_id": account,
                        "order_no": "R" + b.order_no,
                        "channel": "manual",
                        "status": "new",
                        "on_hold": False,
                        "warehouse_id": 1,
                        "buyer_nick": b.buyer_nick,
                        "recipient": b.recipient.model_dump(),
                        "total_cents": 5900,
                        "reserved": False,
                        "version": 0,
                        "created_at": now,
                        "changed_at": now,
                        "changed_by": "bench",
                    }
                )
                lines.extend({"order_id": oid, **ln.model_dump()} for ln in b.lines)
            s.execute(insert(SalesOrder), rows)
            s.execute(insert(SalesOrderLine), lines)
    raw_s = time.perf_counter() - t0
    engine.dispose()
    return {
        "database": engine.dialect.name,
        "orders": orders,
        "auto_audit_orders_per_s": round(orders / audit_s),
        "raw_insert_orders_per_s": round(orders / raw_s),
    }


def cloud(
    database_url: Annotated[
        str, typer.Option(help="Database to run against (PostgreSQL for the target figure).")
    ] = "sqlite:///./guanjia-bench.db",
    orders: Annotated[int, typer.Option(help="Orders to audit.")] = 5000,
    api: Annotated[
        bool, typer.Option(help="Also run the API latency bench (uvicorn + a load process).")
    ] = True,
    api_rate: Annotated[float, typer.Option(help="API requests per second offered.")] = 300.0,
    api_duration: Annotated[float, typer.Option(help="Seconds of API load.")] = 30.0,
    api_skus: Annotated[int, typer.Option(help="SKUs seeded for the API bench.")] = 5000,
    api_orders: Annotated[int, typer.Option(help="Orders seeded for the API bench.")] = 20000,
    api_workers: Annotated[
        int | None, typer.Option(help="Server worker processes (default: one per core, plus one).")
    ] = None,
) -> None:
    """Auto-audit throughput beside a raw insert; then API p50/p99 under a realistic mix.

    The API bench runs on a private copy: a temporary SQLite file for a SQLite URL, a schema
    of its own (dropped afterwards) on a PostgreSQL server.
    """
    for k, v in bench_auto_audit(database_url, orders).items():
        typer.echo(f"{k:28} {v}")
    if not api:
        return
    from cloud.bench.api import bench_api

    result = bench_api(
        database_url,
        skus=api_skus,
        orders=api_orders,
        rate=api_rate,
        duration_s=api_duration,
        workers=api_workers,
    )
    for k, v in result.items():
        typer.echo(f"api_{k:24} {v}")


def login_flood(
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLite (a temporary file is used) or a PostgreSQL server URL."),
    ] = None,
    connections: Annotated[int, typer.Option(help="Connections flooding the login.")] = 64,
    duration: Annotated[float, typer.Option(help="Seconds of each measurement.")] = 15.0,
    rate: Annotated[float, typer.Option(help="The ordinary user's reads per second.")] = 20.0,
    workers: Annotated[
        int | None, typer.Option(help="Server worker processes (default: one per core, plus one).")
    ] = None,
) -> None:
    """An ordinary user's read latency alone and while the login is flooded (issue 13)."""
    from cloud.bench.login_flood import bench_login_flood

    result = bench_login_flood(
        database_url, connections=connections, duration_s=duration, rate=rate, workers=workers
    )
    typer.echo(f"{'database':18} {result['database']}  workers {result['workers']}")
    for name in ("alone", "flood_one-name", "flood_new-names"):
        r = result[name]
        line = (
            f"{name:18} p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
            f"max {r['max_ms']:7.1f} ms  reads {r['n']}  errors {r['errors']}"
        )
        if "flood" in r:
            line += f"  flood {r['flood']['logins_per_s']}/s {r['flood']['answers']}"
        typer.echo(line)


def dashboard(
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLite (a temporary file is used) or a PostgreSQL server URL."),
    ] = None,
    orders: Annotated[int, typer.Option(help="Orders seeded (issue 15: 100,000).")] = 100_000,
    skus: Annotated[int, typer.Option(help="SKUs seeded (issue 15: 10,000).")] = 10_000,
    nodes: Annotated[int, typer.Option(help="Edge nodes enrolled (issue 15: 50).")] = 50,
    rounds: Annotated[int, typer.Option(help="Fetches of each page.")] = 40,
    workers: Annotated[int, typer.Option(help="Server worker processes.")] = 1,
    keep: Annotated[
        Path | None,
        typer.Option(help="Keep the seeded database here and reuse it on the next run."),
    ] = None,
) -> None:
    """Each dashboard page's HTML p95 and Chromium load-event p95, and the first load's
    gzipped size, beside the issue's limits (cloud/bench/dashboard.py)."""
    from cloud.bench.dashboard import (
        LIMIT_FIRST_KB,
        LIMIT_HTML_MS,
        LIMIT_LOAD_MS,
        bench_dashboard,
    )

    r = bench_dashboard(
        database_url,
        skus=skus,
        orders=orders,
        nodes=nodes,
        rounds=rounds,
        workers=workers,
        keep=keep,
    )
    typer.echo(
        f"database {r['database']}  orders {r['orders']}  skus {r['skus']}  nodes {r['nodes']}"
        f"  workers {r['workers']}  seed {r['seed_s']} s + nodes {r['nodes_s']} s"
    )
    load = r["load_event_p95_ms"]
    for page, ms in r["html_p95_ms"].items():
        lv = load.get(page)
        lt = f"{lv:7.1f} ms (limit {LIMIT_LOAD_MS:.0f})" if isinstance(lv, float) else str(lv)
        typer.echo(f"{page:16} html p95 {ms:7.1f} ms (limit {LIMIT_HTML_MS:.0f})  load p95 {lt}")
    if "load_event" in load:
        typer.echo(f"load event: {load['load_event']}")
    typer.echo(f"first load {r['first_load_kb_gzip']} KB gzipped (limit {LIMIT_FIRST_KB:.0f})")
