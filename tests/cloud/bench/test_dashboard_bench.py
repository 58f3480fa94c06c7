"""The dashboard bench's page list at a tiny volume (cloud/bench/dashboard.py): every page it
measures answers 200 with the seeded documents on it, on SQLite and PostgreSQL. No timings:
the figures are the bench's output, not a test's."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cloud.bench.api import PASSWORD, seed_volume
from cloud.bench.dashboard import _enrol, pages
from cloud.bench.dashboard_seed import seed_pages
from tests.cloud.web.conftest import web_login


def test_every_page_of_the_bench_answers_with_its_seeded_data(
    db_url: str, app_client: TestClient
) -> None:
    data = seed_volume(db_url, skus=30, orders=60)
    docs = seed_pages(db_url)
    _enrol(db_url, 1)  # the fleet's node page
    paths = pages(data["held"][0], docs)
    assert len(paths) == 46 and pages(data["held"][0]).keys() < paths.keys()
    web_login(app_client, "demo", "admin", PASSWORD)
    html = {}
    for name, path in paths.items():
        r = app_client.get(path, headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 200, (name, path, r.text[:300])
        html[name] = r.text
    # The later pages show what was seeded for them, not an empty list.
    assert docs["transfer"] in html["transfers"] and docs["transfer"] in html["transfer"]
    assert docs["purchase_order"] in html["purchase_orders"]
    assert "供应商29" in html["suppliers"]
    assert docs["aftersales"] in html["aftersales"] and docs["aftersales"] in html["aftersales_req"]
    assert docs["serial"] in html["serial"] and "PO-B" in html["serial"]
    assert docs["shop"] in html["channel_shop"]
    assert "称重" in html["tasks_weight"]  # a weight task, in Chinese (migration 0038)
    assert docs["wechat_job"] in html["wechat_jobs"] and "-fundflow.csv" in html["wechat_job"]
    assert "提现 不在交易账单中" in html["fundflow_bill"] and "未匹配" in html["fundflow_bills"]
