"""What the answer kinds of tests/fuzz found (issue 19), each as the input that crashed the
adapter and the refusal it gets now. Every one raised something the caller does not catch
(TypeError, AttributeError, KeyError, ValueError, InvalidURL): a scheduler tick or an
e-invoice poll failing on one bad answer instead of recording why."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from cloud.channels.cainiao.waybills import route_of
from cloud.channels.ports import ChannelError
from cloud.errors import InvalidError
from cloud.finance import alipay_bill
from cloud.finance.bill_source import Unavailable
from cloud.finance.einvoice.nuonuo import NuonuoProvider
from cloud.finance.einvoice.port import PortLine, RedRequest, Rejected, Unreachable
from tests.fuzz import kinds_answers as answers
from tests.fuzz.harness import Refused


@pytest.mark.parametrize("code", [{"a": 1}, [7], 7.5, None, "27"])
def test_a_top_error_whose_code_is_no_number_is_a_channel_error(code: object) -> None:
    body = json.dumps({"error_response": {"code": code, "msg": "x", "sub_code": "isv.x"}})
    with pytest.raises(Refused, match="TOP error"):
        answers.taobao_answers(body.encode())


def _nuonuo(result: object) -> NuonuoProvider:
    answer = json.dumps({"code": "E0000", "describe": "成功", "result": result}).encode()
    return NuonuoProvider(
        "http://n.test", "k", "s", "t", "91430100MA4L000000", client=answers._answering(answer)
    )


@pytest.mark.parametrize("result", [{"invoiceSerialNum": "1"}, "text", [1, "a"], 7])
def test_an_invoice_query_whose_result_is_no_list_of_invoices_is_unreachable(
    result: object,
) -> None:
    with pytest.raises(Unreachable, match="not a list of invoices"):
        _nuonuo(result).query("REQ-1")


def test_a_red_form_answer_without_its_status_is_no_form() -> None:
    line = PortLine(1, "x", "1060201", Decimal("0.13"), 1, Decimal("-1.00"), Decimal("-0.13"))
    red = RedRequest("RED-1", "24430000000000000001", "02", (line,))
    with pytest.raises(Rejected):
        _nuonuo({"billId": "B-1"}).red_form(red)
    with pytest.raises(Unreachable, match="names no form"):
        _nuonuo({"billId": "B-1"}).query_red_form("RED-1")


@pytest.mark.parametrize("data", ['{"data": [1]}', '{"data": {"routingInfo": {"sortation": "x"}}}'])
def test_cainiao_print_data_of_the_wrong_shape_has_no_route(data: str) -> None:
    assert route_of(data) is None


def test_a_damaged_bill_zip_is_refused_with_a_sentence() -> None:
    zipped = answers.alipay_bill_samples()[1]
    damaged = zipped[:30] + zipped[60:]  # the member's name cut: a negative seek in zipfile
    with pytest.raises(InvalidError, match="cannot be opened"):
        alipay_bill.parse(damaged)


@pytest.mark.parametrize("url", [{"a": []}, "http://\U0001f600alipay.test/bill.zip", "ftp://x/y"])
def test_a_bill_address_no_client_can_read_is_unavailable(url: object) -> None:
    from cloud.finance.bill_source import AlipayBills

    ok = {"code": "10000", "msg": "Success", "bill_download_url": url}
    body = answers._signed(answers._NODE, ok)
    _key, public, signer, bill = answers._alipay_world()
    source = AlipayBills(
        answers._answering(body, then=bill),
        "http://alipay.test/gateway.do",
        "2021000000000000",
        signer=signer,
        now=lambda: answers.NOW,
        alipay_public_key=public,
    )
    with pytest.raises(Unavailable, match="could not be downloaded"):
        source.fetch(date(2026, 11, 11))


def test_the_answers_kinds_refuse_as_channel_errors() -> None:
    # The kinds turn ChannelError into Refused: a broken envelope is a sentence, not a crash.
    with pytest.raises(Refused) as err:
        answers.shopify_answers(b"<html>502</html>")
    assert isinstance(err.value.__cause__, ChannelError)
