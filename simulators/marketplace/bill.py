"""The seller's Alipay account-flow bill (支付宝账务明细) of the simulated marketplace.

What moves a shop's Alipay balance, day by day, from the trades of the world: a buyer's
payment arrives (业务类型 在线支付), the platform takes its commission (收费, 备注 淘宝佣金)
and the payment service fee (收费, 支付服务费), a refund agreed goes back to the buyer
(交易退款), and now and then a deposit is frozen (保证金) or a buyer compensated (赔付).
Amounts are the trade's; commission and fee are rates of it rounded half up (modelled, not
Taobao's rate table). The sale arrives when the buyer pays (a simplification: Taobao
releases escrow when the buyer confirms receipt). Every day's bill is computed from the
world, so the same day gives the same bytes, and one day's closing balance is the next
day's opening.

Served as Alipay serves it (open platform, "查询对账单下载地址"):

- ``POST /gateway.do`` with ``method=alipay.data.dataservice.bill.downloadurl.query`` and
  ``biz_content={"bill_type": "signcustomer", "bill_date": "2026-11-11"}`` answers
  ``alipay_data_dataservice_bill_downloadurl_query_response`` with ``code`` 10000 and a
  ``bill_download_url``; a day not over yet (or not a day) answers 40004 with a
  ``sub_code``; ``app_auth_token`` (the shop's session key here) picks the seller, else the
  first shop. An app whose public key is registered (``Market.alipay_keys``) must sign
  RSA2 as Alipay requires (SHA256withRSA, PKCS#1 v1.5, base64, over every parameter but
  ``sign``, sorted, ``k=v`` joined by ``&``); a wrong or missing signature is Alipay's
  ``40002 isv.invalid-signature``. Apps without a key are answered unsigned. Every
  answer is signed as Alipay signs its answers: ``sign`` is RSA2 with the simulator's own
  "Alipay" key over the ``…_response`` node's JSON text exactly as written in the body
  (:func:`platform_key`; its public half at ``GET /_sim/alipay-public-key``).
- ``GET /downloadBillFile.resource?userId=…&bizDates=yyyyMMdd`` answers the zip:
  ``<userId>_<yyyyMMdd>_账务明细.csv`` and ``…_账务明细(汇总).csv``, GBK, CRLF, between
  ``#`` comment lines (cloud/finance/alipay_bill.py reads them).

``guanjia sim marketplace-bill`` fetches one through those two calls and writes it to a file.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import random
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

import typer
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulators.marketplace.clock import GMT8
from simulators.marketplace.market import Market, Shop

METHOD = "alipay.data.dataservice.bill.downloadurl.query"
RESPONSE = METHOD.replace(".", "_") + "_response"
COMMISSION = Decimal("0.05")
FEE = Decimal("0.006")
OPENING = Decimal("5000.00")
HEADER = (
    "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,"
    "支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注"
)
PLATFORM = "淘宝（中国）软件有限公司"
ALIPAY = "支付宝（中国）网络技术有限公司"


@dataclass
class Flow:
    at: float
    tid: int
    kind: str  # sale, commission, fee, refund, margin, chargeback
    amount: Decimal  # positive in, negative out
    title: str
    counterparty: str


def account_of(shop: Shop) -> str:
    """The shop's Alipay user id (2088 and 12 digits), the same every run."""
    return f"2088{zlib.crc32(shop.seller_nick.encode()) % 10**12:012d}"


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _money(text: Any) -> Decimal:
    return Decimal(str(text).replace(",", ""))


def _day_of(epoch: float) -> date:
    return datetime.fromtimestamp(epoch, GMT8).date()


def _start_of(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=GMT8).timestamp()


def flows(market: Market, shop: Shop, until: float) -> list[Flow]:
    """Every move of the shop's Alipay balance before ``until``, in time order."""
    out: list[Flow] = []
    for change in market.truth:
        if change["action"] != "pay" or change["seller_nick"] != shop.seller_nick:
            continue
        if change["at"] >= until:
            continue
        tid = change["tid"]
        trade = market.trades[tid][0].trade
        payment = _money(trade["payment"])
        title = str(trade["orders"]["order"][0]["title"])
        buyer = "".join(ch for ch in str(trade["buyer_nick"]) if ch.isascii() and ch.isalnum())
        at = change["at"]
        out.append(Flow(at, tid, "sale", payment, title, f"{buyer[:12]}***"))
        out.append(Flow(at, tid, "commission", -_half_up(payment * COMMISSION), title, PLATFORM))
        out.append(Flow(at, tid, "fee", -_half_up(payment * FEE), title, ALIPAY))
    desk = market.parts.get("refunds")
    if desk is not None:
        for versions in desk.versions.values():
            done = next((v for v in versions if v.refund["status"] == "SUCCESS"), None)
            if done is None or done.made_at >= until:
                continue
            refund = done.refund
            trade = market.trades[refund["tid"]][0].trade
            if trade["seller_nick"] != shop.seller_nick:
                continue
            title = str(trade["orders"]["order"][0]["title"])
            fee = _money(refund["refund_fee"])
            out.append(Flow(done.made_at, refund["tid"], "refund", -fee, title, "buyer***"))
    out = [f for f in out if f.amount]  # a fee that rounds to 0.00 moves nothing
    out.sort(key=lambda f: (f.at, f.tid, f.kind))
    out.extend(_occasional(out, shop))
    out.sort(key=lambda f: f.at)
    return out


def _occasional(sales: list[Flow], shop: Shop) -> list[Flow]:
    """Now and then a deposit frozen or a buyer compensated, drawn per shop and day (never
    from the market's own random stream, so the buyers stay what they were)."""
    extra: list[Flow] = []
    days = sorted({_day_of(f.at) for f in sales if f.kind == "sale"})
    for day in days:
        r = random.Random(f"{shop.seller_nick}:{day.isoformat()}")
        first = min(
            (f for f in sales if f.kind == "sale" and _day_of(f.at) == day), key=lambda f: f.at
        )
        at = first.at + 1
        if r.random() < 0.3:
            extra.append(Flow(at, first.tid, "margin", Decimal("-100.00"), "保证金", PLATFORM))
        if r.random() < 0.2:
            amount = -Decimal(r.randint(500, 3000)) / 100
            extra.append(Flow(at + 1, first.tid, "chargeback", amount, first.title, PLATFORM))
    return extra


#: (业务类型, 备注) per kind.
WORDING = {
    "sale": ("在线支付", ""),
    "commission": ("收费", "淘宝佣金 T200P{tid}"),
    "fee": ("收费", "支付服务费 T200P{tid}"),
    "refund": ("交易退款", "退款 T200P{tid}"),
    "margin": ("保证金", "保证金冻结"),
    "chargeback": ("赔付", "售后赔付 T200P{tid}"),
}


def rows(market: Market, shop: Shop, day: date, until: float | None = None) -> list[list[str]]:
    """The day's rows, as the CSV has them (with the running balance); with ``until``, only
    those before it (the day so far)."""
    start, end = _start_of(day), _start_of(day + timedelta(days=1))
    if until is not None:
        end = min(end, until)
    balance = OPENING
    out: list[list[str]] = []
    seq = 0
    prefix = f"{day:%Y%m%d}{zlib.crc32(shop.seller_nick.encode()) % 1000:03d}"
    for f in flows(market, shop, end):
        balance += f.amount
        if f.at < start:
            continue
        seq += 1
        business, remark = WORDING[f.kind]
        stamp = datetime.fromtimestamp(int(f.at), GMT8).strftime("%Y-%m-%d %H:%M:%S")
        out.append(
            [
                f"{prefix}{seq:07d}\t",
                f"{day:%Y%m%d}2200{f.tid % 10**10:010d}\t",
                f"T200P{f.tid}\t",
                f.title,
                stamp,
                f.counterparty,
                f"{f.amount:.2f}" if f.amount > 0 else "",
                f"{f.amount:.2f}" if f.amount < 0 else "",
                f"{balance:.2f}",
                "支付宝" if f.kind == "sale" else "",
                business,
                remark.format(tid=f.tid),
            ]
        )
    return out


def _csv_line(cells: list[str]) -> str:
    def cell(c: str) -> str:
        return f'"{c}"' if any(ch in c for ch in ',"\r\n') else c

    return ",".join(cell(c.replace('"', '""')) for c in cells)


def csv_bytes(
    market: Market, shop: Shop, day: date, exported: float, until: float | None = None
) -> bytes:
    """The day's 账务明细 as Alipay writes it: GBK, CRLF, comment lines around the table;
    with ``until``, the day so far (its end date is then ``until``)."""
    body = rows(market, shop, day, until)
    ins = [Decimal(r[6]) for r in body if r[6]]
    outs = [Decimal(r[7]) for r in body if r[7]]
    end = _start_of(day + timedelta(days=1))
    if until is not None:
        end = min(end, until)
    lines = [
        "#支付宝账务明细查询",
        f"#账号：[{account_of(shop)}]",
        f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   "
        f"终止日期：[{datetime.fromtimestamp(int(end), GMT8):%Y年%m月%d日 %H:%M:%S}]",
        "#-----------------------------------------账务明细列表----------------------------------------",
        HEADER,
        *(_csv_line(r) for r in body),
        "#-----------------------------------------账务明细列表结束------------------------------------",
        f"#收入合计：{len(ins)}笔，共{sum(ins, Decimal('0.00')):.2f}元",
        f"#支出合计：{len(outs)}笔，共{sum(outs, Decimal('0.00')):.2f}元",
        f"#导出时间：[{datetime.fromtimestamp(int(exported), GMT8):%Y年%m月%d日 %H:%M:%S}]",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("gbk", errors="replace")


def summary_bytes(market: Market, shop: Shop, day: date, until: float | None = None) -> bytes:
    totals: dict[str, list[Decimal]] = {}
    for r in rows(market, shop, day, until):
        t = totals.setdefault(r[10], [Decimal("0.00"), Decimal("0.00"), Decimal(0)])
        t[0] += Decimal(r[6] or "0")
        t[1] += Decimal(r[7] or "0")
        t[2] += 1
    lines = [
        "#支付宝账务明细汇总",
        f"#账号：[{account_of(shop)}]",
        "业务类型,收入金额（+元）,支出金额（-元）,笔数",
    ]
    lines += [f"{k},{v[0]:.2f},{v[1]:.2f},{v[2]}" for k, v in sorted(totals.items())]
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def zip_bytes(market: Market, shop: Shop, day: date, until: float | None = None) -> bytes:
    user = account_of(shop)
    buf = io.BytesIO()
    # A fixed member time: the same day's bill is the same bytes whenever it is fetched.
    stamp = (day.year, day.month, day.day, 0, 0, 0)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        detail = zipfile.ZipInfo(f"{user}_{day:%Y%m%d}_账务明细.csv", stamp)
        exported = _start_of(day + timedelta(days=1)) if until is None else until
        z.writestr(detail, csv_bytes(market, shop, day, exported, until))
        total = zipfile.ZipInfo(f"{user}_{day:%Y%m%d}_账务明细(汇总).csv", stamp)
        z.writestr(total, summary_bytes(market, shop, day, until))
    return buf.getvalue()


# --- the gateway --------------------------------------------------------------------------


def _error(code: str, msg: str, sub_code: str, sub_msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}


def platform_key(market: Market) -> rsa.RSAPrivateKey:
    """The simulated Alipay's own key (2048-bit RSA, made once per market)."""
    if market.alipay_platform_key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        market.alipay_platform_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    loaded = serialization.load_pem_private_key(market.alipay_platform_key, password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def _shop(market: Market, params: dict[str, str]) -> Shop | None:
    token = params.get("app_auth_token", "")
    if token:
        return market.shops.get(token)
    return next(iter(market.shops.values()), None)


def handle(
    market: Market, verb: str, path: str, query: str, body: bytes, base: str
) -> tuple[int, str, bytes] | None:
    """The two Alipay paths; None for any other path."""
    if path == "/gateway.do":
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        node = json.dumps(_gateway(market, params, base), ensure_ascii=False)
        sign = base64.b64encode(
            platform_key(market).sign(node.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        ).decode("ascii")
        # The node's text is written once and signed as written (the verifier checks the
        # bytes it received, not a re-serialisation).
        text = f'{{"{RESPONSE}":{node},"sign":"{sign}"}}'
        return 200, "application/json;charset=utf-8", text.encode("utf-8")
    if path == "/_sim/alipay-public-key" and verb == "GET":
        public = platform_key(market).public_key()
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return 200, "application/x-pem-file", pem
    if path == "/downloadBillFile.resource" and verb == "GET":
        params = dict(parse_qsl(query))
        shop = next(
            (s for s in market.shops.values() if account_of(s) == params.get("userId")), None
        )
        try:
            day = datetime.strptime(params.get("bizDates", ""), "%Y%m%d").date()
        except ValueError:
            return 404, "text/plain", b"no such bill"
        if shop is None or _start_of(day + timedelta(days=1)) > market.now:
            return 404, "text/plain", b"no such bill"
        return 200, "application/oct-stream", zip_bytes(market, shop, day)
    if path == "/_sim/alipay-bill" and verb == "GET":
        return _so_far(market, query)
    return None


def _so_far(market: Market, query: str) -> tuple[int, str, bytes]:
    """The simulator's own: ``GET /_sim/alipay-bill?session=…&date=yyyy-mm-dd`` answers the
    day's zip as it stands now (rows before the simulator's clock; the end date in its
    header is that moment). Alipay serves a day's bill only once the day is over; the demo
    settles today's trades, so it asks for this. The same day's full bill later holds
    the same 账务流水号, so a hub that imported this refuses it (409, nothing doubled)."""
    params = dict(parse_qsl(query))
    shop = _shop(market, {"app_auth_token": params.get("session", "")})
    try:
        day = date.fromisoformat(params.get("date", ""))
    except ValueError:
        return 400, "text/plain", b"date is not yyyy-mm-dd"
    if shop is None:
        return 404, "text/plain", b"no shop with that session"
    if _start_of(day) > market.now:
        return 404, "text/plain", b"that day has not begun"
    return 200, "application/oct-stream", zip_bytes(market, shop, day, market.now)


def signature_ok(public_pem: bytes, params: dict[str, str]) -> bool:
    """RSA2 over the sorted parameters but ``sign`` (empty ones left out), as received."""
    content = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v)
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        raw = base64.b64decode(params.get("sign", ""), validate=True)
        key.verify(raw, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _gateway(market: Market, params: dict[str, str], base: str) -> dict[str, Any]:
    key = market.alipay_keys.get(params.get("app_id", ""))
    if key is not None and not signature_ok(key, params):
        return _error("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
    if not params.get("method"):
        return _error("40001", "Missing Required Arguments", "isv.missing-method", "缺少方法名参数")
    if params["method"] != METHOD:
        return _error("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
    try:
        biz = json.loads(params.get("biz_content") or "{}")
        bill_type, bill_date = str(biz["bill_type"]), str(biz["bill_date"])
    except (ValueError, KeyError, TypeError):
        return _error(
            "40001", "Missing Required Arguments", "isv.missing-biz-content", "缺少业务参数"
        )
    if bill_type != "signcustomer":
        return _error("40004", "Business Failed", "isv.invalid-bill-type", "账单类型不支持")
    shop = _shop(market, params)
    if shop is None:
        return _error(
            "20001", "Insufficient Token Permissions", "aop.invalid-auth-token", "无效的授权令牌"
        )
    try:
        day = date.fromisoformat(bill_date)
    except ValueError:
        return _error("40004", "Business Failed", "isv.invalid-bill-date", "账单日期格式不正确")
    if _start_of(day + timedelta(days=1)) > market.now:
        return _error("40004", "Business Failed", "isp.bill_not_exist", "账单不存在")
    query = urlencode(
        {
            "bizType": "signcustomer",
            "userId": account_of(shop),
            "fileType": "csv.zip",
            "bizDates": f"{day:%Y%m%d}",
            "downloadFileName": f"{account_of(shop)}_{day:%Y%m%d}.csv.zip",
        }
    )
    return {
        "code": "10000",
        "msg": "Success",
        "bill_download_url": f"{base}/downloadBillFile.resource?{query}",
    }


def command(
    day: Annotated[str, typer.Option("--date", help="The bill's day, like 2026-11-11.")],
    output: Annotated[Path, typer.Option(help="Where to write the bill.")],
    url: Annotated[
        str, typer.Option(help="The running simulator (guanjia sim marketplace).")
    ] = "http://127.0.0.1:8765",
    session: Annotated[str, typer.Option(help="The shop's session key.")] = "sim-session",
    unzip: Annotated[
        bool, typer.Option("--csv/--zip", help="Write the 账务明细 CSV, or the zip as served.")
    ] = False,
) -> None:
    """Fetch a shop's Alipay account-flow bill of one day from a running marketplace
    simulator (alipay.data.dataservice.bill.downloadurl.query, then the download) and write
    it to a file, for `guanjia finance settlement import`."""
    import httpx

    form = {
        "method": METHOD,
        "app_id": "2021000000000000",
        "app_auth_token": session,
        "charset": "utf-8",
        "biz_content": json.dumps({"bill_type": "signcustomer", "bill_date": day}),
    }
    answer = httpx.post(f"{url}/gateway.do", data=form, timeout=30).json()[RESPONSE]
    if answer.get("code") != "10000":
        typer.echo(f"error: {answer.get('sub_code')} {answer.get('sub_msg')}", err=True)
        raise typer.Exit(1)
    data = httpx.get(answer["bill_download_url"], timeout=60).content
    if unzip:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            data = next(z.read(i) for i in z.infolist() if "账务流水号".encode("gbk") in z.read(i))
    output.write_bytes(data)
    typer.echo(f"{output}: {len(data)} bytes")
