"""Pick leases as a lead reads them: which pick node holds which released orders, per
warehouse and node, and where each may be moved (cloud/orders/release.py ``move`` moves it).

Only released orders: a lease moves only while its order waits to be picked (``move``
refuses any other status), so those are the ones a lead can act on. No web code here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.models import NodeAssignment, PickLease, SalesOrder, Warehouse
from cloud.nodes.registry import station_kinds

#: Rows shown at once; the total says how many more there are.
LIMIT = 500


@dataclass(frozen=True)
class Held:
    order_no: str
    warehouse: str
    node_id: str | None
    wave: str | None
    leased_by: str
    leased_at: datetime
    #: The order's ``changed_at`` as shown: the move form sends it back (stale-view check).
    changed_at: datetime


@dataclass(frozen=True)
class LeaseView:
    rows: list[Held]
    total: int
    #: Each warehouse's pick nodes (the targets a move may name), by warehouse code.
    pick_nodes: dict[str, list[str]]
    #: Every node serving each warehouse with its station kind as its newest
    #: ``node.started`` said (``None``: not heard from): why a node is no target.
    nodes: dict[str, list[tuple[str, str | None]]]


def view(
    session: Session, account_id: int, warehouse: str | None = None, node: str | None = None
) -> LeaseView:
    """The account's released orders with their pick node, by warehouse, node and order no;
    narrowed to one warehouse code and/or one node (``""`` for: held by no node)."""
    conds = [SalesOrder.account_id == account_id, SalesOrder.status == "released"]
    if warehouse is not None:
        conds.append(Warehouse.code == warehouse)
    if node == "":
        conds.append(PickLease.node_id.is_(None))
    elif node is not None:
        conds.append(PickLease.node_id == node)
    base = (
        select(
            SalesOrder.order_no,
            Warehouse.code,
            PickLease.node_id,
            PickLease.wave,
            PickLease.changed_by,
            PickLease.changed_at,
            SalesOrder.changed_at,
        )
        .join(PickLease, PickLease.order_id == SalesOrder.id)
        .join(Warehouse, Warehouse.id == SalesOrder.warehouse_id)
        .where(*conds)
    )
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = session.execute(
        base.order_by(Warehouse.code, PickLease.node_id, SalesOrder.order_no).limit(LIMIT)
    ).all()
    served = session.execute(
        select(Warehouse.code, NodeAssignment.node_id)
        .join(NodeAssignment, NodeAssignment.warehouse_id == Warehouse.id)
        .where(Warehouse.account_id == account_id)
        .order_by(Warehouse.code, NodeAssignment.node_id)
    ).all()
    kinds = station_kinds(session, [n for _, n in served])
    nodes: dict[str, list[tuple[str, str | None]]] = {}
    for code, node_id in served:
        nodes.setdefault(code, []).append((node_id, kinds.get(node_id)))
    return LeaseView(
        rows=[Held(*r) for r in rows],
        total=total,
        # As release.pick_nodes has them: assigned, and said they run a pick station.
        pick_nodes={c: [n for n, k in ns if k == "pick"] for c, ns in nodes.items()},
        nodes=nodes,
    )
