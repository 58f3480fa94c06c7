"""The simulator's Cainiao e-waybills through the TOP gateway: the envelope and its key, the
same number for the same parcel, cancel frees it, a lost answer, refusals."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from simulators.marketplace.cainiao import book
from simulators.marketplace.market import Market
from tests.simulators.marketplace.test_gateway import KEY, SECRET, SESSION, Gateway

PERSON = {
    "name": "张三",
    "mobile": "13800000000",
    "address": {
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "detail": "文一西路 1 号",
    },
}


def request(*parcels: tuple[str, str, str], cp_code: str = "ZTO") -> str:
    """(object_id, trade order, package id) per parcel."""
    return orjson.dumps(
        {
            "cp_code": cp_code,
            "sender": PERSON,
            "trade_order_info_dtos": [
                {
                    "object_id": obj,
                    "order_info": {"order_channels_type": "TB", "trade_order_list": [tid]},
                    "package_info": {"id": pkg, "items": [{"name": "SKU-A", "count": 1}]},
                    "recipient": PERSON,
                    "template_url": "http://cloudprint.cainiao.com/template/standard/101",
                }
                for obj, tid, pkg in parcels
            ],
        }
    ).decode()


@pytest.fixture
def gw() -> Gateway:
    market = Market(seed=3)
    market.add_shop(KEY, SECRET, SESSION, "shop-1")
    return Gateway(market)


def get(gw: Gateway, param: str) -> Any:
    return gw.call("cainiao.waybill.ii.get", param_waybill_cloud_print_apply_new_request=param)


def test_get_keeps_the_cainiao_prefix_and_answers_each_parcel(gw: Gateway) -> None:
    body = get(gw, request(("o1", "T1", "P1"), ("o2", "T2", "P1")))
    assert list(body) == ["cainiao_waybill_ii_get_response"]
    modules = body["cainiao_waybill_ii_get_response"]["modules"]["waybill_cloud_print_response"]
    assert [m["object_id"] for m in modules] == ["o1", "o2"]
    a, b = (m["waybill_code"] for m in modules)
    assert a != b and a.startswith("75") and len(a) == 14
    doc = orjson.loads(modules[0]["print_data"])
    assert doc["data"]["waybillCode"] == a and doc["data"]["routingInfo"]["routeCode"]
    assert doc["templateURL"].endswith("/101")


def test_the_same_parcel_gets_the_same_number_until_cancelled(gw: Gateway) -> None:
    first = get(gw, request(("o1", "T1", "P1")))
    again = get(gw, request(("retry", "T1", "P1")))  # the object id is only echoed
    code = first["cainiao_waybill_ii_get_response"]["modules"]["waybill_cloud_print_response"][0]
    code2 = again["cainiao_waybill_ii_get_response"]["modules"]["waybill_cloud_print_response"][0]
    assert code["waybill_code"] == code2["waybill_code"] and code2["object_id"] == "retry"
    number = code["waybill_code"]
    other = get(gw, request(("o1", "T1", "P2")))  # another parcel of the order
    assert other["cainiao_waybill_ii_get_response"]["modules"]["waybill_cloud_print_response"][0][
        "waybill_code"
    ] not in (number,)
    done = gw.call("cainiao.waybill.ii.cancel", cp_code="ZTO", waybill_code=number)
    assert done == {"cainiao_waybill_ii_cancel_response": {"cancel_result": True}}
    assert book(gw.market).numbers[number]["state"] == "cancelled"
    fresh = get(gw, request(("o1", "T1", "P1")))
    new = fresh["cainiao_waybill_ii_get_response"]["modules"]["waybill_cloud_print_response"][0]
    assert new["waybill_code"] != number
    assert [e["action"] for e in book(gw.market).log] == ["get", "get", "cancel", "get"]
    truth = gw.http.get("/_sim/waybills").json()
    assert truth["numbers"][number]["state"] == "cancelled" and len(truth["log"]) == 4


def test_a_lost_answer_still_drew_the_number(gw: Gateway) -> None:
    gw.market.faults.waybill_timeout = 1.0
    r = gw.http.post(
        "/router/rest",
        params=_signed(gw, "cainiao.waybill.ii.get"),
        data={"param_waybill_cloud_print_apply_new_request": request(("o1", "T1", "P1"))},
    )
    assert r.status_code == 504 and b"Gateway Time-out" in r.content
    (number,) = book(gw.market).numbers
    gw.market.faults.waybill_timeout = 0.0
    body = get(gw, request(("o1", "T1", "P1")))
    modules = body["cainiao_waybill_ii_get_response"]["modules"]["waybill_cloud_print_response"]
    assert modules[0]["waybill_code"] == number and len(book(gw.market).numbers) == 1


def _signed(gw: Gateway, method: str) -> dict[str, str]:
    from simulators.marketplace.clock import fmt
    from tests.simulators.marketplace.test_gateway import sign

    system = {
        "method": method,
        "app_key": KEY,
        "session": SESSION,
        "timestamp": fmt(gw.market.now),
        "format": "json",
        "v": "2.0",
        "sign_method": "md5",
    }
    param = request(("o1", "T1", "P1"))
    system["sign"] = sign({**system, "param_waybill_cloud_print_apply_new_request": param})
    return system


@pytest.mark.parametrize(
    ("param", "sub_code"),
    [
        ("not json", "isv.invalid-parameter:param_waybill_cloud_print_apply_new_request"),
        (request(("o1", "T1", "P1"), cp_code="NOSUCH"), "isv.invalid-parameter:cp_code"),
        (
            request(*[(f"o{i}", f"T{i}", "P1") for i in range(11)]),
            "isv.invalid-parameter:trade_order_info_dtos",
        ),
        (request(("o1", "T1", "P-1")), "isv.invalid-parameter:package_info.id"),
        (request(("", "T1", "P1")), "isv.invalid-parameter:object_id"),
        (
            request(("o1", "T1", "P1")).replace('"detail":"文一西路 1 号"', '"detail":""'),
            "isv.invalid-parameter:sender.address",
        ),
    ],
)
def test_bad_requests_are_refused_and_draw_nothing(gw: Gateway, param: str, sub_code: str) -> None:
    body = get(gw, param)
    assert body["error_response"]["code"] == 41 and body["error_response"]["sub_code"] == sub_code
    assert book(gw.market).numbers == {}


def test_cancel_of_an_unknown_number_is_refused(gw: Gateway) -> None:
    body = gw.call("cainiao.waybill.ii.cancel", cp_code="ZTO", waybill_code="75000000000000")
    assert body["error_response"]["sub_code"] == "isv.waybill-not-exist"
