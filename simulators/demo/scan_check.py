"""The walking skeleton: one scan-check node (``wh1-check-1``, station kind ``demo``).

A SKU is put through the API; the node boots and gets it over the downlink; the scanner
simulator types a known barcode (light green, committed, synced, acked) and an unknown
one (light red, recorded in the cloud with verdict ``unknown``).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import orjson
from rich.table import Table

from simulators.demo.session import DemoFailed, EdgeProcess, Session
from simulators.devices import scanner
from simulators.net import free_port

NODE = "wh1-check-1"
SKU: dict[str, Any] = {
    "sku_code": "MKING IPAD AIR2 金甲系列皮套-金色",
    "name": "MKING iPad Air 2 金甲系列皮套 金色",
    "barcodes": ["6901234567892"],
    "weight_g": 180,
}
UNKNOWN_BARCODE = "6900000000017"


class ScanCheck:
    def __init__(self, session: Session) -> None:
        self.s = session
        self.scanner_port = 0
        self.edge: EdgeProcess | None = None

    def put_sku(self) -> None:
        s = self.s
        with s.step("catalogue") as d:
            r = httpx.put(
                f"{s.api}/api/v1/skus/{SKU['sku_code']}", json=SKU, headers=s.auth, timeout=10
            )
            r.raise_for_status()
            d.append(f"SKU {SKU['sku_code']} with barcode {SKU['barcodes'][0]}")

    def start_node(self) -> None:
        s = self.s
        assert s.broker is not None
        with s.step("edge node") as d:
            self.scanner_port = free_port()
            cfg = s.dir / "edge.toml"
            cfg.write_text(
                f'[node]\nid = "{NODE}"\ndata_dir = "edge-data"\n\n'
                f"[mqtt]\nport = {s.broker.port}\n\n"
                '[station]\nkind = "demo"\nname = "pack-1"\n\n'
                f"[scanner]\nport = {self.scanner_port}\n\n"
                "[sync]\nretry_interval_s = 2.0\n",
                encoding="utf-8",
            )
            self.edge = s.start_edge(cfg, "edge")
            up = self.edge.wait_for(lambda r: "scanner_port" in r, 20, "start-up")
            d.append(f"node {NODE}, epoch {up['epoch']}, scanner port {self.scanner_port}")
            self.edge.wait_for(
                lambda r: r.get("down_applied", 0) >= 1, 20, "the catalogue arriving"
            )
            d.append("catalogue received over the downlink")

    def run(self) -> None:
        s = self.s
        assert self.edge is not None
        good = str(SKU["barcodes"][0])
        with s.step("scan a known barcode") as d:
            scanner.send("127.0.0.1", self.scanner_port, [good])
            rec = self.edge.wait_for(
                lambda r: r.get("barcode") == good and "seq" in r, 10, "the scan commit"
            )
            seq = int(rec["seq"])
            d.append(f"committed locally as seq {seq}")
            light = self.edge.wait_for(lambda r: r.get("signal") == "ok", 10, "the green light")
            d.append(f"light GREEN ({light['msg'].split(': ', 1)[-1]})")
        with s.step("synced to the cloud") as d:
            stored = self._wait_event(good)
            d.append(
                f"cloud stored {stored['type']} seq {stored['seq']} verdict {stored['payload']['verdict']}"
            )
            self.edge.wait_for(
                lambda r: r.get("acked_through", 0) >= seq, 15, f"the ack for seq {seq}"
            )
            d.append(f"acked back through seq {seq}")
        with s.step("scan an unknown barcode") as d:
            scanner.send("127.0.0.1", self.scanner_port, [UNKNOWN_BARCODE])
            self.edge.wait_for(lambda r: r.get("signal") == "unknown", 10, "the red light")
            d.append(f"{UNKNOWN_BARCODE} is not in the catalogue: light RED")
            stored = self._wait_event(UNKNOWN_BARCODE)
            d.append(f"recorded in the cloud with verdict {stored['payload']['verdict']}")

    def _wait_event(self, barcode: str, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = httpx.get(
                f"{self.s.api}/api/v1/events",
                params={"node": NODE, "type": "scan.recorded"},
                headers=self.s.auth,
                timeout=5,
            )
            rows.raise_for_status()
            for row in rows.json():
                if row["payload"]["barcode"] == barcode:
                    return dict(row)
            time.sleep(0.1)
        raise DemoFailed(f"the cloud did not store the scan of {barcode} within {timeout} s")

    def summary_tables(self) -> list[Table]:
        api = self.s.api
        with contextlib.suppress(httpx.HTTPError):
            rows = httpx.get(
                f"{api}/api/v1/events", params={"node": NODE}, headers=self.s.auth, timeout=5
            ).json()
            t = Table(title=f"events of {NODE} as the cloud stored them ({api}/api/v1/events)")
            for col in ("seq", "epoch", "type", "payload"):
                t.add_column(col)
            for r in rows:
                t.add_row(
                    str(r["seq"]), str(r["epoch"]), r["type"], orjson.dumps(r["payload"]).decode()
                )
            return [t]
        return []
