"""Node assignment: which warehouse a node serves, and what it is sent when assigned
(the account's catalogue, the warehouse's bins, open orders and open purchase orders, the
stock in its bins)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cloud.aftersales import release as aftersales_release
from cloud.catalogue import nodes as node_catalogue
from cloud.db.models import NodeAssignment
from cloud.inbound import transfer_release
from cloud.inbound.release import open_po_releases
from cloud.nodes import downlink, ownership
from cloud.nodes.registry import lock_node
from cloud.orders.core import open_releases
from cloud.stock.warehouses import bin_infos, get_warehouse
from protocol.messages import BinsUpsert


def assign_node(
    session: Session, account_id: int, node_id: str, warehouse_code: str, actor: str, now: datetime
) -> dict[str, int]:
    """Let ``node_id`` serve a warehouse; queue it the account's catalogue, bins and open orders.

    Only the account that owns the node may (cloud/nodes/ownership.py); to any other the
    node does not exist (404), whether it is another's or no one's, checked before the
    warehouse so the answer is the same whatever warehouse is named.
    """
    ownership.require_own(session, account_id, node_id)
    wh = get_warehouse(session, account_id, warehouse_code)
    current = session.get(NodeAssignment, node_id)
    node, _created = lock_node(session, node_id, now)
    before = {node.node_id: node.down_head}
    if current is None:
        session.add(
            NodeAssignment(
                node_id=node_id,
                account_id=account_id,
                warehouse_id=wh.id,
                changed_by=actor,
                changed_at=now,
            )
        )
    else:
        current.warehouse_id, current.changed_by, current.changed_at = wh.id, actor, now
    session.flush()
    node_catalogue.seed_catalogue(session, node, account_id, now)
    infos = bin_infos(session, wh.id)
    for i in range(0, len(infos), 1000):
        downlink.append(
            session,
            node,
            "bins.upsert",
            BinsUpsert(warehouse=wh.code, bins=infos[i : i + 1000]),
            now,
        )
    for release in open_releases(session, wh.id):
        downlink.append(session, node, "order.release", release, now)
    for po in open_po_releases(session, wh):
        downlink.append(session, node, "po.release", po, now)
    for ret in aftersales_release.open_releases(session, wh):
        downlink.append(session, node, "return.release", ret, now)
    for tr in transfer_release.open_releases(session, wh):
        downlink.append(session, node, "transfer.release", tr, now)
    for out in transfer_release.open_outbounds(session, wh):
        downlink.append(session, node, "transfer.outbound", out, now)
    # What is in the bins now: pick nodes allocate from it, counts compare against it.
    downlink.push_bin_stock(session, account_id, {(wh.id, b.code) for b in infos}, now)
    return before


def assignment_of(session: Session, node_id: str) -> NodeAssignment | None:
    return session.get(NodeAssignment, node_id)
