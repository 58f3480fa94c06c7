"""``guanjia bench channels``: a Double-11 hour (issue 16). The marketplace simulator (its own
process, real sockets) sells N paid orders across 10 shops at a chosen rate under a call
quota per app; the hub downloads them (download -> channel order -> Guanjia order with its
reservation and audit) with worker threads running the shops' downloads, as the scheduler
would. Printed: orders/s end to end beside a raw insert of the same rows in the same run,
missed and duplicated orders, and the lag from a buyer paying to the order being audited and
committed (p50/p99). Targets: >= 5,000 orders/s, missed = duplicated = 0, lag p99 <= 60 s.

Runs on a private copy: a schema of its own on a PostgreSQL server (dropped afterwards), or a
temporary SQLite file.
"""

from __future__ import annotations

import bisect
import cProfile
import multiprocessing
import os
import pstats
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import typer
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from cloud import heap
from cloud.bench.api import free_port
from cloud.bench.cpu_share import Share
from cloud.bench.finance import _private
from cloud.channels import shops
from cloud.channels.download import Tuning, download
from cloud.channels.runner import source_for
from cloud.channels.taobao.orders import TaobaoOrders
from cloud.db.bulk import insert_rows
from cloud.db.engine import make_engine, migrate, session_factory, transaction
from cloud.db.models import ChannelOrder, ChannelShop, SalesOrder, SalesOrderLine

APP_KEY, SECRET = "12345678", "sim-secret"
SKUS = ("SKU-A", "SKU-B", "SKU-C", "SKU-D")
TARGET_RATE, TARGET_P99_S = 5000.0, 60.0


def _seller(session: Session, now: datetime, stock: int) -> int:
    from cloud.accounts import create_account
    from cloud.catalogue.skus import SkuIn, upsert_sku
    from cloud.orders import audit_rules
    from cloud.orders.audit_rules import CarrierIn, RuleIn
    from cloud.stock.ledger import receive
    from cloud.stock.warehouses import WarehouseIn, create_warehouse

    account = create_account(session, "d11", now)
    session.flush()
    create_warehouse(
        session, account.id, WarehouseIn(code="WH1", name="main", kind="main"), "b", now
    )
    for code in SKUS:
        upsert_sku(
            session, SkuIn(sku_code=code, name=code, barcodes=[f"BC-{code}"]), now, account.id
        )
        receive(session, account.id, "WH1", code, stock, "bench", now)
    audit_rules.put_carrier(session, account.id, "ZTO", CarrierIn(name="中通"), "b", now)
    rule = RuleIn(kind="courier", name="ZTO", priority=1000, action={"carrier": "ZTO"})
    audit_rules.put_rule(session, account.id, "zto", rule, "b", now)
    return int(account.id)


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def bench_channels(
    database_url: str | None,
    *,
    orders: int = 100_000,
    shop_count: int = 10,
    rate: float = TARGET_RATE,
    calls_per_s: float = 2000.0,
    workers: int = 2,
    lag_s: float = 5.0,
    overlap_s: float = 10.0,
    profile: str | None = None,
    fullinfo_each: bool = False,
    py_spy: str | None = None,
    processes: bool = False,
) -> dict[str, Any]:
    with _private(database_url) as url:
        engine = make_engine(url)
        share = Share(0)
        share.watch(engine)  # before the first connection: each backend's CPU is counted
        migrate(engine)
        factory = session_factory(engine)
        if engine.dialect.name == "sqlite":
            workers = 1  # one writer at a time anyway
        now = datetime.now(UTC)
        with transaction(factory) as s:
            account = _seller(s, now, stock=orders * 12)
        # A running hub has loaded the address data (cpca) before its first order.
        from cloud.orders.audit_rules import parse_region

        parse_region("上海市上海市浦东新区")
        # ... and settled its heap as a hub does at start (cloud/heap.py).
        heap.settle()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "simulators.cli", "sim", "marketplace", "--port", str(port)]
        cmd += ["--no-shopify"]  # every buyer orders from the bench's Taobao shops
        for code in SKUS:
            cmd += ["--sku", code]
        sim = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        share.sim_pid = sim.pid
        http = httpx.Client(timeout=120)
        try:
            for _ in range(600):  # a loaded machine may take a while to start Python
                try:
                    http.get(f"{base}/_sim/clock")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("the marketplace simulator did not start within 60 s")
            sessions = ["sim-session"]  # the simulator's own shop, and the others
            for i in range(1, shop_count):
                sessions.append(f"s-{i}")
                body = {"app_key": APP_KEY, "secret": SECRET, "session": f"s-{i}"}
                http.post(f"{base}/_sim/shops", json={**body, "seller_nick": f"d11-{i}"})
            shop_ids = []
            with transaction(factory) as s:
                for i, sess in enumerate(sessions):
                    shop = shops.add_shop(
                        s,
                        account,
                        shops.ShopIn(
                            code=f"tb{i}",
                            api_url=f"{base}/router/rest",
                            app_key=APP_KEY,
                            app_secret=SECRET,
                            session_key=sess,
                            start_from=now - timedelta(minutes=1),
                        ),
                        now,
                    )
                    s.flush()
                    shop_ids.append(shop.id)

            # Each worker thread's commits, in order: an order is audited and committed at
            # the first commit of the thread that stored it after its slice began (the
            # slice's time is the channel order's first_seen_at).
            commits: dict[Any, list[float]] = {}

            @event.listens_for(factory, "after_commit")
            def _stamp(session: Session) -> None:
                commits.setdefault(threading.get_ident(), []).append(time.time())

            tuning = Tuning(lag=timedelta(seconds=lag_s), overlap=timedelta(seconds=overlap_s))
            start = {"orders": orders, "rate": rate, "calls_per_s": calls_per_s}
            sold_out = threading.Event()
            errors: list[str] = []
            runs = [0]
            profiles: list[cProfile.Profile] = []
            # The hub threads' own CPU time (not the simulator's, not waits): on a shared,
            # loaded machine the figure to compare before/after, where wall time is not.
            cpu, cpu_lock = [0.0], threading.Lock()

            def work(mine: list[int]) -> None:
                cpu0 = time.thread_time()
                for shop_id in mine:
                    thread_of[shop_id] = threading.get_ident()
                prof = cProfile.Profile() if profile else None
                if prof:
                    profiles.append(prof)
                    prof.enable()
                r = _download_loop(
                    factory, mine, tuning, fullinfo_each, lag_s, sold_out.is_set, lambda: ends[0]
                )
                if prof:
                    prof.disable()
                with cpu_lock:
                    cpu[0] += time.thread_time() - cpu0
                    runs[0] += r[0]
                    errors.extend(r[1])

            ends = [0.0]
            thread_of: dict[int, Any] = {}
            groups = [shop_ids[i::workers] for i in range(workers)]
            procs: list[_Proc] = []
            if processes and workers > 1:
                # A hub process per group of shops (the scheduler's leases allow it): each its
                # own interpreter, so the groups' Python runs on both cores, not on one GIL.
                procs = [_Proc.start(url, g, lag_s, overlap_s, fullinfo_each) for g in groups]
                for proc in procs:
                    share.backends.update(proc.ready())
                    for shop_id in proc.shops:
                        thread_of[shop_id] = proc.key
                threads = []
            else:
                threads = [threading.Thread(target=work, args=(g,), daemon=True) for g in groups]
            share.start(py_spy)
            t0 = time.time()
            http.post(f"{base}/_sim/double11/start", json=start)
            for proc in procs:
                proc.go.set()
            for t in threads:
                t.start()
            while True:
                st = http.get(f"{base}/_sim/double11/status").json()
                if st["done"]:
                    ends[0] = time.time()
                    for proc in procs:
                        proc.sold_out(ends[0])
                    sold_out.set()
                    break
                time.sleep(0.2)
            for proc in procs:
                got = proc.result()
                commits[proc.key] = got["commits"]
                cpu[0] += got["cpu_s"]
                runs[0] += got["runs"]
                errors.extend(got["errors"])
            for t in threads:
                t.join()
            share.stop()
            for proc in procs:
                # Each worker process's own CPU, measured by itself over the same phase;
                # its PostgreSQL backends were counted above, open until now.
                share.out["cpu_hub_s"] = round(share.out["cpu_hub_s"] + proc.cpu_s, 1)
                proc.release()
            paid = http.get(f"{base}/_sim/double11/paid").json()
        finally:
            http.close()
            sim.terminate()
            sim.wait(10)
        sell_s = ends[0] - t0

        with factory() as s:
            made = dict(
                s.execute(
                    select(SalesOrder.order_no, func.count())
                    .where(SalesOrder.account_id == account)
                    .group_by(SalesOrder.order_no)
                ).all()
            )
            seen = s.execute(
                select(
                    ChannelOrder.external_id, ChannelOrder.shop_id, ChannelOrder.first_seen_at
                ).where(ChannelOrder.account_id == account, ChannelOrder.state == "imported")
            ).all()
            per_shop = s.execute(
                select(func.count(), func.count(func.distinct(ChannelOrder.external_id))).where(
                    ChannelOrder.account_id == account
                )
            ).one()
        paid_at = {tid: at for tid, at, _ in paid["paid"]}
        missed = [t for t in paid_at if t not in made]
        duplicated = sum(n - 1 for n in made.values()) + (per_shop[0] - per_shop[1])
        audited: dict[str, float] = {}
        for ext, shop_id, first in seen:
            mine = commits.get(thread_of[shop_id], [])
            i = bisect.bisect_left(mine, first.timestamp())
            if i < len(mine):
                audited[ext] = mine[i]
        lags = [audited[t] - at for t, at in paid_at.items() if t in audited]
        first_paid = min(paid_at.values())
        last_audited = max(audited.values()) if audited else first_paid
        e2e = len(made) / max(1e-9, last_audited - first_paid)

        raw_rate, raw_cpu_ms = _raw_insert(factory, account)
        engine.dispose()
    if profile and profiles:
        stats = pstats.Stats(profiles[0])
        for p in profiles[1:]:
            stats.add(p)
        stats.dump_stats(profile)
    return {
        "database": engine.dialect.name,
        "orders_sold": len(paid_at),
        "shops": shop_count,
        "offered_orders_per_s": round(len(paid_at) / max(1e-9, sell_s)),
        "end_to_end_orders_per_s": round(e2e),
        "raw_insert_orders_per_s": round(raw_rate),
        "hub_cpu_ms_per_order": round(1000 * cpu[0] / max(1, len(made)), 3),
        # The download phase (selling start to the last worker done): each part's CPU.
        **share.out,
        "hub_process_cpu_ms_per_order": round(
            1000 * share.out.get("cpu_hub_s", 0.0) / max(1, len(made)), 3
        ),
        "raw_insert_cpu_ms_per_order": round(raw_cpu_ms, 3),
        "missed": len(missed),
        "duplicated": duplicated,
        "lag_p50_s": round(_pct(lags, 0.50), 2),
        "lag_p99_s": round(_pct(lags, 0.99), 2),
        "lag_max_s": round(max(lags), 2) if lags else None,
        "runs": runs[0],
        "api_calls": paid["calls"],
        "errors": errors[:5],
        "workers": workers,
        "worker_kind": "processes" if processes and workers > 1 else "threads",
        "lag_setting_s": lag_s,
        "overlap_s": overlap_s,
        "read": "fullinfo.get each" if fullinfo_each else "from the list",
    }


def _download_loop(
    factory: Any,
    mine: list[int],
    tuning: Tuning,
    fullinfo_each: bool,
    lag_s: float,
    sold_out: Callable[[], bool],
    ends_at: Callable[[], float],
) -> tuple[int, list[str]]:
    """The shops' downloads, round after round, as the scheduler runs them, until one round
    after the last payment has passed the safety lag. Returns the runs made and the errors."""
    runs, errors = 0, []
    with httpx.Client(timeout=60) as client:  # one client: its connections are reused
        last_round = False
        while True:
            if sold_out():
                # Sold out: one more pass once every window has reached past the last
                # payment (plus the safety lag), then done.
                time.sleep(max(0.0, lag_s + 1.5 - (time.time() - ends_at())))
                last_round = True
            for shop_id in mine:
                with factory() as s:
                    row = s.get_one(ChannelShop, shop_id)
                    s.expunge(row)
                source = source_for(row, client)
                if isinstance(source, TaobaoOrders):  # the bench sells on Taobao shops
                    source.list_fields = not fullinfo_each
                r = download(
                    factory,
                    shop_id,
                    source,
                    owner=f"bench-{os.getpid()}-{threading.get_ident()}",
                    now=lambda: datetime.now(UTC),
                    tuning=tuning,
                )
                runs += 1
                if r.outcome != "ok":
                    errors.append(f"{row.code}: {r.outcome} {r.error}")
            if last_round:
                return runs, errors


@dataclass
class _Proc:
    """A hub worker process (``--processes``) running a group of shops' downloads."""

    key: str
    shops: list[int]
    process: Any
    conn: Any
    go: Any
    done: Any
    ends: Any
    cpu_s: float = 0.0

    @classmethod
    def start(
        cls, url: str, shops_: list[int], lag_s: float, overlap_s: float, fullinfo_each: bool
    ) -> _Proc:
        # spawn, not fork: the parent holds threads, sockets and a connection pool.
        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe()
        go, done, ends = ctx.Event(), ctx.Event(), ctx.Value("d", 0.0)
        args = (url, shops_, lag_s, overlap_s, fullinfo_each, theirs, go, done, ends)
        proc = ctx.Process(target=_worker_main, args=args, daemon=True)
        proc.start()
        return cls(f"p{proc.pid}", shops_, proc, mine, go, done, ends)

    def ready(self) -> list[int]:
        """Waits for the process to be set up; its PostgreSQL backends' pids."""
        if not self.conn.poll(120):
            raise RuntimeError("a hub worker process did not start within 120 s")
        got = self.conn.recv()
        if isinstance(got, dict):
            raise RuntimeError(f"hub worker process: {got.get('error')}")
        return list(got)

    def sold_out(self, at: float) -> None:
        self.ends.value = at

    def result(self) -> dict[str, Any]:
        got: dict[str, Any] = self.conn.recv()
        if "error" in got:
            raise RuntimeError(f"hub worker process: {got['error']}")
        self.cpu_s = float(got["cpu_s"])
        return got

    def release(self) -> None:
        self.done.set()
        self.process.join(60)


def _worker_main(
    url: str,
    mine: list[int],
    lag_s: float,
    overlap_s: float,
    fullinfo_each: bool,
    conn: Any,
    go: Any,
    done: Any,
    ends: Any,
) -> None:
    """A hub worker process: set up as a running hub is (address data loaded, heap settled),
    then the shops' downloads from ``go`` until sold out; its commits' times, runs and CPU
    go back through ``conn``. Its engine stays open until ``done``, so the parent can read
    its PostgreSQL backends' CPU over the phase."""
    try:
        engine = make_engine(url)
        pids: list[int] = []
        if engine.dialect.name == "postgresql":

            @event.listens_for(engine, "connect")
            def _backend(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("SELECT pg_backend_pid()")
                pids.append(int(cur.fetchone()[0]))
                cur.close()
                dbapi_conn.rollback()

        factory = session_factory(engine)
        commits: list[float] = []

        @event.listens_for(factory, "after_commit")
        def _stamp(session: Session) -> None:
            commits.append(time.time())

        from cloud.orders.audit_rules import parse_region

        parse_region("上海市上海市浦东新区")
        with factory() as s:  # the pool's first connection, before the phase
            s.execute(select(1))
        heap.settle()
        conn.send(pids)
        go.wait()
        cpu0 = time.process_time()
        tuning = Tuning(lag=timedelta(seconds=lag_s), overlap=timedelta(seconds=overlap_s))
        runs, errors = _download_loop(
            factory, mine, tuning, fullinfo_each, lag_s, lambda: ends.value > 0, lambda: ends.value
        )
        cpu = time.process_time() - cpu0
        conn.send({"commits": commits, "cpu_s": cpu, "runs": runs, "errors": errors})
        done.wait(600)
        engine.dispose()
    except Exception as err:  # the parent reports it; a worker must not die silently
        conn.send({"error": f"{type(err).__name__}: {err}"})
        raise


def _raw_insert(factory: Any, account: int, batch: int = 1000) -> tuple[float, float]:
    """The same rows (orders, lines, channel orders) inserted again under new keys through
    the bulk path: no download, no reservation, no rules. Orders per second, and the
    thread's CPU milliseconds per order."""
    with factory() as s:
        orders = [
            dict(r)
            for r in s.execute(
                select(SalesOrder.__table__).where(SalesOrder.account_id == account)
            ).mappings()
        ]
        lines = [
            dict(r)
            for r in s.execute(
                select(SalesOrderLine.__table__).where(
                    SalesOrderLine.order_id.in_(
                        select(SalesOrder.id).where(SalesOrder.account_id == account)
                    )
                )
            ).mappings()
        ]
        channel = [
            dict(r)
            for r in s.execute(
                select(ChannelOrder.__table__).where(ChannelOrder.account_id == account)
            ).mappings()
        ]
    new_id = {o["id"]: str(uuid.uuid4()) for o in orders}
    by_order: dict[str, list[dict[str, Any]]] = {}
    for ln in lines:
        by_order.setdefault(ln["order_id"], []).append(ln)
    ch_by_order = {c["order_id"]: c for c in channel if c["order_id"]}
    t0, cpu0 = time.perf_counter(), time.thread_time()
    for i in range(0, len(orders), batch):
        chunk = orders[i : i + batch]
        with transaction(factory) as s:
            rows: list[dict[str, Any]] = []
            lrows: list[dict[str, Any]] = []
            crows: list[dict[str, Any]] = []
            for o in chunk:
                nid = new_id[o["id"]]
                rows.append({**o, "id": nid, "order_no": "R" + o["order_no"]})
                lrows.extend({**ln, "order_id": nid} for ln in by_order.get(o["id"], []))
                c = ch_by_order.get(o["id"])
                if c is not None:
                    crows.append(
                        {
                            **{k: v for k, v in c.items() if k != "id"},
                            "external_id": "R" + c["external_id"],
                            "order_id": nid,
                        }
                    )
            insert_rows(s, SalesOrder.__table__, rows)
            insert_rows(s, SalesOrderLine.__table__, lrows)
            insert_rows(s, ChannelOrder.__table__, crows)
    n = max(1, len(orders))
    cpu_ms = 1000 * (time.thread_time() - cpu0) / n
    return len(orders) / max(1e-9, time.perf_counter() - t0), cpu_ms


def channels(
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLite (a temporary file is used) or a PostgreSQL server URL."),
    ] = None,
    orders: Annotated[int, typer.Option(help="Orders sold (issue 16: 1,000,000).")] = 100_000,
    shops_: Annotated[int, typer.Option("--shops", help="Shops the orders spread over.")] = 10,
    rate: Annotated[float, typer.Option(help="Orders paid a second by the buyers.")] = TARGET_RATE,
    calls_per_s: Annotated[
        float, typer.Option(help="The app's call quota a second on the simulator (0: none).")
    ] = 2000.0,
    workers: Annotated[
        int, typer.Option(help="Hub workers running the shops' downloads (a group each).")
    ] = 2,
    processes: Annotated[
        bool,
        typer.Option(
            "--processes/--threads",
            help="Workers as hub processes (one per group of shops, as the scheduler's leases "
            "allow; S33: not shown to help on a loaded 2-core machine) or as threads of this "
            "process (one GIL).",
        ),
    ] = False,
    lag_s: Annotated[float, typer.Option(help="The downloads' safety lag, seconds.")] = 5.0,
    overlap_s: Annotated[float, typer.Option(help="The downloads' overlap, seconds.")] = 10.0,
    profile: Annotated[
        str | None, typer.Option(help="Write the hub threads' cProfile stats to this file.")
    ] = None,
    fullinfo_each: Annotated[
        bool,
        typer.Option(help="Read each trade with fullinfo.get (as before the list's fields)."),
    ] = False,
    py_spy: Annotated[
        str | None,
        typer.Option(
            help="py-spy the hub and the simulator over the download phase: PREFIX.hub.txt "
            "and PREFIX.simulator.txt (collapsed stacks; needs py-spy on the PATH)."
        ),
    ] = None,
) -> None:
    """A Double-11 hour: N orders across shops, download -> order -> reservation -> audit
    (cloud/bench/channels.py, docs/benchmarks.md)."""
    r = bench_channels(
        database_url,
        orders=orders,
        shop_count=shops_,
        rate=rate,
        calls_per_s=calls_per_s,
        workers=workers,
        lag_s=lag_s,
        overlap_s=overlap_s,
        profile=profile,
        fullinfo_each=fullinfo_each,
        py_spy=py_spy,
        processes=processes,
    )
    for k, v in r.items():
        typer.echo(f"{k:26} {v}")
    ok = (
        r["end_to_end_orders_per_s"] >= TARGET_RATE
        and r["missed"] == 0
        and r["duplicated"] == 0
        and r["lag_p99_s"] <= TARGET_P99_S
    )
    typer.echo(
        f"{'targets_met':26} {ok} (>= {TARGET_RATE:.0f}/s, 0 missed/duplicated, "
        f"lag p99 <= {TARGET_P99_S:.0f} s)"
    )
