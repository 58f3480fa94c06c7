"""A shop's WeChat Pay trade bill (微信支付 交易账单, ``ALL``) of the simulated marketplace.

The same world as the Alipay bill (bill.py), as if the shop's buyers had paid by WeChat
Pay (a mini-program shop): each payment of the day is a ``SUCCESS`` line of its amount with
the payment fee (0.6 %, half up; modelled), each agreed refund a ``REFUND`` line with the fee
given back in proportion (negative). The merchant order number (商户订单号) is the trade id,
which is the hub's order number of a channel order.

Served as WeChat Pay's v2 "下载交易账单" serves it: ``POST /pay/downloadbill`` with an XML body
(``appid``, ``mch_id``, ``nonce_str``, ``sign``, ``bill_date`` yyyyMMdd, ``bill_type`` ALL)
answers the bill as text (UTF-8): the header line, the lines with every value prefixed by a
backtick, the summary header and its totals (pay.weixin.qq.com, "交易账单详细说明"). A day not
over, or no shop, answers WeChat's XML failure (``return_code`` FAIL, ``No Bill Exist``,
``error_code`` 20002). ``mch_id`` picks the shop (:func:`merchant_of`), else the first. The
request's MD5/HMAC signature is not checked (the simulator's choice: this v2 call is for a
person's download; the hub fetches over API v3, signed both ways: wechat_v3.py).

``guanjia sim marketplace-wechat-bill`` fetches one through that call and writes it to a file.
"""

from __future__ import annotations

import re
import zlib
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated

import typer

from simulators.marketplace.bill import _start_of, flows
from simulators.marketplace.clock import GMT8
from simulators.marketplace.market import Market, Shop

FEE = Decimal("0.006")
HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
SUMMARY = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
APPID = "wx2421b1c4370ec43b"


def merchant_of(shop: Shop) -> str:
    """The shop's WeChat Pay merchant number (10 digits), the same every run."""
    return f"19{zlib.crc32(shop.seller_nick.encode()) % 10**8:08d}"


def _fee(amount: Decimal) -> Decimal:
    return (amount * FEE).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def text(market: Market, shop: Shop, day: date) -> str:
    """The day's trade bill (every payment and refund of the shop that day)."""
    start, end = _start_of(day), _start_of(day + timedelta(days=1))
    mch = merchant_of(shop)
    lines = [HEADER]
    n, settle, refunded, fees = 0, Decimal("0.00"), Decimal("0.00"), Decimal("0.00")
    for f in flows(market, shop, end):
        if f.at < start or f.kind not in ("sale", "refund"):
            continue
        stamp = datetime.fromtimestamp(int(f.at), GMT8).strftime("%Y-%m-%d %H:%M:%S")
        transaction = f"4200{day:%Y%m%d}{f.tid % 10**16:016d}"
        if f.kind == "sale":
            fee = _fee(f.amount)
            cells = [stamp, APPID, mch, "0", "", transaction, str(f.tid), f"o{f.tid:x}"]
            cells += ["JSAPI", "SUCCESS", "OTHERS", "CNY", f"{f.amount:.2f}", "0.00", "0", "0"]
            cells += ["0.00", "0.00", "", "", f.title, "", f"{fee:.5f}", "0.60%"]
            cells += [f"{f.amount:.2f}", "0.00", ""]
            settle += f.amount
        else:
            back = -f.amount
            fee = -_fee(back)
            refund_id = f"5030{day:%Y%m%d}{f.tid % 10**17:017d}"
            cells = [stamp, APPID, mch, "0", "", transaction, str(f.tid), f"o{f.tid:x}"]
            cells += ["JSAPI", "REFUND", "OTHERS", "CNY", "0.00", "0.00", refund_id]
            cells += [f"TK{f.tid}", f"{back:.2f}", "0.00", "ORIGINAL", "SUCCESS", f.title, ""]
            cells += [f"{fee:.5f}", "0.60%", "0.00", f"{back:.2f}", ""]
            refunded += back
        fees += fee
        n += 1
        lines.append(",".join("`" + c for c in cells))
    lines.append(SUMMARY)
    totals = [str(n), f"{settle:.2f}", f"{refunded:.2f}", "0.00", f"{fees:.5f}"]
    totals += [f"{settle:.2f}", f"{refunded:.2f}"]
    lines.append(",".join("`" + c for c in totals))
    return "\r\n".join(lines) + "\r\n"


def _field(xml: str, name: str) -> str:
    m = re.search(rf"<{name}>(?:<!\[CDATA\[)?([^<\]]*)(?:\]\]>)?</{name}>", xml)
    return m.group(1).strip() if m else ""


def _fail(msg: str, code: str) -> tuple[int, str, bytes]:
    body = (
        f"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[{msg}]]>"
        f"</return_msg><error_code><![CDATA[{code}]]></error_code></xml>"
    )
    return 200, "text/xml; charset=utf-8", body.encode()


def handle(market: Market, verb: str, path: str, body: bytes) -> tuple[int, str, bytes] | None:
    """``POST /pay/downloadbill``; None for any other path."""
    if path != "/pay/downloadbill" or verb != "POST":
        return None
    xml = body.decode("utf-8", "replace")
    mch = _field(xml, "mch_id")
    shop = next((s for s in market.shops.values() if merchant_of(s) == mch), None)
    shop = shop or next(iter(market.shops.values()), None)
    bill_type = _field(xml, "bill_type") or "ALL"
    if bill_type != "ALL":
        return _fail("invalid bill_type", "20001")
    try:
        day = datetime.strptime(_field(xml, "bill_date"), "%Y%m%d").date()
    except ValueError:
        return _fail("invalid bill_date", "20001")
    if shop is None or _start_of(day + timedelta(days=1)) > market.now:
        return _fail("No Bill Exist", "20002")
    return 200, "text/plain; charset=utf-8", text(market, shop, day).encode("utf-8")


def command(
    day: Annotated[str, typer.Option("--date", help="The bill's day, like 2026-11-11.")],
    output: Annotated[Path, typer.Option(help="Where to write the bill.")],
    url: Annotated[
        str, typer.Option(help="The running simulator (guanjia sim marketplace).")
    ] = "http://127.0.0.1:8765",
    mch_id: Annotated[str, typer.Option(help="The shop's merchant number; none: the first.")] = "",
) -> None:
    """Fetch a shop's WeChat Pay trade bill (交易账单) of one day from a running marketplace
    simulator (POST /pay/downloadbill) and write it to a file, for `guanjia finance
    settlement import`."""
    import httpx

    when = day.replace("-", "")
    xml = f"<xml><mch_id>{mch_id}</mch_id><bill_date>{when}</bill_date><bill_type>ALL</bill_type></xml>"
    r = httpx.post(f"{url}/pay/downloadbill", content=xml.encode(), timeout=30)
    if r.headers.get("content-type", "").startswith("text/xml"):
        typer.echo(
            f"error: {_field(r.text, 'return_msg')} {_field(r.text, 'error_code')}", err=True
        )
        raise typer.Exit(1)
    output.write_bytes(r.content)
