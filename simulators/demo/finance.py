"""The demo's finance leg (issue 18, docs/finance.md): after the warehouse ships, the books.

* **courier bills**: a rate card per courier the demo shipped with, then each courier's bill
  for the demo's parcels (their tracking numbers, the weights the pack station measured,
  the fee the card asks) with one parcel overcharged; exactly that line must come back
  flagged; both bills accepted (the accepted total to the courier's payable, the disputed
  excess in suspense);
* **settlement**: the marketplace simulator's Alipay account-flow bill of today for the
  demo's shop, imported; its sales matched to the channel orders the hub downloaded (the
  warehouse leg ships the seed's two orders and one downloaded one; the bill holds every
  sale of the shop, shipped or not, so all the downloaded orders are the ones settled);
* **e-invoice**: ``guanjia sim einvoice`` started like the marketplace simulator, the demo
  seller connected to it (``guanjia finance invoice connect``), a blue invoice for a shipped
  order issued by the hub's e-invoice worker, then red-flushed in full;
* **trial balance**: balanced, and the page to look at.

Like the other legs it drives the hub only over its API and commands, and the simulators
over HTTP (this package imports neither cloud nor edge).

The demo's hub asks the e-invoice provider 1 s after each send (``GUANJIA_EINVOICE_QUERY_S``,
5 s by default), and the blue is requested as soon as the leg starts, so it issues while
the courier bills and the settlement run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from simulators.demo.hub import SHOP, SIM_SESSION, Hub
from simulators.demo.session import DemoFailed, Session
from simulators.demo.warehouse import Shipped
from simulators.net import free_port

CHINA = timezone(timedelta(hours=8))
#: Rate cards as couriers publish them (docs/finance.md "Courier bills"): first weight plus
#: additional weight per zone. SF: to 0.01 kg, then up in 0.5 kg; ZTO: up to the whole kg.
#: The fees are the demo's, not a courier's price list.
CARDS: dict[str, dict[str, Any]] = {
    "SF": {
        "first_g": 1000,
        "step_g": 500,
        "precision_g": 10,
        "volumetric_divisor": 6000,
        "zones": [
            {
                "name": "江浙沪",
                "provinces": ["浙江", "江苏", "上海"],
                "first_fee": "12.00",
                "per_kg": "2.00",
            },
            {"name": "其他", "provinces": ["*"], "first_fee": "18.00", "per_kg": "5.00"},
        ],
    },
    "ZTO": {
        "first_g": 1000,
        "step_g": 1000,
        "precision_g": 10,
        "volumetric_divisor": None,
        "zones": [
            {
                "name": "江浙沪",
                "provinces": ["浙江", "江苏", "上海"],
                "first_fee": "4.50",
                "per_kg": "1.50",
            },
            {"name": "其他", "provinces": ["*"], "first_fee": "8.00", "per_kg": "4.00"},
        ],
    },
}
#: What the courier adds to one parcel's fee (the line the hub must flag).
OVERCHARGE = Decimal("5.00")
#: The e-invoice simulator's app and the demo seller (a valid USCC: tests/cloud/finance).
EINV_APP_KEY, EINV_TOKEN = "demo-appkey", "demo-token"
SELLER_TAX_ID, SELLER_NAME = "91350100M000100Y43", "管家演示网店"
#: 信息技术服务 would not do for a phone case: 其他塑料制品 (19-digit 税收分类编码), 13 %.
TAX_CODE, TAX_RATE = "1070601990000000000", "0.13"
INVOICE_WAIT_S = 30


def card_fee(card: dict[str, Any], grams: int, province: str) -> Decimal:
    """What the card asks for a parcel of ``grams`` to ``province``: half up to the
    precision, at least the first weight, the rest up in whole steps (docs/finance.md)."""
    zone = next(
        (
            z
            for z in card["zones"]
            if any(p != "*" and province.startswith(p) for p in z["provinces"])
        ),
        next(z for z in card["zones"] if "*" in z["provinces"]),
    )
    prec, first, step = card["precision_g"], card["first_g"], card["step_g"]
    g = int((Decimal(grams) / prec).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * prec
    extra = max(0, g - first)
    steps = -(-extra // step)
    fee = Decimal(zone["first_fee"]) + Decimal(steps * step) / 1000 * Decimal(zone["per_kg"])
    return fee.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class Finance:
    s: Session
    hub: Hub
    shipped: list[Shipped] = field(default_factory=list)
    einvoice_url: str = ""
    connecting: subprocess.Popen[bytes] | None = None
    blue: dict[str, Any] = field(default_factory=dict)
    red: dict[str, Any] = field(default_factory=dict)
    bills: list[dict[str, Any]] = field(default_factory=list)
    settlement: dict[str, Any] = field(default_factory=dict)

    # --- plumbing ---------------------------------------------------------------------------

    def _post_file(self, path: str, data: bytes, ctype: str) -> Any:
        r = httpx.post(
            f"{self.s.api}/api/v1{path}",
            content=data,
            headers={**self.s.auth, "Content-Type": ctype},
            timeout=30,
        )
        if r.status_code >= 400:
            raise DemoFailed(f"POST {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def _wait_invoice(self, request_no: str, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + INVOICE_WAIT_S
        inv: dict[str, Any] = {}
        while time.monotonic() < deadline:
            inv = dict(self.s.http("GET", f"/einvoices/{request_no}"))
            if inv["state"] == "issued":
                return inv
            if inv["state"] in ("failed", "voided"):
                raise DemoFailed(f"the {what} {request_no} ended {inv['state']}: {inv['reason']}")
            time.sleep(0.3)
        raise DemoFailed(
            f"the {what} {request_no} was not issued within {INVOICE_WAIT_S} s "
            f"(state {inv.get('state')}: {inv.get('reason')}); see {self.s.dir / 'cloud.log'}"
        )

    # --- the leg ----------------------------------------------------------------------------

    def run(self, shipped: list[Shipped]) -> None:
        self.shipped = shipped
        if not self.shipped:
            raise DemoFailed("the finance leg needs the warehouse's shipped orders")
        s = self.s
        with s.step("e-invoice provider (数电票)") as det:
            self._provider(det)
        with s.step("courier bills (快递对账)") as det:
            self._courier_bills(det)
        with s.step("platform settlement (平台结算)") as det:
            self._settlement(det)
        with s.step("e-invoice: blue, then red (冲红)") as det:
            self._invoices(det)
        with s.step("books: trial balance") as det:
            tb = s.http("GET", "/finance/trial-balance")
            if not tb["balanced"]:
                raise DemoFailed(
                    f"the trial balance of {tb['period']} is not balanced: "
                    f"debit {tb['debit']}, credit {tb['credit']}"
                )
            det.append(
                f"trial balance {tb['period']}: balanced (debit {tb['debit']} = credit "
                f"{tb['credit']}, {len(tb['rows'])} accounts)"
            )
            det.append(f"see {s.api}/web/finance")

    def start(self) -> None:
        """Start the provider simulator and connect the seller to it in the background, while
        the warehouse leg runs (each is a Python process that takes seconds to import)."""
        s = self.s
        port = free_port()
        self.einvoice_url = f"http://127.0.0.1:{port}"
        secret = os.urandom(12).hex()
        s.spawn(
            [
                "simulators.cli",
                "sim",
                "einvoice",
                "--port",
                str(port),
                "--app-key",
                EINV_APP_KEY,
                "--secret",
                secret,
                "--token",
                EINV_TOKEN,
            ],
            "einvoice.log",
        )
        # ``guanjia finance invoice connect`` (there is no API route for it). The app secret
        # travels on its command line, as that command takes it.
        self.connecting = s.spawn(
            [
                "simulators.cli",
                "finance",
                "invoice",
                "connect",
                "--account",
                self.hub.seed["account"],
                "--url",
                self.einvoice_url,
                "--app-key",
                EINV_APP_KEY,
                "--app-secret",
                secret,
                "--token",
                EINV_TOKEN,
                "--tax-id",
                SELLER_TAX_ID,
                "--name",
                SELLER_NAME,
                "--database-url",
                f"sqlite:///{s.dir / 'cloud.db'}",
            ],
            "einvoice-connect.log",
        )

    def _provider(self, det: list[str]) -> None:
        """The provider simulator up, the seller connected, and the blue invoice requested."""
        s = self.s
        if self.connecting is None:
            self.start()
        assert self.connecting is not None
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.einvoice_url}/_sim/truth", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise DemoFailed(
                    f"the e-invoice simulator is not up after 60 s; see {s.dir / 'einvoice.log'}"
                )
            time.sleep(0.1)
        try:
            rc = self.connecting.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise DemoFailed(
                "connecting the demo seller to the e-invoice simulator took over 60 s; "
                f"see {s.dir / 'einvoice-connect.log'}"
            ) from None
        if rc != 0:
            log = (s.dir / "einvoice-connect.log").read_text(errors="replace")
            raise DemoFailed(
                f"connecting the demo seller to the e-invoice simulator failed: {log[-600:]}"
            )
        order = self.shipped[0].order_no
        self.blue = dict(
            s.http(
                "POST",
                "/einvoices",
                json={
                    "order_no": order,
                    "buyer_name": "个人",
                    "tax_code": TAX_CODE,
                    "rate": TAX_RATE,
                },
            )
        )
        det.append(f"Nuonuo-shaped simulator on {self.einvoice_url}/open/v1/services")
        det.append(f"seller {self.hub.seed['account']} connected (tax id {SELLER_TAX_ID})")
        det.append(
            f"blue {self.blue['request_no']} requested for {order}: "
            f"{self.blue['total']} incl. tax {self.blue['tax']} ({self.blue['state']})"
        )

    def _courier_bills(self, det: list[str]) -> None:
        s = self.s
        by_carrier: dict[str, list[Shipped]] = {}
        for p in self.shipped:
            by_carrier.setdefault(p.carrier, []).append(p)
        # The last parcel is the one the courier overcharges.
        victim = self.shipped[-1]
        today = datetime.now(CHINA).date().isoformat()
        for carrier, parcels in sorted(by_carrier.items()):
            card = CARDS.get(carrier)
            if card is None:
                raise DemoFailed(f"the demo has no rate card for courier {carrier}")
            s.http("PUT", f"/finance/couriers/{carrier}/rate-card", json=card)
            lines = ["运单号,寄件日期,目的地,计费重量,运费"]
            for p in parcels:
                order = s.http("GET", f"/orders/{p.order_no}")
                province = str(order["recipient"].get("province") or "")
                grams = int(order.get("weighed_g") or 0)
                if not grams:
                    raise DemoFailed(f"{p.order_no} has no station weight to bill against")
                fee = card_fee(card, grams, province)
                billed_g = max(grams, int(card["first_g"]))
                if p is victim:
                    fee += OVERCHARGE
                lines.append(
                    f"{p.tracking or p.waybill},{today},{province},{billed_g / 1000:.3f},{fee:.2f}"
                )
            name = f"{carrier}-{today}.csv"
            got = self._post_file(
                f"/finance/couriers/{carrier}/bills?file_name={name}",
                ("\r\n".join(lines) + "\r\n").encode(),
                "text/csv",
            )
            bill = got["bill"]
            flagged = [ln for ln in got["lines"] if ln["flags"]]
            for ln in flagged:
                if ln["tracking_number"] != (victim.tracking or victim.waybill) or ln["flags"] != [
                    "overcharged"
                ]:
                    raise DemoFailed(
                        f"{carrier} bill: line {ln['row_no']} ({ln['tracking_number']}) "
                        f"flagged {ln['flags']}, expected only the overcharged parcel"
                    )
            accepted = s.http("POST", f"/finance/courier-bills/{bill['id']}/accept")
            self.bills.append({**accepted, "flagged": flagged})
            text = f"{carrier} bill {bill['id']}: {bill['lines']} line(s), billed {bill['billed_total']}"
            for ln in flagged:
                text += (
                    f", {ln['tracking_number']} flagged overcharged (billed {ln['fee']}, "
                    f"card {ln['expected_fee']} for {ln['weighed_g']} g, {ln['disputed']} disputed)"
                )
            if not flagged:
                text += ", none flagged"
            det.append(
                f"{text}; accepted {accepted['accepted_total']} to the {carrier} payable"
                + (
                    f", {accepted['disputed_total']} in suspense"
                    if Decimal(accepted["disputed_total"])
                    else ""
                )
            )
        flagged_all = [ln for b in self.bills for ln in b["flagged"]]
        if len(flagged_all) != 1:
            raise DemoFailed(
                f"expected exactly one flagged line (the overcharged parcel), got {len(flagged_all)}"
            )
        det.append(f"{s.api}/web/finance/courier-bills")

    def _settlement(self, det: list[str]) -> None:
        """Today's Alipay bill so far (the simulator's own control plane: Alipay gives a
        day's bill once the day is over), and yesterday's through the gateway when the
        shop's first download reached into it."""
        s, market = self.s, self.hub.market_url
        now = datetime.now(CHINA)
        today = now.date()
        days = sorted({(now - timedelta(hours=1)).date(), today})
        totals = {"rows": 0, "posted": 0, "suspense": 0, "unmatched": 0}
        sales: list[str] = []
        reasons: list[str] = []
        empty: list[str] = []
        for day in days:
            if day == today:
                r = httpx.get(
                    f"{market}/_sim/alipay-bill",
                    params={"session": SIM_SESSION, "date": day.isoformat()},
                    timeout=30,
                )
            else:
                r = self._alipay_day(day.isoformat())
            if r.status_code != 200:
                raise DemoFailed(f"the marketplace's bill of {day}: {r.status_code} {r.text[:200]}")
            path = f"/finance/settlements?name=alipay-{day:%Y%m%d}.csv.zip"
            posted = httpx.post(
                f"{s.api}/api/v1{path}",
                content=r.content,
                headers={**s.auth, "Content-Type": "application/zip"},
                timeout=30,
            )
            if posted.status_code == 422 and "the bill has no rows" in posted.text:
                # Just after midnight (China time) today's bill has no trade yet: the
                # hub refuses an empty bill, and the orders are in yesterday's.
                empty.append(str(day))
                continue
            if posted.status_code >= 400:
                raise DemoFailed(f"POST {path}: {posted.status_code} {posted.text[:300]}")
            got = posted.json()
            for k in totals:
                totals[k] += int(got[k])
            detail = s.http("GET", f"/finance/settlements/{got['bill']}")
            for row in detail["rows"]:
                if row["kind"] == "sale" and row["state"] == "posted":
                    sales.append(str(row["order_no"]))
                elif row["state"] == "unmatched" and row["reason"]:
                    reasons.append(row["reason"])
        channel_orders = s.http("GET", "/orders", params={"shop": SHOP, "limit": 500})
        det.append(
            f"the warehouse leg shipped {', '.join(p.order_no for p in self.shipped)}; "
            f"settling every order shop {SHOP} downloaded ({len(channel_orders)} in the hub)"
        )
        det.append(
            f"Alipay bill(s) of {', '.join(str(d) for d in days)} from the marketplace simulator: "
            f"{totals['rows']} rows, {totals['posted']} posted, {totals['suspense']} in suspense "
            f"(deposit, compensation), {totals['unmatched']} unmatched"
        )
        if empty:
            det.append(f"no rows yet in the bill of {', '.join(empty)}: not imported")
        if not sales:
            raise DemoFailed(
                "the bill matched no sale to a downloaded order"
                + (f" ({reasons[0]})" if reasons else "")
            )
        det.append(
            f"{len(sales)} sales matched to orders ({', '.join(sales[:3])}{' …' if len(sales) > 3 else ''})"
        )
        if reasons:
            det.append(f"first unmatched: {reasons[0]}")
        self.settlement = {**totals, "matched_sales": len(sales)}
        det.append(f"{s.api}/web/finance/settlements")

    def _alipay_day(self, day: str) -> httpx.Response:
        """A finished day's bill the way the hub fetches it from Alipay: the gateway method,
        then the download address it answers (simulators/marketplace/bill.py)."""
        market = self.hub.market_url
        form = {
            "method": "alipay.data.dataservice.bill.downloadurl.query",
            "app_id": "2021000000000000",
            "app_auth_token": SIM_SESSION,
            "charset": "utf-8",
            "biz_content": f'{{"bill_type": "signcustomer", "bill_date": "{day}"}}',
        }
        answer = httpx.post(f"{market}/gateway.do", data=form, timeout=30).json()
        body = answer["alipay_data_dataservice_bill_downloadurl_query_response"]
        if body.get("code") != "10000":
            raise DemoFailed(f"the bill of {day}: {body.get('sub_code')} {body.get('sub_msg')}")
        return httpx.get(body["bill_download_url"], timeout=30)

    def _invoices(self, det: list[str]) -> None:
        s = self.s
        blue = self._wait_invoice(self.blue["request_no"], "blue invoice")
        self.blue = blue
        det.append(f"blue {blue['request_no']} issued: No. {blue['number']} ({blue['total']})")
        red = dict(s.http("POST", f"/einvoices/{blue['request_no']}/red", json={"reason": "01"}))
        red = self._wait_invoice(red["request_no"], "red invoice")
        self.red = red
        if Decimal(red["total"]) != -Decimal(blue["total"]):
            raise DemoFailed(f"the red {red['total']} does not reverse the blue {blue['total']}")
        det.append(
            f"red-flushed in full (01 开票有误, form {red['form_state'] or '-'}): red "
            f"{red['request_no']} issued: No. {red['number']} ({red['total']})"
        )
        det.append(f"{s.api}/web/finance/invoices")
