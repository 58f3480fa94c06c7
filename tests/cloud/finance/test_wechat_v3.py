"""WeChat Pay bills fetched by the hub over API v3, and the fund-flow bill reconciled
(issue 18), both databases.

The marketplace simulator serves ``/v3/bill/tradebill`` and ``/v3/bill/fundflowbill`` as
WeChat Pay does: the merchant's request signed (WECHATPAY2-SHA256-RSA2048), the answer
signed by the platform key, the file's SHA1 in the answer. The hub's job fetches each day
after its cursor, imports the trade bill, reconciles the fund-flow bill (posting nothing),
and moves the cursor in the same transaction. Tampered answers, a file changed on the way,
bad days and bad files are each refused with a sentence, nothing stored.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cloud.db.engine import transaction
from cloud.db.finance import FinEntry as Entry
from cloud.db.models import Task
from cloud.db.settlement import SettlementBill, SettlementRow
from cloud.db.wechat_bills import FundflowBill, FundflowRow, WechatBillJob
from cloud.errors import ConflictError, InvalidError
from cloud.finance import wechat_fundflow, wechat_jobs, wechat_pay
from cloud.finance.cli import finance_app
from cloud.orders.audit_rules import CHINA
from simulators.marketplace import wechat_bill as sim_wechat
from simulators.marketplace import wechat_v3 as sim_v3
from simulators.marketplace.app import MarketplaceApp, serve
from tests.cloud.finance.conftest import SELLER
from tests.cloud.finance.test_settlements import (  # noqa: F401
    DAY,
    NOW,
    World,
    do_import,
    world,
)

D = Decimal
SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
#: The hub's clock when it runs the job: the morning after DAY, bills made.
MORNING = datetime(2026, 11, 12, 10, 30, tzinfo=CHINA)
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE = _KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
PUBLIC = _KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def merchant(w: World) -> tuple[str, bytes, str]:
    """The shop's merchant number, registered with its key; WeChat Pay's key and its id."""
    mchid = sim_wechat.merchant_of(next(iter(w.market.shops.values())))
    r = w.shop.http.post(
        "http://sim/_sim/wechat-merchants",
        json={"mchid": mchid, "serial_no": SERIAL, "public_key": PUBLIC.decode()},
    )
    assert r.status_code == 200, r.text
    got = w.shop.http.get("http://sim/_sim/wechatpay-public-key").json()
    return mchid, got["public_key"].encode(), got["serial"]


def client(w: World, http: httpx.Client | None = None, **kw: object) -> wechat_pay.WechatPayBills:
    mchid, platform, serial = merchant(w)
    return wechat_pay.WechatPayBills(
        http or w.shop.http,
        "http://sim",
        mchid,
        SERIAL,
        PRIVATE,
        platform,
        serial,
        **kw,  # type: ignore[arg-type]
    )


def tampering(
    w: World, change: Callable[[httpx.Request, httpx.Response], bytes | None]
) -> httpx.Client:
    """A client whose answers pass through ``change`` (fault injection: what sits between
    the hub and WeChat Pay); None leaves an answer as it is."""
    inner = httpx.WSGITransport(app=MarketplaceApp(w.market))

    def handler(request: httpx.Request) -> httpx.Response:
        r = inner.handle_request(request)
        r.read()
        body = change(request, r)
        if body is None:
            return r
        return httpx.Response(r.status_code, headers=r.headers, content=body)

    return httpx.Client(transport=httpx.MockTransport(handler))


def counts(w: World) -> tuple[int, ...]:
    with w.hub.factory() as s:
        return tuple(
            s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (SettlementBill, SettlementRow, FundflowBill, FundflowRow, Entry, Task)
        )


def entries(s: Session) -> int:
    return s.execute(select(func.count()).select_from(Entry)).scalar_one()


def add_job(w: World, first: date = DAY) -> int:
    mchid, platform, serial = merchant(w)
    with transaction(w.hub.factory) as s:
        job = wechat_jobs.add_job(
            s,
            w.hub.account_id,
            mchid=mchid,
            serial_no=SERIAL,
            api_url="http://sim",
            private_key=PRIVATE,
            platform_key=platform,
            platform_serial=serial,
            first_day=first,
            now=MORNING,
        )
        return job.id


def job_row(w: World, job_id: int) -> WechatBillJob:
    with w.hub.factory() as s:
        job = s.get(WechatBillJob, job_id)
        assert job is not None
        s.expunge(job)
        return job


#: The simulated WeChat Pay's key, made once for the module (a 2048-bit key takes a while).
PLATFORM = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


@pytest.fixture
def w(world: World) -> World:  # noqa: F811
    world.market.wechat_platform_key = PLATFORM
    return world


def test_the_hub_fetches_a_day_and_the_fund_flow_bill_posts_nothing(w: World) -> None:
    """The job fetches DAY's trade bill (posted) and fund-flow bill (every movement matched
    to a posted trade-bill row, nothing posted); the cursor moves in that transaction; a
    second run, or a second process, fetches nothing again."""
    job_id = add_job(w)
    ran = wechat_jobs.drain(w.hub.factory, lambda job: client(w), "p1", MORNING)
    assert len(ran) == 1 and ran[0].error is None, ran
    assert ran[0].days == [DAY] and ran[0].imported == 1 and ran[0].reconciled == 1
    assert ran[0].unmatched == 0
    job = job_row(w, job_id)
    assert job.last_day == DAY and job.lease_owner is None and job.last_error is None
    with w.hub.factory() as s:
        ff = s.execute(select(FundflowBill)).scalar_one()
        assert ff.rows == ff.matched > 0 and ff.unmatched == 0
        rows = list(s.execute(select(FundflowRow)).scalars())
        assert all(r.state == "matched" and r.settlement_row_id for r in rows)
        # each matched trade-bill row is the movement's, once
        assert len({r.settlement_row_id for r in rows}) == len(rows)
        assert s.execute(select(func.count()).select_from(Task)).scalar_one() == 0
    before = counts(w)
    # Not due again until the next morning; a second process claims nothing meanwhile.
    assert wechat_jobs.drain(w.hub.factory, lambda job: client(w), "p2", MORNING) == []
    assert counts(w) == before


def test_a_matching_fund_flow_bill_posts_nothing_and_an_unknown_movement_is_a_task(
    w: World,
) -> None:
    c = client(w)
    today = MORNING.date()
    trade, fund = c.fetch("trade", DAY, today), c.fetch("fundflow", DAY, today)
    do_import(w, trade, "wx.csv")
    # A withdrawal to the bank: money that left the account, in no trade bill.
    last = wechat_fundflow.parse(fund).rows[-1]
    withdrawal = [
        "2026-11-11 23:30:00", "", "20261111999", "提现", "提现", "支出", "100.00",
        f"{last.balance - 100:.2f}", "seller", "", "",
    ]  # fmt: skip
    extra = with_lines(fund, [withdrawal])
    with transaction(w.hub.factory) as s:
        n = entries(s)
        got = wechat_fundflow.reconcile(s, w.hub.account_id, extra, "ff.csv", "test", NOW)
        assert entries(s) == n  # nothing posted
    assert got.unmatched == 1 and got.matched == got.rows - 1 and got.task
    with w.hub.factory() as s:
        task = s.execute(select(Task).where(Task.public_id == got.task)).scalar_one()
        assert task.kind == "fundflow" and "1 movements" in task.detail
        assert "提现 -100.00" in task.detail
        row = s.execute(select(FundflowRow).where(FundflowRow.state == "unmatched")).scalar_one()
        assert row.flow_no == "20261111999" and "not in the trade bill" in str(row.reason)
    # The same file again, or the matching bill whose movements are in already: refused.
    before = counts(w)
    with transaction(w.hub.factory) as s, pytest.raises(ConflictError, match="imported already"):
        wechat_fundflow.reconcile(s, w.hub.account_id, extra, "ff.csv", "test", NOW)
    with transaction(w.hub.factory) as s, pytest.raises(ConflictError, match="imported already"):
        wechat_fundflow.reconcile(s, w.hub.account_id, fund, "ff.csv", "test", NOW)
    assert counts(w) == before


def test_bills_that_came_by_hand_are_skipped_and_the_cursor_moves(w: World) -> None:
    """The fund-flow bill uploaded before its trade bill: every movement listed (nothing
    posted); then the trade bill by hand; the job finds both days' files known, imports
    nothing again and moves its cursor."""
    c = client(w)
    trade, fund = c.fetch("trade", DAY, MORNING.date()), c.fetch("fundflow", DAY, MORNING.date())
    with transaction(w.hub.factory) as s:
        got = wechat_fundflow.reconcile(s, w.hub.account_id, fund, "ff.csv", "test", NOW)
    assert got.matched == 0 and got.unmatched == got.rows > 0
    with w.hub.factory() as s:
        reasons = s.execute(select(FundflowRow.reason)).scalars().all()
        assert all("import that day's trade bill" in str(r) for r in reasons)
    do_import(w, trade, "wx.csv")
    job_id = add_job(w)
    before = counts(w)
    ran = wechat_jobs.drain(w.hub.factory, lambda job: client(w), "p1", MORNING)
    assert ran[0].error is None and ran[0].days == [DAY]
    assert (ran[0].imported, ran[0].reconciled) == (0, 0)
    assert counts(w) == before and job_row(w, job_id).last_day == DAY


def test_a_process_that_lost_its_lease_moves_nothing(w: World) -> None:
    job_id = add_job(w)
    with transaction(w.hub.factory) as s:
        assert wechat_jobs.claim_due(s, "p1", MORNING) == [job_id]
        assert wechat_jobs.claim_due(s, "p2", MORNING) == []  # leased by p1
    later = MORNING + timedelta(hours=2)  # p1's lease ran out, the job is due again
    with transaction(w.hub.factory) as s:
        assert wechat_jobs.claim_due(s, "p2", later) == [job_id]
    before = counts(w)
    stale = wechat_jobs.run_job(w.hub.factory, job_id, client(w), "p1", MORNING)
    assert stale.error and "another hub process" in stale.error and stale.days == []
    assert counts(w) == before and job_row(w, job_id).last_day is None
    done = wechat_jobs.run_job(w.hub.factory, job_id, client(w), "p2", later)
    assert done.error is None and done.days == [DAY]


def _answer_json(change: Callable[[dict[str, str]], None]) -> Callable[..., bytes | None]:
    def edit(request: httpx.Request, r: httpx.Response) -> bytes | None:
        if not request.url.path.startswith("/v3/bill/"):
            return None
        body = json.loads(r.content)
        change(body)
        return json.dumps(body).encode()

    return edit


def _file(request: httpx.Request, r: httpx.Response) -> bytes | None:
    if request.url.path != "/v3/billdownload/file":
        return None
    text = gzip.decompress(r.content).replace(b"`0.60%", b"`0.61%", 1)
    return gzip.compress(text)


TAMPERED = [
    # another download address, under the platform's signature of the old answer
    (_answer_json(lambda b: b.update(download_url=b["download_url"] + "x")),
     "does not carry a valid signature"),
    # the hash changed to match a file of the attacker's
    (_answer_json(lambda b: b.update(hash_value="0" * 40)), "does not carry a valid signature"),
    # the file changed on the way (the download is unsigned: its SHA1 is the check)
    (_file, "has SHA1"),
]  # fmt: skip


def test_a_tampered_answer_or_file_is_refused_and_nothing_stored(w: World) -> None:
    job_id = add_job(w)
    before = counts(w)
    for n, (tamper, sentence) in enumerate(TAMPERED):
        http = tampering(w, tamper)
        now = MORNING + n * timedelta(hours=2)  # due again after each refusal
        ran = wechat_jobs.drain(w.hub.factory, lambda job, h=http: client(w, h), "p1", now)
        assert ran[0].error and sentence in ran[0].error and ran[0].days == [], ran
        assert counts(w) == before
        job = job_row(w, job_id)
        assert job.last_day is None and sentence in str(job.last_error)
    # Untouched, the same job goes through.
    ran = wechat_jobs.drain(
        w.hub.factory, lambda job: client(w), "p1", MORNING + timedelta(hours=9)
    )
    assert ran[0].error is None and ran[0].days == [DAY]


def test_bad_days_keys_and_replays_are_refused(w: World) -> None:
    c = client(w)
    today = MORNING.date()
    with pytest.raises(InvalidError, match="not over yet"):
        c.fetch("trade", today, today)
    with pytest.raises(InvalidError, match="more than three months ago"):
        c.fetch("trade", today - timedelta(days=91), today)
    # The simulator: a day it has not finished has no statement yet.
    with pytest.raises(wechat_pay.NotReady, match="NO_STATEMENT_EXIST"):
        c.fetch("trade", DAY + timedelta(days=1), today + timedelta(days=2))
    # A merchant key WeChat Pay does not know: 401 SIGN_ERROR, said.
    mchid, platform, serial = merchant(w)
    stranger = wechat_pay.WechatPayBills(w.shop.http, "http://sim", mchid, SERIAL, OTHER, platform)
    with pytest.raises(InvalidError, match="401 SIGN_ERROR"):
        stranger.fetch("trade", DAY, today)

    # A replayed answer: WeChat Pay's own signature, but made 6 minutes ago.
    def replayed(request: httpx.Request, r: httpx.Response) -> bytes | None:
        if request.url.path.startswith("/v3/bill/"):
            stamp, nonce = str(int(datetime.now(UTC).timestamp()) - 360), "n0"
            r.headers["Wechatpay-Timestamp"], r.headers["Wechatpay-Nonce"] = stamp, nonce
            message = wechat_pay.answer_message(stamp, nonce, r.content)
            sig = sim_v3.platform_key(w.market).sign(message, padding.PKCS1v15(), hashes.SHA256())
            r.headers["Wechatpay-Signature"] = base64.b64encode(sig).decode()
        return None

    with pytest.raises(wechat_pay.Unverified, match="more than five minutes"):
        client(w, tampering(w, replayed)).fetch("trade", DAY, today)
    # A job for a day not over, or a merchant number that is none: 422, no job.
    with transaction(w.hub.factory) as s:
        for first, number, what in ((today, mchid, "not over yet"), (DAY, "12ab", "8 to 12")):
            with pytest.raises(InvalidError, match=what):
                wechat_jobs.add_job(
                    s, w.hub.account_id, mchid=number, serial_no=SERIAL, api_url="http://sim",
                    private_key=PRIVATE, platform_key=platform, platform_serial=serial,
                    first_day=first, now=MORNING,
                )  # fmt: skip
    with w.hub.factory() as s:
        assert s.execute(select(func.count()).select_from(WechatBillJob)).scalar_one() == 0


# --- the fund-flow bill's file -------------------------------------------------------------


def ff(lines: list[list[str]], summary: list[str] | None = None) -> bytes:
    """A hand-made fund-flow bill; the summary from the lines unless given."""
    out = [sim_v3.FUND_HEADER]
    n_in = n_out = 0
    t_in = t_out = D("0.00")
    for cells in lines:
        out.append(",".join("`" + c for c in cells))
        try:
            amount = D(cells[6])
        except (ArithmeticError, IndexError):
            amount = D("0.00")
        if cells[5:6] == ["收入"]:
            n_in, t_in = n_in + 1, t_in + amount
        elif cells[5:6] == ["支出"]:
            n_out, t_out = n_out + 1, t_out + amount
    out.append(sim_v3.FUND_SUMMARY)
    totals = summary or [str(len(lines)), str(n_in), f"{t_in:.2f}", str(n_out), f"{t_out:.2f}"]
    out.append(",".join("`" + c for c in totals))
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


def with_lines(data: bytes, extra: list[list[str]]) -> bytes:
    """``data`` with ``extra`` lines before the summary, the summary recomputed."""
    rows = [line.split(",") for line in data.decode().splitlines()[1:-2]]
    return ff([[c.lstrip("`") for c in r] for r in rows] + extra)


def mv(flow: str, kind: str, direction: str, amount: str, balance: str, **kw: str) -> list[str]:
    at = kw.get("at", "2026-11-11 10:00:00")
    return [at, kw.get("business", "4200000001"), flow, kind, kind, direction, amount, balance,
            "system", "", ""]  # fmt: skip


GOOD = [
    mv("F1", "交易", "收入", "100.00", "100.00"),
    mv("F2", "扣除交易手续费", "支出", "0.60", "99.40"),
]


def test_a_good_fund_flow_bill_reads_as_its_movements() -> None:
    bill = wechat_fundflow.parse(ff(GOOD))
    assert [(m.flow_no, m.net, m.balance) for m in bill.rows] == [
        ("F1", D("100.00"), D("100.00")),
        ("F2", D("-0.60"), D("99.40")),
    ]
    assert (bill.opening, bill.closing) == (D("0.00"), D("99.40"))
    assert wechat_fundflow.parse(gzip.compress(ff(GOOD))) == bill
    assert wechat_fundflow.counterpart_of(bill.rows[1]) == "wx:4200000001:fee"


def _bad(i: int, column: int, value: str) -> list[list[str]]:
    rows = [list(r) for r in GOOD]
    rows[i][column] = value
    return rows


BAD = [
        (b"", "no header line"),
        (ff(GOOD).replace("资金流水单号".encode(), b"X", 1), "no column 资金流水单号"),
        (ff(_bad(0, 0, "2026-13-40 10:00:00")), "line 2: 记账时间"),
        (ff(_bad(1, 5, "出")), "line 3: 收支类型 '出' is neither"),
        (ff(_bad(1, 6, "0.6x")), "line 3: 收支金额（元） '0.6x' is not an amount"),
        (ff(_bad(1, 6, "0.601")), "line 3: 收支金额（元） '0.601' is not an amount"),
        (ff(_bad(1, 6, "-0.60")), "line 3: 收支金额（元） -0.60 is not more than 0.00"),
        (ff(_bad(1, 7, "99.41")), "line 3: the balance 99.41 is not the one before"),
        (ff(_bad(1, 7, "")), "line 3: 账户结余（元） is empty"),
        (ff(_bad(1, 2, "F1")), "line 3: F1 occurs twice"),
        (ff(_bad(1, 2, "")), "line 3: 资金流水单号 is empty"),
        (ff(_bad(1, 1, "4" * 65)), "line 3: 资金流水单号 is empty, or it or 微信支付业务单号 is longer"),
        (ff([*GOOD[:1], GOOD[1][:5]]), "line 3: 5 cells where the header has 11"),
        (ff(GOOD, ["2", "1", "100.00", "1", "0.50"]), "the summary says 支出金额 0.50"),
        (ff(GOOD, ["3", "1", "100.00", "1", "0.60"]), "the summary says 资金流水总笔数 3"),
        (ff(GOOD).rsplit(b"\r\n", 3)[0], "ends before its summary"),
        (ff(GOOD) + b"`1\r\n", "line 6: a line after the summary"),
        (b"\x1f\x8b\x08broken", "looks like gzip but cannot be opened"),
]  # fmt: skip


def test_a_bad_fund_flow_bill_is_refused_with_its_line_and_nothing_stored(
    books: sessionmaker[Session],
) -> None:
    def stored() -> tuple[int, ...]:
        with books() as s:
            return tuple(
                s.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (FundflowBill, FundflowRow, Entry, Task)
            )

    before = stored()
    for data, sentence in BAD:
        with transaction(books) as s, pytest.raises(InvalidError) as err:
            wechat_fundflow.reconcile(s, SELLER, data, "ff.csv", "test", NOW)
        assert sentence in str(err.value), (sentence, str(err.value))
        assert err.value.field == "file"
    assert stored() == before


def test_the_commands_fetch_from_a_running_simulator(w: World, db_url: str, tmp_path: Path) -> None:
    """``guanjia finance wechat add-job``, ``run`` (over HTTP to a running simulator, today's
    clock: DAY is fetched, the later days the simulator has no bill of are old enough to be
    days without trades), ``jobs``, and ``fundflow-import`` of a bad file (exit 1, the line).
    The commands hold no SQL of their own: the job on PostgreSQL is the tests above."""
    if db_url.startswith("postgresql"):
        pytest.skip("the commands over the job tested on both databases above; CI time")
    mchid, platform, serial = merchant(w)
    (tmp_path / "key.pem").write_bytes(PRIVATE)
    (tmp_path / "wx.pem").write_bytes(platform)
    server = serve(MarketplaceApp(w.market), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    db = ["--account", "seller", "--database-url", db_url]
    try:
        add = CliRunner().invoke(
            finance_app,
            ["wechat", "add-job", *db, "--mchid", mchid, "--serial-no", SERIAL,
             "--private-key", str(tmp_path / "key.pem"), "--platform-key", str(tmp_path / "wx.pem"),
             "--platform-serial", serial, "--first-day", DAY.isoformat(),
             "--api-url", f"http://127.0.0.1:{server.server_port}"],
        )  # fmt: skip
        assert add.exit_code == 0, add.output
        run = CliRunner().invoke(finance_app, ["wechat", "run", "--database-url", db_url])
        assert run.exit_code == 0, run.output
        assert (
            "days 2026-11-11, 2026-11-12" in run.output and "1 trade bills imported" in run.output
        )
        assert "0 movements unmatched" in run.output and "stopped" not in run.output
    finally:
        server.shutdown()
    listed = CliRunner().invoke(finance_app, ["wechat", "jobs", *db])
    assert f"{mchid}  in to 2026-11-17" in listed.output, listed.output
    # park, resume and re-fetch: the API's functions (cloud/finance/wechat_admin.py).
    parked = CliRunner().invoke(finance_app, ["wechat", "park", mchid, *db])
    assert parked.exit_code == 0 and "parked" in parked.output, parked.output
    old = CliRunner().invoke(finance_app, ["wechat", "refetch", mchid, "2026-11-10", *db])
    assert old.exit_code == 1 and "before the job's first day" in old.output, old.output
    again = CliRunner().invoke(finance_app, ["wechat", "refetch", mchid, "2026-11-12", *db])
    assert again.exit_code == 0 and "in to 2026-11-11" in again.output, again.output
    resumed = CliRunner().invoke(finance_app, ["wechat", "resume", mchid, *db])
    assert resumed.exit_code == 0 and "due now" in resumed.output, resumed.output
    bad = tmp_path / "ff.csv"
    bad.write_bytes(ff(_bad(1, 7, "99.41")))
    before = counts(w)
    refused = CliRunner().invoke(finance_app, ["wechat", "fundflow-import", str(bad), *db])
    assert refused.exit_code == 1 and "line 3: the balance 99.41" in refused.output
    assert counts(w) == before
