"""The demo's broker and cloud hub: a private broker, the hub seeded with the demo seller
(``python -m cloud seed-demo``), served as its own process, and the seed's orders as the
audit rules decided them (read back through the API)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import orjson
from rich.table import Table

from simulators.broker import PrivateBroker
from simulators.demo.session import DemoFailed, Session
from simulators.net import free_port

DEMO_PASSWORD = "guanjia-demo"


class Hub:
    def __init__(self, session: Session) -> None:
        self.s = session
        self.seed: dict[str, Any] = {}
        self.orders: list[tuple[dict[str, Any], dict[str, Any], str]] = []

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
            s.spawn(
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
            self._wait_health()
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

    def _wait_health(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
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
