"""Adapter: Nuonuo's open platform (诺诺开放平台, 诺税通 SaaS methods ``nuonuo.OpeMplatform.*``).

Wire shape (open.nuonuo.com API docs; the SDKs' ``getSign``; read in the public node client
arion/node-nuonuo): ``POST <url>/open/v1/services?senid=<32 random hex>&nonce=<8 digits>
&timestamp=<epoch s>&appkey=<key>`` with headers ``X-Nuonuo-Sign`` (base64 HMAC-SHA1, keyed
with the app secret, over ``a=services&l=v1&p=open&k=<key>&i=<senid>&n=<nonce>&t=<ts>&f=``
followed by the body exactly as sent), ``accessToken``, ``userTax`` (the seller's tax id) and
``method``. Answers are HTTP 200 JSON ``{"code", "describe", "result"}``; ``E0000`` is
success, anything else a business code: E9106 a duplicate order number (the invoice made
before: its serial), E9613 the daily reInvoice limit, E1xxx the app's credentials or
signature (the seller's configuration: retried, never a failed invoice), the rest a refusal
of the content.

Status codes of queryInvoiceResult (research): 20/21 in progress, 2 issued, 22 failed
(``failCause``), 24 seal failed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from cloud.finance.einvoice.port import (
    BlueRequest,
    FormStatus,
    LimitReached,
    PortLine,
    RedRequest,
    Rejected,
    Status,
    Unreachable,
)

SERVICES = "/open/v1/services"
M = "nuonuo.OpeMplatform."
_STATES = {
    "2": "issued",
    "20": "in_progress",
    "21": "in_progress",
    "22": "failed",
    "24": "seal_failed",
}


def signature(
    path: str, appkey: str, senid: str, nonce: str, timestamp: str, body: bytes, secret: str
) -> str:
    p, l_, a = path.strip("/").split("/")
    head = f"a={a}&l={l_}&p={p}&k={appkey}&i={senid}&n={nonce}&t={timestamp}&f=".encode()
    return base64.b64encode(hmac.new(secret.encode(), head + body, hashlib.sha1).digest()).decode()


def _detail(lines: tuple[PortLine, ...]) -> list[dict[str, Any]]:
    return [
        {
            "goodsName": x.name,
            "goodsCode": x.tax_code,
            "num": str(x.quantity),
            "withTaxFlag": "0",  # amounts given without tax, with the tax beside them
            "taxRate": str(x.rate),
            "taxExcludedAmount": str(x.amount),
            "tax": str(x.tax),
            "taxIncludedAmount": str(x.amount + x.tax),
            "invoiceLineProperty": "0",  # a normal line (1 discount, 2 discounted)
            "blueDetailIndex": str(x.index),
        }
        for x in lines
    ]


class NuonuoProvider:
    def __init__(
        self,
        url: str,
        app_key: str,
        app_secret: str,
        access_token: str,
        seller_tax_id: str,
        timeout_s: int = 10,
        client: httpx.Client | None = None,
    ) -> None:
        self.endpoint = url.rstrip("/") + SERVICES if not url.endswith(SERVICES) else url
        self.path = urlsplit(self.endpoint).path
        self.app_key, self.secret, self.token = app_key, app_secret, access_token
        self.seller_tax_id = seller_tax_id
        self.client = client or httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, content: dict[str, Any]) -> tuple[str, str, Any]:
        """(code, describe, result) of one call; Unreachable when the answer never came."""
        body = orjson.dumps(content)
        senid = secrets.token_hex(16)
        nonce = str(10_000_000 + secrets.randbelow(90_000_000))
        ts = str(int(time.time()))
        sign = signature(self.path, self.app_key, senid, nonce, ts, body, self.secret)
        try:
            r = self.client.post(
                self.endpoint,
                params={"senid": senid, "nonce": nonce, "timestamp": ts, "appkey": self.app_key},
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Nuonuo-Sign": sign,
                    "accessToken": self.token,
                    "userTax": self.seller_tax_id,
                    "method": M + method,
                },
            )
        except httpx.HTTPError as err:  # timeouts, refused connections, broken answers
            raise Unreachable(f"{method}: {type(err).__name__} {err}") from err
        if r.status_code != 200:
            raise Unreachable(f"{method}: HTTP {r.status_code}")
        try:
            answer = orjson.loads(r.content)
            code = str(answer["code"])
        except (ValueError, KeyError, TypeError) as err:
            raise Unreachable(f"{method}: not a Nuonuo answer") from err
        if code.startswith("E1"):  # credentials, signature, token: configuration, not content
            raise Unreachable(f"{method}: {code} {answer.get('describe', '')}")
        return code, str(answer.get("describe", "")), answer.get("result")

    def issue(self, req: BlueRequest) -> str:
        order = {
            "orderNo": req.request_no,
            "buyerName": req.buyer_name,
            "buyerTaxNum": req.buyer_tax_id or "",
            "email": req.buyer_email or "",
            "salerTaxNum": self.seller_tax_id,
            "invoiceDate": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 8 * 3600)),
            "invoiceType": "1",
            "invoiceLine": "pc",  # 数电普票
            "pushMode": "-1",
            "invoiceDetail": _detail(req.lines),
        }
        code, describe, result = self.call("requestBillingNew", {"order": order})
        if (
            code in ("E0000", "E9106")
            and isinstance(result, dict)
            and result.get("invoiceSerialNum")
        ):
            return str(result["invoiceSerialNum"])
        raise Rejected(code, describe)

    def query(self, request_no: str) -> Status | None:
        code, describe, result = self.call(
            "queryInvoiceResult", {"orderNos": [request_no], "isOfferInvoiceDetail": "0"}
        )
        if code != "E0000":
            raise Unreachable(f"queryInvoiceResult: {code} {describe}")
        rows = result if isinstance(result, list) else [] if result is None else None
        if rows is None or not all(isinstance(row, dict) for row in rows):
            # Not the list of invoices the API documents: unknown, so asked again later.
            raise Unreachable("queryInvoiceResult: the result is not a list of invoices")
        for row in rows:
            if str(row.get("orderNumber")) == request_no:
                state = _STATES.get(str(row.get("status")))
                if state is None:
                    raise Unreachable(f"queryInvoiceResult: unknown status {row.get('status')}")
                return Status(
                    state,
                    str(row.get("serialNo") or ""),
                    str(row.get("allElectronicInvoiceNumber") or ""),
                    str(row.get("pdfUrl") or ""),
                    str(row.get("ofdUrl") or ""),
                    str(row.get("failCause") or ""),
                )
        return None

    def reissue(self, serial: str) -> None:
        code, describe, _ = self.call("reInvoice", {"invoiceSerialNum": serial})
        if code == "E9613":
            raise LimitReached(code, describe)
        if code != "E0000":
            raise Rejected(code, describe)

    def red_form(self, req: RedRequest) -> FormStatus:
        content = {
            "orderNo": req.request_no,
            "blueInvoiceNumber": req.blue_number,
            "redReason": req.reason,
            "applySource": "0",  # filed by the seller
            "autoInvoice": "Y",  # issue the red as soon as the form stands
            "detail": _detail(req.lines),
        }
        code, describe, result = self.call("saveInvoiceRedConfirm", content)
        if (
            code in ("E0000", "E9106")
            and isinstance(result, dict)
            and result.get("billId")
            and "billStatus" in result  # a form without its status is no answer (issue 19)
        ):
            return FormStatus(str(result["billId"]), str(result["billStatus"]))
        raise Rejected(code, describe)

    def query_red_form(self, request_no: str) -> FormStatus | None:
        code, describe, result = self.call("queryInvoiceRedConfirm", {"orderNo": request_no})
        if code == "E9124":  # no such form: it never arrived
            return None
        if code != "E0000" or not isinstance(result, dict):
            raise Unreachable(f"queryInvoiceRedConfirm: {code} {describe}")
        if not result.get("billId") or "billStatus" not in result:
            raise Unreachable("queryInvoiceRedConfirm: the answer names no form (billId)")
        return FormStatus(str(result["billId"]), str(result["billStatus"]))
