"""The e-invoice provider's world: blue and red 数电票, red-letter confirmation forms, faults.

Shaped like Nuonuo's open platform (诺税通 SaaS, methods ``nuonuo.OpeMplatform.*``; research
in /work/shared/research/finance-einvoice.md, anchor odoo l10n_cn_edi_nuonuo):

* ``requestBillingNew`` takes an invoice by the seller's ``orderNo`` (the idempotency key)
  and answers E0000 with an ``invoiceSerialNum``: *accepted*, not issued. The same orderNo
  again answers E9106 with the serial it already has — never a second invoice.
* ``queryInvoiceResult`` by serials or order numbers: status 20/21 in progress, 2 issued
  (20-digit 数电 number, PDF and OFD links), 22 failed with ``failCause`` (the buyer's tax id
  refused), 24 signature seal failed — ``reInvoice`` retries it, at most
  :data:`REINVOICE_PER_DAY` times a day per invoice (E9613 beyond).
* ``saveInvoiceRedConfirm`` files a 红字确认单 against a blue number with reason 01 开票有误,
  02 销货退回, 03 服务中止 or 04 销售折让 and the lines to reverse (all, or some: partial red);
  the red invoice is issued by itself once the form stands (autoInvoice). States: 01 no
  confirmation needed (buyer without a tax id), 02 seller filed, waiting for the buyer,
  04 confirmed, 07 void: unconfirmed after 72 hours, 08 refused by the buyer.
  ``queryInvoiceRedConfirm`` reads a form by billId or orderNo. Per blue line the red never
  exceeds what remains: forms that stand or wait reserve their amounts; a void form frees them.

State lives in memory (a simulator); the clock is injectable (``now`` = wall clock + offset,
moved on by ``/_sim/advance``).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

SUCCESS = "E0000"
REINVOICE_PER_DAY = 20
CONFIRM_WINDOW_S = 72 * 3600
#: 数电票 number: yy + province (2) + channel (1) + sequence (15) — 20 digits (research).
PROVINCE = "33"  # Zhejiang, where Nuonuo sits; any two digits do
CHANNEL = "2"
RATES = {Decimal(r) for r in ("0", "0.01", "0.03", "0.05", "0.06", "0.09", "0.13")}
REASONS = {"01": "开票有误", "02": "销货退回", "03": "服务中止", "04": "销售折让"}
CENT = Decimal("0.01")

# GB 32100-2015 统一社会信用代码: 18 characters from this set (no I, O, Z, S, V), weights per
# position, check character = 31 - (sum mod 31). The provider checks it as the tax office does.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def tax_id_ok(tax_id: str) -> bool:
    if len(tax_id) == 18:
        if any(c not in _USCC_CHARS for c in tax_id):
            return False
        total = sum(_USCC_CHARS.index(c) * w for c, w in zip(tax_id, _USCC_WEIGHTS, strict=False))
        return _USCC_CHARS[(31 - total % 31) % 31] == tax_id[17]
    return len(tax_id) in (15, 17, 20) and re.fullmatch(r"[0-9A-Z]+", tax_id) is not None


class Refused(Exception):
    """A business error: answered as HTTP 200 with this code and sentence."""

    def __init__(self, code: str, describe: str, result: Any = None) -> None:
        super().__init__(describe)
        self.code, self.describe, self.result = code, describe, result


@dataclass
class Faults:
    """Knobs for tests (``POST /_sim/faults``)."""

    #: The next n answers are held this long after the work is done (the client times out
    #: after acceptance: it must query before resending).
    hang_next: int = 0
    hang_s: float = 3.0
    #: The next n issuances end in status 24 (signature seal failed).
    seal_failures: int = 0
    #: Queries that answer "in progress" before an invoice is final.
    polls_before_final: int = 1
    #: The next n blue invoices fail (22): the tax office knows no such buyer tax id (a
    #: well-formed number that was never registered, which no check digit can catch).
    unknown_buyers: int = 0


@dataclass
class Line:
    index: int
    name: str
    code: str
    rate: Decimal
    amount: Decimal  # without tax
    tax: Decimal


@dataclass
class Invoice:
    serial: str
    order_no: str
    kind: str  # "blue" | "red"
    buyer_name: str
    buyer_tax: str
    lines: list[Line]
    accepted_at: float
    status: str = "20"  # 20 in progress, 2 issued, 22 failed, 24 seal failed
    number: str = ""
    fail_cause: str = ""
    polls: int = 0
    blue_number: str = ""
    reinvoiced: dict[str, int] = field(default_factory=dict)  # day -> count

    def total(self) -> tuple[Decimal, Decimal]:
        return sum((x.amount for x in self.lines), Decimal(0)), sum(
            (x.tax for x in self.lines), Decimal(0)
        )


@dataclass
class RedForm:
    bill_id: str
    bill_no: str
    order_no: str
    blue: Invoice
    reason: str
    lines: list[Line]
    status: str
    created_at: float
    red_serial: str = ""


class Provider:
    def __init__(self, apps: dict[str, str] | None = None, token: str = "sim-token") -> None:
        self.lock = threading.RLock()
        self.apps = dict(apps or {"sim-appkey": "sim-secret"})
        self.token = token
        self.offset = 0.0
        self.faults = Faults()
        self.invoices: dict[str, Invoice] = {}
        self.by_order: dict[str, str] = {}
        self.forms: dict[str, RedForm] = {}
        self.forms_by_order: dict[str, str] = {}
        self._seq = 0
        #: Every invoice issued, in order: the truth a test compares with the hub's books.
        self.issued: list[str] = []
        #: Calls per method (without the nuonuo.OpeMplatform. prefix): did the client ask
        #: before it sent again?
        self.calls: dict[str, int] = {}

    def now(self) -> float:
        return time.time() + self.offset

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    # ------------------------------------------------------------------ methods

    def call(self, method: str, body: dict[str, Any]) -> Any:
        name = method.removeprefix("nuonuo.OpeMplatform.")
        self.calls[name] = self.calls.get(name, 0) + 1
        handler = {
            "requestBillingNew": self.request_billing,
            "queryInvoiceResult": self.query_result,
            "reInvoice": self.reinvoice,
            "saveInvoiceRedConfirm": self.save_red_confirm,
            "queryInvoiceRedConfirm": self.query_red_confirm,
        }.get(name)
        if handler is None or not method.startswith("nuonuo.OpeMplatform."):
            raise Refused("E1006", f"方法不存在: {method}")
        return handler(body)

    def request_billing(self, body: dict[str, Any]) -> dict[str, Any]:
        order = body.get("order")
        if not isinstance(order, dict):
            raise Refused("E4000", "缺少参数 order")
        order_no = str(order.get("orderNo") or "")
        if not order_no or len(order_no) > 40:
            raise Refused("E4000", "orderNo 不能为空且不超过40位")
        if order_no in self.by_order:
            # The key seen before: the invoice it made, never a second one.
            raise Refused("E9106", "订单编号重复", {"invoiceSerialNum": self.by_order[order_no]})
        if str(order.get("invoiceType", "1")) != "1":
            raise Refused("E9101", "数电红票请先提交红字确认单 (saveInvoiceRedConfirm)")
        name = str(order.get("buyerName") or "")
        if not name:
            raise Refused("E9102", "购方名称不能为空")
        lines = self._lines(order.get("invoiceDetail"), sign=1)
        serial = f"{time.strftime('%y%m%d%H%M%S', time.gmtime(self.now()))}{self._next():08d}"
        inv = Invoice(
            serial, order_no, "blue", name, str(order.get("buyerTaxNum") or ""), lines, self.now()
        )
        self.invoices[serial] = inv
        self.by_order[order_no] = serial
        return {"invoiceSerialNum": serial}

    def _lines(self, raw: Any, sign: int) -> list[Line]:
        if not isinstance(raw, list) or not raw:
            raise Refused("E9103", "发票明细不能为空")
        out = []
        for i, item in enumerate(raw, start=1):
            if not isinstance(item, dict):
                raise Refused("E4000", f"第{i}行明细格式错误")
            code = str(item.get("goodsCode") or "")
            if not re.fullmatch(r"\d{19}", code):
                raise Refused("E9104", f"第{i}行税收分类编码须为19位数字")
            try:
                rate = Decimal(str(item.get("taxRate")))
                amount = Decimal(str(item.get("taxExcludedAmount")))
                tax = Decimal(str(item.get("tax")))
            except InvalidOperation:
                raise Refused("E4000", f"第{i}行金额或税率格式错误") from None
            if rate not in RATES:
                raise Refused("E9105", f"第{i}行税率{rate}不支持")
            if amount * sign <= 0 or amount != amount.quantize(CENT):
                raise Refused("E9107", f"第{i}行金额错误")
            # 数电: tax = round(amount x rate, 2) half up, off by at most 0.01 when the price
            # was tax-inclusive and the tax was back-calculated (tax = total - amount).
            expected = (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)
            if abs(tax - expected) > CENT:
                raise Refused("E9108", f"第{i}行税额{tax}与金额×税率{expected}不符")
            index = int(item.get("blueDetailIndex") or i)
            out.append(Line(index, str(item.get("goodsName") or ""), code, rate, amount, tax))
        return out

    def _finish(self, inv: Invoice) -> None:
        """A query after acceptance: issue, fail or fail to seal (decided once)."""
        if inv.status not in ("20", "21"):
            return
        inv.polls += 1
        if inv.polls <= self.faults.polls_before_final:
            inv.status = "21" if inv.polls > 1 else "20"
            return
        if inv.kind == "blue" and inv.buyer_tax and not tax_id_ok(inv.buyer_tax):
            inv.status, inv.fail_cause = "22", f"购方纳税人识别号{inv.buyer_tax}校验不通过"
            return
        if inv.kind == "blue" and inv.buyer_tax and self.faults.unknown_buyers > 0:
            self.faults.unknown_buyers -= 1
            inv.status, inv.fail_cause = "22", f"购方纳税人识别号{inv.buyer_tax}未在税务机关登记"
            return
        if self.faults.seal_failures > 0:
            self.faults.seal_failures -= 1
            inv.status, inv.fail_cause = "24", "签章失败"
            return
        self._issue(inv)

    def _issue(self, inv: Invoice) -> None:
        yy = time.strftime("%y", time.gmtime(self.now() + 8 * 3600))
        inv.number = f"{yy}{PROVINCE}{CHANNEL}{self._next():015d}"
        inv.status, inv.fail_cause = "2", ""
        self.issued.append(inv.serial)

    def _result(self, inv: Invoice) -> dict[str, Any]:
        amount, tax = inv.total()
        msg = {
            "2": "开票成功",
            "20": "开票中",
            "21": "开票成功签章中",
            "22": "开票失败",
            "24": "签章失败",
        }
        out: dict[str, Any] = {
            "serialNo": inv.serial,
            "orderNumber": inv.order_no,
            "status": inv.status,
            "statusMsg": msg[inv.status],
            "failCause": inv.fail_cause,
            "invoiceType": "1" if inv.kind == "blue" else "2",
            "allElectronicInvoiceNumber": inv.number,
            "buyerName": inv.buyer_name,
            "buyerTaxNum": inv.buyer_tax,
            "orderAmount": str(amount + tax),
            "exTaxAmount": str(amount),
            "taxAmount": str(tax),
            "oldInvoiceNo": inv.blue_number,
            "pdfUrl": "",
            "ofdUrl": "",
        }
        if inv.status == "2":
            out["pdfUrl"] = f"https://sim.nuonuo.invalid/fp/{inv.number}.pdf"
            out["ofdUrl"] = f"https://sim.nuonuo.invalid/fp/{inv.number}.ofd"
        return out

    def query_result(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        serials = [str(s) for s in body.get("serialNos") or []]
        serials += [
            self.by_order[str(o)] for o in body.get("orderNos") or [] if str(o) in self.by_order
        ]
        if not serials and not (body.get("serialNos") or body.get("orderNos")):
            raise Refused("E4000", "serialNos 与 orderNos 不能同时为空")
        out = []
        for s in serials:
            inv = self.invoices.get(s)
            if inv is not None:
                self._finish(inv)
                out.append(self._result(inv))
        return out  # an order number never sent: an empty list, so "not there: send it"

    def reinvoice(self, body: dict[str, Any]) -> dict[str, Any]:
        serial = str(body.get("invoiceSerialNum") or "")
        inv = self.invoices.get(serial)
        if inv is None:
            raise Refused("E9110", f"流水号{serial}不存在")
        if inv.status != "24":
            raise Refused("E9111", "仅签章失败的发票可重新开具")
        day = time.strftime("%Y%m%d", time.gmtime(self.now() + 8 * 3600))
        if inv.reinvoiced.get(day, 0) >= REINVOICE_PER_DAY:
            raise Refused("E9613", f"同一发票每天最多重新开具{REINVOICE_PER_DAY}次")
        inv.reinvoiced[day] = inv.reinvoiced.get(day, 0) + 1
        inv.status, inv.polls, inv.fail_cause = "20", 0, ""
        return {"invoiceSerialNum": serial}

    # ------------------------------------------------------------------ red forms

    def _remaining(self, blue: Invoice) -> dict[int, tuple[Decimal, Decimal]]:
        """Per blue line: (amount, tax) not yet reversed by a red that stands or waits."""
        left = {x.index: (x.amount, x.tax) for x in blue.lines}
        for form in self.forms.values():
            self._expire(form)
            if form.blue is blue and form.status in ("01", "02", "03", "04"):
                for x in form.lines:
                    a, t = left[x.index]
                    left[x.index] = (a + x.amount, t + x.tax)  # red amounts are negative
        return left

    def _expire(self, form: RedForm) -> None:
        if form.status in ("02", "03") and self.now() - form.created_at > CONFIRM_WINDOW_S:
            form.status = "07"  # void: not confirmed within 72 hours

    def save_red_confirm(self, body: dict[str, Any]) -> dict[str, Any]:
        order_no = str(body.get("orderNo") or "")
        if not order_no:
            raise Refused("E4000", "orderNo 不能为空")
        if order_no in self.forms_by_order:
            form = self.forms[self.forms_by_order[order_no]]
            raise Refused("E9106", "订单编号重复", self._form_out(form))
        number = str(body.get("blueInvoiceNumber") or "")
        blue = next(
            (i for i in self.invoices.values() if i.number == number and i.kind == "blue"), None
        )
        if blue is None or blue.status != "2":
            raise Refused("E9120", f"蓝字发票{number}不存在或未开具")
        reason = str(body.get("redReason") or "")
        if reason not in REASONS:
            raise Refused("E9121", "冲红原因须为01开票有误/02销货退回/03服务中止/04销售折让")
        lines = self._lines(body.get("detail"), sign=-1)
        left = self._remaining(blue)
        for x in lines:
            if x.index not in left:
                raise Refused("E9122", f"蓝票没有第{x.index}行")
            a, t = left[x.index]
            if a + x.amount < 0 or t + x.tax < 0:
                raise Refused("E9123", f"第{x.index}行红冲金额超过蓝票剩余可冲红金额{a}(税额{t})")
        n = self._next()
        form = RedForm(
            bill_id=f"RB{n:010d}",
            bill_no=f"{number}{n:04d}"[-20:],
            order_no=order_no,
            blue=blue,
            reason=reason,
            lines=lines,
            # A buyer without a tax id (a person) has no books to confirm in: 01.
            status="01" if not blue.buyer_tax else "02",
            created_at=self.now(),
        )
        self.forms[form.bill_id] = form
        self.forms_by_order[order_no] = form.bill_id
        self._maybe_issue_red(form)
        return self._form_out(form)

    def _maybe_issue_red(self, form: RedForm) -> None:
        if form.status in ("01", "04") and not form.red_serial:
            serial = f"{time.strftime('%y%m%d%H%M%S', time.gmtime(self.now()))}{self._next():08d}"
            red = Invoice(
                serial,
                form.order_no,
                "red",
                form.blue.buyer_name,
                form.blue.buyer_tax,
                form.lines,
                self.now(),
                blue_number=form.blue.number,
            )
            self.invoices[serial] = red
            self.by_order[form.order_no] = serial
            form.red_serial = serial

    def _form_out(self, form: RedForm) -> dict[str, Any]:
        self._expire(form)
        return {
            "billId": form.bill_id,
            "billNo": form.bill_no,
            "billStatus": form.status,
            "orderNo": form.order_no,
            "blueInvoiceNumber": form.blue.number,
            "redReason": form.reason,
            "invoiceSerialNum": form.red_serial,
        }

    def query_red_confirm(self, body: dict[str, Any]) -> dict[str, Any]:
        bill_id = str(body.get("billId") or "")
        if not bill_id and body.get("orderNo"):
            bill_id = self.forms_by_order.get(str(body["orderNo"]), "")
        form = self.forms.get(bill_id)
        if form is None:
            raise Refused("E9124", "红字确认单不存在")
        return self._form_out(form)

    def buyer_answers(self, bill_id: str, agree: bool) -> dict[str, Any]:
        """The buyer confirms (04) or refuses (08) a waiting form in their own tax portal."""
        form = self.forms[bill_id]
        self._expire(form)
        if form.status in ("02", "03"):
            form.status = "04" if agree else "08"
            self._maybe_issue_red(form)
        return self._form_out(form)

    def truth(self) -> dict[str, Any]:
        """Every invoice by order number, with its status and what remains of each blue."""
        out = {}
        for inv in self.invoices.values():
            amount, tax = inv.total()
            row: dict[str, Any] = {
                "kind": inv.kind,
                "status": inv.status,
                "number": inv.number,
                "amount": str(amount),
                "tax": str(tax),
            }
            if inv.kind == "blue":
                row["remaining"] = {
                    str(k): [str(a), str(t)] for k, (a, t) in self._remaining(inv).items()
                }
            out[inv.order_no] = row
        return {"invoices": out, "issued": len(self.issued), "calls": dict(self.calls)}
