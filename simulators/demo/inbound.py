"""The demo's inbound and after-sales leg (docs/inbound.md): a purchase order received at the
dock with a QC fail, stock transferred to a second warehouse, and a return taken back to
sellable and to damaged.

It runs on the parts the warehouse leg started (warehouse.py): the pick node's handheld API
(``/api/v1/desks/{kind}``, docs/pda.md "Receiving and returns") is the receiving station and
the returns table, as a PDA at the dock uses them, and picks the transfer leaving WH1 as a
wave under its number; the hub's API makes the documents and
reads back what was booked from the node's facts. Nothing here is booked by the demo
itself except the transfer's receipt at the second warehouse, which has no node in the demo
and so is received through ``POST /api/v1/transfers/{number}/receipts``, as a warehouse
without a node receives.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from rich.table import Table

from simulators.demo.session import DemoFailed, Session
from simulators.demo.warehouse import PICK_NODE, PICKER, PICKER_PIN, Warehouse

PO_NUMBER = "PO-DEMO-IN-1"
#: The courier waybill of the PO's delivery, entered on the PO (its delivery references)
#: and scanned at the dock instead of the PO number (docs/inbound.md "ASN scan").
PO_WAYBILL = "SF1400000088"
PO_SKU = "MKING IPAD AIR2 金甲系列皮套-金色"
PO_QTY, PO_FAILED = 6, 1
QC_REASON = "外箱压坏"
#: The second warehouse (分仓) and what is transferred to it.
WH2 = "WH2"
TRANSFER = "TF-DEMO-1"
TRANSFER_SKU = "GIFT 贴膜"
#: Few units: each is one scan on the sending node's handheld (a hand is ~0.1 s a scan).
TRANSFER_QTY = 8
#: The returned order (two units of one SKU, warehouse.py's second order) and its parcel.
RETURN_ORDER = "JY1300002"
RETURN_NO = "AS-DEMO-1"
RETURN_WAYBILL = "SF9000000088"
DAMAGE_REASON = "屏幕划伤"


class Inbound:
    def __init__(self, session: Session, warehouse: Warehouse) -> None:
        self.s = session
        self.w = warehouse
        self.h: dict[str, str] = {}
        self.n_key = 0
        self.result: dict[str, str] = {}

    def http(self, method: str, path: str, **kw: Any) -> Any:
        return self.s.http(method, path, **kw)

    def run(self) -> None:
        s = self.s
        with s.step("receive a PO at the dock (QC fail)") as det:
            self._receive_po(det)
        with s.step("transfer (调拨) to a second warehouse") as det:
            self._transfer(det)
        with s.step("return: sellable and damaged") as det:
            self._return(det)

    # --- the handheld at the dock ---------------------------------------------------------

    def _login(self) -> None:
        if self.h:
            return
        r = httpx.post(
            f"{self.w.pick_api}/api/v1/login",
            json={"operator": PICKER, "pin": PICKER_PIN},
            timeout=10,
        )
        if r.status_code != 200:
            raise DemoFailed(f"handheld login: {r.status_code} {r.text[:200]}")
        self.h = {"Authorization": f"Bearer {r.json()['token']}"}

    def desk(self, kind: str, what: str, text: str) -> dict[str, Any]:
        """One scan or operator key at the handheld's receiving or returns desk."""
        self.n_key += 1
        body = {"barcode": text} if what == "scan" else {"key": text}
        r = httpx.post(
            f"{self.w.pick_api}/api/v1/desks/{kind}/{what}",
            json=body,
            headers={**self.h, "Idempotency-Key": f"demo-desk-{self.n_key}"},
            timeout=10,
        )
        if r.status_code != 200:
            raise DemoFailed(f"desk {kind} {what} {text!r}: {r.status_code} {r.text[:300]}")
        return dict(r.json())

    def _barcode(self, sku: str) -> str:
        return str(self.http("GET", f"/skus/{sku}")["barcodes"][0])

    def _wait(self, read: Any, done: Any, what: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            got = read()
            if done(got):
                return got
            if time.monotonic() > deadline:
                raise DemoFailed(f"the cloud did not show {what} within {timeout:.0f} s")
            time.sleep(0.2)

    def ledger(self, document: str) -> str:
        """What the cloud's stock ledger booked for ``document``, oldest first: the proof
        that a receipt or return was booked once, where its units went."""
        rows = self.http("GET", "/stock/movements", params={"document": document})
        parts = [
            f"{m['warehouse']} {m['bucket']} {m['qty_delta']:+d}"
            + (f" ({m['bin_code']})" if m["bin_code"] else "")
            for m in sorted(rows, key=lambda m: (m["created_at"], m["qty_delta"]))
        ]
        return f"ledger {document}: " + ", ".join(parts)

    # --- the legs -------------------------------------------------------------------------

    def _receive_po(self, det: list[str]) -> None:
        po = self.http(
            "POST",
            "/purchase-orders",
            json={
                "number": PO_NUMBER,
                "warehouse": "WH1",
                "supplier": "DG-LEATHER",
                "lines": [{"sku_code": PO_SKU, "qty": PO_QTY, "unit_price": "38.50"}],
                "delivery_refs": [PO_WAYBILL],
                "confirm": True,
            },
        )
        det.append(
            f"{PO_NUMBER} confirmed: {PO_QTY} × {PO_SKU}, delivery waybill "
            f"{', '.join(po['delivery_refs'])}"
        )
        self.w._has_released(PICK_NODE)
        self._login()
        code = self._barcode(PO_SKU)
        r = self.desk("inbound", "scan", PO_WAYBILL)
        if r["kind"] != "po.open" or r["view"]["document"] != PO_NUMBER:
            raise DemoFailed(f"dock: waybill {PO_WAYBILL} did not open {PO_NUMBER}: {r['text']}")
        det.append(f"dock ({PICK_NODE} handheld): waybill {PO_WAYBILL} opened {PO_NUMBER}")
        for k in range(PO_QTY):
            if k == PO_QTY - PO_FAILED:
                self.desk("inbound", "key", f"FAIL:{QC_REASON}")
            # A hand is slower than the station's double-read window.
            time.sleep(0.1)
            r = self.desk("inbound", "scan", code)
            if r["kind"] not in ("item.pass", "item.fail"):
                raise DemoFailed(f"dock: item {code} refused: {r['text']}")
        line = r["view"]["lines"][0]
        det.append(f"counted {line['passed']} passed, {line['failed']} QC fail ({QC_REASON})")
        r = self.desk("inbound", "key", "FINISH")
        bins = []
        for _ in range(10):
            put = r["view"].get("putaway")
            if r["view"]["receipt_id"] is None or not put:
                break
            r = self.desk("inbound", "scan", put["bin"])
            if r["signal"] not in ("ok", "complete", "prompt"):
                raise DemoFailed(f"dock: putaway to {put['bin']} refused: {r['text']}")
            bins.append(f"{put['qty']} {put['verdict']} → {put['bin']} ({put['zone']})")
        if r["kind"] != "receipt.done":
            raise DemoFailed(f"dock: receipt not done: {r['kind']} {r['text']}")
        det.append("put away by bin scan: " + ", ".join(bins))
        got = self._wait(
            lambda: self.http("GET", f"/purchase-orders/{PO_NUMBER}/receipts"),
            bool,
            f"the receipt of {PO_NUMBER}",
        )
        po = self.http("GET", f"/purchase-orders/{PO_NUMBER}")
        ln = po["lines"][0]
        self.result["receipt"] = (
            f"{PO_NUMBER}: {len(got)} receipt(s) booked, {ln['received']} received, "
            f"{ln['rejected']} QC failed, status {po['status']}"
        )
        det.append("cloud: " + self.result["receipt"] + f" (receipt {got[0]['receipt_id']})")
        det.append(self.ledger(f"po:{PO_NUMBER}"))

    def _transfer(self, det: list[str]) -> None:
        if not any(w["code"] == WH2 for w in self.http("GET", "/warehouses")):
            self.http("POST", "/warehouses", json={"code": WH2, "name": "华南分仓"})
        self.http(
            "POST",
            "/transfers",
            json={
                "number": TRANSFER,
                "from_warehouse": "WH1",
                "to_warehouse": WH2,
                "lines": [{"sku_code": TRANSFER_SKU, "qty": TRANSFER_QTY}],
                "audit": True,
            },
        )
        self._ship_from_node(det)
        t = self._wait(
            lambda: self.http("GET", f"/transfers/{TRANSFER}"),
            lambda t: t["status"] == "shipped",
            f"{TRANSFER} shipped by {PICK_NODE}",
        )
        det.append(
            f"{TRANSFER} WH1 → {WH2} audited (出库审核), picked and shipped by {t['pick_node']}: "
            f"{t['lines'][0]['in_transit']} × {TRANSFER_SKU} in transit"
        )
        self.http(
            "POST",
            f"/transfers/{TRANSFER}/receipts",
            json={
                "receipt_id": f"{TRANSFER}-R1",
                "warehouse": WH2,
                "lines": [{"sku_code": TRANSFER_SKU, "qty": TRANSFER_QTY}],
            },
        )
        t = self.http("GET", f"/transfers/{TRANSFER}")
        ln = t["lines"][0]
        self.result["transfer"] = (
            f"{TRANSFER}: {ln['received']} received at {WH2}, {ln['in_transit']} in transit, "
            f"status {t['status']}"
        )
        det.append(f"{WH2} (no node in the demo) received it by the API: {self.result['transfer']}")
        det.append(self.ledger(f"tr:{TRANSFER}"))

    def _ship_from_node(self, det: list[str]) -> None:
        """The audited transfer picked on the sending node's handheld, as a wave under its
        number (docs/inbound.md "Transfers"): the node reports ``transfer.shipped``."""
        self.w._has_released(PICK_NODE)
        self._login()
        api = f"{self.w.pick_api}/api/v1"
        waves = httpx.get(f"{api}/waves", headers=self.h, timeout=10).json()
        if not any(w["wave"] == TRANSFER for w in waves):
            raise DemoFailed(f"{PICK_NODE} offers no transfer {TRANSFER}: {waves}")

        def post(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            self.n_key += 1
            r = httpx.post(
                f"{api}{path}",
                json=body,
                headers={**self.h, "Idempotency-Key": f"demo-transfer-{self.n_key}"},
                timeout=10,
            )
            if r.status_code != 200:
                raise DemoFailed(f"transfer pick {path}: {r.status_code} {r.text[:300]}")
            return dict(r.json())

        res = post(f"/waves/{TRANSFER}/start")
        code = self._barcode(TRANSFER_SKU)
        for _ in range(4 * TRANSFER_QTY + 10):
            if res["verdict"] == "complete" or res["expect"] is None:
                break
            stop = res["next"]
            if stop is None:
                raise DemoFailed(f"transfer pick: no next stop but expecting {res['expect']}")
            if res["expect"] == "bin":
                res = post("/scan", {"barcode": stop.get("bin_barcode") or stop["bin"]})
            else:
                time.sleep(0.1)  # a hand is slower than the double-read window
                res = post("/scan", {"barcode": code})
            if res["verdict"] not in ("ok", "complete"):
                raise DemoFailed(f"transfer pick: {res['kind']} {res['text']}")
        if res["verdict"] != "complete":
            raise DemoFailed(f"transfer pick not complete: {res['text']}")
        det.append(f"{PICK_NODE} handheld ({PICKER}): {res['text']}")

    def _return(self, det: list[str]) -> None:
        order = self.http("GET", f"/orders/{RETURN_ORDER}")
        line = next(ln for ln in order["lines"] if int(ln["qty"]) >= 2)
        sku = line["sku_code"]
        self.http(
            "POST",
            "/aftersales",
            json={
                "order_no": RETURN_ORDER,
                "kind": "return",
                "number": RETURN_NO,
                "reason": "买家七天无理由退货",
                "return_waybill": RETURN_WAYBILL,
                "lines": [{"order_line_id": str(line["line_id"]), "qty": 2}],
            },
        )
        self.http("POST", f"/aftersales/{RETURN_NO}/approve", json={"note": "同意退货"})
        det.append(f"{RETURN_NO}: return of 2 × {sku} from {RETURN_ORDER} approved")
        self.w._has_released(PICK_NODE)
        self._login()
        code = self._barcode(sku)
        r = self.desk("returns", "scan", RETURN_WAYBILL)
        if r["view"]["document"] != RETURN_NO:
            raise DemoFailed(
                f"returns table: {RETURN_WAYBILL} did not open {RETURN_NO}: {r['text']}"
            )
        self.desk("returns", "scan", code)
        self.desk("returns", "key", f"DAMAGED:{DAMAGE_REASON}")
        time.sleep(0.1)  # slower than the double-read window
        r = self.desk("returns", "scan", code)
        ln = r["view"]["lines"][0]
        det.append(
            f"returns table: parcel {RETURN_WAYBILL}, {ln['passed']} sellable, "
            f"{ln['failed']} damaged ({DAMAGE_REASON})"
        )
        r = self.desk("returns", "key", "FINISH")
        if r["view"]["receipt_id"] is not None:
            raise DemoFailed(f"returns table: not finished: {r['text']}")
        req = self._wait(
            lambda: self.http("GET", f"/aftersales/{RETURN_NO}"),
            lambda q: q["receipt_id"] is not None,
            f"the return {RETURN_NO} received",
        )
        rl = req["lines"][0]
        self.result["return"] = (
            f"{RETURN_NO}: {rl['sellable']} back to sellable, {rl['damaged']} damaged, "
            f"status {req['status']}"
        )
        det.append("cloud: " + self.result["return"])
        det.append(self.ledger(f"as:{RETURN_NO}"))

    def summary_tables(self) -> list[Table]:
        if not self.result:
            return []
        t = Table(title="inbound and after-sales (docs/inbound.md)")
        t.add_column("document")
        t.add_column("outcome")
        for k in ("receipt", "transfer", "return"):
            if k in self.result:
                t.add_row(k, self.result[k])
        return [t]
