"""The pick leases' bulk move in Chromium at 1366×768, as a lead uses it: tick two of three
released orders, choose the other pick node, give a reason, see both moved and the third
kept; axe finds no serious or critical violation; screenshots are kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from cloud.app import create_app
from cloud.db.models import PickLease, SalesOrder
from cloud.nodes import ownership
from cloud.orders import release as releases
from cloud.seed import seed_demo
from cloud.settings import Settings
from cloud.sync import assignment
from tests.cloud.conftest import PASSWORD
from tests.cloud.orders.test_pick_lease import send, started
from tests.cloud.web.conftest import AUDITED, NODE
from tests.cloud.web.test_browser import _check, _page
from tests.cloud.web.test_fleet_pages import MORE, PICK1, PICK2
from tests.support.served import served

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    db = tmp_path_factory.mktemp("leases") / "hub.db"
    settings = Settings(
        database_url=f"sqlite:///{db}",
        mqtt_host="",
        warm_on_start=False,
        jwt_secret="test-secret-of-at-least-32-bytes-long",
    )
    app = create_app(settings, ingest=False)
    with served(app) as base:
        now = datetime.now(UTC)
        with app.state.sessions() as s, s.begin():
            account = seed_demo(s, now, password=PASSWORD, node_ids=[NODE])["account_id"]
            for n in (PICK1, PICK2):
                ownership.enroll(s, n, "demo", "test", now)
                assignment.assign_node(s, account, n, "WH1", "test", now)
        for n, kind in ((PICK1, "pick"), (PICK2, "pick"), (NODE, "pack")):
            send(app.state.engine, n, 1, started(kind))
        with app.state.sessions() as s, s.begin():
            for no in (AUDITED, *MORE):
                releases.release(s, account, no, "test", now, pick_node=PICK1)
        yield base, app


def test_tick_two_orders_and_move_them(browser: Any, hub: tuple[str, Any]) -> None:
    base, app = hub
    page = _page(browser, base, "admin")
    page.goto(f"{base}/web/pick-leases?warehouse=WH1")
    assert "(打包)" in page.inner_text("main")  # the pack node's station kind, in Chinese
    _check(page, "pick-leases-bulk")
    for no in (AUDITED, MORE[0]):
        page.check(f"input[aria-label='选择订单 {no}']")
    page.select_option("#bulk-node", PICK2)
    page.fill("#bulk-reason", "拣货节点 1 故障")
    page.click("button:has-text('移动勾选的订单')")
    page.wait_for_url(f"{base}/web/pick-leases?warehouse=WH1&done=*")
    assert f"{MORE[0]}, {AUDITED} → {PICK2}" in page.inner_text("[role=status]")  # table order
    _check(page, "pick-leases-moved")
    with app.state.sessions() as s:
        held = dict(
            s.execute(
                select(SalesOrder.order_no, PickLease.node_id).join(
                    PickLease, PickLease.order_id == SalesOrder.id
                )
            ).all()
        )
    assert held == {AUDITED: PICK2, MORE[0]: PICK2, MORE[1]: PICK1}
