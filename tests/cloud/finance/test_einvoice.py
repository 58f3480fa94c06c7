"""E-invoices in the hub against the simulator over HTTP, on both databases: tax rounding,
the buyer's tax id, blue issue by polling, a timeout after acceptance (one invoice), red by
lines never beyond the blue, title change, seal failure; bad input stores nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import cloud.finance.einvoice
from cloud.db.einvoice import EInvoice, EInvoiceLine, EInvoiceSeller
from cloud.db.engine import transaction
from cloud.errors import ConflictError, InvalidError
from cloud.finance.einvoice import invoices, worker
from cloud.finance.einvoice.lines import LineIn, build
from cloud.finance.einvoice.nuonuo import NuonuoProvider
from cloud.finance.einvoice.taxid import normalise
from simulators.einvoice.app import EInvoiceApp, serve
from simulators.einvoice.service import Provider
from tests.cloud.finance.conftest import NOW, SELLER
from tests.cloud.finance.test_money import _FLOAT, _code_lines

D = Decimal
CODE = "1090101990000000000"
BUYER = invoices.Buyer("杭州某某科技有限公司", "91110000600037341L")


@pytest.mark.parametrize(
    ("price", "rate", "includes_tax", "amount", "tax"),
    [
        ("113.00", "0.13", True, "100.00", "13.00"),
        ("100.00", "0.13", True, "88.50", "11.50"),  # 88.4955… half up
        ("0.17", "0.13", True, "0.15", "0.02"),
        ("10.00", "0.06", True, "9.43", "0.57"),
        ("99.99", "0.09", True, "91.73", "8.26"),
        ("100.00", "0", True, "100.00", "0.00"),
        ("0.05", "0.13", False, "0.05", "0.01"),  # 0.0065 → 0.01 (banker's: 0.01 too)
        ("0.50", "0.13", False, "0.50", "0.07"),  # 0.065 → 0.07 (banker's would give 0.06)
        ("2.50", "0.01", False, "2.50", "0.03"),  # 0.025 → 0.03 (banker's 0.02)
        ("1.50", "0.03", False, "1.50", "0.05"),  # 0.045 → 0.05 (banker's 0.04)
    ],
)
def test_tax_rounding_per_line(
    price: str, rate: str, includes_tax: bool, amount: str, tax: str
) -> None:
    (x,) = build([LineIn("皮套", CODE, rate, 1, price, includes_tax)])
    assert (x.amount, x.tax) == (D(amount), D(tax))
    if includes_tax:
        assert x.amount + x.tax == D(price)  # the parts add up to what the buyer paid


@pytest.mark.parametrize(
    "raw",
    [
        LineIn("皮套", "123", "0.13", 1, "10.00"),  # not 19 digits
        LineIn("皮套", CODE, "0.17", 1, "10.00"),  # no such rate any more
        LineIn("皮套", CODE, "0.13", -1, "10.00"),  # negative quantity
        LineIn("皮套", CODE, "0.13", 1, "1,000.00"),  # a comma
        LineIn("皮套", CODE, "0.13", 1, "10.001"),  # three decimals
        LineIn("", CODE, "0.13", 1, "10.00"),
        LineIn("皮套", CODE, "0.13", 1, "0.00"),
    ],
)
def test_bad_lines_are_refused(raw: LineIn) -> None:
    with pytest.raises(InvalidError):
        build([raw])


def test_quantities_and_totals_beyond_the_columns_are_refused() -> None:
    with pytest.raises(InvalidError, match="from 1 to 1000000"):
        build([LineIn("皮套", CODE, "0.13", 10**9, "10.00")])
    big = LineIn("皮套", CODE, "0.13", 1, "9000000000000000.00")
    with pytest.raises(InvalidError, match="too large for the books"):
        build([big, big])


@pytest.mark.parametrize(
    ("tax_id", "ok"),
    [
        ("91350100M000100Y43", True),
        ("91110000600037341L", True),
        ("91110000600037341l", True),  # typed in lower case
        ("91110000600037341A", False),  # wrong check character
        ("9111000060003734IL", False),  # I is not in the code table
        ("110108123456789", True),  # 15: an older tax registration number
        ("11010812345678901X12", True),  # 20
        ("1101081234567", False),
        ("91110000 600037341L", False),
        ("", True),  # a person: no tax id
    ],
)
def test_buyer_tax_id(tax_id: str, ok: bool) -> None:
    if ok:
        normalise(tax_id)
    else:
        with pytest.raises(InvalidError, match="buyer tax id"):
            normalise(tax_id)


def test_no_float_in_the_einvoice_code() -> None:
    root = Path(cloud.finance.einvoice.__file__).parent
    found = [
        f"{p.name}:{n}: {code.strip()}"
        for p in sorted(root.glob("*.py"))
        for n, code in _code_lines(p)
        if _FLOAT.search(code)
    ]
    assert found == []


@pytest.fixture
def sim() -> Iterator[tuple[Provider, str]]:
    p = Provider()
    srv = serve(EInvoiceApp(p), "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield p, f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def hub(books: sessionmaker[Session], sim: tuple[Provider, str]) -> sessionmaker[Session]:
    with transaction(books) as s:
        invoices.connect_seller(
            s,
            SELLER,
            url=sim[1],
            app_key="sim-appkey",
            app_secret="sim-secret",
            access_token="sim-token",
            seller_tax_id="91350100M000100Y43",
            seller_name="管家演示店",
            now=NOW,
        )
    return books


def _connect(seller: EInvoiceSeller) -> NuonuoProvider:
    # A short timeout, so the simulator's hang fault is a timeout after acceptance.
    return NuonuoProvider(
        seller.url,
        seller.app_key,
        seller.app_secret,
        seller.access_token,
        seller.seller_tax_id,
        timeout_s=1,
    )


def _run(factory: sessionmaker[Session], ticks: int = 6) -> None:
    now = NOW
    for _ in range(ticks):
        now += timedelta(minutes=15)
        worker.tick(factory, now, _connect)


def _blue(factory: sessionmaker[Session], buyer: invoices.Buyer = BUYER) -> str:
    with transaction(factory) as s:
        inv = invoices.request_blue(
            s,
            SELLER,
            buyer,
            [
                LineIn("金甲系列皮套", CODE, "0.13", 2, "113.00"),
                LineIn("钢化膜", CODE, "0.13", 1, "56.50"),
            ],
            NOW,
            "test",
        )
        return inv.request_no


def _get(factory: sessionmaker[Session], no: str) -> EInvoice:
    with factory() as s:
        inv = invoices.get(s, SELLER, no)
        s.expunge(inv)
        return inv


def test_blue_is_sent_and_polled_until_issued(
    hub: sessionmaker[Session], sim: tuple[Provider, str]
) -> None:
    no = _blue(hub)
    assert _get(hub, no).state == "queued"
    worker.tick(hub, NOW, _connect)
    assert _get(hub, no).state == "issuing"  # accepted, not issued
    _run(hub)
    inv = _get(hub, no)
    assert inv.state == "issued" and inv.number is not None and len(inv.number) == 20
    assert inv.pdf_url and inv.pdf_url.endswith(".pdf") and inv.ofd_url
    assert (inv.amount, inv.tax, inv.total) == (D("150.00"), D("19.50"), D("169.50"))
    assert sim[0].truth()["issued"] == 1


def test_the_worker_asks_the_provider_after_the_delay_it_is_given(
    hub: sessionmaker[Session], sim: tuple[Provider, str]
) -> None:
    """``einvoice_query_s`` (the demo's 1 s): no query before it is due, one when it is."""
    p, second = sim[0], timedelta(seconds=1)
    no = _blue(hub)
    worker.tick(hub, NOW, _connect, query_after=second)
    assert _get(hub, no).state == "issuing"
    worker.tick(hub, NOW + second / 2, _connect, query_after=second)
    assert p.calls.get("queryInvoiceResult", 0) == 0  # not due yet
    worker.tick(hub, NOW + second, _connect, query_after=second)  # in progress
    assert p.calls.get("queryInvoiceResult", 0) == 1 and _get(hub, no).state == "issuing"
    worker.tick(hub, NOW + 2 * second, _connect, query_after=second)
    assert p.calls.get("queryInvoiceResult", 0) == 2 and _get(hub, no).state == "issued"
    # The default waits its 5 s (worker.POLL) before asking.
    other = _blue(hub)
    worker.tick(hub, NOW + 3 * second, _connect)
    worker.tick(hub, NOW + 7 * second, _connect)
    assert _get(hub, other).state == "issuing" and p.calls.get("queryInvoiceResult", 0) == 2
    worker.tick(hub, NOW + 8 * second, _connect)
    assert p.calls.get("queryInvoiceResult", 0) == 3


def test_timeout_after_acceptance_queries_and_issues_once(
    hub: sessionmaker[Session], sim: tuple[Provider, str]
) -> None:
    p = sim[0]
    p.faults.hang_next, p.faults.hang_s = 1, 2.5  # the adapter gives up after 1 s
    no = _blue(hub)
    worker.tick(hub, NOW, _connect)
    inv = _get(hub, no)
    assert inv.state == "sending" and "Timeout" in (inv.reason or "")
    assert no in p.by_order  # the provider has it all the same
    _run(hub)
    assert _get(hub, no).state == "issued"
    assert [i.order_no for i in p.invoices.values()] == [no] and p.truth()["issued"] == 1
    # The hub asked before it sent again, and did not send again: the provider had it.
    assert p.calls["requestBillingNew"] == 1 and p.calls["queryInvoiceResult"] >= 2


def test_seal_failure_is_retried(hub: sessionmaker[Session], sim: tuple[Provider, str]) -> None:
    sim[0].faults.seal_failures = 1
    no = _blue(hub)
    worker.tick(hub, NOW, _connect)
    worker.tick(hub, NOW + timedelta(minutes=1), _connect)  # in progress
    worker.tick(hub, NOW + timedelta(minutes=2), _connect)
    assert _get(hub, no).state == "seal_failed"
    _run(hub)
    assert _get(hub, no).state == "issued" and sim[0].truth()["issued"] == 1


def test_bad_tax_id_is_422_and_nothing_stored(hub: sessionmaker[Session]) -> None:
    with (
        pytest.raises(InvalidError, match="check character is wrong") as err,
        transaction(hub) as s,
    ):
        invoices.request_blue(
            s,
            SELLER,
            invoices.Buyer("某公司", "91110000600037341A"),
            [LineIn("皮套", CODE, "0.13", 1, "10.00")],
            NOW,
            "test",
        )
    assert err.value.status == 422
    with hub() as s:
        assert s.execute(select(func.count()).select_from(EInvoice)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(EInvoiceLine)).scalar_one() == 0


def test_partial_red_never_exceeds_blue_then_full_red(
    hub: sessionmaker[Session], sim: tuple[Provider, str]
) -> None:
    no = _blue(hub)
    _run(hub)
    with transaction(hub) as s:  # 50.00 of line 1 back (销售折让)
        part = invoices.request_red(
            s, SELLER, no, "04", NOW, "test", [invoices.RedLine(1, "50.00")]
        ).request_no
    with pytest.raises(ConflictError, match="never exceeds"), transaction(hub) as s:
        invoices.request_red(s, SELLER, no, "04", NOW, "test", [invoices.RedLine(1, "63.01")])
    _run(hub, 2)
    red = _get(hub, part)
    assert red.state == "confirming" and red.form_state == "02"  # the buyer has a tax id
    assert (red.amount, red.tax) == (D("-44.25"), D("-5.75"))
    sim[0].buyer_answers(red.form_id or "", agree=True)
    _run(hub)
    assert _get(hub, part).state == "issued"
    with transaction(hub) as s:  # the rest, whatever remains
        rest = invoices.request_red(s, SELLER, no, "02", NOW, "test").request_no
        assert invoices.remaining_total(s, SELLER, no) == D("0.00")
    with pytest.raises(ConflictError, match="reversed in full"), transaction(hub) as s:
        invoices.request_red(s, SELLER, no, "02", NOW, "test")
    _run(hub, 2)
    sim[0].buyer_answers(_get(hub, rest).form_id or "", agree=True)
    _run(hub)
    assert _get(hub, rest).state == "issued"
    remaining = sim[0].truth()["invoices"][no]["remaining"]
    assert remaining == {"1": ["0.00", "0.00"], "2": ["0.00", "0.00"]}


def test_title_change_reds_in_full_then_issues_a_new_blue(
    hub: sessionmaker[Session], sim: tuple[Provider, str]
) -> None:
    no = _blue(hub, invoices.Buyer("个人"))  # a person: the red needs no confirmation (01)
    _run(hub)
    with transaction(hub) as s:
        red, new = invoices.change_title(s, SELLER, no, BUYER, NOW, "test")
        red_no, new_no = red.request_no, new.request_no
    assert _get(hub, new_no).state == "waiting"
    _run(hub, 10)
    assert _get(hub, red_no).state == "issued" and _get(hub, red_no).form_state == "01"
    new_inv = _get(hub, new_no)
    assert new_inv.state == "issued" and new_inv.buyer_tax_id == BUYER.tax_id
    assert new_inv.total == D("169.50")
    assert sim[0].truth()["issued"] == 3  # blue, red, new blue


def test_red_form_void_after_72_hours_frees_the_blue(
    hub: sessionmaker[Session], sim: tuple[Provider, str]
) -> None:
    no = _blue(hub)
    _run(hub)
    with transaction(hub) as s:
        red = invoices.request_red(s, SELLER, no, "01", NOW, "test").request_no
    _run(hub, 2)
    sim[0].offset += 73 * 3600
    _run(hub, 10)  # the form is polled every 10 minutes
    inv = _get(hub, red)
    assert inv.state == "voided" and inv.form_state == "07"
    with hub() as s:
        assert invoices.remaining_total(s, SELLER, no) == D("169.50")


def test_a_send_that_never_arrived_is_sent_again_once(
    hub: sessionmaker[Session], sim: tuple[Provider, str]
) -> None:
    no = _blue(hub)

    def down(seller: EInvoiceSeller) -> NuonuoProvider:  # nothing listens on port 9
        return NuonuoProvider("http://127.0.0.1:9", "sim-appkey", "sim-secret", "t", "x", 1)

    worker.tick(hub, NOW, down)
    inv = _get(hub, no)
    assert inv.state == "sending" and inv.reason and "Connect" in inv.reason
    assert sim[0].calls == {}
    _run(hub)
    assert _get(hub, no).state == "issued"
    # Asked first (not there), then sent: once.
    assert sim[0].calls["requestBillingNew"] == 1 and sim[0].truth()["issued"] == 1


def test_two_workers_at_once_send_each_invoice_once(
    hub: sessionmaker[Session], sim: tuple[Provider, str]
) -> None:
    nos = [_blue(hub) for _ in range(12)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            worker.tick(hub, NOW, _connect)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sim[0].calls["requestBillingNew"] == 12  # each claimed by one worker only
    _run(hub)
    assert all(_get(hub, no).state == "issued" for no in nos)
    assert sim[0].truth()["issued"] == 12


def test_provider_failure_is_kept_with_its_reason_and_the_order_may_ask_again(
    hub: sessionmaker[Session], sim: tuple[Provider, str]
) -> None:
    sim[0].faults.unknown_buyers = 1
    with transaction(hub) as s:
        first = invoices.request_blue(
            s,
            SELLER,
            BUYER,
            [LineIn("皮套", CODE, "0.13", 1, "11.30")],
            NOW,
            "test",
            order_no="JY1",
        ).request_no
    with pytest.raises(ConflictError, match="already has an invoice"), transaction(hub) as s:
        invoices.request_blue(
            s,
            SELLER,
            BUYER,
            [LineIn("皮套", CODE, "0.13", 1, "11.30")],
            NOW,
            "test",
            order_no="JY1",
        )
    _run(hub)
    inv = _get(hub, first)
    assert inv.state == "failed" and "未在税务机关登记" in (inv.reason or "")
    with transaction(hub) as s:  # failed: the order may be invoiced again (a new number)
        again = invoices.request_blue(
            s,
            SELLER,
            BUYER,
            [LineIn("皮套", CODE, "0.13", 1, "11.30")],
            NOW,
            "test",
            order_no="JY1",
        ).request_no
    _run(hub)
    assert again != first and _get(hub, again).state == "issued"
