"""Courier bill reconciliation (cloud/finance/courier_bills.py) on both databases: flags,
the rate card's arithmetic, bad input, accept once, suspense, resolution, trial balance."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import Result

from cloud.db.courier_bill import CourierBill, CourierBillLine
from cloud.db.engine import transaction
from cloud.db.finance import FinEntry
from cloud.db.models import Carrier, SalesOrder, Warehouse
from cloud.errors import ConflictError, InvalidError, NotFoundError
from cloud.finance import courier_bills, ledger, rate_cards
from cloud.finance.courier_bill_file import BillRefused
from tests.cloud.finance.conftest import NOW, SELLER

D = Decimal
SHIPPED = NOW - timedelta(days=1)
#: SF-like: 1 kg first, 0.5 kg steps, weight to 10 g half up first, volume / 6000.
CARD = {
    "first_g": 1000,
    "step_g": 500,
    "precision_g": 10,
    "volumetric_divisor": 6000,
    "zones": [
        {
            "name": "江浙沪",
            "provinces": ["浙江", "江苏省", "上海"],
            "first_fee": "12.00",
            "per_kg": "2.00",
        },
        {"name": "其他", "provinces": ["*"], "first_fee": "18.00", "per_kg": "5.00"},
    ],
}
HEADER = "运单号,寄件日期,目的地,计费重量,运费,长,宽,高\n"


def _order(
    s: Session,
    no: str,
    tracking: str,
    grams: int | None,
    province: str = "浙江省",
    carrier: str = "SF",
    status: str = "shipped",
) -> None:
    wh = s.execute(select(Warehouse.id).where(Warehouse.account_id == SELLER)).scalars().first()
    if wh is None:
        w = Warehouse(account_id=SELLER, code="WH", name="仓", changed_by="t", changed_at=NOW)
        s.add(w)
        s.flush()
        wh = w.id
    s.add(
        SalesOrder(
            id=f"id-{no}",
            account_id=SELLER,
            order_no=no,
            channel="manual",
            status=status,
            warehouse_id=wh,
            carrier=carrier,
            buyer_nick="b",
            recipient={"name": "r", "province": province, "city": "杭州市", "address": "x"},
            total_cents=1000,
            tracking_number=tracking,
            weighed_g=grams,
            created_at=SHIPPED,
            changed_at=SHIPPED,
            changed_by="t",
            shipped_at=SHIPPED if status == "shipped" else None,
        )
    )


@pytest.fixture
def world(books: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(books) as s:
        for code in ("SF", "ZTO"):
            s.add(
                Carrier(
                    account_id=SELLER,
                    code=code,
                    name=code,
                    cost_cents=800,
                    unreachable=[],
                    changed_by="t",
                    changed_at=NOW,
                )
            )
        s.flush()
        rate_cards.put(s, SELLER, rate_cards.parse("SF", CARD), "t", NOW)
        _order(s, "OK-1", "SF1001", 1200)  # 1.2 kg → 1.5 kg → 12 + 0.5×2 = 13.00
        _order(s, "OVERCHARGED", "SF1002", 800)  # 0.8 kg → 1 kg → 12.00, billed 15.00
        _order(s, "OVERWEIGHT", "SF1003", 1000)  # billed 2.0 kg: 13.00 would be 14.00
        _order(s, "DUP", "SF1004", 900, province="广东省")  # 18.00, billed twice
        _order(s, "BULKY", "SF1005", 500, province="北京")  # 40×30×20/6000 = 4 kg → 33.00
        _order(s, "NOT-BILLED", "SF1006", 700)
        _order(s, "CANCELLED", "SF1007", 700, status="cancelled")
        _order(s, "HEAVY", "SF1008", 10000)  # billed 10.2 kg: 0.2 kg but only 2 % more
        _order(s, "LIGHT", "SF1009", 1000)  # billed 1.09 kg: 9 % but only 90 g more
    return books


def _csv(*rows: str) -> bytes:
    return (HEADER + "\n".join(rows) + "\n").encode()


BILL = _csv(
    "SF1001,2026-12-05,浙江,1.2,13.00,,,",
    "SF1002,2026-12-05,浙江,0.8,15.00,,,",
    "SF1003,2026-12-05,浙江,2.0,14.00,,,",
    "SF1004,2026-12-05,广东,0.9,18.00,,,",
    "SF1004,2026-12-05,广东,0.9,18.00,,,",
    "SF1005,2026-12-05,北京,0.5,33.00,40,30,20",
    "SF9999,2026-12-05,浙江,1.0,12.00,,,",
    "SF1008,2026-12-05,浙江,10.2,30.00,,,",
    "SF1009,2026-12-05,浙江,1.09,12.00,,,",
)


def _import(factory: sessionmaker[Session], data: bytes = BILL, carrier: str = "SF") -> int:
    with transaction(factory) as s:
        return courier_bills.import_bill(
            s, SELLER, carrier, "sf-2026-12.csv", data, "csv", "t", NOW
        ).id


def test_flags_exactly_the_overcharged_overweight_duplicate_and_unknown(
    world: sessionmaker[Session],
) -> None:
    bill_id = _import(world)
    with world() as s:
        bill = courier_bills.get_bill(s, SELLER, bill_id)
        lines = {(ln.row_no, ln.tracking_number): ln for ln in courier_bills.lines_of(s, bill)}
        flags = {k[0]: ln.flags for k, ln in lines.items()}
        assert flags == {
            2: [],
            3: ["overcharged"],
            4: ["overweight", "overcharged"],
            5: ["duplicate"],
            6: ["duplicate"],
            7: [],
            8: ["missing"],
            9: [],
            10: [],
        }
        expected = {k[0]: ln.expected_fee for k, ln in lines.items()}
        assert expected == {
            2: D("13.00"),
            3: D("12.00"),
            4: D("12.00"),
            5: D("18.00"),
            6: D("18.00"),
            7: D("33.00"),
            8: None,
            9: D("30.00"),
            10: D("12.00"),
        }
        assert lines[(7, "SF1005")].charged_g == 4000  # volumetric beats the 0.5 kg weighed
        disputed = {k[0]: ln.disputed for k, ln in lines.items() if ln.disputed}
        # the excess of the overcharged, the second of the duplicates, the unknown whole
        assert disputed == {3: D("3.00"), 4: D("2.00"), 6: D("18.00"), 8: D("12.00")}
        assert bill.billed_total == D("165.00")
        assert (bill.accepted_total, bill.disputed_total) == (D("130.00"), D("35.00"))
        unbilled = courier_bills.unbilled(s, bill)
        assert [u.order_no for u in unbilled] == ["NOT-BILLED"]


def test_accept_twice_posts_once_suspense_is_the_disputed_total_resolution_empties_it(
    world: sessionmaker[Session],
) -> None:
    bill_id = _import(world)
    later = NOW + timedelta(hours=1)
    with transaction(world) as s:
        _, first = courier_bills.accept(s, SELLER, bill_id, "t", NOW)
    with transaction(world) as s:
        _, again = courier_bills.accept(s, SELLER, bill_id, "t", later)
    assert first is not None and first.created and again is not None and not again.created
    assert again.entry_id == first.entry_id
    with world() as s:
        n = s.execute(
            select(func.count())
            .select_from(FinEntry)
            .where(FinEntry.source_doc == f"courier-bill:{bill_id}")
        ).scalar_one()
        assert n == 1
        bal = ledger.replayed_balances(s, SELLER)
        assert bal["1901"] == D("35.00") == courier_bills.suspense_open(s, SELLER)
        assert bal["6601.02"] == D("130.00") and bal["2202.02.SF"] == D("-165.00")
        lines = (
            s.execute(
                select(CourierBillLine)
                .where(CourierBillLine.disputed > 0)
                .order_by(CourierBillLine.row_no)
            )
            .scalars()
            .all()
        )
        ids = [(ln.id, ln.disputed) for ln in lines]
    with pytest.raises(ConflictError, match="accepted already"), transaction(world) as s:
        courier_bills.reconcile(s, courier_bills.get_bill(s, SELLER, bill_id))
    # The overcharge credited in full, the duplicate credited, the unknown paid after all,
    # the overweight split: each moves its amount out of suspense, once.
    answers = [ids[0][1], D("1.00"), ids[2][1], D("0.00")]
    for (line_id, _), credited in zip(ids, answers, strict=True):
        with transaction(world) as s:
            courier_bills.resolve(s, SELLER, bill_id, line_id, str(credited), "t", later)
    with transaction(world) as s:
        _, same = courier_bills.resolve(s, SELLER, bill_id, ids[0][0], str(ids[0][1]), "t", later)
        assert not same.created
    with pytest.raises(ConflictError, match="resolved already"), transaction(world) as s:
        courier_bills.resolve(s, SELLER, bill_id, ids[0][0], "0.00", "t", later)
    with world() as s:
        bal = ledger.replayed_balances(s, SELLER)
        assert bal.get("1901", D(0)) == 0 == courier_bills.suspense_open(s, SELLER)
        # credited 3.00 + 1.00 + 18.00 back off the payable; 1.00 + 12.00 paid after all
        assert bal["2202.02.SF"] == D("-143.00") and bal["6601.02"] == D("143.00")
        rows = ledger.trial_balance(s, SELLER)
        assert sum(r.balance for r in rows) == 0
        assert {r.code: r.balance for r in rows} == bal


def test_same_file_twice_is_refused_and_nothing_doubles(world: sessionmaker[Session]) -> None:
    _import(world)
    with pytest.raises(ConflictError, match="imported already"):
        _import(world)
    with world() as s:
        assert s.execute(select(func.count()).select_from(CourierBill)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(CourierBillLine)).scalar_one() == 9


def test_a_number_billed_again_on_a_later_bill_is_a_duplicate(
    world: sessionmaker[Session],
) -> None:
    _import(world)
    second = _import(world, _csv("SF1001,2026-12-06,浙江,1.2,13.00,,,"))
    with world() as s:
        (ln,) = courier_bills.lines_of(s, courier_bills.get_bill(s, SELLER, second))
        assert ln.flags == ["duplicate"] and ln.disputed == D("13.00")


BAD = [
    ("SF1001,2026-12-05,浙江,1.2,13.005,,,", "fee", "more than two decimals"),
    ('SF1001,2026-12-05,浙江,1.2,"1,013.00",,,', "fee", "no commas"),
    ("SF1001,2026-12-05,浙江,1.2,-13.00,,,", "fee", "negative"),
    ("SF1001,2026-12-05,浙江,1.2,1e3,,,", "fee", "not an amount"),
    ("SF1001,2026-12-05,浙江,1.2,NaN,,,", "fee", "not an amount"),
    ("SF1001,2026-12-05,浙江,1.2,,,,", "fee", "not an amount"),
    ("SF1001,2026-12-05,浙江,1.2345,13.00,,,", "weight_kg", "at most 3 decimals"),
    ("SF1001,2026-12-05,浙江,-1,13.00,,,", "weight_kg", "not a weight"),
    ("SF1001,2026-12-05,浙江,0,13.00,,,", "weight_kg", "more than 0"),
    ("SF1001,2026-13-05,浙江,1.2,13.00,,,", "date", "not a date"),
    ("SF 1001,2026-12-05,浙江,1.2,13.00,,,", "tracking_number", "not a tracking number"),
    ("SF1001,2026-12-05,,1.2,13.00,,,", "destination", "destination"),
    ("SF1001,2026-12-05,浙江,1.2,13.00,40,30,", "length_cm", "three sides"),
]


@pytest.mark.parametrize(("row", "column", "why"), BAD)
def test_bad_rows_are_named_and_nothing_is_imported(
    world: sessionmaker[Session], row: str, column: str, why: str
) -> None:
    data = _csv("SF1002,2026-12-05,浙江,0.8,12.00,,,", row)
    with pytest.raises(BillRefused) as err:
        _import(world, data)
    (e,) = err.value.errors
    assert (e.row_no, e.column) == (3, column) and why in e.message, e
    assert err.value.status == 422
    with world() as s:
        assert s.execute(select(func.count()).select_from(CourierBill)).scalar_one() == 0


def test_refused_files_and_couriers(world: sessionmaker[Session]) -> None:
    with pytest.raises(InvalidError, match="no column"):
        _import(world, b"tracking,fee\nSF1,1.00\n")
    with pytest.raises(InvalidError, match="no rows"):
        _import(world, HEADER.encode())
    with pytest.raises(InvalidError, match="is not an XLSX"), transaction(world) as s:
        courier_bills.import_bill(s, SELLER, "SF", "x.xlsx", b"PK-garbage", "xlsx", "t", NOW)
    with pytest.raises(NotFoundError, match="no courier"):
        _import(world, carrier="EMS")


def test_xlsx_bill_and_a_courier_without_a_card(world: sessionmaker[Session]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["tracking_number", "date", "destination", "weight_kg", "fee"])
    ws.append(["ZT1001", datetime(2026, 12, 5, 10, 0), "浙江", 1.2, 13.5])  # numbers as doubles
    with transaction(world) as s:
        _order(s, "Z-1", "ZT1001", 1200, carrier="ZTO")
    buf = io.BytesIO()
    wb.save(buf)
    with transaction(world) as s:
        bill = courier_bills.import_bill(
            s, SELLER, "ZTO", "z.xlsx", buf.getvalue(), "xlsx", "t", NOW
        )
        (ln,) = courier_bills.lines_of(s, bill)
        assert (ln.fee, ln.billed_g, ln.flags) == (D("13.50"), 1200, ["no_rate"])
        assert bill.disputed_total == D("13.50")
    ws.append(["ZT1002", "2026-12-05", "浙江", 1.2, 13.301])  # three decimals
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(BillRefused, match="row 3, fee"), transaction(world) as s:
        courier_bills.import_bill(s, SELLER, "ZTO", "z.xlsx", buf.getvalue(), "xlsx", "t", NOW)


RATE_CASES = [
    # (weighed g, sides, charged g, fee in 江浙沪: 12 + extra kg × 2)
    (1, None, 1000, "12.00"),
    (1000, None, 1000, "12.00"),
    (1004, None, 1000, "12.00"),  # 1.004 kg → 1.00 kg at SF's 0.01 kg half up
    (1005, None, 1500, "13.00"),  # 1.005 → 1.01 → next 0.5 kg
    (1500, None, 1500, "13.00"),
    (1501, None, 1500, "13.00"),
    (1506, None, 2000, "14.00"),
    (500, (D("30"), D("20"), D("10")), 1000, "12.00"),  # 1 kg volumetric
    (500, (D("30.5"), D("20"), D("10")), 1500, "13.00"),  # 1.0167 kg
]


@pytest.mark.parametrize(("grams", "sides", "charged", "fee"), RATE_CASES)
def test_rate_card_arithmetic(
    grams: int, sides: tuple[Decimal, Decimal, Decimal] | None, charged: int, fee: str
) -> None:
    card = rate_cards.parse("SF", CARD)
    got = card.charged_g(grams, card.volumetric_g(sides))
    zone = card.zone_for("浙江省")
    assert zone is not None and zone.name == "江浙沪"
    assert (got, card.fee(zone, got)) == (charged, D(fee))


def test_rate_card_fee_is_half_up() -> None:
    body = {
        **CARD,
        "step_g": 100,
        "zones": [{"provinces": ["*"], "first_fee": "10.00", "per_kg": "0.25"}],
    }
    card = rate_cards.parse("SF", body)
    zone = card.zone_for("西藏")
    assert zone is not None
    # 0.1 kg × 0.25 = 0.025 → 0.03 half up (banker's would say 0.02)
    assert card.fee(zone, 1100) == D("10.03")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"first_g": 0}, "whole grams"),
        ({"step_g": 1.5}, "whole grams"),
        ({"volumetric_divisor": 0}, "volumetric_divisor"),
        ({"zones": []}, "1 to 100 zones"),
        ({"zones": [{"provinces": ["*"], "first_fee": 12.0, "per_kg": "2"}]}, "not a float"),
        ({"zones": [{"provinces": ["*"], "first_fee": "1,200", "per_kg": "2"}]}, "no commas"),
        ({"zones": [{"provinces": ["*"], "first_fee": "-1", "per_kg": "2"}]}, "negative"),
        (
            {
                "zones": [
                    {"provinces": ["浙江"], "first_fee": "1", "per_kg": "2"},
                    {"provinces": ["浙江省"], "first_fee": "1", "per_kg": "2"},
                ]
            },
            "more than one zone",
        ),
    ],
)
def test_bad_rate_cards(change: dict[str, object], why: str) -> None:
    with pytest.raises(InvalidError, match=why):
        rate_cards.parse("SF", {**CARD, **change})


def test_suspense_and_trial_balance_with_a_later_dated_accept(world: sessionmaker[Session]) -> None:
    bill_id = _import(world)
    at = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 01:00 on 1 January in China
    with transaction(world) as s:
        _, posted = courier_bills.accept(s, SELLER, bill_id, "t", at)
        assert posted is not None
        entry = s.get(FinEntry, posted.entry_id)
        assert entry is not None and str(entry.entry_date) == "2027-01-01"
    with world() as s:
        assert ledger.trial_balance(s, SELLER, "2026-12") == []
        assert sum(r.balance for r in ledger.trial_balance(s, SELLER, "2027-01")) == 0


def test_cli_import_show_accept_resolve_and_a_bad_file(
    world: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from cloud.finance.cli import finance_app

    def run(*args: str) -> Result:
        return CliRunner().invoke(
            finance_app,
            ["courier-bill", *args, "--account", "default", "--database-url", db_url],
        )

    bill = tmp_path / "sf.csv"
    bill.write_bytes(BILL)
    out = run("import", "--carrier", "SF", str(bill))
    assert out.exit_code == 0, out.output
    assert "billed 165.00, accepted 130.00, disputed 35.00" in out.output
    assert re.search(r"SF1002 .* 15\.00 +12\.00 +3\.00  overcharged", out.output)
    assert "NOT-BILLED SF1006" in out.output
    again = run("import", "--carrier", "SF", str(bill))
    assert again.exit_code == 1 and "imported already" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_csv("SF1002,2026-12-05,浙江,0.8,12.005,,,", "SF1003,x,浙江,1,1.00,,,"))
    refused = run("import", "--carrier", "SF", str(bad))
    assert refused.exit_code == 1
    assert "row 2, fee" in refused.output and "row 3, date" in refused.output
    listed = run("show")
    assert listed.exit_code == 0 and "sf-2026-12" not in listed.output and "sf.csv" in listed.output
    bill_id = listed.output.split()[0]
    first = run("accept", bill_id)
    second = run("accept", bill_id)
    assert "posted (entry" in first.output and "accepted before" in second.output, second.output
    with world() as s:
        line_id = s.execute(
            select(CourierBillLine.id).where(CourierBillLine.tracking_number == "SF1002")
        ).scalar_one()
    resolved = run("resolve", bill_id, str(line_id), "--credited", "3.00")
    assert resolved.exit_code == 0 and "credited" in resolved.output, resolved.output
    card = tmp_path / "card.json"
    card.write_text(
        '{"first_g": 1000, "step_g": 1000, "zones": [{"provinces": ["*"], '
        '"first_fee": 8.00, "per_kg": "3.00"}]}'
    )
    shown = run("rate-card", "--carrier", "ZTO", str(card))
    assert shown.exit_code == 0 and '"first_fee": "8.00"' in shown.output, shown.output


def test_two_accepts_at_once_make_one_entry(world: sessionmaker[Session]) -> None:
    """Two workers accept one bill at the same moment: the bill row's lock (PostgreSQL
    FOR UPDATE; SQLite serialises writers) and the entry's natural key make one entry."""
    import threading

    bill_id = _import(world)
    gate = threading.Barrier(2)
    out: list[object] = []

    def accept() -> None:
        gate.wait()
        try:
            with transaction(world) as s:
                _, posted = courier_bills.accept(s, SELLER, bill_id, "t", NOW)
                out.append(posted)
        except Exception as err:
            out.append(err)

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(out) == 2 and not [o for o in out if isinstance(o, Exception)], out
    created = sorted(getattr(o, "created", None) is True for o in out)
    assert created == [False, True]
    with world() as s:
        n = s.execute(
            select(func.count())
            .select_from(FinEntry)
            .where(FinEntry.source_doc == f"courier-bill:{bill_id}")
        ).scalar_one()
        assert n == 1 and ledger.replayed_balances(s, SELLER)["1901"] == D("35.00")
