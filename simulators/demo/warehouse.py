"""The demo's simulated warehouse: release → pick → pack (scale, printers) → ship, and an RFID count.

Three more edge nodes run as their own processes, each a real station kind:

* ``wh1-pick-1`` (kind ``pick``): its PDA API is driven over HTTP (login, start the wave,
  scan bin then item per stop), as a PDA would (docs/pick-api.md);
* ``wh1-pack-1`` (kind ``pack``): scanner lines, the scale simulator on a pty (MT-SICS) and
  one ZPL printer simulator per courier writing label PNGs (docs/stations.md);
* ``wh1-count-1`` (kind ``stocktake``, method ``rfid``): an LLRP reader simulator whose
  tags are SGTIN-96 EPCs of a seeded SKU's GTIN.

The device simulators run in-process on an asyncio loop in a thread (device_sims.py);
everything else goes over sockets, HTTP and the nodes' JSON logs (this package may not
import edge or cloud, nor read their databases).

The hub draws waybill numbers and sets the pick wave at release, and sends each bin's
stock to the nodes; the count's variance waits for a lead, whom the demo plays through
the tasks API. To know a node has the released orders, the demo asks the hub how far the
node's downlink goes (``GET /api/v1/nodes/{id}``: ``down_head``) and waits for the node
to log that it applied it (``down_applied``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
from rich.table import Table

from protocol.devices.epc import encode_sgtin96
from simulators.demo.device_sims import DeviceSims
from simulators.demo.hub import SHOP
from simulators.demo.session import DemoFailed, EdgeProcess, Session, drain, expect, light
from simulators.devices import scanner
from simulators.devices.llrp_scenario import Scenario, ScenarioTag
from simulators.devices.printer import LabelPrinterSimulator
from simulators.net import free_port

PICK_NODE = "wh1-pick-1"
PACK_NODE = "wh1-pack-1"
COUNT_NODE = "wh1-count-1"
NODES = (PICK_NODE, PACK_NODE, COUNT_NODE)
#: Two audited orders of the seed: ZTO (default rule) and SF (Hunan rule, with a gift line).
ORDERS = ("JY1300001", "JY1300002")
WAVE = "W-DEMO-1"
PICKER, PICKER_PIN = "demo.picker", "2468"
PACKAGING_G = 40
#: The wrong item scanned first at the pack station: in the catalogue, not in the order.
WRONG_SKU = "MKING IPAD AIR2 金甲系列皮套-金色"
#: The RFID count: tagged goods received into an empty bin, then its zone swept.
COUNT_SKU = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"
COUNT_BIN, COUNT_ZONE = "A-03", "fast_mover"
RECEIVED, TAGS_PRESENT = 12, 11
#: Lights that are red (edge/stations/common.py Signal).
RED = {"wrong_item", "not_in_order", "over_qty", "unknown", "do_not_ship", "hold", "fault"}


def gtin14_of(ean13: str) -> str:
    return "0" + ean13


def sgtin_uri(gtin14: str, serial: int, prefix_digits: int = 7) -> str:
    """Pure identity URI (GS1 TDS §6.3.1): company prefix, indicator + item reference, serial."""
    body = gtin14[:-1]  # the check digit is not encoded
    prefix = body[1 : 1 + prefix_digits]
    item_ref = body[0] + body[1 + prefix_digits :]
    return f"urn:epc:id:sgtin:{prefix}.{item_ref}.{serial}"


def scrypt_pin_hash(pin: str) -> str:
    """The operators file's scrypt form (docs/pick-api.md): scrypt$N$r$p$salt$hash, base64url."""
    salt = os.urandom(16)
    n, r, p = 2**14, 8, 1
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=2**26)

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).decode().rstrip("=")

    return f"scrypt${n}${r}${p}${b64(salt)}${b64(digest)}"


@dataclass
class Shipped:
    order_no: str
    carrier: str
    waybill: str
    expected_g: int
    status: str = ""
    tracking: str = ""
    weighed_g: int | None = None
    label: str = ""


def _has_png(printer: LabelPrinterSimulator) -> bool:
    return bool(printer.printed) and printer.printed[-1].png is not None


class Warehouse:
    def __init__(self, session: Session, market_url: str = "") -> None:
        self.s = session
        #: The marketplace simulator (hub.py): a downloaded order's shipment is confirmed there.
        self.market_url = market_url
        #: The seed's two orders and one the demo shop's download brought (订单下载).
        self.order_nos: list[str] = list(ORDERS)
        self.channel_order = ""
        self.confirmed: dict[str, Any] = {}
        self.labels = session.dir / "labels"
        self.labels.mkdir(parents=True, exist_ok=True)
        self.nodes: dict[str, EdgeProcess] = {}
        self.scanner_ports: dict[str, int] = {}
        self.pick_api = ""
        self.sims: DeviceSims | None = None
        self.skus: dict[str, dict[str, Any]] = {}
        self.shipped: list[Shipped] = []
        self.picked: list[str] = []
        self.count: dict[str, Any] = {}
        self.epcs = [
            encode_sgtin96(sgtin_uri(gtin14_of("6901234567908"), n))
            for n in range(1, TAGS_PRESENT + 1)
        ]

    # --- plumbing ----------------------------------------------------------------------------

    def http(self, method: str, path: str, **kw: Any) -> Any:
        return self.s.http(method, path, **kw)

    def wait_cloud(self, pred: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.2)
        raise DemoFailed(f"the cloud did not show {what} within {timeout:.0f} s")

    def order(self, no: str) -> dict[str, Any]:
        return dict(self.http("GET", f"/orders/{no}"))

    def barcode(self, sku_code: str) -> str:
        return str(self.skus[sku_code]["barcodes"][0])

    # --- start: devices and nodes ------------------------------------------------------------

    def start_nodes(self) -> None:
        d = self.s
        assert d.broker is not None
        scenario = Scenario(
            tags=[ScenarioTag(epc=e, antennas=(1,), read_rate_hz=20.0) for e in self.epcs],
            antennas=1,
            round_ms=50.0,
        )
        self.sims = DeviceSims(self.labels, ["SF", "ZTO"], scenario)
        self.sims.start()
        common = f"[mqtt]\nport = {d.broker.port}\n\n[sync]\nretry_interval_s = 2.0\n\n"
        self.pick_api = f"http://127.0.0.1:{free_port()}"
        (d.dir / "operators.toml").write_text(
            f'[[operator]]\nid = "{PICKER}"\nname = "演示拣货员"\n'
            f'pin_hash = "{scrypt_pin_hash(PICKER_PIN)}"\nroles = ["pick"]\n',
            encoding="utf-8",
        )
        printers = "".join(
            f'[[printers]]\nname = "{c.lower()}-1"\ncourier = "{c}"\nhost = "127.0.0.1"\n'
            f"port = {p.port}\n\n"
            for c, p in self.sims.printers.items()
        )
        station = {
            PICK_NODE: '[station]\nkind = "pick"\nname = "pick-1"\n\n'
            f'[pick]\noperators = "operators.toml"\nhost = "127.0.0.1"\n'
            f'port = {self.pick_api.rsplit(":", 1)[1]}\nwarehouse = "WH1"\n\n',
            PACK_NODE: '[station]\nkind = "pack"\nname = "pack-1"\n\n'
            f'[scale]\nport = "{self.sims.scale_port}"\nprotocol = "mt-sics"\n\n{printers}'
            f"[pack]\ntolerance_abs_g = 30\ndefault_packaging_g = {PACKAGING_G}\n"
            "weigh_timeout_s = 20\n\n",
            COUNT_NODE: '[station]\nkind = "stocktake"\nname = "count-1"\n\n'
            f'[rfid]\nhost = "127.0.0.1"\nport = {self.sims.reader.port}\nantennas = [1]\n\n'
            '[stocktake]\nwarehouse = "WH1"\nmethod = "rfid"\nsweep_flush_s = 0.3\n\n',
        }
        for node, text in station.items():
            port = free_port()
            self.scanner_ports[node] = port
            cfg = d.dir / f"{node}.toml"
            cfg.write_text(
                f'[node]\nid = "{node}"\ndata_dir = "{node}-data"\n\n{common}{text}'
                f"[scanner]\nport = {port}\n",
                encoding="utf-8",
            )
            self.nodes[node] = d.start_edge(cfg, node)

    def nodes_up(self) -> None:
        with self.s.step("warehouse nodes") as detail:
            self._nodes_up(detail)

    def _nodes_up(self, detail: list[str]) -> None:
        for node, edge in self.nodes.items():
            up = edge.wait_for(lambda r: "scanner_port" in r, 30, f"{node} start-up")
            edge.wait_for(lambda r: r.get("down_applied", 0) >= 1, 30, f"{node}'s downlink")
            detail.append(f"{node} up (epoch {up['epoch']})")
        assert self.sims is not None
        detail.append(
            f"scale sim on {self.sims.scale_port}, printers "
            + ", ".join(f"{c}:{p.port}" for c, p in self.sims.printers.items())
            + f", LLRP reader :{self.sims.reader.port}"
        )

    # --- the scenario ---------------------------------------------------------------------

    def run(self) -> None:
        d = self.s
        with d.step("release orders to WH1") as det:
            self._release(det)
        with d.step("pick (PDA API)") as det:
            self._pick(det)
        with d.step("pack: scan, weigh, label") as det:
            self._pack(det)
        with d.step("ship") as det:
            self._ship(det)
        with d.step("shipment confirmed to the marketplace (发货)") as det:
            self._confirmed(det)
        with d.step("RFID count of a zone") as det:
            self._count(det)

    def _channel_order(self) -> str:
        """An audited order of the demo shop's download, with a carrier the pack station has a
        printer for: it goes through the warehouse beside the seed's two, and once shipped
        its shipment is confirmed back to the marketplace (taobao.logistics.offline.send)."""
        assert self.sims is not None
        rows = self.http("GET", "/orders", params={"shop": SHOP, "status": "audited", "limit": 100})
        for o in rows:
            if not o["on_hold"] and o["reserved"] and o["carrier"] in self.sims.printers:
                return str(o["order_no"])
        raise DemoFailed(
            f"shop {SHOP}'s download brought no audited order to ship "
            f"({len(rows)} audited; printers for {', '.join(self.sims.printers)})"
        )

    def _release(self, det: list[str]) -> None:
        self.channel_order = self._channel_order()
        self.order_nos = [*ORDERS, self.channel_order]
        det.append(f"{self.channel_order}: downloaded from shop {SHOP}, audited by the rules")
        codes = {ln["sku_code"] for no in self.order_nos for ln in self.order(no)["lines"]}
        for code in sorted(codes | {WRONG_SKU, COUNT_SKU}):
            self.skus[code] = self.http("GET", f"/skus/{code}")
        # GTIN for the RFID leg: GTIN-14 of the SKU's EAN-13 (GS1 General Specifications §3.3.2).
        sku = self.skus[COUNT_SKU]
        if not sku.get("gtin"):
            body = {
                k: v
                for k, v in sku.items()
                if k not in ("id", "account_id", "changed_by", "changed_at", "version")
            }
            body["gtin"] = gtin14_of(str(sku["barcodes"][0]))
            self.skus[COUNT_SKU] = self.http("PUT", f"/skus/{COUNT_SKU}", json=body)
        det.append(f"GTIN {self.skus[COUNT_SKU]['gtin']} set on {COUNT_SKU}")
        self.http(
            "POST",
            "/stock/receipts",
            json={"warehouse": "WH1", "sku_code": COUNT_SKU, "qty": RECEIVED, "bin": COUNT_BIN},
        )
        det.append(f"{RECEIVED} tagged units received into {COUNT_BIN}")
        # The hub draws each order's waybill (面单号) at release and puts the orders in
        # one pick wave; bins and their stock reach the nodes through the downlink.
        for no in self.order_nos:
            o = self.order(no)
            if o["status"] != "audited" or o["on_hold"]:
                raise DemoFailed(f"order {no} is {o['status']} (on hold {o['on_hold']})")
            # Leased to the pick node by name: the hub would choose it too, once it has
            # heard the node's start; naming it does not depend on that having arrived.
            released = self.http(
                "POST", f"/orders/{no}/release", json={"wave": WAVE, "pick_node": PICK_NODE}
            )
            waybill = released.get("tracking_number") or ""
            if not waybill:
                raise DemoFailed(f"order {no} was released without a waybill number")
            grams = PACKAGING_G + sum(
                int(self.skus[ln["sku_code"]].get("weight_g") or 0) * int(ln["qty"])
                for ln in o["lines"]
            )
            self.shipped.append(Shipped(no, o["carrier"], waybill, grams))
            lease = released["history"][-1]["reason"]  # "wave …, pick node …"
            det.append(f"{no} ({o['carrier']}, waybill {waybill}) released: {lease}")

    def _has_released(self, node: str, timeout: float = 20) -> None:
        """Wait until ``node`` has the orders released so far: it has applied its downlink up
        to the head the hub reports now (the release appended to it in its transaction)."""
        head = int(self.http("GET", f"/nodes/{node}")["down_head"])
        self.nodes[node].wait_for(
            lambda r: r.get("down_applied", 0) >= head,
            timeout,
            f"{node} applying its downlink through {head} (the released orders)",
        )

    def _pick(self, det: list[str]) -> None:
        self._has_released(PICK_NODE)
        api = f"{self.pick_api}/api/v1"
        login = httpx.post(f"{api}/login", json={"operator": PICKER, "pin": PICKER_PIN}, timeout=10)
        if login.status_code != 200:
            raise DemoFailed(f"pick login: {login.status_code} {login.text[:200]}")
        h = {"Authorization": f"Bearer {login.json()['token']}"}
        waves = httpx.get(f"{api}/waves", headers=h, timeout=10).json()
        if not any(w["wave"] == WAVE for w in waves):
            raise DemoFailed(f"pick API lists no wave {WAVE}: {waves}")
        n_key = 0

        def post(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            nonlocal n_key
            n_key += 1
            r = httpx.post(
                f"{api}{path}",
                json=body,
                headers={**h, "Idempotency-Key": f"demo-{n_key}"},
                timeout=10,
            )
            if r.status_code != 200:
                raise DemoFailed(f"pick API {path}: {r.status_code} {r.text[:300]}")
            return dict(r.json())

        # The same requests the PDA's pick page makes (edge/pda/static/js/pick.js): its
        # shell, then the wave's stops, the operator's current stop and the wave's
        # barcodes (the page judges scans with them), then one POST per scan.
        page = httpx.get(f"{self.pick_api}/pda/pick", timeout=10)
        if page.status_code != 200 or 'id="scan"' not in page.text:
            raise DemoFailed(f"PDA pick page: {page.status_code} {page.text[:200]}")
        res = post(f"/waves/{WAVE}/start")
        route = httpx.get(f"{api}/picks/{WAVE}", headers=h, timeout=10).json()
        current = httpx.get(f"{api}/picks/current", headers=h, timeout=10).json()
        if current.get("wave") != WAVE:
            raise DemoFailed(f"pick API: current wave {current.get('wave')!r}, not {WAVE}")
        codes = httpx.get(
            f"{self.pick_api}/pda/api/codes", params={"wave": WAVE}, headers=h, timeout=10
        ).json()
        item_barcode: dict[str, str] = {}
        for code, sku in sorted(codes["items"].items()):
            item_barcode.setdefault(sku, code)
        det.append(
            f"{PICKER} logged in; wave {WAVE}: {len(route['stops'])} stops, "
            f"route {route['route_m']:.1f} m"
        )
        for _ in range(100):
            if res["verdict"] == "complete" or res["expect"] is None:
                break
            stop = res["next"]
            if stop is None:
                raise DemoFailed(f"pick: no next stop but expecting {res['expect']}")
            if res["expect"] == "bin":
                res = post("/scan", {"barcode": stop.get("bin_barcode") or stop["bin"]})
                if res["verdict"] != "ok":
                    raise DemoFailed(f"pick: bin {stop['bin']} refused: {res['text']}")
            else:
                # A hand is slower than the double-read window (pick.duplicate_window_ms).
                time.sleep(0.1)
                res = post("/scan", {"barcode": item_barcode[stop["sku_code"]]})
                if res["verdict"] not in ("ok", "complete"):
                    raise DemoFailed(f"pick: item {stop['sku_code']} refused: {res['text']}")
                if res["kind"] == "stop.done" or res["verdict"] == "complete":
                    self.picked.append(f"{stop['bin']}: {stop['qty']} × {stop['sku_code']}")
        if res["verdict"] != "complete":
            raise DemoFailed(f"pick: wave not complete: {res['text']}")
        p = res["progress"]
        det.append(f"{p['units_picked']}/{p['units_total']} units from {p['stops_total']} stops")
        det.append(f"PDA light {res['signal']}: {res['text']}")
        det.append(f"as the PDA page at {self.pick_api}/pda")
        self.wait_cloud(
            lambda: all(self.order(no)["status"] == "picked" for no in self.order_nos),
            20,
            "the orders picked",
        )
        det.append("cloud: " + ", ".join(f"{no} picked" for no in self.order_nos))

    def _pack(self, det: list[str]) -> None:
        assert self.sims is not None
        edge = self.nodes[PACK_NODE]
        port = self.scanner_ports[PACK_NODE]
        self._has_released(PACK_NODE)
        pos = drain(edge)  # only lights after our first scan count
        for k, s in enumerate(self.shipped):
            o = self.order(s.order_no)
            scanner.send("127.0.0.1", port, [s.waybill])
            rec, pos = expect(edge, pos, light, 10, f"the light for waybill {s.waybill}")
            if rec["signal"] in RED:
                raise DemoFailed(f"pack: waybill {s.waybill} refused: {rec['msg']}")
            if k == 0:
                wrong = self.barcode(WRONG_SKU)
                scanner.send("127.0.0.1", port, [wrong])
                rec, pos = expect(edge, pos, light, 10, "the light for the wrong item")
                if rec["signal"] not in RED:
                    raise DemoFailed(f"pack: wrong item {wrong} was not refused: {rec['msg']}")
                det.append(f"{s.order_no}: wrong item {wrong} → light RED ({rec['msg'][6:]})")
            for ln in o["lines"]:
                for _ in range(int(ln["qty"])):
                    code = self.barcode(ln["sku_code"])
                    # A hand is slower than the double-read window (pack.duplicate_window_ms).
                    time.sleep(0.1)
                    scanner.send("127.0.0.1", port, [code])
                    rec, pos = expect(edge, pos, light, 10, f"the light for {code}")
                    if rec["signal"] not in ("ok", "complete"):
                        raise DemoFailed(f"pack: item {code} refused: {rec['msg']}")
            self.sims.set_weight(s.expected_g)
            rec, pos = expect(
                edge,
                pos,
                lambda r: light(r) and r["signal"] in ("complete", *RED),
                30,
                f"the label of {s.order_no}",
            )
            if rec["signal"] != "complete":
                raise DemoFailed(f"pack: {s.order_no} not labelled: {rec['msg']}")
            self.sims.set_weight(0)  # the parcel leaves the scale
            printer = self.sims.printers[s.carrier]
            self._wait(partial(_has_png, printer), 5)
            png = printer.printed[-1].png
            s.label = png.name if png is not None else "(no PNG)"
            det.append(
                f"{s.order_no}: {len(o['lines'])} line(s) GREEN, {s.expected_g} g on the scale, "
                f"{s.carrier} label {s.waybill} → {s.label}"
            )
            # Let the scale read empty before the next order opens (no stale parcel weight).
            time.sleep(0.4)
        self.wait_cloud(
            lambda: all(self.order(s.order_no)["status"] == "labelled" for s in self.shipped),
            20,
            "the orders labelled",
        )
        det.append(f"label PNGs in {self.labels}")

    @staticmethod
    def _wait(pred: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not pred() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _ship(self, det: list[str]) -> None:
        for s in self.shipped:
            o = self.http("POST", f"/orders/{s.order_no}/ship")
            s.status, s.tracking, s.weighed_g = o["status"], o.get("tracking_number") or "", None
            full = self.order(s.order_no)
            s.weighed_g = full.get("weighed_g") or full.get("weight_g")
            det.append(f"{s.order_no} {s.status}, {s.carrier} {s.tracking}, {s.weighed_g} g")
        if any(s.status != "shipped" for s in self.shipped):
            raise DemoFailed("not every order shipped")

    def _confirmed(self, det: list[str]) -> None:
        """The downloaded order's shipment reaches its marketplace through the hub's outbox
        (docs/channels.md, shipment confirmation): done in the hub, and in the simulator's own
        record of confirmations with our tracking number, once."""
        no = self.channel_order
        tracking = next(s.tracking for s in self.shipped if s.order_no == no)
        rows: list[dict[str, Any]] = []

        def done() -> bool:
            nonlocal rows
            rows = self.http("GET", f"/channels/orders/{no}/shipments")
            return any(r["state"] == "done" for r in rows)

        self.wait_cloud(done, 30, f"the shipment of {no} confirmed to the marketplace")
        row = next(r for r in rows if r["state"] == "done")
        truth = httpx.get(f"{self.market_url}/_sim/truth", timeout=10).json()
        theirs = [c for c in truth["shipments"] if c["out_sid"] == tracking]
        if len(theirs) != 1 or str(theirs[0]["tid"]) != row["external_id"]:
            raise DemoFailed(
                f"the marketplace recorded {len(theirs)} shipment(s) with tracking {tracking} "
                f"for trade {row['external_id']}: {theirs}"
            )
        self.confirmed = {
            "order": no,
            "tid": row["external_id"],
            "tracking": tracking,
            "company": theirs[0]["company_code"],
            "attempts": row["attempts"],
        }
        det.append(
            f"{no} → trade {row['external_id']}: {theirs[0]['company_code']} {tracking} "
            f"confirmed once, after {row['attempts']} attempt(s) (hub outbox: done)"
        )

    def _count(self, det: list[str]) -> None:
        edge = self.nodes[COUNT_NODE]
        port = self.scanner_ports[COUNT_NODE]
        pos = drain(edge)
        scanner.send("127.0.0.1", port, [f"#GJ:START:partial:rfid:{COUNT_BIN}"])
        rec, pos = expect(edge, pos, light, 10, "the count starting")
        if rec["signal"] in RED:
            raise DemoFailed(f"count: start refused: {rec['msg']}")
        scanner.send("127.0.0.1", port, [f"#GJ:ZONE:{COUNT_ZONE}"])
        seen = 0
        while seen < TAGS_PRESENT:
            rec, pos = expect(
                edge, pos, lambda r: light(r) and "new tag" in r["msg"], 15, "the tags counted"
            )
            hit = re.search(r"(\d+) new tag", rec["msg"])
            seen += int(hit.group(1)) if hit else 0
        det.append(f"zone {COUNT_ZONE} ({COUNT_BIN}) swept: {seen} SGTIN-96 tags")
        scanner.send("127.0.0.1", port, ["#GJ:FINISH"])
        rec, pos = expect(edge, pos, lambda r: light(r) and r["signal"] == "complete", 10, "finish")
        det.append(rec["msg"])
        # The hub books nothing by itself: the variance waits as a task until a lead
        # approves it; the approval books an ``adjust`` movement per bin (never an edit).
        task: dict[str, Any] = {}

        def waiting() -> bool:
            nonlocal task
            open_ = [
                t
                for t in self.http("GET", "/tasks", params={"status": "open"})
                if t["kind"] == "count_variance" and t.get("node_id") == COUNT_NODE
            ]
            task = open_[0] if open_ else {}
            return bool(task)

        self.wait_cloud(waiting, 20, "the count's variance task")
        det.append(f"task {task['id']}: {task['detail']}")
        done = self.http(
            "POST",
            f"/tasks/{task['id']}/resolve",
            json={"resolution": "recounted by the lead: confirmed", "approve": True},
        )
        det.append(f"lead approved: {done['resolution']}")
        moves = [
            m
            for m in self.http("GET", "/stock/movements", params={"sku_code": COUNT_SKU})
            if m["kind"] == "adjust" and str(m["document"]).startswith("count:")
        ]
        if not moves:
            raise DemoFailed("the approved count booked no adjustment")
        rows = self.http(
            "GET", "/stock/warehouses/WH1", params={"columns": "on_hand,bins", "q": "鸟语花香"}
        )
        in_bin = next((b["qty"] for r in rows for b in r["bins"] if b["bin"] == COUNT_BIN), None)
        m = moves[0]
        self.count = {
            "expected": RECEIVED,
            "counted": seen,
            "variance": seen - RECEIVED,
            "bin_now": in_bin,
            "movement": f"adjust {m['qty_delta']:+d} in {m['bin_code']} ({m['document']})",
        }
        det.append(f"cloud booked {self.count['movement']}")
        det.append(f"variance {seen - RECEIVED:+d}; cloud bin {COUNT_BIN} now {in_bin}")

    # --- summary ------------------------------------------------------------------------------

    def summary_tables(self) -> list[Table]:
        out: list[Table] = []
        if self.shipped:
            t = Table(title="orders through the warehouse (GET /api/v1/orders/{no})")
            for col in ("order", "carrier", "status", "tracking", "weighed g", "label PNG"):
                t.add_column(col)
            for s in self.shipped:
                t.add_row(
                    s.order_no,
                    s.carrier,
                    s.status or "(not shipped)",
                    s.tracking or s.waybill,
                    "" if s.weighed_g is None else str(s.weighed_g),
                    s.label,
                )
            out.append(t)
        if self.count:
            t = Table(title=f"RFID count of zone {COUNT_ZONE} by {COUNT_NODE}")
            for col in ("bin", "SKU", "expected", "counted", "variance", "cloud bin now", "ledger"):
                t.add_column(col)
            t.add_row(
                COUNT_BIN,
                COUNT_SKU,
                str(self.count["expected"]),
                str(self.count["counted"]),
                f"{self.count['variance']:+d}",
                str(self.count["bin_now"]),
                self.count["movement"],
            )
            out.append(t)
        return out

    def stop(self) -> None:
        if self.sims is not None:
            self.sims.stop()
