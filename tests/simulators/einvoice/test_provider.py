"""The e-invoice simulator: signature over the bytes received, never two invoices for one order
number, never more red than blue, forms void after 72 hours, the daily reInvoice limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal

import httpx
import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simulators.einvoice.app import EInvoiceApp, serve
from simulators.einvoice.service import REINVOICE_PER_DAY, Provider, Refused
from simulators.einvoice.signing import sign

CODE = "1090101990000000000"
BUYER = "91110000600037341L"  # a unified social credit code with a right check character


def line(amount: str, tax: str, index: int = 1) -> dict[str, str]:
    return {
        "goodsName": "皮套",
        "goodsCode": CODE,
        "taxRate": "0.13",
        "taxExcludedAmount": amount,
        "tax": tax,
        "blueDetailIndex": str(index),
    }


def blue(p: Provider, order_no: str, tax_id: str = BUYER) -> dict[str, object]:
    order = {
        "orderNo": order_no,
        "buyerName": "某公司",
        "buyerTaxNum": tax_id,
        "invoiceDetail": [line("100.00", "13.00", 1), line("50.00", "6.50", 2)],
    }
    return p.call("nuonuo.OpeMplatform.requestBillingNew", {"order": order})  # type: ignore[no-any-return]


def issued(p: Provider, order_no: str) -> dict[str, str]:
    for _ in range(5):
        rows = p.call("nuonuo.OpeMplatform.queryInvoiceResult", {"orderNos": [order_no]})
        if rows[0]["status"] not in ("20", "21"):
            return rows[0]  # type: ignore[no-any-return]
    raise AssertionError("never final")


@pytest.fixture
def server() -> Iterator[tuple[Provider, str]]:
    p = Provider()
    srv = serve(EInvoiceApp(p), "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield p, f"http://127.0.0.1:{srv.server_port}/open/v1/services"
    srv.shutdown()


def _post(url: str, method: str, body: bytes, signed_body: bytes | None = None) -> httpx.Response:
    q = {
        "senid": "a" * 32,
        "nonce": "12345678",
        "timestamp": str(int(Provider().now())),
        "appkey": "sim-appkey",
    }
    s = sign(
        "/open/v1/services",
        "sim-appkey",
        q["senid"],
        q["nonce"],
        q["timestamp"],
        signed_body or body,
        "sim-secret",
    )
    headers = {
        "X-Nuonuo-Sign": s,
        "accessToken": "sim-token",
        "method": method,
        "Content-Type": "application/json",
    }
    return httpx.post(url, params=q, content=body, headers=headers)


def test_signature_is_checked_over_the_bytes_as_sent(server: tuple[Provider, str]) -> None:
    _, url = server
    body = b'{"serialNos": ["x"]}'
    ok = _post(url, "nuonuo.OpeMplatform.queryInvoiceResult", body)
    assert ok.status_code == 200 and ok.json() == {
        "code": "E0000",
        "describe": "调用成功",
        "result": [],
    }
    # The same JSON with other spacing: what the client signed is not what arrived.
    bad = _post(url, "nuonuo.OpeMplatform.queryInvoiceResult", b'{"serialNos":["x"]}', body)
    assert bad.status_code == 200 and bad.json()["code"] == "E1002"
    unknown = _post(url, "nuonuo.OpeMplatform.noSuchMethod", body)
    assert unknown.status_code == 200 and unknown.json()["code"] == "E1006"


def test_duplicate_order_number_answers_the_first_invoice() -> None:
    p = Provider()
    first = blue(p, "A1")
    with pytest.raises(Refused) as dup:
        blue(p, "A1")
    assert dup.value.code == "E9106" and dup.value.result == first
    assert issued(p, "A1")["status"] == "2" and len(p.invoices) == 1
    number = issued(p, "A1")["allElectronicInvoiceNumber"]
    assert len(number) == 20 and number.isdigit() and number[2:4] == "33"


def test_bad_buyer_tax_id_fails_with_a_reason() -> None:
    p = Provider()
    blue(p, "B1", tax_id="91110000600037341A")  # wrong check character
    row = issued(p, "B1")
    assert row["status"] == "22" and "纳税人识别号" in row["failCause"]


def test_seal_failure_and_the_daily_reinvoice_limit() -> None:
    p = Provider()
    p.faults.seal_failures = 10_000
    serial = blue(p, "S1")["invoiceSerialNum"]
    assert issued(p, "S1")["status"] == "24"
    for _ in range(REINVOICE_PER_DAY):
        p.call("nuonuo.OpeMplatform.reInvoice", {"invoiceSerialNum": serial})
        assert issued(p, "S1")["status"] == "24"
    with pytest.raises(Refused) as limit:
        p.call("nuonuo.OpeMplatform.reInvoice", {"invoiceSerialNum": serial})
    assert limit.value.code == "E9613"
    p.offset += 86_400  # the next day
    p.faults.seal_failures = 0
    p.call("nuonuo.OpeMplatform.reInvoice", {"invoiceSerialNum": serial})
    assert issued(p, "S1")["status"] == "2"


def red(
    p: Provider, order_no: str, number: str, amount: str, tax: str, index: int = 1
) -> dict[str, str]:
    body = {
        "orderNo": order_no,
        "blueInvoiceNumber": number,
        "redReason": "02",
        "detail": [line(amount, tax, index)],
    }
    return p.call("nuonuo.OpeMplatform.saveInvoiceRedConfirm", body)  # type: ignore[no-any-return]


def test_red_form_waits_for_the_buyer_and_is_void_after_72_hours() -> None:
    p = Provider()
    blue(p, "R1")
    number = issued(p, "R1")["allElectronicInvoiceNumber"]
    form = red(p, "R1-red", number, "-100.00", "-13.00")
    assert form["billStatus"] == "02" and form["invoiceSerialNum"] == ""
    with pytest.raises(Refused) as more:  # line 1 is reserved by the waiting form
        red(p, "R1-red2", number, "-0.01", "-0.00")
    assert more.value.code == "E9123"
    p.offset += 72 * 3600 + 1
    q = p.call("nuonuo.OpeMplatform.queryInvoiceRedConfirm", {"orderNo": "R1-red"})
    assert q["billStatus"] == "07"
    # The void form frees line 1; confirmed by the buyer, the red is issued.
    form2 = red(p, "R1-red3", number, "-100.00", "-13.00")
    done = p.buyer_answers(form2["billId"], agree=True)
    assert done["billStatus"] == "04" and issued(p, "R1-red3")["status"] == "2"
    assert p.truth()["invoices"]["R1"]["remaining"]["1"] == ["0.00", "0.00"]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["issue", "red", "confirm", "refuse", "advance"]),
            st.integers(0, 1),  # which order number
            st.integers(1, 2),  # which line
            # cents of the red: near the lines' 100.00 and 50.00, or any
            st.one_of(
                st.sampled_from([1, 4999, 5000, 5001, 9999, 10000, 10001]), st.integers(1, 12_000)
            ),
        ),
        max_size=40,
    )
)
@example([("issue", 0, 1, 1), ("red", 0, 1, 6000), ("red", 0, 1, 6000)])
def test_never_two_invoices_per_order_and_never_more_red_than_blue(
    steps: list[tuple[str, int, int, int]],
) -> None:
    p = Provider()
    refusals: list[str] = []
    for n, (op, k, index, cents) in enumerate(steps):
        order_no = f"O{k}"
        try:
            if op == "issue":
                blue(p, order_no, tax_id="" if k % 2 else BUYER)
                issued(p, order_no)
            elif op == "red" and order_no in p.by_order:
                number = p.invoices[p.by_order[order_no]].number
                amount = Decimal(cents) / 100
                tax = (amount * Decimal("0.13")).quantize(Decimal("0.01"))
                red(p, f"{order_no}-r{n}", number, str(-amount), str(-tax), index)
            elif op in ("confirm", "refuse"):
                for form in list(p.forms.values()):
                    p.buyer_answers(form.bill_id, op == "confirm")
            elif op == "advance":
                p.offset += 40 * 3600
        except Refused as err:
            refusals.append(err.code)
        # Only the refusals this script can earn: duplicates, unknown blues, too much red.
        assert set(refusals) <= {"E9106", "E9120", "E9123"}, refusals
        truth = p.truth()
        blues = [i for i in p.invoices.values() if i.kind == "blue"]
        assert len({i.order_no for i in blues}) == len(blues)  # one invoice per order number
        assert len(set(p.issued)) == len(p.issued)
        for row in truth["invoices"].values():
            for amount, tax in row.get("remaining", {}).values():
                assert Decimal(amount) >= 0 and Decimal(tax) >= 0
        # Red issued per blue never exceeds the blue (summed over issued reds).
        for b in blues:
            reds = [i for i in p.invoices.values() if i.kind == "red" and i.blue_number == b.number]
            assert sum((i.total()[0] for i in reds), Decimal(0)) + b.total()[0] >= 0
    assert orjson.dumps(p.truth())
