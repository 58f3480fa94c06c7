"""The demo's broker and cloud hub: a private broker, the hub seeded with the demo seller
(``python -m cloud seed-demo``), served as its own process, and the seed's orders as the
audit rules decided them (read back through the API)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from rich.table import Table

from simulators.broker import PrivateBroker
from simulators.demo.session import DemoFailed, Session
from simulators.net import free_port

DEMO_PASSWORD = "guanjia-demo"
#: The demo's Taobao shop (docs/channels.md): the simulator's default app key, secret and
#: session, and the SKU its buyers order (A-01's stock; the story's own orders use others).
SHOP = "tb-demo"
SHOP_SKU = "MKING IPAD AIR2 金甲系列皮套-金色"
SIM_APP_KEY, SIM_SECRET, SIM_SESSION = "12345678", "sim-secret", "sim-session"


class Hub:
    def __init__(self, session: Session) -> None:
        self.s = session
        self.seed: dict[str, Any] = {}
        self.orders: list[tuple[dict[str, Any], dict[str, Any], str]] = []
        #: The marketplace simulator's address (its TOP gateway, Alipay bills, /_sim).
        self.market_url = ""

    def start(self, nodes: list[str]) -> None:
        """Broker, hub and the audit step; ``nodes`` are assigned to WH1 by the seed."""
        s = self.s
        with s.step("broker") as d:
            s.broker = PrivateBroker(s.dir / "broker").start()
            d.append(f"private {s.broker.kind} on {s.broker.url}")

        with s.step("cloud hub") as d:
            port = free_port()
            s.api = f"http://127.0.0.1:{port}"
            db = s.dir / "cloud.db"
            # The demo seller: catalogue, WH1 with bins, stock, courier rules, orders audited
            # by the rules; the nodes are assigned to WH1 (their downlink carries all of it).
            seeded = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cloud",
                    "seed-demo",
                    "--database-url",
                    f"sqlite:///{db}",
                    *[a for n in nodes for a in ("--node", n)],
                    "--password",
                    DEMO_PASSWORD,
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if seeded.returncode != 0:
                raise DemoFailed(f"seeding the demo seller failed: {seeded.stderr[-1500:]}")
            self.seed = orjson.loads(seeded.stdout)
            os.environ.setdefault("GUANJIA_JWT_SECRET", os.urandom(24).hex())
            # The demo runs on this machine and points at /docs (off by default: Settings).
            os.environ.setdefault("GUANJIA_API_DOCS", "true")
            # The finance workers (ledger poster, e-invoices) tick every second, not every
            # 10 s, and ask the e-invoice provider 1 s after a send, not 5 s, so the demo's
            # finance leg sees its invoices within seconds.
            os.environ.setdefault("GUANJIA_FINANCE_POLL_S", "1")
            os.environ.setdefault("GUANJIA_EINVOICE_QUERY_S", "1")
            # and run whatever the caller's environment says (the test suite turns them off
            # for its own hubs): the finance leg waits for the e-invoice worker.
            os.environ["GUANJIA_FINANCE_POSTER"] = "true"
            hub = s.spawn(
                [
                    "cloud",
                    "serve",
                    "--port",
                    str(port),
                    "--database-url",
                    f"sqlite:///{db}",
                    "--mqtt-port",
                    str(s.broker.port),
                ],
                "cloud.log",
            )
            self._wait_health(hub)
            token = httpx.post(
                f"{s.api}/api/v1/auth/token",
                data={
                    "account": self.seed["account"],
                    "username": self.seed["username"],
                    "password": DEMO_PASSWORD,
                },
                timeout=10,
            )
            token.raise_for_status()
            s.auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
            d.append(
                f"API {s.api}/docs, dashboard {s.api}/web/, database {db}, seller '{self.seed['account']}' seeded"
            )

        with s.step("audit (审单) by the rules") as d:
            for o in self.seed["orders"]:
                full = httpx.get(
                    f"{s.api}/api/v1/orders/{o['order_no']}", headers=s.auth, timeout=10
                ).json()
                why = next(
                    (
                        x["reason"]
                        for x in full.get("decisions", [])
                        if x.get("rule_key") and x["check"] == "courier"
                    ),
                    o["rule"],
                )
                self.orders.append((o, full, why))
            held = [o for o, _, _ in self.orders if o["on_hold"]]
            sf = [o for o, _, _ in self.orders if o["rule"] and o["rule"].startswith("double11")]
            if not held or not sf:
                raise DemoFailed(
                    "expected one order held for a buyer remark and one sent SF by the Double-11 rule"
                )
            d.append(
                f"{len(self.orders)} orders audited; {held[0]['order_no']} held: {held[0]['hold_reason']}"
            )
            d.append(f"{sf[0]['order_no']} ships SF by rule {sf[0]['rule']}")

    def start_marketplace(self) -> None:
        """The marketplace simulator on the wall clock, the demo's shop registered in the hub
        (``guanjia channels add-shop``), a "download now" through the API carried out by
        the hub's own scheduler, then downloads every 5 minutes while the demo runs."""
        s = self.s
        with s.step("marketplace orders (订单下载)") as d:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            self.market_url = url
            s.spawn(
                [
                    "simulators.cli",
                    "sim",
                    "marketplace",
                    "--port",
                    str(port),
                    "--seed",
                    "1",
                    "--wall-clock",
                    "--rate",
                    "0.01",
                    "--sku",
                    SHOP_SKU,
                ],
                "marketplace.log",
            )
            self._wait_up(f"{url}/_sim/clock", "marketplace simulator", "marketplace.log")
            start = datetime.now(UTC) - timedelta(hours=1)
            added = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "simulators.cli",  # `guanjia channels add-shop`
                    "channels",
                    "add-shop",
                    SHOP,
                    "--account",
                    self.seed["account"],
                    "--api-url",
                    f"{url}/router/rest",
                    "--app-key",
                    SIM_APP_KEY,
                    "--session-key",
                    SIM_SESSION,
                    "--secret-file",
                    "-",  # the secret on stdin, never on a command line
                    "--start-from",
                    start.isoformat(),
                    "--database-url",
                    f"sqlite:///{s.dir / 'cloud.db'}",
                ],
                input=SIM_SECRET,
                capture_output=True,
                text=True,
                timeout=60,
            )
            if added.returncode != 0:
                raise DemoFailed(f"adding the demo shop failed: {added.stderr[-1500:]}")
            # A new shop's schedule is on: the hub's scheduler may have claimed it already,
            # and then "download now" is refused (409) while that run goes; either will do.
            queued = httpx.post(
                f"{s.api}/api/v1/channels/shops/{SHOP}/download", headers=s.auth, timeout=15
            )
            if queued.status_code not in (202, 409):
                raise DemoFailed(f"download now of {SHOP}: {queued.status_code} {queued.text}")
            deadline = time.monotonic() + 30
            run: dict[str, Any] = {"outcome": "queued"}
            while run["outcome"] in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(0.2)
                runs = s.http("GET", f"/channels/runs?shop={SHOP}&limit=1")
                run = runs[0] if runs else run
            if run["outcome"] != "ok":
                raise DemoFailed(f"the download of {SHOP} ended {run['outcome']}: {run['error']}")
            # The scheduler's own first run may have come before ours and taken every order
            # (ours then finds none new): the shop's runs so far, summed, are what it fetched.
            done = [
                r
                for r in s.http("GET", f"/channels/runs?shop={SHOP}&limit=20")
                if r["outcome"] == "ok"
            ]
            s.http(
                "PUT", f"/channels/shops/{SHOP}/schedule", json={"interval_s": 300, "enabled": True}
            )
            d.append(
                f"simulator on {url}; shop {SHOP} downloaded: {sum(r['pages'] for r in done)} pages, "
                f"{sum(r['orders_new'] for r in done)} new orders "
                f"({sum(r['orders_held'] for r in done)} held); "
                f"every 5 min after; {s.api}/web/channels/{SHOP}"
            )

    def _wait_up(self, url: str, what: str, log: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise DemoFailed(f"{what} not up after {timeout} s; see {self.s.dir / log}")

    def _wait_health(self, hub: subprocess.Popen[bytes], timeout: float = 120) -> None:
        # A fresh hub runs every migration and warms its pool before it answers: ~10 s on a
        # quiet 2-core machine, several times that on a busy one. Wait while the process lives
        # (a hub that exits is reported at once with its code), up to a bound that still ends.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if hub.poll() is not None:
                raise DemoFailed(
                    f"cloud hub exited with code {hub.returncode}; see {self.s.dir / 'cloud.log'}"
                )
            with contextlib.suppress(httpx.HTTPError):
                h = httpx.get(f"{self.s.api}/api/v1/health", timeout=1).json()
                if h.get("mqtt") == "connected":
                    return
            time.sleep(0.1)
        raise DemoFailed(f"cloud hub not healthy after {timeout} s; see {self.s.dir / 'cloud.log'}")

    def summary_tables(self) -> list[Table]:
        if not self.orders:
            return []
        t = Table(
            title="orders audited by the rules (GET /api/v1/orders/{no} shows every decision)"
        )
        for col in ("order", "status", "carrier", "why"):
            t.add_column(col)
        for o, _full, why in self.orders:
            status = f"{o['status']} (held)" if o["on_hold"] else o["status"]
            t.add_row(o["order_no"], status, o["carrier"] or "", o["hold_reason"] or why)
        return [t]
