"""The hub's WeChat Pay bill jobs and the fund-flow bills through the API
(/api/v1/finance/wechat-jobs, /fundflow-bills/{id}) and the dashboard (/web/finance/
wechat-jobs, /web/finance/fundflow-bills): by scope, per seller, in Chinese; every refusal
(409, 422, 413, 403, 404) a sentence with nothing changed. Both databases (``db_url``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from cloud.db.models import Task
from cloud.db.wechat_bills import FundflowBill, FundflowRow, WechatBillJob, WechatPlatformCert
from cloud.errors import N_
from cloud.finance import wechat_jobs, wechat_pay
from cloud.orders.audit_rules import CHINA
from simulators.marketplace import wechat_v3 as sim_v3
from simulators.marketplace.market import Market
from tests.cloud.conftest import login
from tests.cloud.finance.test_wechat_bill import line, wx
from tests.cloud.finance.test_wechat_v3 import PRIVATE, PUBLIC, ff, mv
from tests.cloud.web.conftest import add_user
from tests.cloud.web.test_settlement_page import demo_order

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}
JSON = {"content-type": "application/json"}
JOBS = "/api/v1/finance/wechat-jobs"
MCHID = "1900000109"
TODAY = datetime.now(CHINA).date()
FIRST = TODAY - timedelta(days=5)


def _body(**change: Any) -> dict[str, Any]:
    body = {
        "mchid": MCHID,
        "serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "private_key": PRIVATE.decode(),
        "platform_key": PUBLIC.decode(),
        "platform_serial": "PUB_KEY_ID_0114232134912410000000000000",
        "first_day": FIRST.isoformat(),
    }
    return {**body, **change}


def _jobs(app: TestClient) -> list[tuple[Any, ...]]:
    """Every job row as stored (to see that a refusal changed nothing)."""
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        return [
            tuple(getattr(j, c.key) for c in WechatBillJob.__table__.c)
            for j in s.execute(select(WechatBillJob).order_by(WechatBillJob.id)).scalars()
        ]


def _set(app: TestClient, **values: Any) -> None:
    with app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        for j in s.execute(select(WechatBillJob)).scalars():
            for k, v in values.items():
                setattr(j, k, v)


def test_jobs_by_api_scopes_and_hostile_input_change_nothing(demo_app: TestClient) -> None:
    admin = login(demo_app, "admin", account="demo")
    add_user(demo_app, "demo", "shenhe", "auditor")
    auditor = login(demo_app, "shenhe", account="demo")
    assert demo_app.post(JOBS, json=_body(), headers=auditor).status_code == 403
    assert demo_app.get(JOBS, headers=auditor).status_code == 403
    r = demo_app.post(JOBS, json=_body(), headers=admin)
    assert r.status_code == 201, r.text
    assert "PRIVATE KEY" not in r.text and "PUBLIC KEY" not in r.text  # keys go in, never out
    got = r.json()
    assert (got["mchid"], got["state"], got["last_day"], got["days_fetched"]) == (
        MCHID,
        "waiting",
        None,
        0,
    )
    assert got["days_behind"] >= 4
    before = _jobs(demo_app)
    hostile: list[tuple[Any, int, str]] = [
        (_body(), 409, "is fetched already"),
        (_body(mchid="1900000110", serial_no="A\u0000B"), 422, "NUL"),
        (_body(mchid="1900000110", platform_serial="\ud800"), 422, "surrogate"),
        (_body(mchid="1900000110", private_key="no key"), 422, "no unencrypted PEM private key"),
        (_body(mchid="1900000110", platform_key=PRIVATE.decode()), 422, "no PEM public key"),
        (_body(mchid="1900000110", first_day=TODAY.isoformat()), 422, "not over yet"),
        (_body(mchid="1900000110", first_day="2026-02-30"), 422, "date"),
        (_body(mchid="1900000110", first_day="1900-01-01"), 422, "three months"),
        (_body(mchid="12ab"), 422, "pattern"),
        (_body(mchid="1" * 40), 422, "pattern"),
        (_body(mchid="1900000110", serial_no="A B"), 422, "serial number"),
        (_body(mchid="1900000110", api_url="ftp://x"), 422, "address"),
        (_body(mchid="1900000110", api_url="https://" + "x" * 300), 422, "300"),
        (_body(mchid="1900000110", platform_serial="<b>x</b>"), 422, "letters, digits"),
        (_body(mchid="1900000110", extra=1), 422, "extra"),
        (_body(mchid="1900000110", private_key="x" * 2_000_000), 413, ""),
    ]
    for body, status, said in hostile:
        r = demo_app.post(JOBS, content=json.dumps(body), headers={**admin, **JSON})
        assert r.status_code == status and said in r.text, (body.get("mchid"), r.text[:300])
    assert _jobs(demo_app) == before
    # One job; actions; refusals of each.
    one = demo_app.get(f"{JOBS}/{MCHID}", headers=admin).json()
    assert one["job"]["mchid"] == MCHID and one["bills"] == []
    assert demo_app.get(f"{JOBS}/19000001", headers=admin).status_code == 404
    assert demo_app.get(f"{JOBS}/abc", headers=admin).status_code == 422
    assert demo_app.post(f"{JOBS}/{MCHID}/park", headers=auditor).status_code == 403
    assert demo_app.post(f"{JOBS}/{MCHID}/park", headers=admin).json()["state"] == "parked"
    resumed = demo_app.post(f"{JOBS}/{MCHID}/resume", headers=admin).json()
    assert resumed["state"] == "waiting" and resumed["enabled"] is True
    refetch = f"{JOBS}/{MCHID}/refetch"
    before = _jobs(demo_app)
    for day, status, said in (
        (FIRST.isoformat(), 422, "is not fetched yet"),
        ("soon", 422, "date"),
        ("2026-13-01", 422, "date"),
    ):
        r = demo_app.post(refetch, json={"day": day}, headers=admin)
        assert r.status_code == status and said in r.text, r.text
    assert _jobs(demo_app) == before
    # Three days in (as a run leaves it): the cursor goes back to the day before.
    _set(demo_app, last_day=FIRST + timedelta(days=2))
    before = _jobs(demo_app)
    for day, status, said in (
        ((FIRST - timedelta(days=1)).isoformat(), 422, "before the job's first day"),
        ((FIRST + timedelta(days=3)).isoformat(), 422, "is not fetched yet"),
    ):
        r = demo_app.post(refetch, json={"day": day}, headers=admin)
        assert r.status_code == status and said in r.text, r.text
    # A run holds the job: its cursor is moving; refused, nothing moved.
    _set(demo_app, lease_owner="p1", lease_until=datetime.now(UTC) + timedelta(minutes=5))
    before = _jobs(demo_app)
    r = demo_app.post(refetch, json={"day": FIRST.isoformat()}, headers=admin)
    assert r.status_code == 409 and "is under way" in r.text, r.text
    assert _jobs(demo_app) == before
    assert demo_app.get(JOBS, headers=admin).json()[0]["state"] == "running"
    _set(demo_app, lease_owner=None, lease_until=None)
    r = demo_app.post(refetch, json={"day": (FIRST + timedelta(days=1)).isoformat()}, headers=admin)
    assert r.status_code == 200 and r.json()["last_day"] == FIRST.isoformat(), r.text
    r = demo_app.post(refetch, json={"day": FIRST.isoformat()}, headers=admin)
    assert r.status_code == 200 and r.json()["last_day"] is None


TID = "4200000000000000000000000077"


def _bills(app: TestClient) -> tuple[bytes, bytes]:
    """A trade bill paying one of the demo orders (fee 0.60) and the fund-flow bill of the
    same day: the payment and the fee (matched) and a withdrawal (in no trade bill)."""
    no, total = demo_order(app)
    trade = wx([line(TID, no, f"{total:.2f}", "0.60000")])
    fund = ff(
        [
            mv("FF-1", "交易", "收入", f"{total:.2f}", f"{total:.2f}", business=TID),
            mv(
                "FF-2",
                "扣除交易手续费",
                "支出",
                "0.60",
                f"{total - Decimal('0.60'):.2f}",
                business=TID,
            ),
            mv("FF-3", "提现", "支出", "1.00", f"{total - Decimal('1.60'):.2f}", business=""),
        ]
    )
    return trade, fund


def _count(app: TestClient, model: Any) -> int:
    with app.app.state.sessions() as s:  # type: ignore[attr-defined]
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_fund_flow_bill_by_page_and_api_with_its_movements_in_chinese(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    trade, fund = _bills(demo_app)
    admin = login(demo_app, "admin", account="demo")
    r = demo_app.post("/api/v1/finance/settlements?name=wx.csv", content=trade, headers=admin)
    assert r.status_code == 201 and r.json()["posted"] == 2, r.text
    trade_bill = r.json()["bill"]
    a = browser_client()
    page = a.get("/web/finance/fundflow-bills", headers=ZH)
    assert (
        page.status_code == 200
        and "微信支付资金账单" in page.text
        and "还没有资金账单" in page.text
    )
    up = "/web/finance/fundflow-bills"
    refused = [
        ({"csrf": "forged"}, {"file": ("ff.csv", fund, "text/csv")}, 403, "CSRF"),
        ({"csrf": a.csrf}, None, 422, "请选择要导入的资金账单文件"),  # type: ignore[attr-defined]
        (
            {"csrf": a.csrf},  # type: ignore[attr-defined]
            {"file": ("ff.csv", fund.replace(b"`0.60,", b"`0.61,", 1), "text/csv")},
            422,
            "汇总数据中 支出金额 为 1.60；明细合计为 1.61",
        ),
        (
            {"csrf": a.csrf},  # type: ignore[attr-defined]
            {"file": ("ff.csv", b"\x00" * 100, "text/csv")},
            422,
            "账单",
        ),
    ]
    for data, files, status, said in refused:
        r = a.post(up, data=data, files=files, headers=ZH, follow_redirects=False)
        assert r.status_code == status and said in r.text, (status, r.text[-600:])
    assert _count(demo_app, FundflowBill) == 0 and _count(demo_app, FundflowRow) == 0
    r = a.post(
        up,
        data={"csrf": a.csrf},  # type: ignore[attr-defined]
        files={"file": ("ff.csv", fund, "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    bill_page = r.headers["location"]
    bill_id = bill_page.rsplit("/", 1)[1]
    again = a.post(
        up,
        data={"csrf": a.csrf},  # type: ignore[attr-defined]
        files={"file": ("ff.csv", fund, "text/csv")},
        headers=ZH,
    )
    assert again.status_code == 409 and "已导入" in again.text
    assert _count(demo_app, FundflowBill) == 1
    zh = a.get(bill_page, headers=ZH).text
    assert "已匹配" in zh and "未匹配" in zh and "提现 不在交易账单中：如无误请手工记账" in zh
    assert f"wx:{TID}:fee" in zh and f"/web/finance/settlements/{trade_bill}" in zh
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        task = s.execute(select(Task).where(Task.kind == "fundflow")).scalar_one()
    assert f"kind=fundflow#task-{task.public_id}" in zh and "资金账单" in zh
    tasks = a.get("/web/tasks?status=open&kind=fundflow", headers=ZH).text
    assert f'id="task-{task.public_id}"' in tasks and "资金流水未匹配" in tasks
    # The API: each movement with the trade-bill row it is, or why not; the task.
    one = demo_app.get(f"/api/v1/finance/fundflow-bills/{bill_id}", headers=admin).json()
    assert one["task"] == task.public_id and one["bill"]["unmatched"] == 1
    rows = {r["flow_no"]: (r["state"], r["trade_row"], r["trade_bill"]) for r in one["rows"]}
    assert rows == {
        "FF-1": ("matched", f"wx:{TID}", trade_bill),
        "FF-2": ("matched", f"wx:{TID}:fee", trade_bill),
        "FF-3": ("unmatched", None, None),
    }
    assert (
        one["rows"][2]["reason"] == "提现 is not in the trade bill: post it by hand if it is right"
    )
    # Another seller: 404 for the bill by page and API, none of it listed.
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    assert b.get(bill_page).status_code == 404
    assert "ff.csv" not in b.get("/web/finance/fundflow-bills").text
    other = login(demo_app, "boss", account="other")
    assert (
        demo_app.get(f"/api/v1/finance/fundflow-bills/{bill_id}", headers=other).status_code == 404
    )
    assert (
        demo_app.get("/api/v1/finance/fundflow-bills/" + "x" * 37, headers=admin).status_code == 422
    )
    add_user(demo_app, "demo", "shenhe", "auditor")
    assert browser_client("demo", "shenhe").get(bill_page).status_code == 403


def test_job_pages_in_chinese_with_their_actions_and_refusals(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    a = browser_client()
    page = a.get("/web/finance/wechat-jobs", headers=ZH)
    assert page.status_code == 200 and "微信支付账单任务" in page.text and "还没有任务" in page.text
    form = {k: v for k, v in _body().items() if k not in ("private_key", "platform_key")}
    keys = {
        "private_key": ("apiclient_key.pem", PRIVATE, "application/x-pem-file"),
        "platform_key": ("pub_key.pem", PUBLIC, "application/x-pem-file"),
    }
    bad_keys = {**keys, "private_key": ("k.pem", PUBLIC, "application/x-pem-file")}
    refused = [
        ({**form, "csrf": "forged"}, keys, 403),
        ({**form, "csrf": a.csrf}, bad_keys, 422),  # type: ignore[attr-defined]
        ({**form, "mchid": "12ab", "csrf": a.csrf}, keys, 422),  # type: ignore[attr-defined]
        ({**form, "first_day": "明天", "csrf": a.csrf}, keys, 422),  # type: ignore[attr-defined]
    ]
    said = ["CSRF", "密钥文件不是未加密的 PEM 私钥", "商户号", "日期"]
    for (data, files, status), sentence in zip(refused, said, strict=True):
        r = a.post("/web/finance/wechat-jobs", data=data, files=files, headers=ZH)
        assert r.status_code == status and sentence in r.text, r.text[-500:]
    assert _jobs(demo_app) == []
    r = a.post(
        "/web/finance/wechat-jobs",
        data={**form, "csrf": a.csrf},  # type: ignore[attr-defined]
        files=keys,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    job_page = f"/web/finance/wechat-jobs/{MCHID}"
    assert r.headers["location"].startswith(job_page)
    assert "任务已添加" in a.get(r.headers["location"], headers=ZH).text
    # The last error in the page's language; the API's in English.
    err = wechat_pay.NotReady(
        N_("WeChat Pay has no bill of %(day)s yet (%(code)s)"), day="2026-11-11", code="X"
    )
    _set(demo_app, last_error=wechat_jobs.stored_error(err))
    listing = a.get("/web/finance/wechat-jobs", headers=ZH).text
    assert "微信支付尚无 2026-11-11 的账单（X）" in listing and "已中断：一小时后重试" in listing
    admin = login(demo_app, "admin", account="demo")
    api = demo_app.get(JOBS, headers=admin).json()
    assert api[0]["last_error"] == "WeChat Pay has no bill of 2026-11-11 yet (X)"
    # A row written before errors were kept as sentences: its English, as it is.
    _set(demo_app, last_error="WeChat Pay could not be reached: ConnectError")
    assert "ConnectError" in a.get("/web/finance/wechat-jobs", headers=ZH).text
    _set(demo_app, last_error=None)
    csrf = {"csrf": a.csrf}  # type: ignore[attr-defined]
    r = a.post(f"{job_page}/park", data=csrf, headers=ZH)
    assert r.status_code == 200 and "已暂停：恢复之前不会再拉取" in r.text
    assert a.post(f"{job_page}/park", data={"csrf": "x"}).status_code == 403
    r = a.post(f"{job_page}/resume", data=csrf, headers=ZH)
    assert r.status_code == 200 and "等待下次拉取" in r.text
    before = _jobs(demo_app)
    r = a.post(f"{job_page}/refetch", data={**csrf, "day": FIRST.isoformat()}, headers=ZH)
    assert r.status_code == 422 and "还没有拉取" in r.text, r.text[-400:]
    r = a.post(f"{job_page}/refetch", data={**csrf, "day": "昨天"}, headers=ZH)
    assert r.status_code == 422 and "日期" in r.text, r.text[-400:]
    _set(demo_app, last_day=FIRST + timedelta(days=1), lease_owner="p1")
    _set(demo_app, lease_until=datetime.now(UTC) + timedelta(minutes=5))
    before = _jobs(demo_app)
    r = a.post(f"{job_page}/refetch", data={**csrf, "day": FIRST.isoformat()}, headers=ZH)
    assert r.status_code == 409 and "的拉取正在进行" in r.text, r.text[-400:]
    assert _jobs(demo_app) == before
    _set(demo_app, lease_owner=None, lease_until=None)
    r = a.post(f"{job_page}/refetch", data={**csrf, "day": FIRST.isoformat()}, headers=ZH)
    assert r.status_code == 200 and "进度已回退" in r.text
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.execute(select(WechatBillJob.last_day)).scalar_one() is None
    en = a.get(job_page, headers=EN).text
    assert "waiting for its next run" in en and "Re-fetch" not in en  # nothing in yet
    # Another seller: none of A's job listed, 404 for its page and actions, nothing changed.
    add_user(demo_app, "other", "boss", "admin")
    b = browser_client("other", "boss")
    before = _jobs(demo_app)
    assert MCHID not in b.get("/web/finance/wechat-jobs").text
    assert b.get(job_page).status_code == 404
    bcsrf = {"csrf": b.csrf}  # type: ignore[attr-defined]
    for action, data in (
        ("park", bcsrf),
        ("resume", bcsrf),
        ("refetch", {**bcsrf, "day": str(FIRST)}),
    ):
        assert b.post(f"{job_page}/{action}", data=data).status_code == 404, action
    assert _jobs(demo_app) == before
    # B's own job under A's 商户号: B's; A's row as it was.
    r = b.post("/web/finance/wechat-jobs", data={**form, **bcsrf}, files=keys)
    assert r.status_code == 200 and MCHID in r.text
    assert _jobs(demo_app)[0] == before[0] and len(_jobs(demo_app)) == 2
    before = _jobs(demo_app)
    add_user(demo_app, "demo", "shenhe", "auditor")
    auditor = browser_client("demo", "shenhe")
    assert auditor.get("/web/finance/wechat-jobs").status_code == 403
    assert auditor.post(f"{job_page}/park", data={"csrf": auditor.csrf}).status_code == 403  # type: ignore[attr-defined]
    assert _jobs(demo_app) == before
    assert date.fromisoformat(FIRST.isoformat()) == FIRST


V3_KEY = "0123456789abcdefABCDEF0123456789"


def test_a_job_on_platform_certificates_by_page_and_api_refusals_change_nothing(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    """A job given the APIv3 key and no public key (the hub downloads the platform
    certificates, cloud/finance/wechat_certs.py): its page lists them in Chinese; a bad
    key, or no key at all, is a sentence with nothing stored; the key never comes out."""
    admin = login(demo_app, "admin", account="demo")
    no_public = {k: v for k, v in _body().items() if k not in ("platform_key", "platform_serial")}
    for body, said in (
        (no_public, "give WeChat Pay's public key"),
        ({**no_public, "api_v3_key": "short"}, "32 letters and digits"),
        ({**no_public, "api_v3_key": "\ud800" * 32}, "surrogate"),
        ({**no_public, "api_v3_key": "a" * 31 + "\u0000"}, "NUL"),
        ({**no_public, "api_v3_key": "a" * 65}, "64"),
        ({**no_public, "api_v3_key": "a" * 31 + " "}, "32 letters and digits"),
    ):
        r = demo_app.post(JOBS, content=json.dumps(body), headers={**admin, **JSON})
        assert r.status_code == 422 and said in r.text, (body.get("api_v3_key"), r.text[:300])
    assert _jobs(demo_app) == []
    a = browser_client()
    form = {k: v for k, v in no_public.items() if k != "private_key"}
    keys = {"private_key": ("apiclient_key.pem", PRIVATE, "application/x-pem-file")}
    r = a.post(
        "/web/finance/wechat-jobs",
        data={**form, "api_v3_key": "x" * 31, "csrf": a.csrf},  # type: ignore[attr-defined]
        files=keys,
        headers=ZH,
    )
    assert r.status_code == 422 and "APIv3密钥是 32 位字母和数字" in r.text, r.text[-500:]
    r = a.post(
        "/web/finance/wechat-jobs",
        data={**form, "csrf": a.csrf},  # type: ignore[attr-defined]
        files=keys,
        headers=ZH,
    )
    assert r.status_code == 422 and "请提供微信支付公钥" in r.text, r.text[-500:]
    assert _jobs(demo_app) == []
    r = a.post(
        "/web/finance/wechat-jobs",
        data={**form, "api_v3_key": V3_KEY, "csrf": a.csrf},  # type: ignore[attr-defined]
        files=keys,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = a.get(f"/web/finance/wechat-jobs/{MCHID}", headers=ZH).text
    assert "平台证书" in page and "还没有：下次运行时下载。" in page and V3_KEY not in page
    api = demo_app.get(f"{JOBS}/{MCHID}", headers=admin)
    assert api.status_code == 200 and V3_KEY not in api.text
    assert demo_app.get(f"{JOBS}/{MCHID}/certificates", headers=admin).json() == []
    # Certificates the worker stored show with their dates, issuer, fingerprint and status:
    # one the simulator's CA issued (current), an older one still valid (superseded).
    market = Market(seed=1)
    serial = sim_v3.rotate(market)
    pem = market.wechat_certs[-1][2].decode()
    fingerprint = x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256())
    with demo_app.app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        j = s.execute(select(WechatBillJob)).scalar_one()
        assert j.api_v3_key == V3_KEY and j.platform_key == ""
        now = datetime.now(UTC)
        for n, (sn, text) in enumerate(
            [
                ("5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "-----BEGIN CERTIFICATE-----"),
                (serial, pem),
            ]
        ):
            s.add(
                WechatPlatformCert(
                    account_id=j.account_id,
                    job_id=j.id,
                    serial_no=sn,
                    effective_at=now - timedelta(days=2 - n),
                    expire_at=now + timedelta(days=1800),
                    certificate=text,
                    fetched_at=now,
                )
            )
        j.certs_fetched_at = now
    page = a.get(f"/web/finance/wechat-jobs/{MCHID}", headers=ZH).text
    assert "5157F09EFDC096DE15EBE81A47057A7232F1B8E1" in page and "上次下载" in page
    assert "BEGIN CERTIFICATE" not in page and "PRIVATE" not in page
    assert "Tenpay.com Root CA (simulated)" in page and fingerprint.hex(":").upper() in page
    assert "当前" in page and "已被替代" in page and "签发者" in page
    certs = demo_app.get(f"{JOBS}/{MCHID}/certificates", headers=admin)
    assert certs.status_code == 200 and "BEGIN" not in certs.text and V3_KEY not in certs.text
    got = certs.json()
    assert [(c["serial_no"], c["status"]) for c in got] == [
        (serial, "current"),
        ("5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "superseded"),
    ]
    assert got[0]["issuer"] == "CN=Tenpay.com Root CA (simulated),O=Tenpay.com"
    assert got[0]["fingerprint_sha256"] == fingerprint.hex(":").upper()
    assert (got[1]["issuer"], got[1]["fingerprint_sha256"]) == (None, None)  # not loadable
    assert set(got[0]) == {
        "serial_no", "not_before", "not_after", "issuer", "fingerprint_sha256", "status"
    }  # fmt: skip


def test_with_the_hubs_secret_the_api_and_the_page_store_the_keys_sealed(
    demo_app: TestClient, browser_client: Callable[..., TestClient]
) -> None:
    """``GUANJIA_SECRETS_KEY`` set (cloud/finance/sealed.py): a job added through the API
    or the page is stored with its private key and APIv3 key sealed, never plain; the
    answers say nothing of either."""
    settings = demo_app.app.state.settings  # type: ignore[attr-defined]
    secret = base64.b64encode(b"k" * 32).decode()
    demo_app.app.state.settings = settings.model_copy(update={"secrets_key": secret})  # type: ignore[attr-defined]
    try:
        admin = login(demo_app, "admin", account="demo")
        body = {k: v for k, v in _body().items() if k not in ("platform_key", "platform_serial")}
        r = demo_app.post(
            JOBS, content=json.dumps({**body, "api_v3_key": V3_KEY}), headers={**admin, **JSON}
        )
        assert r.status_code == 201 and V3_KEY not in r.text and "PRIVATE" not in r.text
        a = browser_client()
        form = {k: v for k, v in body.items() if k != "private_key"}
        r = a.post(
            "/web/finance/wechat-jobs",
            data={**form, "mchid": "1900000110", "api_v3_key": V3_KEY, "csrf": a.csrf},  # type: ignore[attr-defined]
            files={"private_key": ("apiclient_key.pem", PRIVATE, "application/x-pem-file")},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    finally:
        demo_app.app.state.settings = settings  # type: ignore[attr-defined]
    with demo_app.app.state.sessions() as s:  # type: ignore[attr-defined]
        rows = s.execute(
            text("SELECT mchid, private_key, api_v3_key FROM wechat_bill_job ORDER BY mchid")
        ).all()
    assert [r[0] for r in rows] == [MCHID, "1900000110"]
    for _mchid, private, v3 in rows:
        assert private.startswith("gjseal1:") and v3.startswith("gjseal1:"), (private, v3)
        assert "PRIVATE KEY" not in private and V3_KEY not in v3
