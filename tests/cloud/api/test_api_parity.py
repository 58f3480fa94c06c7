"""The API does what the dashboard does (issue 15): ``DELETE /api/v1/skus/{code}`` and the
bulk pick-lease move ``POST /api/v1/pick-leases/moves``, with the page's rules
(cloud/catalogue/removal.py, cloud/orders/release.py ``move_many``). Every refusal is
checked for its clear error and for nothing having changed. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.db.engine import session_factory, transaction
from cloud.db.models import Barcode, Downlink, Sku
from cloud.nodes import downlink
from tests.cloud.conftest import make_account
from tests.cloud.orders.test_pick_lease import PACK, PHONE_CASE, PICK1, PICK2, Hub

MOVES = "/api/v1/pick-leases/moves"
SPARE = "TYPO-SKU-1"


@pytest.fixture
def hub(app_client: TestClient) -> Hub:
    return Hub(app_client)


def _catalogue(hub: Hub) -> tuple[Any, ...]:
    with session_factory(hub.engine)() as s:
        return (
            sorted(s.execute(select(Sku.account_id, Sku.sku_code)).all()),
            s.execute(select(func.count()).select_from(Barcode)).scalar_one(),
            s.execute(select(func.count()).select_from(Downlink)).scalar_one(),
        )


def _sent(hub: Hub, code: str) -> list[tuple[str, str, Any]]:
    """The changes of ``code`` on the demo nodes' downlinks, oldest first."""
    with session_factory(hub.engine)() as s:
        return [
            (n, t, p)
            for n, t, p in s.execute(
                select(Downlink.node_id, Downlink.type, Downlink.payload)
                .where(Downlink.key == f"sku:{code}")
                .order_by(Downlink.node_id, Downlink.seq)
            ).all()
        ]


def test_delete_a_sku_through_the_api(hub: Hub) -> None:
    c = hub.client
    body = {"sku_code": SPARE, "name": "录错的商品", "barcodes": ["6901234567953"]}
    assert c.put(f"/api/v1/skus/{SPARE}", headers=hub.admin, json=body).status_code == 200
    other = make_account(c, "other")
    assert c.put(f"/api/v1/skus/{SPARE}", headers=other, json=body).status_code == 200
    before = _catalogue(hub)
    refused = [
        # a SKU with history: 409 naming what holds it
        (hub.admin, PHONE_CASE, 409, "has bundle SET 皮套+保护壳, which it is a component of"),
        (hub.admin, "GIFT 贴膜", 409, "GIFT 贴膜 has stock movements in the ledger"),
        (hub.admin, "NO-SUCH-SKU", 404, "no SKU 'NO-SUCH-SKU'"),
        (hub.admin, "x" * 121, 422, "at most 120 characters"),
        (hub.picker, SPARE, 403, "catalogue:write"),
    ]
    for who, code, status, why in refused:
        r = c.delete(f"/api/v1/skus/{code}", headers=who)
        assert r.status_code == status and why in r.text, (code, r.status_code, r.text)
        assert _catalogue(hub) == before, code
    # another seller's SKU of the same code: theirs stays, and A's phone case is not B's
    assert c.delete(f"/api/v1/skus/{PHONE_CASE}", headers=other).status_code == 404
    assert c.delete(f"/api/v1/skus/{SPARE}", headers=other).status_code == 204
    assert c.get(f"/api/v1/skus/{SPARE}", headers=hub.admin).status_code == 200
    # B's deletion of B's own SKU told none of A's nodes anything
    assert {(n, t) for n, t, _ in _sent(hub, SPARE)} == {
        (node, "catalogue.upsert") for node in (PICK1, PICK2, PACK)
    }
    assert c.delete(f"/api/v1/skus/{SPARE}", headers=hub.admin).status_code == 204
    assert c.get(f"/api/v1/skus/{SPARE}", headers=hub.admin).status_code == 404
    # every node of the seller is told to drop it; after compaction only that is left
    removed = {"sku_code": SPARE}
    assert {(n, t) for n, t, p in _sent(hub, SPARE) if p == removed} == {
        (node, "catalogue.remove") for node in (PICK1, PICK2, PACK)
    }
    with transaction(session_factory(hub.engine)) as s:
        downlink.compact(s)
    assert sorted(_sent(hub, SPARE)) == [
        (node, "catalogue.remove", removed) for node in sorted((PICK1, PICK2, PACK))
    ]
    # its barcode is free again
    assert (
        c.put(
            f"/api/v1/skus/{SPARE}-2", headers=hub.admin, json={**body, "sku_code": f"{SPARE}-2"}
        ).status_code
        == 200
    )


def test_move_leases_in_bulk_through_the_api(hub: Hub) -> None:
    for no in ("JY1300001", "JY1300002"):
        hub.release(no, {"pick_node": PICK1})
    nos = ["JY1300001", "JY1300002"]
    before = [hub.state(no) for no in nos]
    other = make_account(hub.client, "other")
    refused: list[tuple[dict[str, str], Any, int, str]] = [
        # one order refused: none moves, and the answer names it
        (hub.lead, {"order_nos": [*nos, "JY1300005"], "node": PICK2, "reason": "r"}, 409,
         "JY1300005 is audited"),
        (hub.lead, {"order_nos": [*nos, "JY9999999"], "node": PICK2, "reason": "r"}, 404,
         "JY9999999"),
        (hub.lead, {"order_nos": nos, "node": PACK, "reason": "r"}, 409, "runs a pack station"),
        (hub.lead, {"order_nos": nos, "node": PICK1, "reason": "r"}, 409,
         f"already leased to {PICK1}"),
        (hub.lead, {"order_nos": [nos[0], nos[0]], "node": PICK2, "reason": "r"}, 422,
         "listed twice"),
        (hub.lead, {"order_nos": [f"N{i}" for i in range(501)], "node": PICK2, "reason": "r"},
         422, "at most 500"),
        (hub.lead, {"order_nos": [], "node": PICK2, "reason": "r"}, 422, "at least 1"),
        (hub.lead, {"order_nos": nos, "node": "bad node/id", "reason": "r"}, 422, "node"),
        (hub.lead, {"order_nos": nos, "node": PICK2, "reason": " "}, 422, "reason"),
        (hub.lead, {"order_nos": nos, "node": PICK2, "reason": "r", "x": 1}, 422, "x"),
        (hub.picker, {"order_nos": nos, "node": PICK2, "reason": "r"}, 403, "nodes:write"),
        # another seller names A's orders: they are no orders of theirs
        (other, {"order_nos": nos, "node": PICK2, "reason": "r"}, 404, "no order"),
    ]  # fmt: skip
    for who, body, status, why in refused:
        r = hub.post(MOVES, who, body)
        assert r.status_code == status and why in r.text, (body, r.status_code, r.text)
        assert [hub.state(no) for no in nos] == before, body
    r = hub.post(MOVES, hub.lead, {"order_nos": nos, "node": PICK2, "reason": f"{PICK1} died"})
    assert r.status_code == 200 and r.json() == {"node": PICK2, "moved": nos}, r.text
    for no in nos:
        assert hub.sent(PACK, no)[-1]["pick_node"] == PICK2
        assert hub.sent(PICK1, no)[-1]["pick_node"] == PICK2  # the old holder hears it
