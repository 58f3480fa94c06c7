"""Answers of the outside services, as fuzz targets (issue 19): what the hub's channel clients
and finance adapters read from Taobao's TOP, Shopify's Admin API, Cainiao's waybill API,
the e-invoice provider (Nuonuo's shape), Alipay's gateway (signed answers) and the bill
files of Alipay and WeChat Pay.

Each target runs the adapter unchanged over an ``httpx.MockTransport`` that answers with the
case's bytes (no network: the mock is the fault injection), so the whole read — envelope,
error sorting, the trade or waybill it yields, the order the intake makes of a trade — sees
the hostile answer. What the adapter promises to raise (``ChannelError``, the intake's
``Unusable``, the provider port's ``Unreachable``/``Rejected``, the hub's ``DomainError``)
is turned into :class:`~tests.fuzz.harness.Refused` with its message; anything else is a
crash. The valid samples are the answers the simulators give (their shapes, trimmed to a
few lines); tests/fuzz/test_fuzz.py checks each is accepted.

Everything of the hub is imported on first use: ``make fuzz`` instruments the modules loaded
before a kind starts, and the hub's would cost minutes per kind.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from tests.fuzz.harness import Refused

NOW = datetime(2026, 11, 12, 8, 0, tzinfo=UTC)
SKUS = {"SKU-A", "SKU-B", "SKU-C"}


class _Answering:
    """A stand-in for the adapters' ``httpx.Client`` whose every request is answered with the
    case's bytes (requests after the first with ``then``, when given: a download after its
    address). Only the transport is replaced — the adapters read real ``httpx.Response``
    objects — and the addresses they ask for are parsed as httpx would; building a whole
    request per call would cost more than most cases."""

    def __init__(self) -> None:
        self.data, self.status, self.then, self.calls = b"", 200, None, 0
        self.sent = httpx.Request("POST", "http://answers.test/")

    def __call__(self, data: bytes, status: int = 200, then: bytes | None = None) -> Any:
        self.data, self.status, self.then, self.calls = data, status, then, 0
        return self

    def request_(self, url: Any) -> httpx.Response:
        try:
            httpx.URL(url)
        except (TypeError, ValueError) as err:
            raise httpx.InvalidURL(str(err)) from None
        self.calls += 1
        body = self.data if self.then is None or self.calls == 1 else self.then
        headers = {"content-type": "application/json"}
        return httpx.Response(self.status, content=body, headers=headers, request=self.sent)

    def post(self, url: Any, **_kw: Any) -> httpx.Response:
        return self.request_(url)

    def get(self, url: Any, **_kw: Any) -> httpx.Response:
        return self.request_(url)

    def request(self, _method: str, url: Any, **_kw: Any) -> httpx.Response:
        return self.request_(url)


@functools.cache
def _answerer() -> _Answering:
    return _Answering()


def _answering(data: bytes, status: int = 200, then: bytes | None = None) -> Any:
    return _answerer()(data, status, then)


def _status(data: bytes) -> int:
    """Mostly 200; now and then an error status the client must sort (chosen by the data)."""
    pick = hashlib.blake2b(data, digest_size=1).digest()[0]
    return (400, 401, 403, 404, 429, 500, 502)[pick % 7] if pick < 40 else 200


def _refusing(*errors: type[BaseException]) -> Callable[[Callable[[], object]], object]:
    """Run ``call``; an error the interface promises becomes :class:`Refused`."""

    def run(call: Callable[[], object]) -> object:
        try:
            return call()
        except errors as err:
            raise Refused(str(err)) from err

    return run


# --- Taobao (TOP envelopes) ---------------------------------------------------------------


def _top(data: bytes) -> Any:
    from cloud.channels.taobao.client import TopClient

    return TopClient(
        _answering(data, _status(data)),
        "http://top.test/router/rest",
        "12345678",
        "secret",
        "session",
        now=lambda: NOW,
        sleep=lambda _s: None,
        attempts=1,
    )


def taobao_answers(data: bytes) -> None:
    from cloud.channels.intake import Unusable, to_order
    from cloud.channels.ports import ChannelError
    from cloud.channels.taobao.orders import TaobaoOrders
    from cloud.channels.taobao.tmc import TaobaoMessages

    refusing = _refusing(ChannelError, Unusable)
    # Every case is read as both answers it may be: a trade (fullinfo.get, then the order the
    # intake makes of it) and a page of TMC messages; refused when both refuse.
    outcomes: list[Refused | None] = []
    for read in (
        lambda: to_order(TaobaoOrders(_top(data)).trade("3900000000005000001"), SKUS),
        lambda: TaobaoMessages(_top(data)).poll(10),
    ):
        try:
            refusing(read)
            outcomes.append(None)
        except Refused as err:
            outcomes.append(err)
    if all(outcomes):
        raise outcomes[-1]  # type: ignore[misc]


_TRADE = {
    "tid": 3900000000005000001,
    "tid_str": "3900000000005000001",
    "type": "fixed",
    "status": "WAIT_SELLER_SEND_GOODS",
    "created": "2026-11-11 10:20:01",
    "modified": "2026-11-11 10:24:36",
    "pay_time": "2026-11-11 10:24:36",
    "buyer_nick": "买家小王",
    "buyer_message": "请尽快发货",
    "payment": "16286.84",
    "post_fee": "0.00",
    "total_fee": "16286.84",
    "receiver_name": "王小二",
    "receiver_state": "湖南省",
    "receiver_city": "长沙市",
    "receiver_district": "岳麓区",
    "receiver_address": "麓山南路 1 号",
    "receiver_mobile": "13800138000",
    "orders": {
        "order": [
            {"oid": 3900000000005000002, "outer_sku_id": "SKU-B", "num": 2, "price": "8143.42"}
        ]
    },
}
_TMC = {
    "messages": {
        "tmc_message": [
            {
                "id": 5001,
                "topic": "taobao_trade_TradeBuyerPay",
                "content": '{"tid":3900000000005000001,"status":"WAIT_SELLER_SEND_GOODS"}',
                "pub_time": "2026-11-11 10:24:37",
            }
        ]
    }
}
_TOP_ERROR = {
    "error_response": {
        "code": 7,
        "msg": "App Call Limited",
        "sub_code": "accesscontrol.limited-by-app-access-count",
        "sub_msg": "This ban will last for 12 more seconds",
    }
}


def _json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


TAOBAO_SAMPLES = [
    _json({"trade_fullinfo_get_response": {"trade": _TRADE}}),
    _json({"tmc_messages_consume_response": _TMC}),
    _json(_TOP_ERROR),
]

# --- Cainiao (TOP envelope, cainiao.waybill.ii.get) ---------------------------------------


def cainiao_answers(data: bytes) -> None:
    from cloud.channels.cainiao.waybills import CainiaoWaybills
    from cloud.channels.ports import ChannelError, WaybillRequest

    person = {"name": "张三", "phone": "13800138000", "province": "湖南省", "city": "长沙市"}
    request = WaybillRequest(
        cp_code="ZTO",
        object_id="P-1",
        package_id="P-1",
        trade_orders=("3900000000005000001",),
        channel_type="TB",
        sender={**person, "address": "仓库 1 号"},
        recipient={**person, "district": "岳麓区", "address": "麓山南路 1 号"},
        items=(("商品 SKU-B", 2),),
    )
    _refusing(ChannelError)(lambda: CainiaoWaybills(_top(data)).draw(request))


_PRINT = {
    "encryptedData": "",
    "data": {"routingInfo": {"routeCode": "731-A 12", "sortation": {"name": "长沙转运中心"}}},
}
CAINIAO_SAMPLES = [
    _json(
        {
            "cainiao_waybill_ii_get_response": {
                "modules": {
                    "waybill_cloud_print_response": [
                        {
                            "object_id": "P-1",
                            "waybill_code": "75312345678901",
                            "print_data": json.dumps(_PRINT, ensure_ascii=False),
                        }
                    ]
                }
            }
        }
    ),
    _json({"error_response": {"code": 15, "msg": "Remote service error", "sub_code": "isv.x"}}),
]

# --- Shopify (Admin REST) -----------------------------------------------------------------


def shopify_answers(data: bytes) -> None:
    from cloud.channels.intake import Unusable, to_order
    from cloud.channels.ports import ChannelError
    from cloud.channels.shopify.client import AdminClient
    from cloud.channels.shopify.orders import ShopifyOrders

    client = AdminClient(
        _answering(data, _status(data)),
        "https://shop1.myshopify.com/admin/api/2025-01",
        "shpat-1",
        now=lambda: NOW,
        sleep=lambda _s: None,
        attempts=1,
    )
    _refusing(ChannelError, Unusable)(
        lambda: to_order(ShopifyOrders(client).order("450789469"), SKUS)
    )


_ORDER = {
    "id": 450789469,
    "name": "#1001",
    "created_at": "2026-11-11T10:20:01+08:00",
    "updated_at": "2026-11-11T10:24:36+08:00",
    "financial_status": "paid",
    "fulfillment_status": None,
    "cancelled_at": None,
    "total_price": "199.00",
    "note": "请尽快发货",
    "customer": {"first_name": "小王", "last_name": "王"},
    "shipping_address": {
        "name": "王小二",
        "phone": "13800138000",
        "province": "湖南省",
        "city": "长沙市",
        "address1": "麓山南路 1 号",
        "address2": "岳麓区",
    },
    "line_items": [{"id": 1071823172, "sku": "SKU-A", "quantity": 1, "price": "199.00"}],
    "note_attributes": [{"name": "invoice_title", "value": "个人"}],
}
#: A paid order's fulfillment orders (Admin REST "FulfillmentOrder"), read right after the
#: order (cloud/channels/shopify/orders.py ``fulfillment_orders``). The fuzzing transport
#: answers every call with the one body, so a sample carries both answers' keys, and a
#: mutation reaches both parsers.
_FULFILLMENT_ORDERS = [
    {
        "id": 1046000778,
        "assigned_location_id": 24826418,
        "status": "open",
        "line_items": [{"id": 1025578633, "line_item_id": 1071823172, "quantity": 1}],
    }
]
SHOPIFY_SAMPLES = [
    _json({"order": _ORDER, "fulfillment_orders": _FULFILLMENT_ORDERS}),
    _json({"errors": "Not Found"}),
]

# --- the e-invoice provider (Nuonuo's shape) ------------------------------------------------


def einvoice_answers(data: bytes) -> None:
    from cloud.finance.einvoice.nuonuo import NuonuoProvider
    from cloud.finance.einvoice.port import (
        BlueRequest,
        PortLine,
        RedRequest,
        Rejected,
        Unreachable,
    )

    line = PortLine(1, "*纸制品*包装盒", "1060201", Decimal("0.13"), 1, Decimal("100.00"), Decimal("13.00"))  # fmt: skip
    provider = NuonuoProvider(
        "http://nuonuo.test", "key", "secret", "token", "91430100MA4L000000",
        client=_answering(data, _status(data)),
    )  # fmt: skip
    refusing = _refusing(Unreachable, Rejected)
    blue = BlueRequest("REQ-1", "长沙某某公司", "91430100MA4L111111", None, (line,))
    red = RedRequest("RED-1", "24430000000000000001", "02", (line,))
    # One answer, every call that reads one: accepted when any call takes it.
    outcomes: list[Refused | None] = []
    for call in (
        lambda: provider.issue(blue),
        lambda: provider.query("REQ-1"),
        lambda: provider.reissue("S-1"),
        lambda: provider.red_form(red),
        lambda: provider.query_red_form("RED-1"),
    ):
        try:
            refusing(call)
            outcomes.append(None)
        except Refused as err:
            outcomes.append(err)
    if all(outcomes):
        raise outcomes[-1]  # type: ignore[misc]


EINVOICE_SAMPLES = [
    _json({"code": "E0000", "describe": "开票提交成功", "result": {"invoiceSerialNum": "24111100000001"}}),
    _json({"code": "E0000", "describe": "获取成功", "result": [{"orderNumber": "REQ-1", "status": "2", "serialNo": "24111100000001", "allElectronicInvoiceNumber": "24430000000000000001", "pdfUrl": "http://nuonuo.test/1.pdf", "ofdUrl": "", "failCause": ""}]}),
    _json({"code": "E0000", "describe": "成功", "result": {"billId": "B-1", "billStatus": "01"}}),
    _json({"code": "E9613", "describe": "重开次数已达上限", "result": None}),
    _json({"code": "E9124", "describe": "红字确认单不存在", "result": None}),
]  # fmt: skip

# --- Alipay (signed gateway answers) and the bill files -----------------------------------


@functools.cache
def _alipay_world() -> tuple[Any, bytes, Callable[[str], str], bytes]:
    """(Alipay's private key, its public PEM, the app's signer, a small bill zip)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from cloud.finance import alipay_sign

    def pem(key: Any) -> bytes:
        return bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    app = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = platform.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return platform, public, alipay_sign.signer(pem(app)), _bills()[1]


def _sign(key: Any, text: str) -> str:
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def _signed(node: str, answer: object) -> bytes:
    text = json.dumps(answer, ensure_ascii=False)
    return f'{{"{node}":{text},"sign":"{_sign(_alipay_world()[0], text)}"}}'.encode()


def _resigned(data: bytes) -> bytes:
    """Half the cases (chosen by the data): the answer's node signed anew with Alipay's key,
    so a mutated answer with a valid signature reaches what comes after the check."""
    from cloud.finance import alipay_sign

    if hashlib.blake2b(data, digest_size=1).digest()[0] % 2:
        return data
    try:
        text = data.decode()
        name, node, _sign_was = alipay_sign.signed_node(text)
    except ValueError:
        return data
    signature = _sign(_alipay_world()[0], node)
    return f'{{"{name}":{node},"sign":"{signature}"}}'.encode()


def _unsigned(data: bytes) -> bytes:
    """The answer without its signature. The keys are made anew in each process, so a
    sample's signature, and a status chosen by the whole answer, differed from run to run:
    the one sample Alipay answers with a bill then drew an error status in about one run in
    six, and "the valid samples are taken" failed (the CI of 2026-12-07 07:49)."""
    cut = data.rfind(b',"sign":"')
    return data if cut < 0 else data[:cut]


def alipay_answers(data: bytes) -> None:
    from cloud.errors import DomainError
    from cloud.finance.bill_source import AlipayBills

    _platform, public, signer, bill = _alipay_world()
    source = AlipayBills(
        _answering(_resigned(data), _status(_unsigned(data)), then=bill),
        "http://alipay.test/gateway.do",
        "2021000000000000",
        signer=signer,
        now=lambda: NOW,
        alipay_public_key=public,
    )
    _refusing(DomainError)(lambda: source.fetch(date(2026, 11, 11)))


_NODE = "alipay_data_dataservice_bill_downloadurl_query_response"


@functools.cache
def alipay_samples() -> list[bytes]:
    ok = {"code": "10000", "msg": "Success", "bill_download_url": "http://alipay.test/bill.zip"}
    missing = {
        "code": "40004",
        "msg": "Business Failed",
        "sub_code": "isp.bill_not_exist",
        "sub_msg": "账单不存在",
    }
    return [_signed(_NODE, ok), _signed(_NODE, missing), _json({_NODE: missing})]


@functools.cache
def _bills() -> tuple[bytes, bytes, bytes]:
    """(an Alipay account-flow CSV, the same in a bill zip, a WeChat Pay trade bill) of one
    simulated day with a few sales, as the marketplace simulator writes them."""
    from simulators.marketplace import bill, wechat_bill
    from simulators.marketplace.market import Market

    market = Market(seed=5)
    shop = market.add_shop("12345678", "sim-secret", "s-tb1", "tb1")
    market.advance(2 * 86_400 + 120, 0.0002)
    day = (datetime.fromtimestamp(market.now, UTC) - timedelta(days=1)).date()
    csv = bill.csv_bytes(market, shop, day, market.now)
    return csv, bill.zip_bytes(market, shop, day), wechat_bill.text(market, shop, day).encode()


def alipay_bill_files(data: bytes) -> None:
    from cloud.errors import DomainError
    from cloud.finance import alipay_bill

    _refusing(DomainError)(lambda: alipay_bill.parse(data))


def alipay_bill_samples() -> list[bytes]:
    csv, zipped, _ = _bills()
    return [csv, zipped]


def wechat_bill_files(data: bytes) -> None:
    from cloud.errors import DomainError
    from cloud.finance import wechat_bill

    _refusing(DomainError)(lambda: wechat_bill.parse(data))


def wechat_bill_samples() -> list[bytes]:
    import gzip

    text = _bills()[2]
    return [text, gzip.compress(text, mtime=0)]
